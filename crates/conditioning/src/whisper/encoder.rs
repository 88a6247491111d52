//! Whisper as an [`AudioEncoder`]: Whisper's own log-mel front end, the encoder network, and
//! the rule that turns audio of any length into Whisper's 30 s windows.

use std::collections::HashMap;
use std::path::Path;

use candle_core::safetensors::{Load, SliceSafetensors};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::model::{Config, WhisperEncoderModel};
use crate::audio::SAMPLE_RATE;
use crate::audio_encoder::{resample_frames, AudioEncoder, FrameTiming};
use crate::error::{ConditioningError, Result};
use crate::log_mel::{LogMel, HOP};
use crate::model_files::read_json_config;
use crate::weights::ModelSource;

/// Samples per encoder frame: two mel hops (20 ms).
pub const FRAME_SAMPLES: usize = 2 * HOP;

/// How audio that is not exactly one 30 s window is fed to the encoder.
///
/// Whisper only ever saw 30 s windows, zero-padded after the speech. Audio longer than a window
/// is cut into windows 30 s long every 20 s; each keeps the frames with at least 5 s of context
/// on both sides (the first and last keep their outer ends), so every kept frame is computed
/// with the same context a middle frame of a single window has. The policy decides how the
/// last (or only) window is fed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPolicy {
    /// Zero-pad the window to 30 s, as Whisper's feature extractor does: the features a
    /// reference implementation gives, at the cost of a full 30 s window for any clip.
    #[default]
    Padded,
    /// Feed only the audio itself: cost proportional to its length, features that drift from
    /// [`WindowPolicy::Padded`] (see `docs/whisper.md` for how much).
    Exact,
}

/// Whisper's feature-extractor settings (`preprocessor_config.json`); only the fields this
/// crate checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct PreprocessorConfig {
    feature_size: usize,
    #[serde(default = "default_rate")]
    sampling_rate: u32,
    #[serde(default = "default_hop")]
    hop_length: usize,
    #[serde(default = "default_n_fft")]
    n_fft: usize,
}

fn default_rate() -> u32 {
    SAMPLE_RATE
}
fn default_hop() -> usize {
    HOP
}
fn default_n_fft() -> usize {
    crate::log_mel::N_FFT
}

/// The Whisper audio encoder: 16 kHz samples → 50 Hz hidden states of width `d_model`, and
/// through [`AudioEncoder`] features at the animation rate.
#[derive(Debug, Clone)]
pub struct WhisperEncoder {
    model: WhisperEncoderModel,
    front: LogMel,
    policy: WindowPolicy,
    device: Device,
}

impl WhisperEncoder {
    /// Wraps an encoder network with Whisper's front end for its number of mel bands.
    pub fn new(model: WhisperEncoderModel, policy: WindowPolicy, device: Device) -> Self {
        let front = LogMel::with_bands(model.config().num_mel_bins);
        Self {
            model,
            front,
            policy,
            device,
        }
    }

    /// Loads `config.json`, optional `preprocessor_config.json` and the encoder tensors of
    /// `model.safetensors` from an HF `WhisperModel` or `WhisperForConditionalGeneration`
    /// checkpoint directory (decoder tensors are skipped).
    ///
    /// # Errors
    /// I/O errors naming the file; [`ConditioningError::Invalid`] for a config of another
    /// architecture or a front end that does not match the weights;
    /// [`ConditioningError::Weights`] naming the missing or mis-shaped tensor.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::load_from(&ModelSource::local(dir.as_ref()), device)
    }

    /// [`WhisperEncoder::load`] from any [`ModelSource`] (e.g. the hub repository
    /// `openai/whisper-tiny.en`, from the hub cache when offline).
    ///
    /// # Errors
    /// As [`WhisperEncoder::load`].
    pub fn load_from(source: &ModelSource, device: &Device) -> Result<Self> {
        let cfg = Config::from_file(source.file("config.json")?)?;
        match source.file("preprocessor_config.json") {
            Ok(path) => check_preprocessor(&path, &cfg)?,
            Err(ConditioningError::MissingModelFile { .. }) => {}
            Err(e) => return Err(e),
        }
        let weights = source.file("model.safetensors")?;
        let bytes = std::fs::read(&weights).map_err(|e| ConditioningError::io(&weights, e))?;
        Self::from_safetensors(cfg, &bytes, &weights.display().to_string(), device)
    }

    /// Builds the encoder from a config and the bytes of a safetensors file (no file system:
    /// the form a browser build or an embedded checkpoint has). `origin` names the bytes in
    /// errors. Tensors are computed in f32 whatever their stored type.
    ///
    /// # Errors
    /// [`ConditioningError::Weights`] naming `origin` and the missing or mis-shaped tensor.
    pub fn from_safetensors(
        cfg: Config,
        bytes: &[u8],
        origin: &str,
        device: &Device,
    ) -> Result<Self> {
        let bad = |tensor: String, message: String| ConditioningError::Weights { tensor, message };
        cfg.validate()
            .map_err(|why| ConditioningError::invalid(format!("{origin} config"), why))?;
        let st = SliceSafetensors::new(bytes)
            .map_err(|e| bad(origin.to_string(), format!("not a safetensors file: {e}")))?;
        let names: Vec<String> = st.tensors().into_iter().map(|(n, _)| n).collect();
        let prefix = ["encoder.", "model.encoder."]
            .into_iter()
            .find(|p| names.iter().any(|n| *n == format!("{p}conv1.weight")))
            .ok_or_else(|| {
                bad(
                    origin.to_string(),
                    "no Whisper encoder tensors (expected encoder.conv1.weight or \
                     model.encoder.conv1.weight)"
                        .to_string(),
                )
            })?;
        let mut tensors = HashMap::new();
        for name in names.iter().filter(|n| n.starts_with(prefix)) {
            let view = st
                .get(name)
                .map_err(|e| bad(format!("{origin}: {name}"), e.to_string()))?;
            let t = view
                .load(device)
                .map_err(|e| bad(format!("{origin}: {name}"), e.to_string()))?;
            tensors.insert(name[prefix.len()..].to_string(), t);
        }
        if let Some(name) = m2f_train::first_non_finite(&tensors)? {
            return Err(bad(
                format!("{origin}: {prefix}{name}"),
                "holds NaN or infinite values (a damaged checkpoint)".to_string(),
            ));
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = WhisperEncoderModel::new(&cfg, vb).map_err(|e| {
            bad(
                origin.to_string(),
                format!(
                    "{e} (tensor names below `{}`)",
                    prefix.trim_end_matches('.')
                ),
            )
        })?;
        Ok(Self::new(model, WindowPolicy::default(), device.clone()))
    }

    /// The same encoder with another window policy.
    pub fn with_policy(mut self, policy: WindowPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How the last (or only) window is fed.
    pub fn policy(&self) -> WindowPolicy {
        self.policy
    }

    /// The network.
    pub fn model(&self) -> &WhisperEncoderModel {
        &self.model
    }

    /// The device the features are computed on.
    pub fn model_device(&self) -> &Device {
        &self.device
    }

    /// Timing of the native frames: frame j is centred on sample `320 j`.
    pub fn timing() -> FrameTiming {
        FrameTiming {
            hop: FRAME_SAMPLES as f64,
            offset: 0.0,
        }
    }

    /// Native frames for `n` samples: `ceil((n / 160) / 2)`.
    pub fn native_frames(&self, n: usize) -> usize {
        self.model.config().output_frames(n / HOP)
    }

    /// Whisper's log-mel of `samples` as HF's `WhisperFeatureExtractor` computes it: zero
    /// padding to `pad_to` samples first when given (30 s in Whisper), then `len / 160`
    /// frames → [n_mels, frames].
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for fewer than 160 samples, non-finite samples, or more
    /// samples than `pad_to`.
    pub fn log_mel(&self, samples: &[f32], pad_to: Option<usize>) -> Result<Tensor> {
        let padded;
        let input = match pad_to {
            Some(len) if len < samples.len() => {
                return Err(ConditioningError::invalid(
                    "audio",
                    format!("{} samples do not fit a window of {len}", samples.len()),
                ))
            }
            Some(len) => {
                padded = [samples, &vec![0.0; len - samples.len()]].concat();
                &padded[..]
            }
            None => samples,
        };
        if input.len() < HOP {
            return Err(ConditioningError::invalid(
                "audio",
                format!(
                    "{} samples is shorter than one Whisper frame ({HOP} samples, 10 ms)",
                    input.len()
                ),
            ));
        }
        self.front
            .compute_frames(input, input.len() / HOP, &self.device)
    }

    /// One window of at most 30 s → native features [ceil((len / 160) / 2), d_model], fed as
    /// `policy` says.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for audio shorter than 10 ms or longer than a window.
    pub fn encode_window(&self, samples: &[f32], policy: WindowPolicy) -> Result<Tensor> {
        let window = self.window_samples();
        if samples.len() > window {
            return Err(ConditioningError::invalid(
                "audio",
                format!(
                    "{} samples is longer than one Whisper window ({window} samples)",
                    samples.len()
                ),
            ));
        }
        let pad_to = match policy {
            WindowPolicy::Padded => Some(window),
            WindowPolicy::Exact => None,
        };
        let mel = self.log_mel(samples, pad_to)?.unsqueeze(0)?;
        let feats = self.model.forward(&mel)?.squeeze(0)?;
        let keep = self.native_frames(samples.len());
        if keep == 0 {
            return Err(ConditioningError::invalid(
                "audio",
                format!("{} samples give no Whisper frame", samples.len()),
            ));
        }
        Ok(feats.narrow(0, 0, keep)?)
    }

    /// Samples in one window: 480 000 (30 s) for the released models.
    pub fn window_samples(&self) -> usize {
        self.model.config().window_mel_frames() * HOP
    }

    /// 16 kHz audio of any length → native features [`native_frames`](Self::native_frames)`(n)`
    /// × d_model at 50 Hz, in overlapping windows as [`WindowPolicy`] describes.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for audio shorter than 10 ms or non-finite samples.
    pub fn native_features(&self, samples: &[f32]) -> Result<Tensor> {
        let n = samples.len();
        let window = self.window_samples();
        if n <= window {
            return self.encode_window(samples, self.policy);
        }
        let plan = WindowPlan::new(n, window);
        let mut parts = Vec::with_capacity(plan.windows);
        for k in 0..plan.windows {
            let start = k * plan.stride;
            let end = (start + window).min(n);
            let feats = self.encode_window(&samples[start..end], self.policy)?;
            let (keep_from, keep_to) = plan.kept_frames(k, feats.dim(0)?);
            parts.push(feats.narrow(0, keep_from, keep_to - keep_from)?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }
}

/// Where the windows of a long clip start and which of their frames are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowPlan {
    pub(crate) windows: usize,
    /// Samples between window starts (two thirds of a window: 20 s).
    pub(crate) stride: usize,
    /// Native frames of context each kept frame has at least (5 s).
    pub(crate) margin_frames: usize,
}

impl WindowPlan {
    pub(crate) fn new(n: usize, window: usize) -> Self {
        // Multiples of FRAME_SAMPLES keep every window on the same frame grid.
        let stride = (window * 2 / 3) / FRAME_SAMPLES * FRAME_SAMPLES;
        let windows = if n <= window {
            1
        } else {
            (n - window).div_ceil(stride) + 1
        };
        Self {
            windows,
            stride,
            margin_frames: (window - stride) / 2 / FRAME_SAMPLES,
        }
    }

    /// The window that gives native frame `t` when the audio goes on past it (a stream):
    /// window k keeps frames up to `k * stride + stride + margin`.
    pub(crate) fn open_window_of(&self, t: usize) -> usize {
        let first_end = self.stride / FRAME_SAMPLES + self.margin_frames;
        if t < first_end {
            0
        } else {
            (t - first_end) / (self.stride / FRAME_SAMPLES) + 1
        }
    }

    /// Local frames [from, to) of window `k` (which produced `frames`) that are kept.
    fn kept_frames(&self, k: usize, frames: usize) -> (usize, usize) {
        let from = if k == 0 { 0 } else { self.margin_frames };
        let to = if k + 1 == self.windows {
            frames
        } else {
            self.stride / FRAME_SAMPLES + self.margin_frames
        };
        (from, to.min(frames))
    }
}

fn check_preprocessor(path: &Path, cfg: &Config) -> Result<()> {
    let pre: PreprocessorConfig = read_json_config(path)?;
    let problem = if pre.feature_size != cfg.num_mel_bins {
        Some(format!(
            "feature_size is {} mel bands but the encoder's num_mel_bins is {}",
            pre.feature_size, cfg.num_mel_bins
        ))
    } else if pre.sampling_rate != SAMPLE_RATE {
        Some(format!(
            "sampling_rate is {}, this crate feeds {SAMPLE_RATE} Hz",
            pre.sampling_rate
        ))
    } else if pre.hop_length != HOP || pre.n_fft != crate::log_mel::N_FFT {
        Some(format!(
            "hop_length {} / n_fft {}: this front end computes hop {HOP}, n_fft {}",
            pre.hop_length,
            pre.n_fft,
            crate::log_mel::N_FFT
        ))
    } else {
        None
    };
    match problem {
        Some(why) => Err(ConditioningError::invalid(path.display().to_string(), why)),
        None => Ok(()),
    }
}

impl AudioEncoder for WhisperEncoder {
    fn feature_dim(&self) -> usize {
        self.model.config().d_model
    }

    fn encode(&self, samples: &[f32], fps: f64) -> Result<Tensor> {
        let feats = self.native_features(samples)?;
        resample_frames(&feats, Self::timing(), samples.len(), fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<WhisperEncoder>();
    }

    /// A large-v3-shaped front end (128 bands) feeds a 128-band network of any width; an
    /// 80-band mel is refused by name.
    #[test]
    fn large_v3_front_end_has_128_bands() {
        use candle_nn::{VarBuilder, VarMap};
        let cfg = Config {
            num_mel_bins: 128,
            d_model: 16,
            encoder_layers: 1,
            encoder_attention_heads: 2,
            encoder_ffn_dim: 32,
            ..Config::tiny()
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let model = WhisperEncoderModel::new(&cfg, vb).unwrap();
        let enc = WhisperEncoder::new(model, WindowPolicy::Exact, Device::Cpu);
        let x: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        assert_eq!(enc.log_mel(&x, None).unwrap().dims(), &[128, 100]);
        assert_eq!(enc.encode(&x, 30.0).unwrap().dims(), &[30, 16]);
        let mel80 = LogMel::new().compute_frames(&x, 100, &Device::Cpu).unwrap();
        let err = enc
            .model()
            .forward(&mel80.unsqueeze(0).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("80 bands") && err.contains("expects 128"),
            "{err}"
        );
    }

    /// A zero-weight checkpoint of `cfg` (one encoder layer, not validated), as the bytes of a
    /// safetensors file with HF names; sizes multiplied by a width of 0 hold no bytes.
    fn checkpoint(cfg: &Config) -> Vec<u8> {
        let (d, m, p, f) = (
            cfg.d_model,
            cfg.num_mel_bins,
            cfg.max_source_positions,
            cfg.encoder_ffn_dim,
        );
        let l = "encoder.layers.0";
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("encoder.conv1.weight".into(), vec![d, m, 3]),
            ("encoder.conv1.bias".into(), vec![d]),
            ("encoder.conv2.weight".into(), vec![d, d, 3]),
            ("encoder.conv2.bias".into(), vec![d]),
            ("encoder.embed_positions.weight".into(), vec![p, d]),
            (format!("{l}.fc1.weight"), vec![f, d]),
            (format!("{l}.fc1.bias"), vec![f]),
            (format!("{l}.fc2.weight"), vec![d, f]),
            (format!("{l}.fc2.bias"), vec![d]),
        ];
        for proj in ["q", "k", "v", "out"] {
            shapes.push((format!("{l}.self_attn.{proj}_proj.weight"), vec![d, d]));
            if proj != "k" {
                shapes.push((format!("{l}.self_attn.{proj}_proj.bias"), vec![d]));
            }
        }
        for norm in [
            format!("{l}.self_attn_layer_norm"),
            format!("{l}.final_layer_norm"),
            "encoder.layer_norm".into(),
        ] {
            for field in ["weight", "bias"] {
                shapes.push((format!("{norm}.{field}"), vec![d]));
            }
        }
        let tensors: HashMap<String, Tensor> = shapes
            .into_iter()
            .map(|(n, s)| (n, Tensor::zeros(s, DType::F32, &Device::Cpu).unwrap()))
            .collect();
        safetensors::serialize(&tensors, None).unwrap()
    }

    /// A one-layer encoder of width 8 with a 0.5 s window.
    fn small_config() -> Config {
        Config {
            d_model: 8,
            encoder_layers: 1,
            encoder_attention_heads: 2,
            encoder_ffn_dim: 16,
            max_source_positions: 25,
            ..Config::tiny()
        }
    }

    /// A NaN weight (a damaged file) is refused at load, naming the tensor, instead of giving
    /// NaN features far from the cause.
    #[test]
    fn a_non_finite_weight_is_refused_naming_the_tensor() {
        let cfg = small_config();
        let mut tensors =
            candle_core::safetensors::load_buffer(&checkpoint(&cfg), &Device::Cpu).unwrap();
        let name = "encoder.layers.0.fc1.bias";
        let nan = Tensor::full(f32::NAN, 16, &Device::Cpu).unwrap();
        tensors.insert(name.into(), nan);
        let bytes = safetensors::serialize(&tensors, None).unwrap();
        let err = WhisperEncoder::from_safetensors(cfg, &bytes, "nan.safetensors", &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nan.safetensors") && err.contains(name),
            "{err}"
        );
    }

    /// Sizes whose tensors are tiny or empty but that would have sized a window of one frame
    /// (its stride was 0: a division by zero), a filter bank of 2^40 bands or a window of
    /// 2^64 samples are refused by the config check, naming the origin and the field, before
    /// anything is built.
    #[test]
    fn absurd_sizes_in_a_checkpoint_config_are_refused_before_allocating() {
        let small = small_config();
        let enc = WhisperEncoder::from_safetensors(
            small.clone(),
            &checkpoint(&small),
            "ok",
            &Device::Cpu,
        )
        .unwrap();
        let x: Vec<f32> = (0..8000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        assert_eq!(enc.native_features(&x).unwrap().dims(), &[25, 8]);
        let cases = [
            // One position: a window of 320 samples, 8000 samples made a stride of 0.
            (
                Config {
                    max_source_positions: 1,
                    ..small.clone()
                },
                "max_source_positions",
            ),
            // Empty tensors of width 0 fit any other size.
            (
                Config {
                    d_model: 0,
                    num_mel_bins: 1 << 40,
                    ..small.clone()
                },
                "d_model",
            ),
            (
                Config {
                    d_model: 0,
                    max_source_positions: usize::MAX / 2 + 1,
                    ..small.clone()
                },
                "d_model",
            ),
        ];
        for (cfg, field) in cases {
            let bytes = checkpoint(&cfg);
            let err =
                WhisperEncoder::from_safetensors(cfg, &bytes, "absurd.safetensors", &Device::Cpu)
                    .unwrap_err()
                    .to_string();
            assert!(
                err.contains("absurd.safetensors") && err.contains(field),
                "{err}"
            );
        }
        // Caught by the check alone, whatever the weights.
        for (cfg, field) in [
            (
                Config {
                    num_mel_bins: 1 << 40,
                    ..small.clone()
                },
                "num_mel_bins",
            ),
            (
                Config {
                    max_source_positions: 1 << 40,
                    ..small.clone()
                },
                "max_source_positions",
            ),
            (
                Config {
                    encoder_layers: 1 << 40,
                    ..small.clone()
                },
                "encoder_layers",
            ),
            (
                Config {
                    d_model: 1 << 40,
                    ..small.clone()
                },
                "d_model",
            ),
        ] {
            let err =
                WhisperEncoder::from_safetensors(cfg, &[], "absurd.safetensors", &Device::Cpu)
                    .unwrap_err()
                    .to_string();
            assert!(
                err.contains("absurd.safetensors") && err.contains(field),
                "{err}"
            );
        }
    }

    #[test]
    fn window_plan_covers_every_frame_once() {
        let window = 480_000;
        for n in [480_001, 500_000, 800_000, 800_001, 1_234_567, 3_000_000] {
            let plan = WindowPlan::new(n, window);
            assert_eq!(plan.stride, 320_000);
            assert_eq!(plan.margin_frames, 250);
            let total = (n / HOP).div_ceil(2);
            let mut next = 0;
            for k in 0..plan.windows {
                let start = k * plan.stride;
                let len = (start + window).min(n) - start;
                assert!(k + 1 == plan.windows || len == window);
                let frames = (len / HOP).div_ceil(2);
                let (from, to) = plan.kept_frames(k, frames);
                assert_eq!(start / FRAME_SAMPLES + from, next, "n {n} window {k}");
                next = start / FRAME_SAMPLES + to;
            }
            assert_eq!(next, total, "n {n}");
            // The last window starts early enough to be full-ish and late enough to reach n.
            let last = (plan.windows - 1) * plan.stride;
            assert!(last + window >= n && last < n);
        }
    }
}
