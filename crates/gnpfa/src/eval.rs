//! Held-out measurements: reconstruction, identity disentanglement and the bridge.

use candle_core::Tensor;
use m2f_mesh::Rig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{displacement, flat_neutral, mirror_partners, sample_weights, Rows};
use crate::error::{GnpfaError, Result};
use crate::model::Gnpfa;

/// Errors in millimetres (weights error unitless), averaged over the evaluated frames.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Number of random expressions evaluated.
    pub frames: usize,
    /// Mean over frames and vertices of ‖G_geo(n, μ(E_geo(d))) − d‖.
    pub recon_mean_mm: f64,
    /// Per frame the largest lip-vertex error, averaged over frames (LVE form).
    pub recon_lip_max_mm: f64,
    /// The largest lip-vertex error over all frames.
    pub recon_lip_max_worst_mm: f64,
    /// Encode the expression on face A, decode on face B, compare with the truth on face B.
    pub cross_identity_mean_mm: f64,
    /// Mean |M′(M(w)) − w|.
    pub bridge_weights_mae: f64,
    /// Mean vertex error of G_geo(n, M(w)) against the rig's geometry.
    pub bridge_geometry_mean_mm: f64,
}

/// Per-frame errors of predicted against true displacements (both [B, V*3] flat, metres):
/// returns, per frame, (mean vertex distance, largest distance over `lips`), metres.
pub fn vertex_errors(
    pred: &[f32],
    truth: &[f32],
    frames: usize,
    lips: &[u32],
) -> Result<Vec<(f64, f64)>> {
    if pred.len() != truth.len() || frames == 0 || pred.len() % (frames * 3) != 0 {
        return Err(GnpfaError::invalid(
            "vertex errors",
            format!(
                "{} predicted and {} true values for {frames} frames",
                pred.len(),
                truth.len()
            ),
        ));
    }
    let v = pred.len() / frames / 3;
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let dist = |i: usize| -> f64 {
            let o = (f * v + i) * 3;
            let dx = (pred[o] - truth[o]) as f64;
            let dy = (pred[o + 1] - truth[o + 1]) as f64;
            let dz = (pred[o + 2] - truth[o + 2]) as f64;
            (dx * dx + dy * dy + dz * dz).sqrt()
        };
        let mean = (0..v).map(dist).sum::<f64>() / v as f64;
        let lip = lips
            .iter()
            .filter(|&&i| (i as usize) < v)
            .map(|&i| dist(i as usize))
            .fold(0.0f64, f64::max);
        out.push((mean, lip));
    }
    Ok(out)
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Measures `model` on `frames` random expressions (drawn with `seed`) on the identities in
/// `rigs` (held out from training). Cross-identity pairs each frame's face with another one.
pub fn evaluate(model: &Gnpfa, rigs: &[Rig], frames: usize, seed: u64) -> Result<EvalReport> {
    if rigs.len() < 2 {
        return Err(GnpfaError::invalid(
            "evaluation",
            "needs at least two identities",
        ));
    }
    let dev = model.device();
    let partners = mirror_partners(&model.config.blendshape_names);
    let neutrals: Vec<Vec<f32>> = rigs.iter().map(flat_neutral).collect();
    let lips = &model.template.regions.lips;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut report = EvalReport::default();
    let (mut recon, mut lip, mut cross, mut wmae, mut bgeo) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut worst = 0.0f64;
    let chunk = 256;
    let mut done = 0;
    while done < frames {
        let n = chunk.min(frames - done);
        let mut a = Rows::default();
        let mut b = Rows::default();
        for _ in 0..n {
            let ia = rng.random_range(0..rigs.len());
            let ib = (ia + rng.random_range(1..rigs.len())) % rigs.len();
            let w = sample_weights(&mut rng, &partners);
            a.push(&neutrals[ia], &displacement(&rigs[ia], &w)?, &w);
            b.push(&neutrals[ib], &displacement(&rigs[ib], &w)?, &w);
        }
        let ba = a.to_batch(dev)?;
        let bb = b.to_batch(dev)?;
        let (mu, _) = model.encode(&ba.displacement)?;
        let rec = to_vec(&model.decode(&ba.neutral, &mu)?)?;
        for (m, l) in vertex_errors(&rec, &a.displacement, n, lips)? {
            recon += m;
            lip += l;
            worst = worst.max(l);
        }
        let crossed = to_vec(&model.decode(&bb.neutral, &mu)?)?;
        for (m, _) in vertex_errors(&crossed, &b.displacement, n, lips)? {
            cross += m;
        }
        let z = model.weights_to_latent(&ba.weights)?;
        let w2 = to_vec(&model.latent_to_weights(&z)?)?;
        wmae += w2
            .iter()
            .zip(&a.weights)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / model.config.num_blendshapes as f64;
        let g = to_vec(&model.decode(&ba.neutral, &z)?)?;
        for (m, _) in vertex_errors(&g, &a.displacement, n, lips)? {
            bgeo += m;
        }
        done += n;
    }
    let f = frames.max(1) as f64;
    report.frames = frames;
    report.recon_mean_mm = recon / f * 1e3;
    report.recon_lip_max_mm = lip / f * 1e3;
    report.recon_lip_max_worst_mm = worst * 1e3;
    report.cross_identity_mean_mm = cross / f * 1e3;
    report.bridge_weights_mae = wmae / f;
    report.bridge_geometry_mean_mm = bgeo / f * 1e3;
    Ok(report)
}

/// Errors on recorded frames (e.g. the speech and emotion frames of held-out clips): the same
/// fields as [`EvalReport`] except cross-identity, which needs one expression on two faces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameEvalReport {
    /// Number of recorded frames evaluated.
    pub frames: usize,
    /// Mean over frames and vertices of ‖G_geo(n, μ(E_geo(d))) − d‖, mm.
    pub recon_mean_mm: f64,
    /// Per frame the largest lip-vertex reconstruction error, averaged over frames (LVE
    /// form), mm.
    pub recon_lip_max_mm: f64,
    /// The largest lip-vertex reconstruction error over all frames, mm.
    pub recon_lip_max_worst_mm: f64,
    /// Mean |M′(M(w)) − w| (unitless rig weights).
    pub bridge_weights_mae: f64,
    /// Mean vertex error of G_geo(n, M(w)) against the recorded geometry, mm.
    pub bridge_geometry_mean_mm: f64,
}

/// Measures `model` on every frame of `set`.
pub fn evaluate_frames(model: &Gnpfa, set: &crate::data::FrameSet) -> Result<FrameEvalReport> {
    if set.frames.is_empty() {
        return Err(GnpfaError::invalid("evaluation", "no frames"));
    }
    let dev = model.device();
    let lips = &model.template.regions.lips;
    let (mut recon, mut lip, mut worst, mut wmae, mut bgeo) = (0.0, 0.0, 0.0f64, 0.0, 0.0);
    for chunk in set.frames.chunks(256) {
        let mut rows = Rows::default();
        for f in chunk {
            rows.push(&set.neutrals[f.neutral], &f.displacement, &f.weights);
        }
        let n = rows.len;
        let b = rows.to_batch(dev)?;
        let (mu, _) = model.encode(&b.displacement)?;
        let rec = to_vec(&model.decode(&b.neutral, &mu)?)?;
        for (m, l) in vertex_errors(&rec, &rows.displacement, n, lips)? {
            recon += m;
            lip += l;
            worst = worst.max(l);
        }
        let z = model.weights_to_latent(&b.weights)?;
        let w2 = to_vec(&model.latent_to_weights(&z)?)?;
        wmae += w2
            .iter()
            .zip(&rows.weights)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / model.config.num_blendshapes as f64;
        let g = to_vec(&model.decode(&b.neutral, &z)?)?;
        for (m, _) in vertex_errors(&g, &rows.displacement, n, lips)? {
            bgeo += m;
        }
    }
    let f = set.frames.len() as f64;
    Ok(FrameEvalReport {
        frames: set.frames.len(),
        recon_mean_mm: recon / f * 1e3,
        recon_lip_max_mm: lip / f * 1e3,
        recon_lip_max_worst_mm: worst * 1e3,
        bridge_weights_mae: wmae / f,
        bridge_geometry_mean_mm: bgeo / f * 1e3,
    })
}
