//! Held-out measurements of `E_exp` / `E_pose` on rendered crops.

use candle_core::Tensor;
use m2f_mesh::Rig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{flat_neutral, frame_rows, mirror_partners, rig_rows, FrameSet, Rows};
use crate::error::{GnpfaError, Result};
use crate::eval::vertex_errors;
use crate::image_data::{render_rows, ImageBatch, RenderRanges};
use crate::image_encoder::ImageEncoders;
use crate::model::Gnpfa;
use crate::projection::{pose_points, project_points, tensors_to_poses};

/// Errors of the image encoders, averaged over the evaluated crops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageEvalReport {
    /// Number of crops evaluated.
    pub frames: usize,
    /// Mean vertex error of the expression geometry G_geo(neutral, E_exp(crop)) against the
    /// truth (unposed: the expression alone), mm.
    pub geometry_mean_mm: f64,
    /// Root mean square over crops and vertices of the same error, mm: weighs the vertices
    /// that move most, where the mean is dominated by the many that barely move.
    pub geometry_rms_mm: f64,
    /// Per crop the largest lip-vertex error, averaged over crops, mm.
    pub geometry_lip_max_mm: f64,
    /// `geometry_mean_mm` for a model that always answers "no expression" (the neutral): what
    /// the numbers above improve on, mm.
    pub neutral_baseline_mean_mm: f64,
    /// `geometry_rms_mm` for the "no expression" answer, mm.
    pub neutral_baseline_rms_mm: f64,
    /// `geometry_lip_max_mm` for the "no expression" answer, mm.
    pub neutral_baseline_lip_max_mm: f64,
    /// Mean |E_exp(crop) − μ(E_geo(truth))| over latent dimensions: how far `E_exp`'s latents
    /// are from the geometry encoder's.
    pub latent_mae: f64,
    /// Mean |M′(E_exp(crop)) − true rig weights|: the crop read as ARKit weights.
    pub weights_mae: f64,
    /// Angle between the estimated and the true head rotation, mean over crops, degrees.
    pub rotation_mean_deg: f64,
    /// Median over crops of the same angle, degrees.
    pub rotation_median_deg: f64,
    /// 95th percentile over crops of the same angle, degrees.
    pub rotation_p95_deg: f64,
    /// Distance between estimated and true head translation, mm.
    pub translation_mean_mm: f64,
    /// Mean 2D distance of every estimated vertex (posed, projected: the template's landmarks)
    /// from the true one, pixels of the crop.
    pub landmark_mean_px: f64,
}

/// One crop's errors.
struct CropErrors {
    /// Expression geometry: (mean vertex distance, largest lip-vertex distance, mean squared
    /// vertex distance), metres (m²).
    geometry: (f64, f64, f64),
    /// The same for the neutral ("no expression").
    baseline: (f64, f64, f64),
    /// Mean absolute latent error and rig-weight error (through `M′`).
    latent: f64,
    weights: f64,
    /// Rotation angle error, radians; translation error, metres; landmark error, pixels.
    rotation: f64,
    translation: f64,
    landmarks: f64,
}

/// Per frame (mean vertex distance, lip max, mean squared distance) of flat [B, V*3] arrays.
fn geometry_errors(
    pred: &[f32],
    truth: &[f32],
    frames: usize,
    lips: &[u32],
) -> Result<Vec<(f64, f64, f64)>> {
    let per_frame = vertex_errors(pred, truth, frames, lips)?;
    let n = truth.len() / frames;
    Ok(per_frame
        .into_iter()
        .enumerate()
        .map(|(f, (mean, lip))| {
            let sq = pred[f * n..(f + 1) * n]
                .iter()
                .zip(&truth[f * n..(f + 1) * n])
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                / (n / 3) as f64;
            (mean, lip, sq)
        })
        .collect())
}

fn batch_errors(model: &Gnpfa, enc: &ImageEncoders, batch: &ImageBatch) -> Result<Vec<CropErrors>> {
    let b = batch.poses.len();
    // What `Gnpfa::encode_images` returns: canonical latents, mirror-averaged poses.
    let z = model.canonical_latents(&enc.encode_expression(&batch.pixels)?)?;
    let d_hat = model.decode(&batch.neutral, &z)?;
    let (mu, _) = model.encode(&batch.displacement)?;
    let per_row_mae = |a: &Tensor, b: &Tensor| -> Result<Vec<f32>> {
        Ok((a - b)?.abs()?.mean(1)?.to_vec1::<f32>()?)
    };
    let latent = per_row_mae(&z, &mu)?;
    let weights = per_row_mae(&model.latent_to_weights(&z)?, &batch.weights)?;
    let (rotation, translation) = enc.estimate_pose(&batch.pixels)?;
    let lips = &model.template.regions.lips;
    let pred = d_hat.flatten_all()?.to_vec1::<f32>()?;
    let truth = batch.displacement.flatten_all()?.to_vec1::<f32>()?;
    let geometry = geometry_errors(&pred, &truth, b, lips)?;
    let zeros = vec![0.0f32; truth.len()];
    let baseline = geometry_errors(&zeros, &truth, b, lips)?;
    let poses = tensors_to_poses(&rotation, &translation)?;
    let v = model.config.num_vertices;
    let points = |d: &Tensor| -> Result<Tensor> { Ok((&batch.neutral + d)?.reshape((b, v, 3))?) };
    let cfg = &enc.config;
    let px_hat = project_points(
        &pose_points(&points(&d_hat)?, &rotation, &translation)?,
        &cfg.camera,
        cfg.image_size,
    )?;
    let px = project_points(
        &pose_points(
            &points(&batch.displacement)?,
            &batch.rotation,
            &batch.translation,
        )?,
        &cfg.camera,
        cfg.image_size,
    )?;
    let lmk = (px_hat - px)?
        .sqr()?
        .sum_keepdim(2)?
        .sqrt()?
        .mean(1)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((0..b)
        .map(|i| {
            let dt = poses[i]
                .translation
                .iter()
                .zip(&batch.poses[i].translation)
                .map(|(a, t)| ((a - t) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            CropErrors {
                geometry: geometry[i],
                baseline: baseline[i],
                latent: latent[i] as f64,
                weights: weights[i] as f64,
                rotation: poses[i].rotation_distance(&batch.poses[i]) as f64,
                translation: dt,
                landmarks: lmk[i] as f64,
            }
        })
        .collect())
}

/// Renders `rows` (each with its own pose and appearance from `seed`) and measures the model's
/// image encoders on them, `chunk` crops at a time.
pub fn evaluate_image_rows(
    model: &Gnpfa,
    rows: &Rows,
    ranges: &RenderRanges,
    seed: u64,
    chunk: usize,
) -> Result<ImageEvalReport> {
    let Some(enc) = &model.image else {
        return Err(GnpfaError::invalid(
            "image evaluation",
            "the model has no image encoders",
        ));
    };
    if rows.len == 0 {
        return Err(GnpfaError::invalid("image evaluation", "no frames"));
    }
    let v3 = model.config.num_vertices * 3;
    let k = model.config.num_blendshapes;
    if rows.neutral.len() != rows.len * v3
        || rows.displacement.len() != rows.len * v3
        || rows.weights.len() != rows.len * k
    {
        return Err(GnpfaError::invalid(
            "image evaluation rows",
            format!(
                "{} rows need {v3} neutral and displacement values and {k} weights each; got \
                 {}, {} and {} in all",
                rows.len,
                rows.neutral.len(),
                rows.displacement.len(),
                rows.weights.len()
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds: Vec<u64> = (0..rows.len).map(|_| rng.random()).collect();
    let mut errors = Vec::with_capacity(rows.len);
    let device = model.device().clone();
    for start in (0..rows.len).step_by(chunk.max(1)) {
        let end = (start + chunk.max(1)).min(rows.len);
        let mut part = Rows::default();
        for i in start..end {
            part.push(
                &rows.neutral[i * v3..(i + 1) * v3],
                &rows.displacement[i * v3..(i + 1) * v3],
                &rows.weights[i * k..(i + 1) * k],
            );
        }
        let batch = render_rows(
            &part,
            &seeds[start..end],
            &model.template,
            &enc.config,
            ranges,
            2,
            &device,
        )?;
        errors.extend(batch_errors(model, enc, &batch)?);
    }
    Ok(summarise(&errors))
}

fn summarise(errors: &[CropErrors]) -> ImageEvalReport {
    let n = errors.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CropErrors) -> f64| errors.iter().map(f).sum::<f64>() / n;
    let mut rot: Vec<f64> = errors.iter().map(|e| e.rotation.to_degrees()).collect();
    rot.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if rot.is_empty() {
            return f64::NAN;
        }
        rot[((rot.len() - 1) as f64 * q).round() as usize]
    };
    ImageEvalReport {
        frames: errors.len(),
        geometry_mean_mm: mean(&|e| e.geometry.0) * 1e3,
        geometry_rms_mm: mean(&|e| e.geometry.2).sqrt() * 1e3,
        geometry_lip_max_mm: mean(&|e| e.geometry.1) * 1e3,
        neutral_baseline_mean_mm: mean(&|e| e.baseline.0) * 1e3,
        neutral_baseline_rms_mm: mean(&|e| e.baseline.2).sqrt() * 1e3,
        neutral_baseline_lip_max_mm: mean(&|e| e.baseline.1) * 1e3,
        latent_mae: mean(&|e| e.latent),
        weights_mae: mean(&|e| e.weights),
        rotation_mean_deg: rot.iter().sum::<f64>() / n,
        rotation_median_deg: quantile(0.5),
        rotation_p95_deg: quantile(0.95),
        translation_mean_mm: mean(&|e| e.translation) * 1e3,
        landmark_mean_px: mean(&|e| e.landmarks),
    }
}

/// Measures the image encoders on `frames` random expressions (drawn with `seed`) on the
/// identities in `rigs` (held out from training), each rendered with a random pose and look.
pub fn evaluate_images(
    model: &Gnpfa,
    rigs: &[Rig],
    frames: usize,
    ranges: &RenderRanges,
    seed: u64,
) -> Result<ImageEvalReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let neutrals: Vec<Vec<f32>> = rigs.iter().map(flat_neutral).collect();
    let partners = mirror_partners(&model.config.blendshape_names);
    let rows = rig_rows(rigs, &neutrals, frames, &partners, &mut rng)?;
    evaluate_image_rows(model, &rows, ranges, seed ^ 0x1a6e, 64)
}

/// Measures the image encoders on `frames` recorded frames of `set` (e.g. the test split's
/// speech clips), drawn with `seed` and each rendered with a random pose and look.
pub fn evaluate_image_frames(
    model: &Gnpfa,
    set: &FrameSet,
    frames: usize,
    ranges: &RenderRanges,
    seed: u64,
) -> Result<ImageEvalReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc11b);
    let mut rows = Rows::default();
    frame_rows(set, frames, &mut rng, &mut rows);
    evaluate_image_rows(model, &rows, ranges, seed ^ 0x7e58, 64)
}
