//! The Media2Face denoiser G (paper §5): a transformer decoder that predicts the clean
//! motion X⁰ = [z, θ] per frame from the noisy X_t, the diffusion step t, and a
//! cross-attention memory of audio features and a style prompt.
//!
//! Per layer (pre-norm): self-attention over the window's frames; style-aware
//! cross-attention to the memory [null; audio frames; style]; a feed-forward block. The step
//! enters as a sinusoidal embedding through an MLP added to every frame (MDM's
//! `TimestepEmbedder`), frames and audio frames carry sinusoidal positions. Hiding parts of
//! the memory ([`crate::Conditions`]) gives the three guidance terms of Eq. 9 from one
//! network; the null token keeps attention defined when everything else is hidden.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Activation, Linear, VarBuilder};
use m2f_kernels::{linear_layer, residual_layer_norm, Epilogue};
use m2f_train::{LayerNorm, Mlp};

use crate::attention::{Attention, KeyValues};
use crate::config::DenoiserConfig;

/// Sinusoidal embeddings of `positions` (MDM's `PositionalEncoding`: sin at even and cos at
/// odd channels, wavelengths from 2π to 10000·2π) → [len, dim].
pub fn sinusoids(positions: &[f32], dim: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mut out = vec![0f32; positions.len() * dim];
    for (p, row) in positions.iter().zip(out.chunks_mut(dim)) {
        for i in (0..dim).step_by(2) {
            let freq = (-(10_000f64.ln()) * i as f64 / dim as f64).exp();
            let angle = *p as f64 * freq;
            row[i] = angle.sin() as f32;
            if i + 1 < dim {
                row[i + 1] = angle.cos() as f32;
            }
        }
    }
    Tensor::from_vec(out, (positions.len(), dim), device)
}

/// The style prompt of each window, as the network takes it.
#[derive(Debug, Clone, Copy)]
pub enum StyleInput<'a> {
    /// No prompt: the style token is zero (only predictions that hide it are meaningful).
    None,
    /// [B, text_style_dim] sentence embeddings of a text prompt.
    Text(&'a Tensor),
    /// [B, image_style_dim] GNPFA expression latents of a face image.
    Image(&'a Tensor),
    /// Per window a text or an image prompt (training draws one at random): `is_text` [B] is
    /// 1 where `text` [B, text_style_dim] is used and 0 where `image` [B, image_style_dim] is.
    Mixed {
        /// [B, text_style_dim]
        text: &'a Tensor,
        /// [B, image_style_dim]
        image: &'a Tensor,
        /// [B] of 0 or 1.
        is_text: &'a Tensor,
    },
}

/// One decoder layer: self-attention, cross-attention, feed-forward, each pre-normed and
/// residual.
#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn_norm: LayerNorm,
    self_attn: Attention,
    cross_attn_norm: LayerNorm,
    cross_attn: Attention,
    ff_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    activation: Activation,
}

impl DecoderLayer {
    fn new(cfg: &DenoiserConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            self_attn_norm: LayerNorm::new(d, eps, vb.pp("self_attn_norm"))?,
            self_attn: Attention::new(d, cfg.num_heads, vb.pp("self_attn"))?,
            cross_attn_norm: LayerNorm::new(d, eps, vb.pp("cross_attn_norm"))?,
            cross_attn: Attention::new(d, cfg.num_heads, vb.pp("cross_attn"))?,
            ff_norm: LayerNorm::new(d, eps, vb.pp("ff_norm"))?,
            fc1: linear(d, cfg.intermediate_size, vb.pp("ff.fc1"))?,
            fc2: linear(cfg.intermediate_size, d, vb.pp("ff.fc2"))?,
            activation: cfg.activation,
        })
    }

    /// One layer on h [B, N, d] given `normed` = its self-attention norm of h, the memory `kv`
    /// of this layer, and biases [B, N, M] and [B, N, N] → (h after the attention blocks, the
    /// feed-forward's output): the caller adds the latter, fused with the next norm.
    fn forward(
        &self,
        h: &Tensor,
        normed: &Tensor,
        kv: &KeyValues,
        cross_bias: &Tensor,
        self_bias: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let attended = self.self_attn.self_attention(normed, self_bias)?;
        let (h, normed) = add_norm(h, Some(&attended), &self.cross_attn_norm)?;
        let attended = self.cross_attn.forward(&normed, kv, Some(cross_bias))?;
        let (h, normed) = add_norm(&h, Some(&attended), &self.ff_norm)?;
        // Exact GELU runs inside the fused product; other activations after it.
        let inner = match self.activation {
            Activation::Gelu => linear_layer(&self.fc1, &normed, Epilogue::GeluErf)?,
            a => a.forward(&linear_layer(&self.fc1, &normed, Epilogue::None)?)?,
        };
        Ok((h, linear_layer(&self.fc2, &inner, Epilogue::None)?))
    }
}

/// `h + delta` and `norm` of it (one fused pass when sampling).
fn add_norm(
    h: &Tensor,
    delta: Option<&Tensor>,
    norm: &LayerNorm,
) -> candle_core::Result<(Tensor, Tensor)> {
    residual_layer_norm(h, delta, norm.weight(), norm.bias(), norm.eps())
}

/// The denoiser. Holds no interior mutability: `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Denoiser {
    input_proj: Linear,
    time_embed: Mlp,
    audio_proj: Linear,
    text_style_proj: Option<Linear>,
    image_style_proj: Option<Mlp>,
    /// [1, 1, d]: the memory token that is always visible.
    null_memory: Tensor,
    memory_norm: LayerNorm,
    layers: Vec<DecoderLayer>,
    final_norm: LayerNorm,
    output_proj: Linear,
    config: DenoiserConfig,
}

impl Denoiser {
    /// Builds the network from `vb`: `input_proj`, `time_embed.l{0,1}`, `audio_proj`,
    /// `text_style_proj` (when `text_style_dim` > 0), `image_style_proj.l{0,1}` (when
    /// `image_style_dim` > 0), `null_memory` [1, 1, d], `memory_norm`, `layers.{i}.`
    /// (`self_attn_norm`, `self_attn.{q,k,v,out}_proj`, `cross_attn_norm`,
    /// `cross_attn.{q,k,v,out}_proj`, `ff_norm`, `ff.fc1`, `ff.fc2`), `final_norm`,
    /// `output_proj`.
    pub fn new(cfg: &DenoiserConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let silu = Activation::Silu;
        Ok(Self {
            input_proj: linear(cfg.motion_dim(), d, vb.pp("input_proj"))?,
            time_embed: Mlp::new(&[d, d, d], silu, vb.pp("time_embed"))?,
            audio_proj: linear(cfg.audio_dim, d, vb.pp("audio_proj"))?,
            text_style_proj: match cfg.text_style_dim {
                0 => None,
                n => Some(linear(n, d, vb.pp("text_style_proj"))?),
            },
            image_style_proj: match cfg.image_style_dim {
                0 => None,
                n => Some(Mlp::new(&[n, d, d], silu, vb.pp("image_style_proj"))?),
            },
            null_memory: vb.get_with_hints(
                (1, 1, d),
                "null_memory",
                candle_nn::Init::Const(0.0),
            )?,
            memory_norm: LayerNorm::new(d, cfg.layer_norm_eps, vb.pp("memory_norm"))?,
            layers: (0..cfg.num_layers)
                .map(|i| DecoderLayer::new(cfg, vb.pp(format!("layers.{i}"))))
                .collect::<candle_core::Result<_>>()?,
            final_norm: LayerNorm::new(d, cfg.layer_norm_eps, vb.pp("final_norm"))?,
            output_proj: linear(d, cfg.motion_dim(), vb.pp("output_proj"))?,
            config: cfg.clone(),
        })
    }

    /// The architecture.
    pub fn config(&self) -> &DenoiserConfig {
        &self.config
    }

    /// The cross-attention memory [B, N + 2, d]: [null; audio frames with positions; style].
    /// `audio` [B, N, audio_dim], one feature vector per animation frame.
    pub fn memory(&self, audio: &Tensor, style: StyleInput<'_>) -> candle_core::Result<Tensor> {
        let (b, n, _) = audio.dims3()?;
        let d = self.config.hidden_size;
        let device = audio.device();
        let positions = frame_positions(n, d, device)?;
        let audio = self.audio_proj.forward(audio)?.broadcast_add(&positions)?;
        let style = match style {
            StyleInput::None => Tensor::zeros((b, 1, d), DType::F32, device)?,
            StyleInput::Text(t) => self.text_token(t)?,
            StyleInput::Image(z) => self.image_token(z)?,
            StyleInput::Mixed {
                text,
                image,
                is_text,
            } => {
                let w = is_text.reshape((b, 1, 1))?;
                let from_text = self.text_token(text)?.broadcast_mul(&w)?;
                let from_image = self.image_token(image)?.broadcast_mul(&(1.0 - &w)?)?;
                (from_text + from_image)?
            }
        };
        let conditioned = self
            .memory_norm
            .forward(&Tensor::cat(&[&audio, &style], 1)?)?;
        let null = self.null_memory.broadcast_as((b, 1, d))?;
        Tensor::cat(&[&null, &conditioned], 1)
    }

    fn text_token(&self, text: &Tensor) -> candle_core::Result<Tensor> {
        match &self.text_style_proj {
            Some(p) => p.forward(text)?.unsqueeze(1),
            None => candle_core::bail!("this denoiser takes no text style (text_style_dim 0)"),
        }
    }

    fn image_token(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        match &self.image_style_proj {
            Some(p) => p.forward(z)?.unsqueeze(1),
            None => candle_core::bail!("this denoiser takes no image style (image_style_dim 0)"),
        }
    }

    /// Every layer's cross-attention keys and values of `memory` [Bm, M, d]: computed once
    /// per sampling, since the memory does not change across steps.
    pub fn memory_key_values(&self, memory: &Tensor) -> candle_core::Result<Vec<KeyValues>> {
        self.layers
            .iter()
            .map(|l| l.cross_attn.key_values(memory))
            .collect()
    }

    /// The predicted clean motion X̂⁰ [B, N, Z + 6] (normalised) from the noisy `x_t`
    /// [B, N, Z + 6] at diffusion steps `timesteps` (one per window, or one for all), over the
    /// memory keys and values `memory` (of Bm windows, B = g·Bm: see
    /// [`Attention::forward`]), with the cross-attention bias [B, N, M] that says what each
    /// prediction sees and an optional self-attention bias [B, N, N] that hides padding.
    pub fn forward(
        &self,
        x_t: &Tensor,
        timesteps: &[u32],
        memory: &[KeyValues],
        cross_bias: &Tensor,
        self_bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, n, _) = x_t.dims3()?;
        let d = self.config.hidden_size;
        let device = x_t.device();
        if timesteps.len() != b && timesteps.len() != 1 {
            candle_core::bail!("{} timesteps for {b} windows", timesteps.len());
        }
        if memory.len() != self.layers.len() {
            candle_core::bail!(
                "memory of {} layers for {}",
                memory.len(),
                self.layers.len()
            );
        }
        let t: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
        let time = self
            .time_embed
            .forward(&sinusoids(&t, d, device)?)?
            .unsqueeze(1)?;
        let mut h = linear_layer(&self.input_proj, x_t, Epilogue::None)?
            .broadcast_add(&frame_positions(n, d, device)?)?
            .broadcast_add(&time)?;
        // Pre-norm residual blocks; each residual add is fused with the norm that follows it.
        let mut delta = None;
        for (layer, kv) in self.layers.iter().zip(memory) {
            let (sum, normed) = add_norm(&h, delta.as_ref(), &layer.self_attn_norm)?;
            let (next, ff) = layer.forward(&sum, &normed, kv, cross_bias, self_bias)?;
            (h, delta) = (next, Some(ff));
        }
        let (_, normed) = add_norm(&h, delta.as_ref(), &self.final_norm)?;
        linear_layer(&self.output_proj, &normed, Epilogue::None)
    }
}

/// [1, N, d] sinusoidal positions of frames 0..N.
fn frame_positions(n: usize, d: usize, device: &Device) -> candle_core::Result<Tensor> {
    let p: Vec<f32> = (0..n).map(|i| i as f32).collect();
    sinusoids(&p, d, device)?.unsqueeze(0)
}
