//! The Whisper audio encoder network (Radford et al. 2022), numerically equal to HF
//! transformers' `WhisperEncoder`: two 1-D convolutions over the log-mel (the second with
//! stride 2, 100 → 50 Hz), added position embeddings, pre-norm transformer layers, a final
//! layer norm.
//!
//! Why not candle-transformers' `whisper::model::AudioEncoder`: it can only be built through
//! `Whisper::load`, which needs the decoder's weights; its `forward` takes `&mut self` (a KV
//! cache used by the decoder), so one encoder could not serve many threads; it applies the tanh
//! approximation of GELU where Whisper uses the exact (erf) one, which moves tiny.en's output by
//! about 1e-3; and it computes the sinusoidal positions instead of reading the checkpoint's
//! `embed_positions`.
//!
//! Inference only: the layers keep their weights stored transposed, which gemm reads faster
//! (`m2f_kernels::transposed_weight`) but a training step would not update.

use std::path::Path;

use candle_core::{Module, Tensor};
use candle_nn::init::DEFAULT_KAIMING_NORMAL;
use candle_nn::VarBuilder;
use candle_nn::{Activation, LayerNorm};
use serde::Deserialize;

use crate::error::{ConditioningError, Result};
use crate::model_files::{bias_init, read_json_config};
use m2f_kernels::{self as kernels, Conv1dShape, Epilogue};

fn default_mels() -> usize {
    80
}
fn default_positions() -> usize {
    1500
}
fn default_model_type() -> String {
    "whisper".into()
}

/// The largest width, depth or number of heads a config may name (2^20).
const MAX_SIZE: usize = 1 << 20;
/// The most mel bands (Whisper has 80 or 128): the front end holds 201 weights per band.
const MAX_MEL_BINS: usize = 1 << 10;
/// The most encoder positions (Whisper has 1500): a padded window is 320 samples per position,
/// 2^16 positions about 22 minutes.
const MAX_POSITIONS: usize = 1 << 16;

/// The HF `WhisperConfig` fields the encoder needs (read from `config.json`; decoder fields
/// and unknown fields are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Must be `whisper`.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Mel bands of the input: 80, or 128 for large-v3.
    #[serde(default = "default_mels")]
    pub num_mel_bins: usize,
    /// Width of the encoder.
    pub d_model: usize,
    /// Number of encoder layers (HF `encoder_layers`).
    pub encoder_layers: usize,
    /// Number of attention heads per encoder layer (HF `encoder_attention_heads`).
    pub encoder_attention_heads: usize,
    /// Width of the feed-forward block inside each encoder layer (HF `encoder_ffn_dim`).
    pub encoder_ffn_dim: usize,
    /// Encoder positions: 1500 (30 s at 50 Hz).
    #[serde(default = "default_positions")]
    pub max_source_positions: usize,
    /// Activation of the convolutions and feed-forward blocks (`gelu`: exact GELU).
    #[serde(default)]
    pub activation_function: Activation,
}

impl Config {
    /// Whisper tiny / tiny.en.
    pub fn tiny() -> Self {
        Self {
            model_type: default_model_type(),
            num_mel_bins: 80,
            d_model: 384,
            encoder_layers: 4,
            encoder_attention_heads: 6,
            encoder_ffn_dim: 1536,
            max_source_positions: 1500,
            activation_function: Activation::Gelu,
        }
    }

    /// Reads and checks an HF `config.json`.
    ///
    /// # Errors
    /// I/O errors naming the file; [`ConditioningError::Invalid`] naming the file when it does
    /// not parse, is not a Whisper config, or has inconsistent sizes.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let cfg: Self = read_json_config(path)?;
        cfg.validate()
            .map_err(|why| ConditioningError::invalid(path.display().to_string(), why))?;
        Ok(cfg)
    }

    /// Checks the architecture and that the sizes fit together.
    ///
    /// # Errors
    /// A sentence saying which field is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.model_type != "whisper" {
            return Err(format!(
                "model_type is {:?}, expected \"whisper\" (a checkpoint of another architecture)",
                self.model_type
            ));
        }
        if self.encoder_attention_heads == 0 || self.d_model % self.encoder_attention_heads != 0 {
            return Err(format!(
                "d_model {} is not a multiple of encoder_attention_heads {}",
                self.d_model, self.encoder_attention_heads
            ));
        }
        if self.d_model == 0 || self.num_mel_bins == 0 || self.encoder_ffn_dim == 0 {
            return Err("d_model, num_mel_bins and encoder_ffn_dim must be positive".to_string());
        }
        // Sizes are checked before anything is sized by them: tensors of width 0 fit any size,
        // the front end's filter bank is sized by num_mel_bins and a window by the positions.
        let limits = [
            ("d_model", self.d_model, MAX_SIZE),
            ("encoder_layers", self.encoder_layers, MAX_SIZE),
            (
                "encoder_attention_heads",
                self.encoder_attention_heads,
                MAX_SIZE,
            ),
            ("encoder_ffn_dim", self.encoder_ffn_dim, MAX_SIZE),
            ("num_mel_bins", self.num_mel_bins, MAX_MEL_BINS),
            (
                "max_source_positions",
                self.max_source_positions,
                MAX_POSITIONS,
            ),
        ];
        if let Some((field, v, max)) = limits.into_iter().find(|(_, v, max)| v > max) {
            return Err(format!("{field}: {v} is more than the limit {max}"));
        }
        // A window of one position has no whole frame to advance by between windows.
        if self.max_source_positions < 2 {
            return Err(format!(
                "max_source_positions: {} is fewer than 2 (a window must hold 2 frames)",
                self.max_source_positions
            ));
        }
        Ok(())
    }

    /// Mel frames of one full window: 3000 (30 s at 100 Hz).
    pub fn window_mel_frames(&self) -> usize {
        2 * self.max_source_positions
    }

    /// Encoder frames for `mel_frames` log-mel frames: `ceil(mel_frames / 2)`.
    pub fn output_frames(&self, mel_frames: usize) -> usize {
        mel_frames.div_ceil(2)
    }
}

/// A linear layer with bias, run through the fused CPU kernel (bias and GELU in the product).
#[derive(Debug, Clone)]
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    /// `weight` [out, in] and `bias` [out] under `vb`, as HF names them; the weight is stored
    /// transposed, which gemm reads faster (`kernels::transposed_weight`).
    fn new(d_in: usize, d_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.get_with_hints((d_out, d_in), "weight", DEFAULT_KAIMING_NORMAL)?;
        Ok(Self {
            weight: kernels::transposed_weight(&weight)?,
            bias: vb.get_with_hints(d_out, "bias", bias_init(d_in))?,
        })
    }

    /// [..., in] → [..., out]
    fn forward(&self, xs: &Tensor, epilogue: Epilogue) -> candle_core::Result<Tensor> {
        kernels::linear(xs, &self.weight, &self.bias, epilogue)
    }
}

fn layer_norm(size: usize, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    // HF's WhisperEncoderLayer uses torch's nn.LayerNorm default eps.
    candle_nn::layer_norm(size, 1e-5, vb)
}

/// Multi-head self-attention; `k_proj` has no bias, as in Whisper. The three projections are
/// read under their checkpoint names and run as one [3d, d] matmul.
#[derive(Debug, Clone)]
struct Attention {
    qkv: Dense,
    out_proj: Dense,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let (q, v) = (
            Dense::new(d, d, vb.pp("q_proj"))?,
            Dense::new(d, d, vb.pp("v_proj"))?,
        );
        let k = vb
            .pp("k_proj")
            .get_with_hints((d, d), "weight", DEFAULT_KAIMING_NORMAL)?;
        // Whisper's key projection has no bias: its third of the fused bias is zero.
        let k = kernels::transposed_weight(&k)?;
        let weight = kernels::transposed_weight(&Tensor::cat(&[&q.weight, &k, &v.weight], 0)?)?;
        let bias = Tensor::cat(&[&q.bias, &q.bias.zeros_like()?, &v.bias], 0)?;
        Ok(Self {
            qkv: Dense { weight, bias },
            out_proj: Dense::new(d, d, vb.pp("out_proj"))?,
            heads: cfg.encoder_attention_heads,
            head_dim: d / cfg.encoder_attention_heads,
        })
    }

    /// [B, T, d] → [B, T, d]
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let qkv = self.qkv.forward(xs, Epilogue::None)?;
        // HF scales the queries by head_dim^-0.5; the fused kernel scales the scores.
        let scale = (self.head_dim as f64).powf(-0.5);
        let ctx = kernels::attention_packed(&qkv, self.heads, scale, None)?;
        self.out_proj.forward(&ctx, Epilogue::None)
    }
}

/// A width-3 convolution of the stem, run time-major through the fused CPU kernel.
#[derive(Debug, Clone)]
struct StemConv {
    /// [out, in, 3], PyTorch's layout.
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl StemConv {
    fn new(d_in: usize, d_out: usize, stride: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints((d_out, d_in, 3), "weight", DEFAULT_KAIMING_NORMAL)?,
            bias: vb.get_with_hints(d_out, "bias", bias_init(3 * d_in))?,
            stride,
        })
    }

    /// [B, T, in] → [B, T', out], then `act`.
    fn forward(&self, xs: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
        let shape = Conv1dShape {
            stride: self.stride,
            padding: 1,
        };
        kernels::then_activate(act, |epilogue| {
            kernels::conv1d_time_major(xs, &self.weight, &self.bias, shape, epilogue)
        })
    }
}

/// One pre-norm transformer layer: `x + attn(ln(x))`, then `x + fc2(act(fc1(ln(x))))`.
#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    final_layer_norm: LayerNorm,
    act: Activation,
}

impl EncoderLayer {
    fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            self_attn: Attention::new(cfg, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(cfg.d_model, vb.pp("self_attn_layer_norm"))?,
            fc1: Dense::new(cfg.d_model, cfg.encoder_ffn_dim, vb.pp("fc1"))?,
            fc2: Dense::new(cfg.encoder_ffn_dim, cfg.d_model, vb.pp("fc2"))?,
            final_layer_norm: layer_norm(cfg.d_model, vb.pp("final_layer_norm"))?,
            act: cfg.activation_function,
        })
    }

    /// [B, T, d] → [B, T, d]
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let h = self
            .self_attn
            .forward(&self.self_attn_layer_norm.forward(xs)?)?;
        let xs = (xs + h)?;
        let h = self.final_layer_norm.forward(&xs)?;
        let h = kernels::then_activate(self.act, |epilogue| self.fc1.forward(&h, epilogue))?;
        xs + self.fc2.forward(&h, Epilogue::None)?
    }
}

/// The encoder network. Weights under `vb` (HF `WhisperModel` names below `encoder.`):
/// `conv1`, `conv2`, `embed_positions.weight` [max_source_positions, d_model],
/// `layers.{i}.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2, final_layer_norm}`,
/// `layer_norm`.
#[derive(Debug, Clone)]
pub struct WhisperEncoderModel {
    conv1: StemConv,
    conv2: StemConv,
    embed_positions: Tensor,
    layers: Vec<EncoderLayer>,
    layer_norm: LayerNorm,
    cfg: Config,
}

impl WhisperEncoderModel {
    /// Builds the encoder from the tensors under `vb` (see the type's documentation).
    ///
    /// # Errors
    /// Candle errors naming a missing or mis-shaped tensor.
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            conv1: StemConv::new(cfg.num_mel_bins, d, 1, vb.pp("conv1"))?,
            conv2: StemConv::new(d, d, 2, vb.pp("conv2"))?,
            embed_positions: vb
                .pp("embed_positions")
                .get((cfg.max_source_positions, d), "weight")?,
            layers: (0..cfg.encoder_layers)
                .map(|i| EncoderLayer::new(cfg, vb.pp(format!("layers.{i}"))))
                .collect::<candle_core::Result<_>>()?,
            layer_norm: layer_norm(d, vb.pp("layer_norm"))?,
            cfg: cfg.clone(),
        })
    }

    /// The configuration the network was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Log-mel [B, num_mel_bins, M] with M ≤ 3000 → hidden states [B, ceil(M / 2), d_model]
    /// at 50 Hz; frame j is centred on mel frame 2j.
    ///
    /// Unlike HF (which insists on M = 3000), any M from 1 to 3000 is accepted: the positions
    /// are the first ceil(M / 2) rows of `embed_positions`.
    ///
    /// # Errors
    /// If the mel has the wrong number of bands or is longer than the position table.
    pub fn forward(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        let (_, bands, m) = mel.dims3()?;
        if bands != self.cfg.num_mel_bins {
            candle_core::bail!(
                "Whisper encoder: log-mel has {bands} bands, the checkpoint expects {}",
                self.cfg.num_mel_bins
            );
        }
        let t = self.cfg.output_frames(m);
        if t == 0 || t > self.cfg.max_source_positions {
            candle_core::bail!(
                "Whisper encoder: {m} mel frames give {t} positions, the checkpoint has 1..={}",
                self.cfg.max_source_positions
            );
        }
        // The stem runs time-major: [B, M, mels] in, [B, T, d] out.
        let act = self.cfg.activation_function;
        let xs = self.conv1.forward(&mel.transpose(1, 2)?, act)?;
        let xs = self.conv2.forward(&xs, act)?;
        let mut xs = xs.broadcast_add(&self.embed_positions.narrow(0, 0, t)?)?;
        for layer in &self.layers {
            xs = layer.forward(&xs)?;
        }
        self.layer_norm.forward(&xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, D};
    use candle_nn::VarMap;

    /// RMS of each frame [B, T, d] → [B, T].
    fn frame_norms(xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.sqr()?.mean(D::Minus1)?.sqrt()
    }

    fn small() -> Config {
        Config {
            d_model: 16,
            encoder_layers: 2,
            encoder_attention_heads: 4,
            encoder_ffn_dim: 32,
            max_source_positions: 50,
            num_mel_bins: 8,
            ..Config::tiny()
        }
    }

    #[test]
    fn shapes_any_length() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = WhisperEncoderModel::new(&small(), vb).unwrap();
        for frames in [1, 2, 7, 100] {
            let mel = Tensor::randn(0f32, 1.0, (1, 8, frames), &Device::Cpu).unwrap();
            let y = m.forward(&mel).unwrap();
            assert_eq!(y.dims(), &[1, frames.div_ceil(2), 16]);
            let norms: Vec<f32> = frame_norms(&y)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(norms.iter().all(|n| n.is_finite() && *n > 0.0));
        }
        let too_long = Tensor::zeros((1, 8, 101), DType::F32, &Device::Cpu).unwrap();
        let err = m.forward(&too_long).unwrap_err().to_string();
        assert!(err.contains("1..=50"), "{err}");
        let wrong_bands = Tensor::zeros((1, 9, 10), DType::F32, &Device::Cpu).unwrap();
        let err = m.forward(&wrong_bands).unwrap_err().to_string();
        assert!(
            err.contains("9 bands") && err.contains("expects 8"),
            "{err}"
        );
    }

    #[test]
    fn config_rejects_other_architectures() {
        let mut c = Config::tiny();
        c.model_type = "wav2vec2".into();
        assert!(c.validate().unwrap_err().contains("another architecture"));
        let mut c = Config::tiny();
        c.encoder_attention_heads = 5;
        assert!(c.validate().unwrap_err().contains("multiple"));
    }

    #[test]
    fn config_reads_hf_json() {
        let json = r#"{"model_type":"whisper","d_model":384,"encoder_layers":4,
            "encoder_attention_heads":6,"encoder_ffn_dim":1536,"num_mel_bins":80,
            "max_source_positions":1500,"activation_function":"gelu","vocab_size":51864}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        assert_eq!(c, Config::tiny());
    }
}
