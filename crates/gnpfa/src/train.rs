//! Training: AdamW with linear warm-up and cosine decay, global-norm gradient clipping, a KL
//! weight, validation on held-out identities, best/last checkpoints, resume after a kill, a
//! progress line and a JSON-lines log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{loss::mse, AdamW, Optimizer, ParamsAdamW, VarMap};
use m2f_mesh::FaceTemplate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::config::GnpfaConfig;
use crate::data::{flat_neutral, frame_rows, mirror_partners, rig_rows, Batch, TrainData};
use crate::error::{GnpfaError, Result};
use crate::eval::{evaluate, EvalReport};
use crate::model::{read_checkpoint, save_checkpoint, Gnpfa, Provenance, CONFIG_FILE};
use crate::vae::kl_divergence;

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub steps: u64,
    pub batch_size: usize,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    /// Global gradient-norm limit (0: no clipping).
    pub grad_clip: f64,
    /// Validate (and write checkpoints) every this many steps.
    pub val_every: u64,
    pub val_frames: usize,
    /// Write a log line every this many steps.
    pub log_every: u64,
    pub seed: u64,
    /// Output directory: `last/`, `best/`, `train_log.jsonl`.
    pub out: PathBuf,
    /// Continue from `out/last` when it exists.
    pub resume: bool,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// The command line, for provenance.
    pub command: String,
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
            progress: true,
            command: String::new(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub start_step: u64,
    pub final_step: u64,
    pub seconds: f64,
    pub best_val_score_mm: Option<f64>,
    pub last_loss: f64,
    pub last_recon: f64,
    pub last_val: Option<EvalReport>,
}

/// Saved next to the last checkpoint so a killed run can continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: u64,
    pub best_val_score_mm: Option<f64>,
    pub train_seconds: f64,
}

const STATE_FILE: &str = "train_state.json";

/// Linear warm-up from `peak / warmup` to `peak` over `warmup` steps, then cosine decay to
/// `min` at step `total`; constant `min` after.
pub fn lr_at(step: u64, total: u64, warmup: u64, peak: f64, min: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup) as f64 / span).min(1.0);
    min + 0.5 * (peak - min) * (1.0 + (std::f64::consts::PI * p).cos())
}

/// Scales all gradients so their global L2 norm is at most `max_norm` (no-op when 0 or
/// already below). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let mut sq = 0.0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = (g * scale)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

/// The loss terms of one batch (scalars). Geometry terms are in (geometry_scale units)².
#[derive(Debug, Clone)]
pub struct Losses {
    pub total: Tensor,
    pub recon: Tensor,
    pub kl: Tensor,
    pub bridge_geometry: Tensor,
    pub bridge_latent: Tensor,
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
        &mut rng,
    )?;
    frame_rows(&data.frames, from_frames, &mut rng, &mut rows);
    Ok((rows.to_batch(device)?, rng))
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_scalar::<f32>()? as f64)
}

/// Copies the variables stored in checkpoint `dir` into `varmap` (names and shapes checked).
pub fn load_into(varmap: &VarMap, dir: &Path, config: &GnpfaConfig, device: &Device) -> Result<()> {
    let (ckpt, tensors, path) = read_checkpoint(dir, device)?;
    if &ckpt.model != config {
        return Err(GnpfaError::Config {
            path: dir.join(CONFIG_FILE),
            message: "the checkpoint to resume has a different model config than this run \
                      (use a new --out directory or the same settings)"
                .into(),
        });
    }
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| GnpfaError::invalid("variable map", "poisoned lock"))?;
    for (name, var) in vars.iter() {
        let expected = var.dims().to_vec();
        let t = tensors.get(name).ok_or_else(|| GnpfaError::MissingTensor {
            path: path.clone(),
            name: name.clone(),
            expected: expected.clone(),
        })?;
        if t.dims() != expected.as_slice() {
            return Err(GnpfaError::TensorShape {
                path: path.clone(),
                name: name.clone(),
                expected,
                actual: t.dims().to_vec(),
            });
        }
        var.set(t)?;
    }
    Ok(())
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
    if opts.batch_size == 0 || opts.steps == 0 {
        return Err(GnpfaError::invalid(
            "training options",
            "steps and batch size must be positive",
        ));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| GnpfaError::io(&opts.out, e))?;
    let (model, varmap) = Gnpfa::init(config, template, device, opts.seed)?;
    let last_dir = opts.out.join("last");
    let best_dir = opts.out.join("best");
    let mut state = TrainState {
        step: 0,
        best_val_score_mm: None,
        train_seconds: 0.0,
    };
    if opts.resume && last_dir.join(STATE_FILE).is_file() {
        let p = last_dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| GnpfaError::io(&p, e))?;
        state = serde_json::from_str(&text)
            .map_err(|e| GnpfaError::invalid(p.display().to_string(), e.to_string()))?;
        load_into(&varmap, &last_dir, config, device)?;
    }
    let start_step = state.step;
    let vars = varmap.all_vars();
    // AdamW's moment estimates are not exposed by candle-nn 0.11, so a resumed run starts
    // them afresh (the step count and schedule position are restored).
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: opts.lr,
            weight_decay: opts.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let neutrals: Vec<Vec<f32>> = data.train.iter().map(flat_neutral).collect();
    let partners = mirror_partners(&config.blendshape_names);
    let log_path = opts.out.join("train_log.jsonl");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| GnpfaError::io(&log_path, e))?;
    let mut write_log = |v: serde_json::Value| -> Result<()> {
        writeln!(log, "{v}").map_err(|e| GnpfaError::io(&log_path, e))
    };
    let bar = if opts.progress {
        indicatif::ProgressBar::new(opts.steps)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start_step);
    let provenance = |step: u64, seconds: f64, score: Option<f64>| Provenance {
        created_by: format!("gnpfa {}", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        seed: opts.seed,
        step,
        total_steps: opts.steps,
        batch_size: opts.batch_size,
        train_identities: data.train.len(),
        val_identities: data.val.len(),
        data: Some(data.description.clone()),
        data_frames: data.frames.frames.len(),
        train_seconds: seconds,
        val_score_mm: score,
    };
    let started = Instant::now();
    let mut window_start = Instant::now();
    let mut window_samples = 0usize;
    let (mut last_loss, mut last_recon) = (f64::NAN, f64::NAN);
    let mut last_val = None;
    let mut step = start_step;
    while step < opts.steps {
        let lr = lr_at(step, opts.steps, opts.warmup_steps, opts.lr, opts.min_lr);
        opt.set_learning_rate(lr);
        let (batch, mut rng) = batch_at(
            data,
            &neutrals,
            &partners,
            opts.batch_size,
            opts.seed,
            step,
            device,
        )?;
        let eps = normal(&mut rng, opts.batch_size, config.latent_dim, device)?;
        let l = losses(&model, &batch, &eps)?;
        let mut grads = l.total.backward()?;
        let grad_norm = clip_grad_norm(&mut grads, &vars, opts.grad_clip)?;
        opt.step(&grads)?;
        step += 1;
        window_samples += opts.batch_size;
        if step % opts.log_every.max(1) == 0 || step == opts.steps {
            last_loss = scalar(&l.total)?;
            last_recon = scalar(&l.recon)?;
            if !last_loss.is_finite() {
                return Err(GnpfaError::invalid(
                    "training",
                    format!("loss became {last_loss} at step {step}; lower --lr"),
                ));
            }
            let rate = window_samples as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            window_start = Instant::now();
            window_samples = 0;
            // recon is in (geometry_scale)² per coordinate: √(3·mse) is an RMS vertex error.
            let rms_mm = (3.0 * last_recon).sqrt() * config.geometry_scale as f64 * 1e3;
            bar.set_message(format!(
                "loss {last_loss:.5} recon {rms_mm:.3} mm rms, {rate:.0} frames/s, lr {lr:.2e}"
            ));
            write_log(serde_json::json!({
                "step": step, "lr": lr, "loss": last_loss, "recon": last_recon,
                "kl": scalar(&l.kl)?, "bridge_geometry": scalar(&l.bridge_geometry)?,
                "bridge_latent": scalar(&l.bridge_latent)?,
                "bridge_weights": scalar(&l.bridge_weights)?, "grad_norm": grad_norm,
                "frames_per_s": rate,
                "seconds": state.train_seconds + started.elapsed().as_secs_f64(),
            }))?;
        }
        bar.set_position(step);
        if step % opts.val_every.max(1) == 0 || step == opts.steps {
            let seconds = state.train_seconds + started.elapsed().as_secs_f64();
            let mut score = None;
            if data.val.len() >= 2 {
                let report = evaluate(&model, &data.val, opts.val_frames, opts.seed ^ 0x5eed_0a11)?;
                let s = report.recon_mean_mm + report.bridge_geometry_mean_mm;
                write_log(serde_json::json!({ "step": step, "val": &report, "val_score_mm": s }))?;
                score = Some(s);
                last_val = Some(report);
            }
            let improved = match (score, state.best_val_score_mm) {
                (Some(s), Some(b)) => s < b,
                (Some(_), None) => true,
                (None, _) => true,
            };
            if improved {
                state.best_val_score_mm = score.or(state.best_val_score_mm);
                save_checkpoint(
                    &best_dir,
                    &model,
                    &varmap,
                    &provenance(step, seconds, score),
                )?;
            }
            save_checkpoint(
                &last_dir,
                &model,
                &varmap,
                &provenance(step, seconds, score),
            )?;
            let st = TrainState {
                step,
                best_val_score_mm: state.best_val_score_mm,
                train_seconds: seconds,
            };
            let p = last_dir.join(STATE_FILE);
            let json = serde_json::to_string_pretty(&st)
                .map_err(|e| GnpfaError::invalid("train state", e.to_string()))?;
            std::fs::write(&p, json).map_err(|e| GnpfaError::io(&p, e))?;
        }
    }
    bar.finish_and_clear();
    let report = TrainReport {
        start_step,
        final_step: step,
        seconds: started.elapsed().as_secs_f64(),
        best_val_score_mm: state.best_val_score_mm,
        last_loss,
        last_recon,
        last_val,
    };
    Ok((model, varmap, report))
}
