//! The denoiser's training data from shards: `diffusion::WindowSource` over a loaded split,
//! its audio features, and the sentence embeddings of the clips' style labels.

use std::collections::HashMap;

use diffusion::{DiffusionError, MotionStats, TrainingWindows, WindowSource};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DatasetError, Result};
use crate::joint_log_mel::LOG_MEL_FEATURES;
use crate::reader::{SplitData, WindowBatch, WindowConfig, WindowSampler};
use crate::stats::NormStats;

/// The audio the windows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAudio<'s> {
    /// Precomputed features of the frozen encoder named `spec` (as given to `m2f extract
    /// --audio-features`) and of key `key`; the splits must be loaded with them.
    Features {
        /// The encoder as named for extraction.
        spec: &'s str,
        /// Its [`crate::FeatureInfo::key`].
        key: &'s str,
    },
    /// The audio samples of each window, for the log-mel encoder trained with the denoiser;
    /// the splits must be loaded with [`crate::LoadOptions::audio`].
    Samples,
}

/// Windows for the diffusion trainer: seeded batches of a training split (a pure function of
/// the step), fixed validation windows, the style of each window from its clip's label
/// sentence (through `text_embeddings`) or from the expression latent of a random frame of
/// the same clip (the image-prompt stand-in: GNPFA's `E_exp` maps a face image to that latent).
#[derive(Debug)]
pub struct DiffusionWindows<'a> {
    train: &'a SplitData,
    val: &'a SplitData,
    stats: &'a NormStats,
    features: String,
    features_key: String,
    samples: bool,
    text_embeddings: HashMap<String, Vec<f32>>,
    text_dim: usize,
    with_image_style: bool,
    seed: u64,
    val_windows: usize,
    description: serde_json::Value,
}

impl<'a> DiffusionWindows<'a> {
    /// Windows of `train` and `val` with the audio `audio` (the splits loaded with it),
    /// motion normalised with `stats`. `text_embeddings` maps every style sentence of both splits to its
    /// embedding (empty: no text style); `with_image_style` adds the image-style latent;
    /// `val_windows` caps the validation set; `description` identifies the data.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] when a split lacks the audio features or samples, or a clip's
    /// style sentence has no embedding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        train: &'a SplitData,
        val: &'a SplitData,
        stats: &'a NormStats,
        audio: WindowAudio,
        text_embeddings: HashMap<String, Vec<f32>>,
        with_image_style: bool,
        seed: u64,
        val_windows: usize,
        description: serde_json::Value,
    ) -> Result<Self> {
        let text_dim = text_embeddings.values().next().map_or(0, Vec::len);
        for split in [train, val] {
            if split.clips.is_empty() {
                continue;
            }
            match audio {
                WindowAudio::Features { spec, .. } if split.feature_dim == 0 => {
                    return Err(DatasetError::invalid(
                        format!("{} split", split.split.name()),
                        format!("it was loaded without the audio features {spec:?}"),
                    ));
                }
                WindowAudio::Samples => {
                    if let Some(c) = split.clips.iter().find(|c| c.audio.is_empty()) {
                        return Err(DatasetError::invalid(
                            format!("{} split", split.split.name()),
                            format!(
                                "record {} has no audio samples (load with LoadOptions::audio)",
                                c.id
                            ),
                        ));
                    }
                }
                _ => {}
            }
            if text_dim > 0 {
                if let Some(c) = split
                    .clips
                    .iter()
                    .find(|c| !text_embeddings.contains_key(&c.style))
                {
                    return Err(DatasetError::invalid(
                        "style embeddings",
                        format!("none for the style {:?} of record {}", c.style, c.id),
                    ));
                }
            }
        }
        if let Some((s, v)) = text_embeddings.iter().find(|(_, v)| v.len() != text_dim) {
            return Err(DatasetError::invalid(
                "style embeddings",
                format!("{s:?} has {} values, others {text_dim}", v.len()),
            ));
        }
        if train.clips.is_empty() {
            return Err(DatasetError::invalid("train split", "it has no records"));
        }
        let (features, features_key, samples) = match audio {
            WindowAudio::Features { spec, key } => (spec.to_string(), key.to_string(), false),
            WindowAudio::Samples => (
                LOG_MEL_FEATURES.to_string(),
                format!("{LOG_MEL_FEATURES} (trained with the denoiser)"),
                true,
            ),
        };
        Ok(Self {
            train,
            val,
            stats,
            features,
            features_key,
            samples,
            text_embeddings,
            text_dim,
            with_image_style,
            seed,
            val_windows,
            description,
        })
    }

    /// The windows of `batch` as the trainer takes them, styles drawn from `rng`.
    fn convert(
        &self,
        split: &SplitData,
        batch: WindowBatch,
        rng: &mut ChaCha8Rng,
    ) -> TrainingWindows {
        let latent_dim = split.motion_dim - 6;
        let mut text_style = Vec::with_capacity(batch.batch * self.text_dim);
        let mut image_style = Vec::new();
        for s in &batch.sources {
            let clip = &split.clips[s.clip];
            if self.text_dim > 0 {
                text_style.extend_from_slice(&self.text_embeddings[&clip.style]);
            }
            if self.with_image_style {
                if clip.num_frames == 0 {
                    image_style.extend(std::iter::repeat_n(0.0, latent_dim));
                } else {
                    let i = rng.random_range(0..clip.num_frames);
                    let d = split.motion_dim;
                    image_style.extend_from_slice(&clip.motion[i * d..i * d + latent_dim]);
                }
            }
        }
        TrainingWindows {
            batch: batch.batch,
            frames: batch.len,
            motion: batch.motion,
            mask: batch.mask,
            audio_samples: if self.samples { batch.audio_len } else { 0 },
            audio: if self.samples {
                batch.audio.unwrap_or_default()
            } else {
                batch.features.unwrap_or_default()
            },
            text_style,
            image_style,
        }
    }
}

impl WindowSource for DiffusionWindows<'_> {
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        frames: usize,
    ) -> diffusion::Result<TrainingWindows> {
        let config = WindowConfig {
            len: frames,
            stride: (frames / 4).max(1),
            batch,
            with_audio: self.samples,
        };
        let mut sampler = WindowSampler::new(self.train, self.stats, config, self.seed)
            .map_err(DiffusionError::data)?;
        // Window `step · batch` of the seeded epoch order: the batch is a pure function of
        // (seed, step), so a resumed run reads what an uninterrupted one would.
        sampler.seek(step * batch as u64);
        let windows = sampler.next_batch();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x1a7e_57e1);
        rng.set_stream(step);
        Ok(self.convert(self.train, windows, &mut rng))
    }

    fn validation(&mut self, frames: usize) -> diffusion::Result<Vec<TrainingWindows>> {
        if self.val.clips.is_empty() || self.val_windows == 0 {
            return Ok(Vec::new());
        }
        let batch = 16.min(self.val_windows);
        let config = WindowConfig {
            len: frames,
            stride: frames,
            batch,
            with_audio: self.samples,
        };
        let mut sampler = WindowSampler::new(self.val, self.stats, config, self.seed ^ 0x0a11)
            .map_err(DiffusionError::data)?;
        let count = self.val_windows.min(sampler.windows_per_epoch());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x0a11);
        let mut out = Vec::new();
        let mut taken = 0;
        while taken < count {
            let mut windows = sampler.next_batch();
            let keep = (count - taken).min(windows.batch);
            truncate_batch(&mut windows, keep);
            taken += keep;
            out.push(self.convert(self.val, windows, &mut rng));
        }
        Ok(out)
    }

    fn stats(&self) -> MotionStats {
        MotionStats {
            mean: self.stats.mean.clone(),
            std: self.stats.std.clone(),
        }
    }

    fn audio_features(&self) -> String {
        self.features.clone()
    }

    fn audio_features_key(&self) -> String {
        self.features_key.clone()
    }

    fn describe(&self) -> serde_json::Value {
        self.description.clone()
    }
}

/// Keeps the first `keep` windows of `b`.
fn truncate_batch(b: &mut WindowBatch, keep: usize) {
    if keep >= b.batch {
        return;
    }
    let (l, dm, df) = (b.len, b.motion_dim, b.feature_dim);
    b.motion.truncate(keep * l * dm);
    b.mask.truncate(keep * l);
    if let Some(f) = b.features.as_mut() {
        f.truncate(keep * l * df);
    }
    if let Some(a) = b.audio.as_mut() {
        a.truncate(keep * b.audio_len);
    }
    b.sources.truncate(keep);
    b.batch = keep;
}
