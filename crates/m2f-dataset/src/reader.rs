//! The training reader: a dataset's records of one split in memory, and seeded random windows
//! of them as plain arrays — no diffusion types, so any trainer can wrap it.

use m2f_synth::Split;
use m2f_synth::{Emotion, Intensity};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{DatasetError, Result};
use crate::features::StoredFeatures;
use crate::manifest::{read_manifests, ManifestLine};
use crate::record::Record;
use crate::stats::NormStats;
use crate::store::ShardStore;

/// A dataset of records on a store, checked to come from one GNPFA checkpoint.
#[derive(Debug, Clone)]
pub struct Dataset {
    store: ShardStore,
    lines: Vec<ManifestLine>,
    gnpfa: String,
    stats: NormStats,
    stats_stored: bool,
}

impl Dataset {
    /// Opens the dataset on `store` (read only). With `expected_gnpfa` (a
    /// [`crate::gnpfa_fingerprint`]), refuses records made with another checkpoint. Takes the
    /// normalisation statistics from `stats.json` when it describes these records, and
    /// otherwise computes them in memory ([`Dataset::stats_stored`] says which; `m2f extract
    /// stats` stores them).
    ///
    /// # Errors
    /// [`DatasetError::OtherGnpfa`] naming the first record of another checkpoint (also when
    /// records disagree among themselves); manifest and record errors name the object.
    pub fn open(store: ShardStore, expected_gnpfa: Option<&str>) -> Result<Self> {
        let lines = read_manifests(&store)?;
        let first = lines.first().ok_or_else(|| {
            DatasetError::invalid(
                format!("dataset {}", store.name()),
                "its manifests list no record",
            )
        })?;
        let gnpfa = expected_gnpfa.unwrap_or(&first.gnpfa).to_string();
        if let Some(other) = lines.iter().find(|l| l.gnpfa != gnpfa) {
            return Err(DatasetError::OtherGnpfa {
                location: format!("{}: record {}", store.name(), other.id),
                found: other.gnpfa.clone(),
                expected: gnpfa,
            });
        }
        let (stats, stats_stored) = match NormStats::stored(&store, &lines)? {
            Some(stats) => (stats, true),
            None => (NormStats::compute(&store, &lines)?, false),
        };
        Ok(Self {
            store,
            lines,
            gnpfa,
            stats,
            stats_stored,
        })
    }

    /// Every record's manifest line.
    pub fn lines(&self) -> &[ManifestLine] {
        &self.lines
    }

    /// The GNPFA fingerprint of every record.
    pub fn gnpfa(&self) -> &str {
        &self.gnpfa
    }

    /// Normalisation statistics of the training split.
    pub fn stats(&self) -> &NormStats {
        &self.stats
    }

    /// Whether the statistics came from an up-to-date `stats.json` (else they were computed
    /// when the dataset was opened).
    pub fn stats_stored(&self) -> bool {
        self.stats_stored
    }

    /// Stores the statistics as `stats.json`, so later openings need not compute them.
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the store.
    pub fn store_stats(&mut self) -> Result<()> {
        self.stats.write(&self.store)?;
        self.stats_stored = true;
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &ShardStore {
        &self.store
    }

    /// Loads the records of `split` that `options` asks for.
    ///
    /// # Errors
    /// Errors name the record or feature object that is missing, damaged, or made from other
    /// record inputs, and a record whose frame rate or feature width differs from the others.
    pub fn load(&self, split: Split, options: &LoadOptions) -> Result<SplitData> {
        let lines: Vec<&ManifestLine> = self
            .lines
            .iter()
            .filter(|l| l.split == split)
            .filter(|l| options.variants == Variants::All || l.variant == 0)
            .collect();
        let clips = lines
            .par_iter()
            .map(|line| self.load_clip(line, options))
            .collect::<Result<Vec<_>>>()?;
        let feature_dim = match clips.first() {
            Some(c) => c.features.as_ref().map_or(0, |f| f.len() / c.num_frames),
            None => 0,
        };
        if let Some(first) = clips.first() {
            for c in &clips {
                let d = c.features.as_ref().map_or(0, |f| f.len() / c.num_frames);
                if c.fps != first.fps || d != feature_dim {
                    return Err(DatasetError::invalid(
                        format!("{}: record {}", self.store.name(), c.id),
                        format!(
                            "{} fps and features of width {d}, but record {} has {} fps and {feature_dim}: \
                             one split is read at one frame rate and feature width",
                            c.fps, first.id, first.fps
                        ),
                    ));
                }
            }
        }
        Ok(SplitData {
            split,
            motion_dim: self.stats.latent_dim + 6,
            feature_dim,
            clips,
        })
    }

    fn load_clip(&self, line: &ManifestLine, options: &LoadOptions) -> Result<ClipData> {
        let r = Record::read(&self.store, &line.id)?;
        if r.meta.inputs != line.inputs {
            return Err(DatasetError::invalid(
                format!("{}: record {}", self.store.name(), line.id),
                "its metadata and its manifest line name different inputs (a re-extraction \
                 was interrupted?): re-run the extraction of its part",
            ));
        }
        let zd = r.meta.latent_dim;
        let t = r.meta.num_frames;
        let mut motion = Vec::with_capacity(t * (zd + 6));
        for f in 0..t {
            motion.extend_from_slice(&r.latents[f * zd..(f + 1) * zd]);
            motion.extend_from_slice(&r.head_pose[f * 6..(f + 1) * 6]);
        }
        let features = match options.features.as_deref() {
            None => None,
            Some(key) => {
                let stored = StoredFeatures::read(&self.store, &line.id, key)?.ok_or_else(|| {
                    DatasetError::invalid(
                        format!("{}: record {}", self.store.name(), line.id),
                        format!("it has no features {key:?}: run `m2f extract` with --audio-features"),
                    )
                })?;
                if stored.record_inputs != r.meta.inputs || stored.frames != t {
                    return Err(DatasetError::invalid(
                        format!("{}: features {key} of record {}", self.store.name(), line.id),
                        "they were computed from another version of the record: re-run the extraction",
                    ));
                }
                Some(stored.values)
            }
        };
        Ok(ClipData {
            id: r.meta.id.clone(),
            num_frames: t,
            fps: r.meta.fps,
            motion,
            features,
            audio: if options.audio {
                r.audio_f32()
            } else {
                Vec::new()
            },
            style: r.meta.labels.style.clone(),
            voice: r.meta.labels.voice.clone(),
            emotion: r.meta.labels.emotion,
            intensity: r.meta.labels.intensity,
        })
    }
}

/// Which variants of each clip to load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Variants {
    /// The clip as spoken and every augmented variant.
    #[default]
    All,
    /// Only the clip as spoken (variant 0): evaluation.
    CleanOnly,
}

/// What [`Dataset::load`] reads besides the motion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Precomputed audio features of this encoder key ([`crate::FeatureInfo::key`]).
    pub features: Option<String>,
    /// All variants or the clean clips only.
    pub variants: Variants,
    /// Keep each record's audio in memory (for encoders trained jointly; four bytes a sample).
    pub audio: bool,
}

/// One record in memory, ready for windowing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipData {
    /// Record id.
    pub id: String,
    /// T.
    pub num_frames: usize,
    /// Frames per second.
    pub fps: f32,
    /// [T, Z + 6]: latents then head pose, per frame, not normalised.
    pub motion: Vec<f32>,
    /// [T, D] precomputed audio features, if loaded.
    pub features: Option<Vec<f32>>,
    /// 16 kHz audio in [-1, 1] (empty unless [`LoadOptions::audio`]).
    pub audio: Vec<f32>,
    /// Style sentence.
    pub style: String,
    /// The voice, `engine:name` (e.g. `espeak-ng:en-us+f3`).
    pub voice: String,
    /// Emotion label.
    pub emotion: Emotion,
    /// Intensity label.
    pub intensity: Intensity,
}

/// All records of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    /// Which split.
    pub split: Split,
    /// Z + 6.
    pub motion_dim: usize,
    /// D (0 without features).
    pub feature_dim: usize,
    /// The records.
    pub clips: Vec<ClipData>,
}

impl SplitData {
    /// Total frames.
    pub fn frames(&self) -> usize {
        self.clips.iter().map(|c| c.num_frames).sum()
    }
}

/// How windows are cut and batched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Frames per window (the paper: 200 at 30 fps).
    pub len: usize,
    /// Frames between the starts of consecutive windows of a clip.
    pub stride: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Also cut the audio samples of each window (for encoders trained jointly).
    pub with_audio: bool,
}

/// Where a window came from.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSource {
    /// Index into [`SplitData::clips`].
    pub clip: usize,
    /// First frame.
    pub start: usize,
    /// Real frames (the rest of the window is padding).
    pub frames: usize,
}

/// A batch of windows. Shapes are row-major and flat; B = batch, L = window length.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowBatch {
    /// B.
    pub batch: usize,
    /// L.
    pub len: usize,
    /// Z + 6.
    pub motion_dim: usize,
    /// [B, L, Z + 6] motion, normalised with the dataset's statistics; zero in padding.
    pub motion: Vec<f32>,
    /// [B, L]: 1 for real frames, 0 for padding (clips shorter than the window).
    pub mask: Vec<f32>,
    /// D, 0 without features.
    pub feature_dim: usize,
    /// [B, L, D] audio features (zero in padding), if the data has them.
    pub features: Option<Vec<f32>>,
    /// Samples per window: round(L / fps · 16000).
    pub audio_len: usize,
    /// [B, audio_len] audio of each window (zero in padding), if asked for.
    pub audio: Option<Vec<f32>>,
    /// Where each window came from.
    pub sources: Vec<WindowSource>,
}

/// Seeded random windows of a split: every (clip, start) window once per epoch, in an order
/// shuffled per epoch from the seed, so the same seed gives the same batches.
#[derive(Debug, Clone)]
pub struct WindowSampler<'a> {
    data: &'a SplitData,
    stats: &'a NormStats,
    config: WindowConfig,
    windows: Vec<(u32, u32)>,
    order: Vec<usize>,
    next: usize,
    epoch: u64,
    seed: u64,
}

impl<'a> WindowSampler<'a> {
    /// A sampler over `data`, normalising with `stats`.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] for a zero length, stride or batch, or an empty split.
    pub fn new(
        data: &'a SplitData,
        stats: &'a NormStats,
        config: WindowConfig,
        seed: u64,
    ) -> Result<Self> {
        for (name, v) in [
            ("window length", config.len),
            ("stride", config.stride),
            ("batch size", config.batch),
        ] {
            if v == 0 {
                return Err(DatasetError::invalid(name, "must be at least 1"));
            }
        }
        if config.with_audio && data.clips.iter().any(|c| c.audio.is_empty()) {
            return Err(DatasetError::invalid(
                "window config",
                "with_audio needs the split loaded with LoadOptions { audio: true, .. }",
            ));
        }
        if stats.mean.len() != data.motion_dim {
            return Err(DatasetError::invalid(
                "normalisation statistics",
                format!(
                    "{} dimensions for motion of {}",
                    stats.mean.len(),
                    data.motion_dim
                ),
            ));
        }
        let mut windows = Vec::new();
        for (c, clip) in data.clips.iter().enumerate() {
            // Clips shorter than a window give one padded window.
            let last = clip.num_frames.saturating_sub(config.len);
            let mut s = 0;
            loop {
                windows.push((c as u32, s as u32));
                if s >= last {
                    break;
                }
                s = (s + config.stride).min(last);
            }
        }
        if windows.is_empty() {
            return Err(DatasetError::invalid(
                format!("{} split", data.split.name()),
                "it has no records",
            ));
        }
        let mut sampler = Self {
            data,
            stats,
            config,
            order: Vec::new(),
            windows,
            next: 0,
            epoch: 0,
            seed,
        };
        sampler.shuffle();
        Ok(sampler)
    }

    /// Windows per epoch.
    pub fn windows_per_epoch(&self) -> usize {
        self.windows.len()
    }

    /// Moves to window `position` of the seeded sequence (epoch `position / windows per
    /// epoch`, in that epoch's shuffled order): the batch read next is then a pure function of
    /// the seed and the position, whatever was read before.
    pub fn seek(&mut self, position: u64) {
        let per_epoch = self.windows.len() as u64;
        self.epoch = position / per_epoch;
        self.shuffle();
        self.next = (position % per_epoch) as usize;
    }

    /// The epoch the next window comes from.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn shuffle(&mut self) {
        self.order = (0..self.windows.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.epoch);
        self.order.shuffle(&mut rng);
        self.next = 0;
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> WindowBatch {
        let (b, l, dm) = (self.config.batch, self.config.len, self.data.motion_dim);
        let df = self.data.feature_dim;
        let fps = self.data.clips.first().map_or(30.0, |c| c.fps) as f64;
        let audio_len = (l as f64 / fps * 16_000.0).round() as usize;
        let mut motion = vec![0f32; b * l * dm];
        let mut mask = vec![0f32; b * l];
        let mut features = (df > 0).then(|| vec![0f32; b * l * df]);
        let mut audio = self.config.with_audio.then(|| vec![0f32; b * audio_len]);
        let mut sources = Vec::with_capacity(b);
        for i in 0..b {
            if self.next == self.order.len() {
                self.epoch += 1;
                self.shuffle();
            }
            let (c, start) = self.windows[self.order[self.next]];
            self.next += 1;
            let (c, start) = (c as usize, start as usize);
            let clip = &self.data.clips[c];
            let frames = (clip.num_frames - start).min(l);
            let m = &mut motion[i * l * dm..(i * l + frames) * dm];
            m.copy_from_slice(&clip.motion[start * dm..(start + frames) * dm]);
            self.stats.normalise(m);
            mask[i * l..i * l + frames].fill(1.0);
            if let (Some(out), Some(f)) = (features.as_mut(), clip.features.as_ref()) {
                out[i * l * df..(i * l + frames) * df]
                    .copy_from_slice(&f[start * df..(start + frames) * df]);
            }
            if let Some(out) = audio.as_mut() {
                let a0 = (start as f64 / fps * 16_000.0).round() as usize;
                let a0 = a0.min(clip.audio.len());
                let n = (clip.audio.len() - a0).min(audio_len);
                out[i * audio_len..i * audio_len + n].copy_from_slice(&clip.audio[a0..a0 + n]);
            }
            sources.push(WindowSource {
                clip: c,
                start,
                frames,
            });
        }
        WindowBatch {
            batch: b,
            len: l,
            motion_dim: dm,
            motion,
            mask,
            feature_dim: df,
            features,
            audio_len,
            audio,
            sources,
        }
    }
}
