//! Training: AdamW with linear warm-up and cosine decay, global-norm gradient clipping, a KL
//! weight, validation on held-out identities, best/last checkpoints, resume after a kill, a
//! progress line and a JSON-lines log.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::{loss::mse, VarMap};
use m2f_mesh::FaceTemplate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{save_checkpoint, Provenance};
use crate::config::GnpfaConfig;
use crate::data::{flat_neutral, mirror_partners, sample_rows, Batch, TrainData};
use crate::error::{GnpfaError, Result};
use crate::eval::{evaluate, EvalReport};
use crate::model::Gnpfa;
use crate::vae::kl_divergence;
use m2f_train::{named_vars, run, Schedule, StepLoss, Trainee};

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Optimiser steps of the whole run.
    pub steps: u64,
    /// Training examples per step.
    pub batch_size: usize,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear learning-rate warm-up up to `lr`.
    pub warmup_steps: u64,
    /// AdamW's decoupled weight-decay coefficient.
    pub weight_decay: f64,
    /// Global gradient-norm limit (0: no clipping).
    pub grad_clip: f64,
    /// Validate (and write checkpoints) every this many steps.
    pub val_every: u64,
    /// Random expressions (or rendered crops, for the image encoders) per validation.
    pub val_frames: usize,
    /// Write a log line every this many steps.
    pub log_every: u64,
    /// Seed of the initialisation and of the data each step draws.
    pub seed: u64,
    /// Output directory: `last/`, `best/`, `train_log.jsonl`.
    pub out: PathBuf,
    /// Continue the run in `out` when there is one.
    pub resume: bool,
    /// End this sitting after this step, resumable (see `m2f_train::Schedule::stop_after`).
    #[serde(default)]
    pub stop_after: Option<u64>,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// The command line, for provenance.
    pub command: String,
    /// Start from this checkpoint's weights instead of the seeded initialisation (fine-tuning;
    /// its architecture must match). The geometry trainer takes the VAE and bridge from it,
    /// the image trainer the image encoders. A resume from `out/last` takes precedence.
    pub init: Option<PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            steps: 10_000,
            batch_size: 128,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 200,
            weight_decay: 1e-4,
            grad_clip: 1.0,
            val_every: 500,
            val_frames: 256,
            log_every: 50,
            seed: 0,
            out: PathBuf::from("runs/gnpfa"),
            resume: true,
            stop_after: None,
            progress: true,
            command: String::new(),
            init: None,
        }
    }
}

impl TrainOptions {
    /// The loop's schedule for these options; `score_key` names the validation score in the log.
    pub fn schedule(&self, score_key: &'static str) -> Schedule {
        Schedule {
            steps: self.steps,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup_steps: self.warmup_steps,
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
            ema_decay: None,
            log_every: self.log_every,
            val_every: self.val_every,
            samples_per_step: self.batch_size,
            out: self.out.clone(),
            resume: self.resume,
            progress: self.progress,
            score_key,
            stop_after: self.stop_after,
        }
    }

    /// What a run with these options on `data` is made from: a run in `out` is continued
    /// only when this matches (the schedule may change, to lengthen a run).
    pub fn identity(&self, model: &GnpfaConfig, data: &str) -> serde_json::Value {
        serde_json::json!({
            "model": model,
            "data": data,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "init": self.init,
        })
    }

    /// The provenance of a checkpoint written at `step` of a run with these options on `data`.
    pub fn provenance(
        &self,
        data: &TrainData,
        description: &str,
        step: u64,
        seconds: f64,
        score: Option<f64>,
    ) -> Provenance {
        Provenance {
            created_by: format!("gnpfa {}", env!("CARGO_PKG_VERSION")),
            command: self.command.clone(),
            seed: self.seed,
            step,
            total_steps: self.steps,
            batch_size: self.batch_size,
            train_identities: data.train.len(),
            val_identities: data.val.len(),
            data: Some(description.to_string()),
            data_frames: data.frames.frames.len(),
            train_seconds: seconds,
            val_score_mm: score,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The step this sitting started at (0 for a new run, later when resumed).
    pub start_step: u64,
    /// The step it ended at.
    pub final_step: u64,
    /// Wall time of this sitting, seconds.
    pub seconds: f64,
    /// Best validation score of the run: mean reconstruction error + bridge geometry error,
    /// mm (`None` without validation).
    pub best_val_score_mm: Option<f64>,
    /// Total loss of the last logged step.
    pub last_loss: f64,
    /// Reconstruction loss of the last logged step, mean squared error in (geometry_scale
    /// units)² per coordinate.
    pub last_recon: f64,
    /// The last validation report of this sitting, if it validated.
    pub last_val: Option<EvalReport>,
}

/// The loss terms of one batch (scalars). Geometry terms are in (geometry_scale units)².
#[derive(Debug, Clone)]
pub struct Losses {
    /// The weighted sum that is minimised.
    pub total: Tensor,
    /// VAE reconstruction ‖G̃−G‖², mean over coordinates.
    pub recon: Tensor,
    /// KL(q(z|x) ‖ N(0, I)), summed over latent dimensions, mean over the batch.
    pub kl: Tensor,
    /// Bridge geometry ‖G̃_B−G_B‖²: `G_geo(n, M(w))` against the true displacement.
    pub bridge_geometry: Tensor,
    /// Bridge latent ‖z̃_B−z_B‖²: `M(w)` against `E_geo`'s μ (detached).
    pub bridge_latent: Tensor,
    /// Bridge weights ‖w̃_B−w_B‖²: `M′` of both μ and `M(w)` against the true weights.
    pub bridge_weights: Tensor,
}

/// VAE loss ‖G̃−G‖² + β·KL and the bridge loss ‖G̃_B−G_B‖² + ‖z̃_B−z_B‖² + ‖w̃_B−w_B‖²
/// (z_B = μ of E_geo(G_B), detached; w̃_B from both z_B and z̃_B). `eps`: [B, Z] normal noise.
pub fn losses(model: &Gnpfa, batch: &Batch, eps: &Tensor) -> Result<Losses> {
    let cfg = &model.config;
    let s = cfg.geometry_scale as f64;
    let target = (&batch.displacement / s)?;
    let (mu, logvar) = model.encode(&batch.displacement)?;
    let z = (&mu + ((&logvar * 0.5)?.exp()? * eps)?)?;
    let rec = (model.decode(&batch.neutral, &z)? / s)?;
    let recon = mse(&rec, &target)?;
    let kl = kl_divergence(&mu, &logvar)?;
    let z_b = model.weights_to_latent(&batch.weights)?;
    let geo_b = (model.decode(&batch.neutral, &z_b)? / s)?;
    let bridge_geometry = mse(&geo_b, &target)?;
    let mu_d = mu.detach();
    let bridge_latent = mse(&z_b, &mu_d)?;
    let bridge_weights = (mse(&model.latent_to_weights(&mu_d)?, &batch.weights)?
        + mse(&model.latent_to_weights(&z_b)?, &batch.weights)?)?;
    let total = (((&recon + (&kl * cfg.kl_weight)?)?
        + (&bridge_geometry * cfg.bridge_geometry_weight)?)?
        + ((&bridge_latent * cfg.bridge_latent_weight)?
            + (&bridge_weights * cfg.bridge_weights_weight)?)?)?;
    Ok(Losses {
        total,
        recon,
        kl,
        bridge_geometry,
        bridge_latent,
        bridge_weights,
    })
}

/// Normal noise [rows, cols] from a seeded generator.
pub fn normal(rng: &mut impl Rng, rows: usize, cols: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), device)?)
}

/// The batch of step `step`: a pure function of (seed, step), so a resumed run sees the
/// same data it would have seen.
pub fn batch_at(
    data: &TrainData,
    neutrals: &[Vec<f32>],
    partners: &[usize],
    batch_size: usize,
    seed: u64,
    step: u64,
    device: &Device,
) -> Result<(Batch, ChaCha8Rng)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    let rows = sample_rows(data, neutrals, partners, batch_size, &mut rng)?;
    Ok((rows.to_batch(device)?, rng))
}

/// The geometry VAE and bridge as a [`Trainee`].
struct GeometryRun<'a> {
    model: Gnpfa,
    varmap: VarMap,
    data: &'a TrainData,
    opts: &'a TrainOptions,
    neutrals: Vec<Vec<f32>>,
    partners: Vec<usize>,
    last_val: Option<EvalReport>,
}

impl Trainee for GeometryRun<'_> {
    type Error = GnpfaError;

    fn loss(&mut self, step: u64) -> Result<StepLoss> {
        let (opts, device) = (self.opts, self.model.device());
        let (batch, mut rng) = batch_at(
            self.data,
            &self.neutrals,
            &self.partners,
            opts.batch_size,
            opts.seed,
            step,
            device,
        )?;
        let eps = normal(
            &mut rng,
            opts.batch_size,
            self.model.config.latent_dim,
            device,
        )?;
        let l = losses(&self.model, &batch, &eps)?;
        Ok(StepLoss {
            total: l.total,
            terms: vec![
                ("recon", l.recon),
                ("kl", l.kl),
                ("bridge_geometry", l.bridge_geometry),
                ("bridge_latent", l.bridge_latent),
                ("bridge_weights", l.bridge_weights),
            ],
        })
    }

    fn validate(&mut self, _step: u64) -> Result<Option<(f64, serde_json::Value)>> {
        if self.data.val.len() < 2 {
            return Ok(None);
        }
        let opts = self.opts;
        let report = evaluate(
            &self.model,
            &self.data.val,
            opts.val_frames,
            opts.seed ^ 0x5eed_0a11,
        )?;
        let score = report.recon_mean_mm + report.bridge_geometry_mean_mm;
        let record = serde_json::to_value(&report)
            .map_err(|e| GnpfaError::invalid("validation report", e.to_string()))?;
        self.last_val = Some(report);
        Ok(Some((score, record)))
    }

    fn save(&self, dir: &Path, step: u64, seconds: f64, score: Option<f64>) -> Result<()> {
        let provenance =
            self.opts
                .provenance(self.data, &self.data.description, step, seconds, score);
        save_checkpoint(dir, &self.model, &self.varmap, &provenance, None)
    }

    fn identity(&self) -> serde_json::Value {
        self.opts
            .identity(&self.model.config, &self.data.description)
    }

    fn message(&self, terms: &serde_json::Map<String, serde_json::Value>) -> String {
        // recon is in (geometry_scale)² per coordinate: √(3·mse) is an RMS vertex error.
        let recon = terms
            .get("recon")
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN);
        let rms_mm = (3.0 * recon).sqrt() * self.model.config.geometry_scale as f64 * 1e3;
        format!("recon {rms_mm:.3} mm rms")
    }
}

/// Trains GNPFA on `data` over `template`, writing checkpoints under `opts.out`.
pub fn train(
    config: &GnpfaConfig,
    template: FaceTemplate,
    data: &TrainData,
    opts: &TrainOptions,
    device: &Device,
) -> Result<(Gnpfa, VarMap, TrainReport)> {
    config.validate("GNPFA config")?;
    if data.train.is_empty() && data.frames.frames.is_empty() {
        return Err(GnpfaError::invalid(
            "training data",
            "no identities and no frames",
        ));
    }
    let (model, varmap) = Gnpfa::init(config, template, device, opts.seed)?;
    if let Some(dir) = &opts.init {
        init_from(&varmap, dir, device, |n| !n.starts_with("image."))?;
    }
    let vars = named_vars(&varmap)?;
    let mut trainee = GeometryRun {
        neutrals: data.train.iter().map(flat_neutral).collect(),
        partners: mirror_partners(&config.blendshape_names),
        model,
        varmap,
        data,
        opts,
        last_val: None,
    };
    let schedule = opts.schedule("val_score_mm");
    let r = run(&mut trainee, &vars, &schedule)?;
    let report = TrainReport {
        start_step: r.start_step,
        final_step: r.final_step,
        seconds: r.seconds,
        best_val_score_mm: r.best_val_score,
        last_loss: r.last_loss,
        last_recon: r
            .last_terms
            .get("recon")
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN),
        last_val: trainee.last_val,
    };
    Ok((trainee.model, trainee.varmap, report))
}

/// Copies the variables of `varmap` that pass `select` from the checkpoint at `dir`; each must be
/// there with the same shape, else the error names it.
pub fn init_from(
    varmap: &VarMap,
    dir: &Path,
    device: &Device,
    select: impl Fn(&str) -> bool,
) -> Result<()> {
    let (_, tensors, path) = crate::checkpoint::read_checkpoint(dir, device)?;
    crate::checkpoint::copy_into_vars(varmap, &tensors, &path, select)
}
