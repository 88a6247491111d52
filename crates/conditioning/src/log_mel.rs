//! Log-mel audio features and a small learned encoder on top of them, for checkpoints that
//! train their own audio encoder (the default one: wav2vec2 weights cannot be fetched here).
//!
//! Front end (fixed, no parameters), the Whisper recipe at 80 bands:
//! - 16 kHz input, 25 ms periodic Hann window (n_fft = 400), 10 ms hop (160 samples), frames
//!   centred on `j * hop` with reflect padding (as `torch.stft(center=True)`);
//! - power spectrum → 80 **Slaney**-scale mel bands, 0–8 kHz, Slaney area normalisation (as
//!   librosa's defaults and Whisper);
//! - `log10(max(mel, 1e-10))`, clamped to 8 below the utterance maximum, then `(x + 4) / 4`, so
//!   values sit roughly in [-1, 1.5] whatever the recording level.
//!
//! Learned part ([`LogMelEncoder`]): two 1-D convolutions (the second with stride 2, 100 → 50 Hz)
//! with exact GELU and layer norm, then a linear projection; trainable with candle-nn (layer norm
//! through `ops::layer_norm_slow`, which has a backward pass).

use std::sync::Arc;

use candle_core::{Device, Module, Tensor};
use candle_nn::{conv1d, linear, Conv1d, Conv1dConfig, Linear, VarBuilder};
use m2f_train::LayerNorm;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::audio::SAMPLE_RATE;
use crate::audio_encoder::{resample_frames, resample_weights, AudioEncoder, FrameTiming};
use crate::error::{ConditioningError, Result};

/// FFT size and window length: 25 ms at 16 kHz.
pub const N_FFT: usize = 400;
/// Hop between frames: 10 ms at 16 kHz.
pub const HOP: usize = 160;
/// Number of mel bands of [`LogMel::new`] (Whisper before large-v3; large-v3 uses 128).
pub const N_MELS: usize = 80;

fn hz_to_mel_slaney(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz_slaney(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Slaney mel filterbank [n_mels, n_fft / 2 + 1] (librosa `mel(htk=False, norm="slaney")`).
pub fn mel_filterbank(n_mels: usize, n_fft: usize, rate: u32) -> Vec<Vec<f32>> {
    let n_bins = n_fft / 2 + 1;
    let fmax = rate as f64 / 2.0;
    let (mmin, mmax) = (hz_to_mel_slaney(0.0), hz_to_mel_slaney(fmax));
    let pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz_slaney(mmin + (mmax - mmin) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let bin_hz: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * rate as f64 / n_fft as f64)
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lo, c, hi) = (pts[m], pts[m + 1], pts[m + 2]);
            let norm = 2.0 / (hi - lo);
            bin_hz
                .iter()
                .map(|&f| {
                    let up = (f - lo) / (c - lo);
                    let down = (hi - f) / (hi - c);
                    (up.min(down).max(0.0) * norm) as f32
                })
                .collect()
        })
        .collect()
}

/// The fixed log-mel front end. Cheap to clone; holds no mutable state.
#[derive(Clone)]
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// [n_bins, n_mels], row-major, so that power [T, n_bins] × filters = mel [T, n_mels].
    filters: Vec<f32>,
    n_bins: usize,
    n_mels: usize,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_fft", &N_FFT)
            .field("hop", &HOP)
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// The 80-band front end.
    pub fn new() -> Self {
        Self::with_bands(N_MELS)
    }

    /// The front end with `n_mels` bands (128 for Whisper large-v3).
    pub fn with_bands(n_mels: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann, as torch.hann_window(N_FFT).
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let n_bins = N_FFT / 2 + 1;
        let bank = mel_filterbank(n_mels, N_FFT, SAMPLE_RATE);
        let mut filters = vec![0.0f32; n_bins * n_mels];
        for (m, row) in bank.iter().enumerate() {
            for (k, &w) in row.iter().enumerate() {
                filters[k * n_mels + m] = w;
            }
        }
        Self {
            fft,
            window,
            filters,
            n_bins,
            n_mels,
        }
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Frames for `n` samples: `n / HOP + 1` (centred frames).
    pub fn num_frames(n: usize) -> usize {
        n / HOP + 1
    }

    /// 16 kHz samples → log-mel [n_mels, T] with T = [`LogMel::num_frames`]`(n)`.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for empty or non-finite input.
    pub fn compute(&self, samples: &[f32], device: &Device) -> Result<Tensor> {
        self.compute_frames(samples, Self::num_frames(samples.len()), device)
    }

    /// The first `n_frames` frames of [`LogMel::compute`], with the level clamp taken over
    /// those frames only. Whisper's feature extractor keeps `n / HOP` of the `n / HOP + 1`
    /// centred frames (it drops the last), so its log-mel is `compute_frames(x, x.len() / HOP)`.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for empty or non-finite input, or `n_frames` of 0 or
    /// more than [`LogMel::num_frames`]`(n)`.
    pub fn compute_frames(
        &self,
        samples: &[f32],
        n_frames: usize,
        device: &Device,
    ) -> Result<Tensor> {
        if samples.is_empty() {
            return Err(ConditioningError::invalid("audio", "no samples"));
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            return Err(ConditioningError::invalid(
                "audio",
                format!("sample {i} is {} (not finite)", samples[i]),
            ));
        }
        let pad = N_FFT / 2;
        let n = samples.len();
        // Reflect padding; for inputs shorter than the pad, reflect repeatedly (bounce).
        let at = |i: isize| -> f32 {
            if n == 1 {
                return samples[0];
            }
            let period = 2 * (n as isize - 1);
            let mut j = i.rem_euclid(period);
            if j >= n as isize {
                j = period - j;
            }
            samples[j as usize]
        };
        if n_frames == 0 || n_frames > Self::num_frames(n) {
            return Err(ConditioningError::invalid(
                "log-mel frames",
                format!(
                    "{n_frames} frames asked of {n} samples, which give 1..={}",
                    Self::num_frames(n)
                ),
            ));
        }
        let t = n_frames;
        let mut power = vec![0.0f32; t * self.n_bins];
        let mut input = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for f in 0..t {
            let start = (f * HOP) as isize - pad as isize;
            for (k, x) in input.iter_mut().enumerate() {
                let i = start + k as isize;
                let v = if i >= 0 && (i as usize) < n {
                    samples[i as usize]
                } else {
                    at(i)
                };
                *x = v * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut input, &mut spec, &mut scratch)
                .map_err(|e| ConditioningError::invalid("fft", e.to_string()))?;
            for (p, c) in power[f * self.n_bins..(f + 1) * self.n_bins]
                .iter_mut()
                .zip(&spec)
            {
                *p = c.re * c.re + c.im * c.im;
            }
        }
        let power = Tensor::from_vec(power, (t, self.n_bins), &Device::Cpu)?;
        let filters = Tensor::from_slice(&self.filters, (self.n_bins, self.n_mels), &Device::Cpu)?;
        let mel = power.matmul(&filters)?.clamp(1e-10f32, f32::MAX)?.log()?;
        let log10 = (mel / std::f64::consts::LN_10)?;
        let max = log10.max_keepdim(0)?.max_keepdim(1)?;
        let floor = (max - 8.0)?;
        let log10 = log10.broadcast_maximum(&floor)?;
        let out = ((log10 + 4.0)? / 4.0)?;
        Ok(out.t()?.contiguous()?.to_device(device)?)
    }
}

/// Shape of the learned encoder; stored in a checkpoint's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMelEncoderConfig {
    /// Width of the convolutions.
    pub hidden: usize,
    /// Output feature width D.
    pub out_dim: usize,
    /// Convolution kernel size (odd).
    pub kernel: usize,
}

impl Default for LogMelEncoderConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            out_dim: 256,
            kernel: 5,
        }
    }
}

/// The learned temporal encoder over log-mel frames: 100 Hz → 50 Hz features of width
/// `out_dim`.
#[derive(Debug, Clone)]
pub struct LogMelEncoder {
    front: LogMel,
    conv1: Conv1d,
    norm1: LayerNorm,
    conv2: Conv1d,
    norm2: LayerNorm,
    proj: Linear,
    cfg: LogMelEncoderConfig,
    device: Device,
}

impl LogMelEncoder {
    /// Builds (or, from a `VarMap`, initialises for training) the encoder under `vb`:
    /// `conv1`, `norm1`, `conv2`, `norm2`, `proj`.
    ///
    /// # Errors
    /// [`ConditioningError::Invalid`] for an even or zero kernel; candle errors for missing or
    /// mis-shaped tensors (naming them).
    pub fn new(cfg: &LogMelEncoderConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.kernel % 2 == 0 || cfg.hidden == 0 || cfg.out_dim == 0 {
            return Err(ConditioningError::invalid(
                "log-mel encoder config",
                format!(
                    "kernel must be odd and widths positive, got kernel {}, hidden {}, out_dim {}",
                    cfg.kernel, cfg.hidden, cfg.out_dim
                ),
            ));
        }
        let pad = cfg.kernel / 2;
        let c1 = Conv1dConfig {
            padding: pad,
            ..Default::default()
        };
        let c2 = Conv1dConfig {
            padding: pad,
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            front: LogMel::new(),
            conv1: conv1d(N_MELS, cfg.hidden, cfg.kernel, c1, vb.pp("conv1"))?,
            norm1: LayerNorm::new(cfg.hidden, 1e-5, vb.pp("norm1"))?,
            conv2: conv1d(cfg.hidden, cfg.hidden, cfg.kernel, c2, vb.pp("conv2"))?,
            norm2: LayerNorm::new(cfg.hidden, 1e-5, vb.pp("norm2"))?,
            proj: linear(cfg.hidden, cfg.out_dim, vb.pp("proj"))?,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    /// The configuration the encoder was built with.
    pub fn config(&self) -> &LogMelEncoderConfig {
        &self.cfg
    }

    /// The fixed front end.
    pub fn front_end(&self) -> &LogMel {
        &self.front
    }

    /// Log-mel [B, N_MELS, T] → features [B, ceil(T / 2), out_dim] at 50 Hz.
    pub fn forward(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        // The norms act on channels: [B, C, T] is turned to [B, T, C] for them.
        let xs = self.conv1.forward(mel)?.gelu_erf()?.transpose(1, 2)?;
        let xs = self.norm1.forward(&xs)?.transpose(1, 2)?;
        let xs = self.conv2.forward(&xs)?.gelu_erf()?.transpose(1, 2)?;
        self.proj.forward(&self.norm2.forward(&xs)?)
    }

    /// `batch` equal-length windows of 16 kHz audio, row-major [B, S] → features [B, N, D],
    /// frame i at time i / `fps` from each window's start, N = [`crate::audio_encoder::frames_for`]`(S, fps)`; the
    /// log-mel of each window is taken over that window alone. Differentiable in the
    /// encoder's variables (for training it with a model that consumes its features).
    ///
    /// # Errors
    /// Empty, ragged or non-finite windows, or a non-positive `fps`, named.
    pub fn forward_windows(&self, samples: &[f32], batch: usize, fps: f64) -> Result<Tensor> {
        if batch == 0 || samples.is_empty() || samples.len() % batch != 0 {
            return Err(ConditioningError::invalid(
                "audio windows",
                format!(
                    "{} samples do not split into {batch} windows",
                    samples.len()
                ),
            ));
        }
        let per = samples.len() / batch;
        let mels = samples
            .chunks(per)
            .map(|w| self.front.compute(w, &self.device))
            .collect::<Result<Vec<_>>>()?;
        let feats = self.forward(&Tensor::stack(&mels, 0)?)?;
        let (_, t, _) = feats.dims3()?;
        let (i0, i1, w) = resample_weights(t, Self::timing(), per, fps)?;
        let dev = feats.device();
        let n = i0.len();
        let i0 = Tensor::from_vec(i0, n, dev)?;
        let i1 = Tensor::from_vec(i1, n, dev)?;
        let w = Tensor::from_vec(w, (1, n, 1), dev)?;
        let a = feats.index_select(&i0, 1)?;
        let b = feats.index_select(&i1, 1)?;
        Ok((&a + (b - &a)?.broadcast_mul(&w)?)?)
    }

    /// Timing of [`LogMelEncoder::forward`]'s output frames: frame j is centred on sample
    /// `2 * HOP * j`.
    pub fn timing() -> FrameTiming {
        FrameTiming {
            hop: (2 * HOP) as f64,
            offset: 0.0,
        }
    }
}

impl AudioEncoder for LogMelEncoder {
    fn feature_dim(&self) -> usize {
        self.cfg.out_dim
    }

    fn encode(&self, samples: &[f32], fps: f64) -> Result<Tensor> {
        let mel = self.front.compute(samples, &self.device)?.unsqueeze(0)?;
        let feats = self.forward(&mel)?.squeeze(0)?;
        resample_frames(&feats, Self::timing(), samples.len(), fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn slaney_scale_round_trips() {
        for f in [0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz_slaney(hz_to_mel_slaney(f)) - f).abs() < 1e-6);
        }
        // librosa.hz_to_mel(1000) == 15, hz_to_mel(8000) == 45.245640471924965
        assert!((hz_to_mel_slaney(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel_slaney(8000.0) - 45.245_640_471_924_965).abs() < 1e-9);
    }

    #[test]
    fn filterbank_shape_and_coverage() {
        let fb = mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE);
        assert_eq!(fb.len(), 80);
        assert!(fb.iter().all(|r| r.len() == 201));
        assert!(fb.iter().all(|r| r.iter().any(|&w| w > 0.0)));
    }

    #[test]
    fn tone_lands_in_the_right_band() {
        let f = 1000.0;
        let x: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / 16_000.0).sin())
            .collect();
        let mel = LogMel::new().compute(&x, &Device::Cpu).unwrap();
        assert_eq!(mel.dims(), &[80, 101]);
        let col: Vec<f32> = mel
            .narrow(1, 50, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let best = col
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap();
        // Band centres (Slaney, 80 bands, 0-8 kHz): 1 kHz is mel 15 → band ~ 15/45.25*81 - 1.
        let want = (hz_to_mel_slaney(f as f64) / hz_to_mel_slaney(8000.0) * 81.0 - 1.0).round();
        assert!(
            (best as f64 - want).abs() <= 1.0,
            "band {best}, expected ~{want}"
        );
    }

    /// A small encoder (width 16, features 8, kernel 3) on the variables of `vm`.
    fn tiny_encoder(vm: &VarMap) -> LogMelEncoder {
        let vb = VarBuilder::from_varmap(vm, DType::F32, &Device::Cpu);
        let cfg = LogMelEncoderConfig {
            hidden: 16,
            out_dim: 8,
            kernel: 3,
        };
        LogMelEncoder::new(&cfg, vb).unwrap()
    }

    #[test]
    fn encoder_shapes() {
        let vm = VarMap::new();
        let enc = tiny_encoder(&vm);
        let x = vec![0.1f32; 16_000 * 2];
        let y = enc.encode_default(&x).unwrap();
        assert_eq!(y.dims(), &[60, 8]);
        assert_eq!(enc.feature_dim(), 8);
    }

    /// Windows encoded as a batch equal each window encoded alone through the
    /// [`AudioEncoder`] path.
    #[test]
    fn windows_equal_single_encodes() {
        let vm = VarMap::new();
        let enc = tiny_encoder(&vm);
        let n = 16_000 * 2 / 3; // 20 frames at 30 fps
        let a: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.011).sin() * 0.4).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.029).cos() * 0.2).collect();
        let both = [a.clone(), b.clone()].concat();
        let y = enc.forward_windows(&both, 2, 30.0).unwrap();
        assert_eq!(y.dims(), &[2, 20, 8]);
        for (k, w) in [a, b].iter().enumerate() {
            let alone = enc.encode(w, 30.0).unwrap();
            let diff = (y.get(k).unwrap() - alone)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "window {k}: {diff}");
        }
        let err = enc.forward_windows(&both[1..], 2, 30.0).unwrap_err();
        assert!(err.to_string().contains("audio windows"), "{err}");
    }

    /// Every trainable variable gets a non-zero gradient (candle-nn 0.11.1 has fused ops
    /// without a backward pass).
    #[test]
    fn every_variable_gets_a_gradient() {
        let vm = VarMap::new();
        let enc = tiny_encoder(&vm);
        let x: Vec<f32> = (0..8000)
            .map(|i| ((i as f32) * 0.013).sin() * 0.3)
            .collect();
        let y = enc.encode(&x, 30.0).unwrap();
        // A loss that is not invariant to the layer norms' shift, scale or anything else.
        let target = Tensor::randn(0f32, 1.0, y.dims(), &Device::Cpu).unwrap();
        let loss = (y - target).unwrap().sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        let vars = m2f_train::named_vars(&vm).unwrap();
        assert_eq!(vars.len(), 10);
        let missing = m2f_train::variables_without_gradient(&grads, &vars).unwrap();
        assert!(missing.is_empty(), "no gradient: {missing:?}");
    }
}
