//! Per-dimension normalisation statistics of the motion [z, θ] over the training split,
//! computed once and stored with the dataset (`stats.json`).

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::fingerprint::sha256_parts;
use crate::manifest::ManifestLine;
use crate::record::{Record, SHARD_FORMAT_VERSION};
use crate::store::ShardStore;
use m2f_synth::Split;

/// Key of the statistics object.
pub const STATS_KEY: &str = "stats.json";

/// Smallest standard deviation used to normalise: latent directions the VAE left empty have
/// almost none, and dividing by it would blow their noise up.
pub const MIN_STD: f32 = 1e-4;

/// Mean and standard deviation of every motion dimension: the Z latent dimensions, then the
/// 6 head-pose dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormStats {
    /// [`SHARD_FORMAT_VERSION`].
    pub format_version: u32,
    /// The GNPFA fingerprint of the records.
    pub gnpfa: String,
    /// Hash of the training records' ids and inputs: statistics of another set are recomputed.
    pub records_hash: String,
    /// Training records counted.
    pub records: usize,
    /// Frames counted.
    pub frames: usize,
    /// Z.
    pub latent_dim: usize,
    /// [Z + 6] means.
    pub mean: Vec<f32>,
    /// [Z + 6] standard deviations, at least [`MIN_STD`].
    pub std: Vec<f32>,
}

/// The hash [`NormStats::records_hash`] of the training lines of a manifest.
pub(crate) fn records_hash(lines: &[ManifestLine]) -> String {
    let mut train: Vec<String> = lines
        .iter()
        .filter(|l| l.split == Split::Train)
        .map(|l| format!("{} {}", l.id, l.inputs))
        .collect();
    train.sort();
    sha256_parts(train.iter().map(|s| s.as_bytes()))
}

impl NormStats {
    /// Computes the statistics over every training record listed in `lines` (all variants).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] if there is no training record or latent sizes differ;
    /// errors reading a record name it.
    pub fn compute(store: &ShardStore, lines: &[ManifestLine]) -> Result<Self> {
        let train: Vec<&ManifestLine> = lines.iter().filter(|l| l.split == Split::Train).collect();
        let first = train.first().ok_or_else(|| {
            DatasetError::invalid(
                format!("dataset {}", store.name()),
                "it has no training-split records to compute normalisation statistics from",
            )
        })?;
        let zd = first.latent_dim;
        // Sums in f64 over the frames (Welford is not needed at these magnitudes), made once a
        // record has latents of the size the manifest says: a damaged line can say any size.
        let mut sum = Vec::new();
        let mut sq = Vec::new();
        let mut frames = 0usize;
        for line in &train {
            if line.latent_dim != zd || line.gnpfa != first.gnpfa {
                return Err(DatasetError::invalid(
                    format!("record {}", line.id),
                    format!(
                        "latent size {} / GNPFA {} differs from {} / {} of record {}",
                        line.latent_dim, line.gnpfa, zd, first.gnpfa, first.id
                    ),
                ));
            }
            let r = Record::read(store, &line.id)?;
            if r.meta.latent_dim != zd {
                return Err(DatasetError::invalid(
                    format!("{}: record {}", store.name(), line.id),
                    format!(
                        "its latents are of size {} but its manifest line says {zd}",
                        r.meta.latent_dim
                    ),
                ));
            }
            if sum.is_empty() {
                sum = vec![0f64; zd + 6];
                sq = vec![0f64; zd + 6];
            }
            for t in 0..r.meta.num_frames {
                let z = &r.latents[t * zd..(t + 1) * zd];
                let p = &r.head_pose[t * 6..(t + 1) * 6];
                for (k, &v) in z.iter().chain(p).enumerate() {
                    sum[k] += v as f64;
                    sq[k] += (v as f64) * (v as f64);
                }
            }
            frames += r.meta.num_frames;
        }
        let n = frames.max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq
            .iter()
            .zip(&sum)
            .map(|(q, s)| {
                let var = (q / n - (s / n) * (s / n)).max(0.0);
                (var.sqrt() as f32).max(MIN_STD)
            })
            .collect();
        Ok(Self {
            format_version: SHARD_FORMAT_VERSION,
            gnpfa: first.gnpfa.clone(),
            records_hash: records_hash(lines),
            records: train.len(),
            frames,
            latent_dim: zd,
            mean,
            std,
        })
    }

    /// The statistics stored on `store`, if they describe exactly these records (`None` when
    /// missing or made for other records).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] naming `stats.json` if it is damaged.
    pub fn stored(store: &ShardStore, lines: &[ManifestLine]) -> Result<Option<Self>> {
        let Some(bytes) = store.get(STATS_KEY)? else {
            return Ok(None);
        };
        let what = format!("{}: {STATS_KEY}", store.name());
        let stats: NormStats = serde_json::from_slice(&bytes)
            .map_err(|e| DatasetError::invalid(what.clone(), e.to_string()))?;
        let current = stats.records_hash == records_hash(lines)
            && stats.format_version == SHARD_FORMAT_VERSION;
        if !current {
            return Ok(None);
        }
        stats.check(&what, lines)?;
        Ok(Some(stats))
    }

    /// Checks that the statistics fit the training records of `lines`: one finite mean and one
    /// deviation of at least [`MIN_STD`] per motion dimension (Z + 6, Z the records' latent
    /// size); `what` names them in errors.
    fn check(&self, what: &str, lines: &[ManifestLine]) -> Result<()> {
        let bad = |message: String| Err(DatasetError::invalid(what.to_string(), message));
        if let Some(line) = lines
            .iter()
            .find(|l| l.split == Split::Train && l.latent_dim != self.latent_dim)
        {
            return bad(format!(
                "latent_dim is {} but record {} has latents of size {}",
                self.latent_dim, line.id, line.latent_dim
            ));
        }
        let dim = self.latent_dim.checked_add(6);
        if dim != Some(self.mean.len()) || dim != Some(self.std.len()) {
            return bad(format!(
                "{} means and {} deviations for latent_dim {} (expected latent_dim + 6 of each)",
                self.mean.len(),
                self.std.len(),
                self.latent_dim
            ));
        }
        if let Some(i) = self.mean.iter().position(|m| !m.is_finite()) {
            return bad(format!("mean[{i}] is {}", self.mean[i]));
        }
        if let Some(i) = self
            .std
            .iter()
            .position(|s| !(s.is_finite() && *s >= MIN_STD))
        {
            return bad(format!("std[{i}] is {} (at least {MIN_STD})", self.std[i]));
        }
        Ok(())
    }

    /// Stores the statistics as `stats.json` (one whole-object write).
    ///
    /// # Errors
    /// [`DatasetError::Store`] naming the store.
    pub fn write(&self, store: &ShardStore) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| DatasetError::invalid("normalisation statistics", e.to_string()))?;
        store.put(STATS_KEY, json)
    }

    /// Normalises motion rows [.., Z + 6] in place: (x − mean) / std.
    pub fn normalise(&self, motion: &mut [f32]) {
        let d = self.mean.len();
        for row in motion.chunks_exact_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }

    /// Undoes [`NormStats::normalise`].
    pub fn denormalise(&self, motion: &mut [f32]) {
        let d = self.mean.len();
        for row in motion.chunks_exact_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = *x * s + m;
            }
        }
    }
}
