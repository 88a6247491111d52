//! Training the image encoders `E_exp` / `E_pose` with the geometry VAE and bridge frozen:
//! a geometry loss through `G_geo`, a posed-geometry loss and a 2D landmark reprojection loss
//! through the crop camera, on crops rendered from the synthetic world.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, Var};
use candle_nn::{loss::mse, VarMap};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    copy_into_vars, read_checkpoint, save_checkpoint, template_from_tensors, Provenance,
};
use crate::data::TrainData;
use crate::error::{GnpfaError, Result};
use crate::image_data::{ImageBatch, ImageBatchSource, RenderRanges};
use crate::image_encoder::ImageEncoderConfig;
use crate::image_eval::{evaluate_images, ImageEvalReport};
use crate::model::Gnpfa;
use crate::projection::{pose_points, project_points};
use crate::train::TrainOptions;
use m2f_train::{run, StepLoss, Trainee};

/// Variables of the image encoders start with this; everything else stays frozen.
pub const IMAGE_PREFIX: &str = "image.";

/// Settings of one image-encoder training run: the schedule and bookkeeping of any run, and
/// the ranges crops are rendered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageTrainOptions {
    /// Schedule, output directory, seed and bookkeeping, as for the geometry.
    pub train: TrainOptions,
    /// The ranges poses and appearance of the rendered crops are drawn from.
    pub ranges: RenderRanges,
}

impl Default for ImageTrainOptions {
    fn default() -> Self {
        Self {
            train: TrainOptions {
                steps: 4000,
                batch_size: 64,
                out: PathBuf::from("runs/gnpfa-image"),
                ..TrainOptions::default()
            },
            ranges: RenderRanges::default(),
        }
    }
}

/// The loss terms of one batch (scalars).
#[derive(Debug, Clone)]
pub struct ImageLosses {
    /// The weighted sum that is minimised.
    pub total: Tensor,
    /// `E_exp`: ‖G_geo(n, E_exp(I)) − G‖², (geometry_scale units)² per coordinate.
    pub geometry: Tensor,
    /// `E_pose`: ‖pose(n + G, E_pose(I)) − pose(n + G, θ)‖², same units.
    pub posed_geometry: Tensor,
    /// Both: 2D reprojection of all vertices, ‖π(pose(n + Ĝ, θ)) − π(pose(n + G, θ))‖² for
    /// `E_exp` plus ‖π(pose(n + G, θ̂)) − π(pose(n + G, θ))‖² for `E_pose`, in percent of the
    /// crop side, squared.
    pub landmarks: Tensor,
    /// `E_exp`: ‖E_exp(I) − μ(E_geo(G))‖² per latent dimension.
    pub latent: Tensor,
}

/// The image encoders' losses on `batch` (the model must have image encoders).
///
/// Each encoder's terms use the truth for the other's output, so errors of one do not train
/// the other. That matters for depth: a face 8 % larger than average at the same distance
/// looks like an average face 8 % closer, so `E_pose` cannot know the depth exactly, and
/// through a shared posed loss that irreducible error would push `E_exp` to distort the
/// expression to compensate.
pub fn image_losses(model: &Gnpfa, batch: &ImageBatch) -> Result<ImageLosses> {
    let enc = model
        .image
        .as_ref()
        .ok_or_else(|| GnpfaError::invalid("image training", "the model has no image encoders"))?;
    let cfg = &enc.config;
    let s = model.config.geometry_scale as f64;
    let b = batch.poses.len();
    let v = model.config.num_vertices;
    let percent = 100.0 / cfg.image_size as f64;
    let pixels = |points: &Tensor| -> Result<Tensor> {
        Ok((project_points(points, &cfg.camera, cfg.image_size)? * percent)?)
    };
    let z = enc.encode_expression(&batch.pixels)?;
    let d_hat = model.decode(&batch.neutral, &z)?;
    let geometry = mse(&(&d_hat / s)?, &(&batch.displacement / s)?)?;
    let (mu, _) = model.encode(&batch.displacement)?;
    let latent = mse(&z, &mu.detach())?;
    let (rotation, translation) = enc.encode_pose(&batch.pixels)?;
    let shape = (&batch.neutral + &batch.displacement)?.reshape((b, v, 3))?;
    let shape_hat = (&batch.neutral + &d_hat)?.reshape((b, v, 3))?;
    let posed = pose_points(&shape, &batch.rotation, &batch.translation)?;
    let posed_pose_hat = pose_points(&shape, &rotation, &translation)?;
    let posed_shape_hat = pose_points(&shape_hat, &batch.rotation, &batch.translation)?;
    let posed_geometry = mse(&(&posed_pose_hat / s)?, &(&posed / s)?)?;
    let px = pixels(&posed)?;
    let landmarks = (mse(&pixels(&posed_shape_hat)?, &px)? + mse(&pixels(&posed_pose_hat)?, &px)?)?;
    let total = (((&geometry * cfg.geometry_weight)?
        + (&posed_geometry * cfg.posed_geometry_weight)?)?
        + ((&landmarks * cfg.landmark_weight)? + (&latent * cfg.latent_weight)?)?)?;
    Ok(ImageLosses {
        total,
        geometry,
        posed_geometry,
        landmarks,
        latent,
    })
}

/// A model with fresh image encoders (from `seed`) over the geometry VAE and bridge of the
/// checkpoint at `geometry_dir`, whose variables are copied in. Returns the model, all its
/// variables, and the geometry checkpoint's provenance.
pub fn init_with_geometry(
    geometry_dir: &Path,
    image: &ImageEncoderConfig,
    device: &Device,
    seed: u64,
) -> Result<(Gnpfa, VarMap, Provenance)> {
    let (ckpt, tensors, path) = read_checkpoint(geometry_dir, device)?;
    let template = template_from_tensors(&ckpt, &tensors, &path)?;
    let config = crate::GnpfaConfig {
        image: Some(image.clone()),
        ..ckpt.model.clone()
    };
    let (model, varmap) = Gnpfa::init(&config, template, device, seed)?;
    // Everything but the image encoders comes from the geometry checkpoint.
    copy_into_vars(&varmap, &tensors, &path, |n| !n.starts_with(IMAGE_PREFIX))?;
    Ok((model, varmap, ckpt.provenance))
}

/// The image encoders' variables of `varmap` (sorted by name).
pub fn image_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let mut vars = m2f_train::named_vars(varmap)?;
    vars.retain(|(n, _)| n.starts_with(IMAGE_PREFIX));
    Ok(vars)
}

/// What an image-encoder run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageTrainReport {
    /// The step this sitting started at (0 for a new run, later when resumed).
    pub start_step: u64,
    /// The step it ended at.
    pub final_step: u64,
    /// Wall time of this sitting, seconds.
    pub seconds: f64,
    /// Best validation score: geometry mean (mm) + rotation mean (degrees).
    pub best_val_score: Option<f64>,
    /// Total loss of the last logged step.
    pub last_loss: f64,
    /// The last validation report of this sitting, if it validated.
    pub last_val: Option<ImageEvalReport>,
}

/// The image encoders as a [`Trainee`] (the geometry's variables are not among its vars).
struct ImageRun<'a> {
    model: Gnpfa,
    varmap: VarMap,
    data: &'a TrainData,
    opts: &'a ImageTrainOptions,
    batches: ImageBatchSource<'a>,
    geometry_provenance: Provenance,
    last_val: Option<ImageEvalReport>,
}

impl Trainee for ImageRun<'_> {
    type Error = GnpfaError;

    fn loss(&mut self, step: u64) -> Result<StepLoss> {
        let train = &self.opts.train;
        let batch =
            self.batches
                .batch_at(train.batch_size, train.seed, step, self.model.device())?;
        let l = image_losses(&self.model, &batch)?;
        Ok(StepLoss {
            total: l.total,
            terms: vec![
                ("geometry", l.geometry),
                ("posed_geometry", l.posed_geometry),
                ("landmarks", l.landmarks),
                ("latent", l.latent),
            ],
        })
    }

    fn validate(&mut self, _step: u64) -> Result<Option<(f64, serde_json::Value)>> {
        if self.data.val.len() < 2 {
            return Ok(None);
        }
        let train = &self.opts.train;
        let report = evaluate_images(
            &self.model,
            &self.data.val,
            train.val_frames,
            &self.opts.ranges,
            train.seed ^ 0x5eed_0a11,
        )?;
        let score = report.geometry_mean_mm + report.rotation_mean_deg;
        let record = serde_json::to_value(&report)
            .map_err(|e| GnpfaError::invalid("validation report", e.to_string()))?;
        self.last_val = Some(report);
        Ok(Some((score, record)))
    }

    fn save(&self, dir: &Path, step: u64, seconds: f64, score: Option<f64>) -> Result<()> {
        let description = format!(
            "{}; crops rendered with {}",
            self.data.description,
            serde_json::to_string(&self.opts.ranges).unwrap_or_default()
        );
        let image_provenance =
            self.opts
                .train
                .provenance(self.data, &description, step, seconds, score);
        save_checkpoint(
            dir,
            &self.model,
            &self.varmap,
            &self.geometry_provenance,
            Some(&image_provenance),
        )
    }

    fn identity(&self) -> serde_json::Value {
        let mut id = self
            .opts
            .train
            .identity(&self.model.config, &self.data.description);
        id["geometry"] = serde_json::to_value(&self.geometry_provenance).unwrap_or_default();
        id["crops"] = serde_json::to_value(&self.opts.ranges).unwrap_or_default();
        id
    }

    fn message(&self, terms: &serde_json::Map<String, serde_json::Value>) -> String {
        let geometry = terms
            .get("geometry")
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN);
        let rms_mm = (3.0 * geometry).sqrt() * self.model.config.geometry_scale as f64 * 1e3;
        format!("geometry {rms_mm:.3} mm rms")
    }
}

/// Trains `E_exp` / `E_pose` over the frozen geometry of the checkpoint at `geometry_dir`,
/// writing checkpoints (geometry + image encoders) under `opts.out`.
pub fn train_images(
    geometry_dir: &Path,
    image: &ImageEncoderConfig,
    data: &TrainData,
    opts: &ImageTrainOptions,
    device: &Device,
) -> Result<(Gnpfa, VarMap, ImageTrainReport)> {
    image.validate("image encoder config")?;
    opts.ranges.validate()?;
    if data.train.is_empty() && data.frames.frames.is_empty() {
        return Err(GnpfaError::invalid(
            "training data",
            "no identities and no frames",
        ));
    }
    let (model, varmap, geometry_provenance) =
        init_with_geometry(geometry_dir, image, device, opts.train.seed)?;
    if let Some(dir) = &opts.train.init {
        crate::train::init_from(&varmap, dir, device, |n| n.starts_with(IMAGE_PREFIX))?;
    }
    let vars = image_vars(&varmap)?;
    let mut trainee = ImageRun {
        batches: ImageBatchSource::new(data, &model, image, &opts.ranges),
        model,
        varmap,
        data,
        opts,
        geometry_provenance,
        last_val: None,
    };
    let schedule = opts.train.schedule("val_score");
    let r = run(&mut trainee, &vars, &schedule)?;
    let report = ImageTrainReport {
        start_step: r.start_step,
        final_step: r.final_step,
        seconds: r.seconds,
        best_val_score: r.best_val_score,
        last_loss: r.last_loss,
        last_val: trainee.last_val,
    };
    Ok((trainee.model, trainee.varmap, report))
}
