//! Training data: identities with their own rigs (expressions sampled as random sparse ARKit
//! weights) and, optionally, recorded frames (neutral, weights, vertices) from synthetic clips.

use candle_core::{Device, Tensor};
use m2f_mesh::Rig;
use rand::Rng;

use crate::error::{GnpfaError, Result};

/// One recorded frame: its identity's neutral (index into `FrameSet::neutrals`), rig weights
/// `[K]` and expression displacement from the neutral `[V*3]` (metres).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Index of the identity's neutral in `FrameSet::neutrals`.
    pub neutral: usize,
    /// Rig weights `[K]`, in the order of the config's blendshape names.
    pub weights: Vec<f32>,
    /// Expression displacement from the neutral, flat `[V*3]`, metres.
    pub displacement: Vec<f32>,
}

/// Recorded frames and the neutrals they refer to (flat `[V*3]`, metres).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameSet {
    /// The identities' neutral meshes, each flat `[V*3]`, metres.
    pub neutrals: Vec<Vec<f32>>,
    /// The recorded frames.
    pub frames: Vec<Frame>,
}

/// What the trainer samples from.
#[derive(Debug, Clone, Default)]
pub struct TrainData {
    /// Training identities, each with its own rig (rig.neutral() is the identity's neutral).
    pub train: Vec<Rig>,
    /// Held-out identities for validation.
    pub val: Vec<Rig>,
    /// Recorded training frames (may be empty).
    pub frames: FrameSet,
    /// Fraction of each batch taken from `frames` when there are any.
    pub frame_fraction: f32,
    /// Where the data came from, for the checkpoint's provenance.
    pub description: String,
}

/// A batch on the device: neutral [B, V*3], displacement [B, V*3] (metres), weights [B, K].
#[derive(Debug, Clone)]
pub struct Batch {
    /// Each row's identity neutral [B, V*3], metres.
    pub neutral: Tensor,
    /// Each row's expression displacement from its neutral [B, V*3], metres.
    pub displacement: Tensor,
    /// Each row's rig weights [B, K].
    pub weights: Tensor,
}

/// Host-side rows before they become a `Batch`.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Neutrals, row after row, flat [len * V*3], metres.
    pub neutral: Vec<f32>,
    /// Expression displacements, row after row, flat [len * V*3], metres.
    pub displacement: Vec<f32>,
    /// Rig weights, row after row, flat [len * K].
    pub weights: Vec<f32>,
    /// Number of rows.
    pub len: usize,
}

impl Rows {
    /// Appends one row: a neutral `[V*3]`, its displacement `[V*3]` (metres) and rig weights `[K]`.
    pub fn push(&mut self, neutral: &[f32], displacement: &[f32], weights: &[f32]) {
        self.neutral.extend_from_slice(neutral);
        self.displacement.extend_from_slice(displacement);
        self.weights.extend_from_slice(weights);
        self.len += 1;
    }

    /// Copies the rows to `device` as a [`Batch`]; errors when there are no rows.
    pub fn to_batch(&self, device: &Device) -> Result<Batch> {
        let b = self.len;
        if b == 0 {
            return Err(GnpfaError::invalid("batch", "no rows"));
        }
        let v3 = self.neutral.len() / b;
        let k = self.weights.len() / b;
        Ok(Batch {
            neutral: Tensor::from_slice(&self.neutral, (b, v3), device)?,
            displacement: Tensor::from_slice(&self.displacement, (b, v3), device)?,
            weights: Tensor::from_slice(&self.weights, (b, k), device)?,
        })
    }
}

/// Index of each blendshape's mirror partner (`...Left` ↔ `...Right`), itself when none.
pub fn mirror_partners(names: &[String]) -> Vec<usize> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let other = if let Some(s) = n.strip_suffix("Left") {
                format!("{s}Right")
            } else if let Some(s) = n.strip_suffix("Right") {
                format!("{s}Left")
            } else {
                return i;
            };
            names.iter().position(|m| *m == other).unwrap_or(i)
        })
        .collect()
}

/// Random sparse rig weights in [0, 1]: 0–8 active blendshapes, each mirrored to its L/R
/// partner with probability ½ (faces are mostly symmetric), a few all-zero (neutral) frames.
pub fn sample_weights(rng: &mut impl Rng, partners: &[usize]) -> Vec<f32> {
    let k = partners.len();
    let mut w = vec![0.0f32; k];
    let active = rng.random_range(0..=8usize);
    for _ in 0..active {
        let i = rng.random_range(0..k);
        let v: f32 = rng.random::<f32>();
        w[i] = v;
        if rng.random::<f32>() < 0.5 {
            w[partners[i]] = v;
        }
    }
    w
}

/// Flat `[V*3]` neutral of a rig.
pub fn flat_neutral(rig: &Rig) -> Vec<f32> {
    rig.neutral().vertices.iter().flatten().copied().collect()
}

/// Displacement `[V*3]` of `weights` on `rig`, metres.
pub fn displacement(rig: &Rig, weights: &[f32]) -> Result<Vec<f32>> {
    let v = rig.apply(weights)?;
    Ok(v.iter()
        .zip(&rig.neutral().vertices)
        .flat_map(|(a, n)| [a[0] - n[0], a[1] - n[1], a[2] - n[2]])
        .collect())
}

/// `n` rows of random expressions on random identities from `rigs`.
pub fn rig_rows(
    rigs: &[Rig],
    neutrals: &[Vec<f32>],
    n: usize,
    partners: &[usize],
    rng: &mut impl Rng,
) -> Result<Rows> {
    let mut rows = Rows::default();
    if rigs.is_empty() {
        return Ok(rows);
    }
    for _ in 0..n {
        let i = rng.random_range(0..rigs.len());
        let w = sample_weights(rng, partners);
        let d = displacement(&rigs[i], &w)?;
        rows.push(&neutrals[i], &d, &w);
    }
    Ok(rows)
}

/// `n` rows drawn (with replacement) from recorded frames.
pub fn frame_rows(set: &FrameSet, n: usize, rng: &mut impl Rng, rows: &mut Rows) {
    if set.frames.is_empty() {
        return;
    }
    for _ in 0..n {
        let f = &set.frames[rng.random_range(0..set.frames.len())];
        rows.push(&set.neutrals[f.neutral], &f.displacement, &f.weights);
    }
}

/// A batch's worth of rows as both trainers draw them: random rig expressions on training
/// identities, with `frame_fraction` of the batch taken from recorded frames.
pub fn sample_rows(
    data: &TrainData,
    neutrals: &[Vec<f32>],
    partners: &[usize],
    batch_size: usize,
    rng: &mut impl Rng,
) -> Result<Rows> {
    let from_frames = if data.frames.frames.is_empty() {
        0
    } else if data.train.is_empty() {
        batch_size
    } else {
        ((batch_size as f32) * data.frame_fraction.clamp(0.0, 1.0)).round() as usize
    };
    let mut rows = rig_rows(
        &data.train,
        neutrals,
        batch_size - from_frames,
        partners,
        rng,
    )?;
    frame_rows(&data.frames, from_frames, rng, &mut rows);
    Ok(rows)
}
