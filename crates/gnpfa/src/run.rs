//! The training loop every trainer of this crate shares: AdamW with warm-up and cosine decay,
//! gradient clipping, the JSON-lines log, the progress line, validation with best-checkpoint
//! keeping, and the resume state saved beside the last checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::error::{GnpfaError, Result};

/// Saved next to the last checkpoint so a killed run can continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: u64,
    /// Best validation score so far (lower is better; its unit depends on the trainer).
    #[serde(alias = "best_val_score_mm")]
    pub best_val_score: Option<f64>,
    pub train_seconds: f64,
}

pub const STATE_FILE: &str = "train_state.json";

impl TrainState {
    /// The state of the run in `out`: `out/train_state.json`, or (runs written before it moved
    /// there) `out/last/train_state.json`; `None` for a new run.
    pub fn read(out: &Path) -> Result<Option<Self>> {
        for p in [out.join(STATE_FILE), out.join("last").join(STATE_FILE)] {
            if !p.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&p).map_err(|e| GnpfaError::io(&p, e))?;
            let state = serde_json::from_str(&text)
                .map_err(|e| GnpfaError::invalid(p.display().to_string(), e.to_string()))?;
            return Ok(Some(state));
        }
        Ok(None)
    }

    /// Writes `out/train_state.json` atomically. It sits beside `last/`, not in it, and is
    /// written after `last/` is complete: a kill at any moment leaves a state whose step is at
    /// most that of `last/`, so a resumed run at worst repeats a few steps.
    pub fn write(&self, out: &Path) -> Result<()> {
        let p = out.join(STATE_FILE);
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| GnpfaError::invalid("train state", e.to_string()))?;
        m2f_mesh::write_atomic(&p, |w| w.write_all(json.as_bytes()))
            .map_err(|e| GnpfaError::invalid(p.display().to_string(), e.to_string()))
    }
}

/// An append-only JSON-lines training log.
pub struct TrainLog {
    path: PathBuf,
    file: std::fs::File,
}

impl TrainLog {
    pub fn open(path: PathBuf) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| GnpfaError::io(&path, e))?;
        Ok(Self { path, file })
    }

    pub fn write(&mut self, v: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{v}").map_err(|e| GnpfaError::io(&self.path, e))
    }
}

/// A progress line on stderr (hidden when `show` is false) at `start` of `total` steps.
pub fn progress_bar(show: bool, total: u64, start: u64) -> indicatif::ProgressBar {
    let bar = if show {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start);
    bar
}

/// The optimisation schedule and bookkeeping of a run, shared by every trainer.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub steps: u64,
    /// Peak learning rate (after warm-up) and the end of the cosine decay.
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    /// Global gradient-norm limit (0: no clipping).
    pub grad_clip: f64,
    /// Write a log line every this many steps; validate and checkpoint every `val_every`.
    pub log_every: u64,
    pub val_every: u64,
    /// Samples in one step's batch, for the throughput figure.
    pub samples_per_step: usize,
    /// Output directory: `last/`, `best/`, `train_log.jsonl`.
    pub out: PathBuf,
    /// Continue from `out/last` when it exists.
    pub resume: bool,
    pub progress: bool,
    /// Name of the validation score in the log.
    pub score_key: &'static str,
}

/// One step's loss: the total to minimise and named terms to log.
pub struct StepLoss {
    pub total: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
}

/// What a trainer provides to [`run`]: batches and their loss, validation and checkpoints.
pub trait Trainee {
    /// The loss of the batch of `step` (a pure function of the run's seed and `step`, so a
    /// resumed run sees the data it would have seen).
    fn loss(&mut self, step: u64) -> Result<StepLoss>;
    /// Validation at `step`: (score, lower is better; a record for the log), or `None` when
    /// there is nothing to validate on.
    fn validate(&mut self, step: u64) -> Result<Option<(f64, serde_json::Value)>>;
    /// Writes a checkpoint of the current variables to `dir`.
    fn save(&self, dir: &Path, step: u64, seconds: f64, score: Option<f64>) -> Result<()>;
    /// Loads the variables of checkpoint `dir` to resume from it.
    fn resume(&mut self, dir: &Path) -> Result<()>;
    /// The progress line's summary of logged terms.
    fn message(&self, terms: &serde_json::Map<String, serde_json::Value>) -> String;
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub start_step: u64,
    pub final_step: u64,
    /// Wall time of this invocation.
    pub seconds: f64,
    pub best_val_score: Option<f64>,
    pub last_loss: f64,
    /// The terms of the last logged step.
    pub last_terms: serde_json::Map<String, serde_json::Value>,
}

/// Trains `vars` of `trainee` with AdamW under `schedule`: linear warm-up then cosine decay,
/// global-norm gradient clipping, a JSON-lines log and progress line, validation with
/// best-checkpoint keeping, and `last/` + its [`TrainState`] for resuming after a kill.
pub fn run(trainee: &mut impl Trainee, vars: Vec<Var>, schedule: &Schedule) -> Result<RunReport> {
    let s = schedule;
    if s.steps == 0 || s.samples_per_step == 0 {
        return Err(GnpfaError::invalid(
            "training options",
            "steps and batch size must be positive",
        ));
    }
    std::fs::create_dir_all(&s.out).map_err(|e| GnpfaError::io(&s.out, e))?;
    let last_dir = s.out.join("last");
    let best_dir = s.out.join("best");
    let mut state = TrainState {
        step: 0,
        best_val_score: None,
        train_seconds: 0.0,
    };
    if s.resume {
        if let Some(saved) = TrainState::read(&s.out)? {
            state = saved;
            trainee.resume(&last_dir)?;
        }
    }
    let start_step = state.step;
    // AdamW's moment estimates are not exposed by candle-nn 0.11, so a resumed run starts
    // them afresh (the step count and schedule position are restored).
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: s.lr,
            weight_decay: s.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut log = TrainLog::open(s.out.join("train_log.jsonl"))?;
    let bar = progress_bar(s.progress, s.steps, start_step);
    let started = Instant::now();
    let mut window_start = Instant::now();
    let mut window_samples = 0usize;
    let mut last_loss = f64::NAN;
    let mut last_terms = serde_json::Map::new();
    let mut step = start_step;
    while step < s.steps {
        let lr = lr_at(step, s.steps, s.warmup_steps, s.lr, s.min_lr);
        opt.set_learning_rate(lr);
        let loss = trainee.loss(step)?;
        let mut grads = loss.total.backward()?;
        let grad_norm = clip_grad_norm(&mut grads, &vars, s.grad_clip)?;
        if !grad_norm.is_finite() {
            return Err(GnpfaError::invalid(
                "training",
                format!(
                    "the gradient norm became {grad_norm} at step {}; lower --lr",
                    step + 1
                ),
            ));
        }
        opt.step(&grads)?;
        step += 1;
        window_samples += s.samples_per_step;
        if step % s.log_every.max(1) == 0 || step == s.steps {
            last_loss = scalar(&loss.total)?;
            if !last_loss.is_finite() {
                return Err(GnpfaError::invalid(
                    "training",
                    format!("loss became {last_loss} at step {step}; lower --lr"),
                ));
            }
            let rate = window_samples as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            window_start = Instant::now();
            window_samples = 0;
            last_terms = serde_json::Map::new();
            for (name, t) in &loss.terms {
                last_terms.insert((*name).into(), scalar(t)?.into());
            }
            bar.set_message(format!(
                "{}, {rate:.0} samples/s, lr {lr:.2e}",
                trainee.message(&last_terms)
            ));
            let mut line = last_terms.clone();
            for (k, v) in [
                ("step", serde_json::json!(step)),
                ("lr", lr.into()),
                ("loss", last_loss.into()),
                ("grad_norm", grad_norm.into()),
                ("samples_per_s", rate.into()),
                (
                    "seconds",
                    (state.train_seconds + started.elapsed().as_secs_f64()).into(),
                ),
            ] {
                line.insert(k.into(), v);
            }
            log.write(serde_json::Value::Object(line))?;
        }
        bar.set_position(step);
        if step % s.val_every.max(1) == 0 || step == s.steps {
            let seconds = state.train_seconds + started.elapsed().as_secs_f64();
            let score = match trainee.validate(step)? {
                Some((score, record)) => {
                    log.write(serde_json::json!({
                        "step": step, "val": record, s.score_key: score,
                    }))?;
                    Some(score)
                }
                None => None,
            };
            let improved = match (score, state.best_val_score) {
                (Some(new), _) if !new.is_finite() => false,
                (Some(new), Some(best)) => new < best,
                _ => true,
            };
            if improved {
                state.best_val_score = score.or(state.best_val_score);
                trainee.save(&best_dir, step, seconds, score)?;
            }
            trainee.save(&last_dir, step, seconds, score)?;
            TrainState {
                step,
                best_val_score: state.best_val_score,
                train_seconds: seconds,
            }
            .write(&s.out)?;
        }
    }
    bar.finish_and_clear();
    Ok(RunReport {
        start_step,
        final_step: step,
        seconds: started.elapsed().as_secs_f64(),
        best_val_score: state.best_val_score,
        last_loss,
        last_terms,
    })
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_scalar::<f32>()? as f64)
}

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

/// Names of the variables that got no gradient, or an all-zero or non-finite one: parameters
/// behind an op without a backward pass (candle-nn 0.11.1: the fused layer norm and softmax)
/// silently stop learning, and every trainer's tests check this is empty.
pub fn variables_without_gradient(
    grads: &GradStore,
    vars: &[(String, Var)],
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for (name, var) in vars {
        let ok = match grads.get(var.as_tensor()) {
            Some(g) => {
                let s = g.abs()?.sum_all()?.to_scalar::<f32>()?;
                s > 0.0 && s.is_finite()
            }
            None => false,
        };
        if !ok {
            missing.push(name.clone());
        }
    }
    Ok(missing)
}
