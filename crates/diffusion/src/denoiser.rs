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
use m2f_kernels::{linear_layer, on_pool, residual_layer_norm, serial_products, Epilogue};
use m2f_train::{LayerNorm, Mlp};
use rayon::prelude::*;

use crate::attention::{Attention, KeyValues};
use crate::conditioning_mask::HIDDEN;
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
    /// Per window a text or an image prompt (training draws one at random): `is_text` `[B]` is
    /// 1 where `text` `[B, text_style_dim]` is used and 0 where `image` `[B, image_style_dim]` is.
    Mixed {
        /// [B, text_style_dim]
        text: &'a Tensor,
        /// [B, image_style_dim]
        image: &'a Tensor,
        /// `[B]` of 0 or 1.
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

    /// The self-attention's projections of `normed` [B, n, d] (its norm of h, for frames
    /// of a window) → (queries, keys and values).
    fn self_attention_inputs(&self, normed: &Tensor) -> candle_core::Result<(Tensor, KeyValues)> {
        Ok((
            self.self_attn.queries(normed)?,
            self.self_attn.key_values(normed)?,
        ))
    }

    /// The rest of the self-attention block for frames of a window: h [B, n, d] and their
    /// queries over the keys and values `kv` [B, N, d] of every frame of the window, with an
    /// optional bias [B, n, N] → (h + attended, its cross-attention norm).
    fn self_attention_output(
        &self,
        h: &Tensor,
        queries: &Tensor,
        kv: &KeyValues,
        self_bias: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let attended = self.self_attn.attend(queries, kv, self_bias)?;
        add_norm(h, Some(&attended), &self.cross_attn_norm)
    }

    /// The cross-attention and feed-forward blocks on h [B, N, d] given `normed` = its
    /// cross-attention norm, the memory `kv` of this layer and the bias [B, N, M] → (h after
    /// the cross-attention, the feed-forward's output): the caller adds the latter, fused
    /// with the next norm. The first `null_rows` batch elements see nothing but the null
    /// token (the unconditioned guidance branch): their cross-attention output is that
    /// token's, computed once.
    fn cross_attention_feed_forward(
        &self,
        h: &Tensor,
        normed: &Tensor,
        kv: &KeyValues,
        cross_bias: &Tensor,
        null_rows: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, n, d) = normed.dims3()?;
        let attended = match null_rows {
            0 => self.cross_attn.forward(normed, kv, Some(cross_bias))?,
            k => {
                let null = self
                    .cross_attn
                    .first_token_output(kv)?
                    .broadcast_as((k, n, d))?;
                match b - k {
                    0 => null.contiguous()?,
                    rest => {
                        let attended = self.cross_attn.forward(
                            &normed.narrow(0, k, rest)?,
                            kv,
                            Some(&cross_bias.narrow(0, k, rest)?),
                        )?;
                        Tensor::cat(&[&null, &attended], 0)?
                    }
                }
            }
        };
        let (h, normed) = add_norm(h, Some(&attended), &self.ff_norm)?;
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
    /// [1, window, d]: the sinusoidal positions of a window's frames, computed once.
    window_positions: Tensor,
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
            window_positions: frame_positions(cfg.window, d, vb.device())?,
            config: cfg.clone(),
        })
    }

    /// The architecture.
    pub fn config(&self) -> &DenoiserConfig {
        &self.config
    }

    /// [1, n, d] sinusoidal positions of frames 0..n (longer than a window: computed anew).
    fn positions(&self, n: usize, device: &Device) -> candle_core::Result<Tensor> {
        match n <= self.config.window {
            true => self.window_positions.narrow(1, 0, n),
            false => frame_positions(n, self.config.hidden_size, device),
        }
    }

    /// The cross-attention memory [B, N + 2, d]: [null; audio frames with positions; style].
    /// `audio` [B, N, audio_dim], one feature vector per animation frame.
    pub fn memory(&self, audio: &Tensor, style: StyleInput<'_>) -> candle_core::Result<Tensor> {
        let (b, n, _) = audio.dims3()?;
        let d = self.config.hidden_size;
        let device = audio.device();
        let positions = self.positions(n, device)?;
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
        self.forward_branches(x_t, 1, timesteps, memory, cross_bias, self_bias)
    }

    /// The predictions of `branches` guidance branches for each of the E windows of `x_t`
    /// [E, N, Z + 6] → [branches·E, N, Z + 6], row `branch·E + e` (as [`Denoiser::forward`]
    /// on the noisy motion repeated `branches` times, with `cross_bias` [branches·E, N, M]
    /// saying what each branch sees). The branches of a window share its noisy motion, so
    /// everything before the first cross-attention (input projection, step embedding, first
    /// self-attention) runs once per window rather than once per branch. `timesteps` holds
    /// one step per window or one for all; `self_bias` is [E, N, N].
    pub fn forward_branches(
        &self,
        x_t: &Tensor,
        branches: usize,
        timesteps: &[u32],
        memory: &[KeyValues],
        cross_bias: &Tensor,
        self_bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        on_pool(|| self.run_branches(x_t, branches, timesteps, memory, cross_bias, self_bias))
    }

    /// [`Denoiser::forward_branches`] on the calling thread.
    fn run_branches(
        &self,
        x_t: &Tensor,
        branches: usize,
        timesteps: &[u32],
        memory: &[KeyValues],
        cross_bias: &Tensor,
        self_bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (e, n, _) = x_t.dims3()?;
        let d = self.config.hidden_size;
        let device = x_t.device();
        if branches == 0 {
            candle_core::bail!("no guidance branches asked for");
        }
        if timesteps.len() != e && timesteps.len() != 1 {
            candle_core::bail!("{} timesteps for {e} windows", timesteps.len());
        }
        if memory.len() != self.layers.len() {
            candle_core::bail!(
                "memory of {} layers for {}",
                memory.len(),
                self.layers.len()
            );
        }
        let repeat = |t: &Tensor| -> candle_core::Result<Tensor> {
            match branches {
                1 => Ok(t.clone()),
                g => Tensor::cat(&vec![t; g], 0),
            }
        };
        let t: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
        let time = self
            .time_embed
            .forward(&sinusoids(&t, d, device)?)?
            .unsqueeze(1)?;
        let positions = self.positions(n, device)?;
        // Every frame but the self-attention's keys and values is computed on its own, so
        // when sampling the frames are cut into one part per thread that runs a whole layer
        // at a time: two joins per layer instead of a parallel split inside each of some
        // fifteen small products, which costs more in waking threads than it saves.
        let tracking = self.input_proj.weight().track_op() || x_t.track_op();
        let parts = match tracking {
            true => 1,
            false => rayon::current_num_threads().min(n / MIN_PART_FRAMES).max(1),
        };
        let spans: Vec<(usize, usize)> = (0..parts)
            .map(|p| (p * n / parts, (p + 1) * n / parts - p * n / parts))
            .collect();
        let frames_of = |t: &Tensor, (lo, len): (usize, usize)| -> candle_core::Result<Tensor> {
            match parts {
                1 => Ok(t.clone()),
                _ => t.narrow(1, lo, len)?.contiguous(),
            }
        };
        // The unconditioned branch comes first; its rows attend to the null token alone.
        // (Only when its rows are whole memories' worth, so the rest keep their pairing.)
        let memories = memory.first().map_or(1, |kv| kv.keys.dim(0).unwrap_or(1));
        let null_rows = match tracking {
            true => 0,
            false => match null_prefix(cross_bias)? {
                k if k % memories == 0 => k,
                _ => 0,
            },
        };
        let cross_biases = spans
            .iter()
            .map(|&s| frames_of(cross_bias, s))
            .collect::<candle_core::Result<Vec<_>>>()?;
        // Rows are per window until the first cross-attention, per branch and window after.
        let mut states = each_part(&spans, |&(lo, len)| {
            let h = linear_layer(&self.input_proj, &x_t.narrow(1, lo, len)?, Epilogue::None)?
                .broadcast_add(&positions.narrow(1, lo, len)?)?
                .broadcast_add(&time)?;
            let self_bias = self_bias.map(|b| frames_of(b, (lo, len))).transpose()?;
            Ok(Part {
                h,
                delta: None,
                self_bias,
            })
        })?;
        for (i, (layer, kv)) in self.layers.iter().zip(memory).enumerate() {
            let inputs = each_part(&states, |p| {
                let (sum, normed) = add_norm(&p.h, p.delta.as_ref(), &layer.self_attn_norm)?;
                Ok((sum, layer.self_attention_inputs(&normed)?))
            })?;
            let window_kv = KeyValues {
                keys: cat_frames(inputs.iter().map(|(_, (_, kv))| &kv.keys))?,
                values: cat_frames(inputs.iter().map(|(_, (_, kv))| &kv.values))?,
            };
            let work: Vec<_> = states.iter().zip(&inputs).zip(&cross_biases).collect();
            states = each_part(&work, |((p, (sum, (queries, _))), cross_bias)| {
                let (mut sum, mut normed) =
                    layer.self_attention_output(sum, queries, &window_kv, p.self_bias.as_ref())?;
                let mut self_bias = p.self_bias.clone();
                if i == 0 && branches > 1 {
                    (sum, normed) = (repeat(&sum)?, repeat(&normed)?);
                    self_bias = self_bias.as_ref().map(repeat).transpose()?;
                }
                let (h, ff) =
                    layer.cross_attention_feed_forward(&sum, &normed, kv, cross_bias, null_rows)?;
                Ok(Part {
                    h,
                    delta: Some(ff),
                    self_bias,
                })
            })?;
        }
        let outs = each_part(&states, |p| {
            let (_, normed) = add_norm(&p.h, p.delta.as_ref(), &self.final_norm)?;
            linear_layer(&self.output_proj, &normed, Epilogue::None)
        })?;
        let out = cat_frames(outs.iter())?;
        if self.layers.is_empty() {
            repeat(&out)
        } else {
            Ok(out)
        }
    }
}

/// How many leading batch elements of `bias` [B, N, M] show every frame the first memory
/// token (the null token) and no other.
fn null_prefix(bias: &Tensor) -> candle_core::Result<usize> {
    let (b, _, m) = bias.dims3()?;
    if m == 0 {
        return Ok(0);
    }
    let hidden = |x: f32| x <= HIDDEN / 2.0;
    // Element by element, so that the scan (every sampling step) stops at the first
    // conditioned one instead of copying the whole bias out.
    for e in 0..b {
        let rows = bias.get(e)?.flatten_all()?.to_vec1::<f32>()?;
        let null_only = rows
            .chunks_exact(m)
            .all(|row| !hidden(row[0]) && row[1..].iter().all(|&x| hidden(x)));
        if !null_only {
            return Ok(e);
        }
    }
    Ok(b)
}

/// Frames per part below which a window is not cut further.
const MIN_PART_FRAMES: usize = 16;

/// The state of one part of a window's frames between layers: h [B, n, d], the
/// feed-forward output still to be added to it, and the self-attention bias of its rows
/// [B, n, N].
struct Part {
    h: Tensor,
    delta: Option<Tensor>,
    self_bias: Option<Tensor>,
}

/// `f` of every part, the parts in parallel.
fn each_part<P: Sync, T: Send>(
    parts: &[P],
    f: impl Fn(&P) -> candle_core::Result<T> + Sync,
) -> candle_core::Result<Vec<T>> {
    match parts {
        [one] => Ok(vec![f(one)?]),
        // One part per core already: each part's products run unsplit.
        _ => parts.par_iter().map(|p| serial_products(|| f(p))).collect(),
    }
}

/// Parts [B, n_i, d] joined along the frames → [B, Σ n_i, d].
fn cat_frames<'a>(parts: impl Iterator<Item = &'a Tensor>) -> candle_core::Result<Tensor> {
    let parts: Vec<&Tensor> = parts.collect();
    match parts[..] {
        [one] => Ok(one.clone()),
        _ => Tensor::cat(&parts, 1),
    }
}

/// [1, N, d] sinusoidal positions of frames 0..N.
fn frame_positions(n: usize, d: usize, device: &Device) -> candle_core::Result<Tensor> {
    let p: Vec<f32> = (0..n).map(|i| i as f32).collect();
    sinusoids(&p, d, device)?.unsqueeze(0)
}
