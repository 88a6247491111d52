//! The training loop every trainer shares: AdamW with warm-up and cosine decay, gradient
//! clipping, EMA weights, the JSON-lines log and progress line, validation with
//! best-checkpoint keeping, and an exact resume after a kill.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Tensor, Var};

use crate::adamw::{AdamW, AdamWParams};
use crate::ema::{set_vars, snapshot, Ema};
use crate::error::TrainError;
use crate::gradients::clip_grad_norm;
use crate::log::{progress_bar, TrainLog};
use crate::lr_schedule::lr_at;
use crate::resume::{check_identity, ResumeState, TrainState, RESUME_FILE};

/// The optimisation schedule and bookkeeping of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Total optimiser steps of the run (over all sittings).
    pub steps: u64,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm limit (0: no clipping).
    pub grad_clip: f64,
    /// Keep an exponential moving average of the weights with this decay; validation and
    /// the saved checkpoints then use the average (the raw weights live on in the resume
    /// state).
    pub ema_decay: Option<f64>,
    /// Write a log line every this many steps.
    pub log_every: u64,
    /// Validate and checkpoint every this many steps (and at the end).
    pub val_every: u64,
    /// Samples in one step's batch, for the throughput figure.
    pub samples_per_step: usize,
    /// Output directory: `last/`, `best/`, `train_log.jsonl`, `resume.safetensors`.
    pub out: PathBuf,
    /// Continue the run in `out` when there is one (else start it afresh).
    pub resume: bool,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// Name of the validation score in the log.
    pub score_key: &'static str,
    /// End this sitting after this step (saving `last/` and the resume state, without a
    /// validation, so the weights of the whole run do not depend on where it was split; the
    /// log gets one loss line at the split): for machines that cannot hold a whole run in one
    /// go. A step at or before the one a resumed run starts from ends nothing.
    pub stop_after: Option<u64>,
}

impl Schedule {
    /// Checks the settings; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |what: &str, message: String| Err(TrainError::invalid(what, message));
        if self.steps == 0 || self.samples_per_step == 0 {
            return bad(
                "training options",
                "steps and batch size must be positive".into(),
            );
        }
        if self.log_every == 0 || self.val_every == 0 {
            return bad(
                "training options",
                "log and validation intervals must be positive".into(),
            );
        }
        for (name, v) in [
            ("lr", self.lr),
            ("min_lr", self.min_lr),
            ("weight_decay", self.weight_decay),
            ("grad_clip", self.grad_clip),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, format!("{v} (expected a finite number ≥ 0)"));
            }
        }
        if self.lr == 0.0 {
            return bad("lr", "0 (expected a positive learning rate)".into());
        }
        if let Some(d) = self.ema_decay {
            if !(0.0..1.0).contains(&d) {
                return bad("ema_decay", format!("{d} is outside [0, 1)"));
            }
        }
        Ok(())
    }

    /// The run's identity: the trainee's (an object of named inputs) with the optimiser
    /// settings a resumed run must share added. `steps` is left out, so a run can be
    /// lengthened (its cosine decay then stretches from the resume point on).
    fn identity(&self, trainee: serde_json::Value) -> serde_json::Value {
        let optimiser = serde_json::json!({
            "lr": self.lr,
            "min_lr": self.min_lr,
            "warmup_steps": self.warmup_steps,
            "weight_decay": self.weight_decay,
            "grad_clip": self.grad_clip,
            "ema_decay": self.ema_decay,
        });
        match trainee {
            serde_json::Value::Object(mut map) => {
                if let serde_json::Value::Object(o) = optimiser {
                    map.extend(o);
                }
                serde_json::Value::Object(map)
            }
            other => serde_json::json!({ "trainee": other, "optimiser": optimiser }),
        }
    }
}

/// One step's loss: the total to minimise and named terms to log.
#[derive(Debug)]
pub struct StepLoss {
    /// The scalar to minimise.
    pub total: Tensor,
    /// Named scalar terms for the log.
    pub terms: Vec<(&'static str, Tensor)>,
}

/// What a trainer provides to [`run`]: batches and their loss, validation and checkpoints.
pub trait Trainee {
    /// The trainer's error; the loop's own errors convert into it.
    type Error: From<TrainError> + From<candle_core::Error>;

    /// The loss of the batch of `step`. It must be a pure function of the run's seed, `step`
    /// and the variables (draw every random choice from a generator seeded with both), so a
    /// resumed run takes the steps it would have taken.
    fn loss(&mut self, step: u64) -> Result<StepLoss, Self::Error>;

    /// Validation at `step`: (score, lower is better; a record for the log), or `None` when
    /// there is nothing to validate on. With EMA on, the variables hold the averaged weights.
    fn validate(&mut self, step: u64) -> Result<Option<(f64, serde_json::Value)>, Self::Error>;

    /// Writes a checkpoint of the current variables to `dir` (atomically: a kill leaves the
    /// previous one or the new one).
    fn save(
        &self,
        dir: &Path,
        step: u64,
        seconds: f64,
        score: Option<f64>,
    ) -> Result<(), Self::Error>;

    /// What the run is made from (model config, data, seed, ...): a run in the output
    /// directory is only continued when its identity equals this, key by key.
    fn identity(&self) -> serde_json::Value;

    /// The progress line's summary of logged terms.
    fn message(&self, terms: &serde_json::Map<String, serde_json::Value>) -> String;
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The step this sitting started at (0 for a new run).
    pub start_step: u64,
    /// The step it ended at.
    pub final_step: u64,
    /// Wall time of this sitting.
    pub seconds: f64,
    /// Best validation score of the run.
    pub best_val_score: Option<f64>,
    /// The total loss of the last logged step.
    pub last_loss: f64,
    /// The terms of the last logged step.
    pub last_terms: serde_json::Map<String, serde_json::Value>,
}

/// Trains `vars` of `trainee` under `schedule`: AdamW, linear warm-up then cosine decay,
/// global-norm gradient clipping, optional EMA weights, a JSON-lines log and progress line,
/// validation with best-checkpoint keeping, `last/`, and `resume.safetensors` so that a run
/// killed at any moment and resumed reaches the same weights as an uninterrupted one.
///
/// `vars` are (name, variable) pairs in a fixed order (as [`crate::named_vars`] gives them).
pub fn run<T: Trainee>(
    trainee: &mut T,
    vars: &[(String, Var)],
    schedule: &Schedule,
) -> Result<RunReport, T::Error> {
    let s = schedule;
    s.validate()?;
    std::fs::create_dir_all(&s.out).map_err(|e| TrainError::io(&s.out, e))?;
    let names: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
    let params: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let device = match params.first() {
        Some(v) => v.device().clone(),
        None => return Err(TrainError::invalid("training", "no variables to train").into()),
    };
    let (last_dir, best_dir) = (s.out.join("last"), s.out.join("best"));
    let identity = s.identity(trainee.identity());
    let mut opt = AdamW::new(
        &params,
        AdamWParams {
            lr: s.lr,
            weight_decay: s.weight_decay,
            ..AdamWParams::default()
        },
    )?;
    let mut ema = match s.ema_decay {
        Some(d) => Some(Ema::new(&params, d)?),
        None => None,
    };
    let mut state = TrainState {
        step: 0,
        best_val_score: None,
        train_seconds: 0.0,
    };
    let saved = if s.resume {
        ResumeState::read(&s.out, &names, &device)?
    } else {
        // A fresh start: the state of an earlier run must not be continued later.
        let stale = s.out.join(RESUME_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| TrainError::io(&stale, e))?;
        }
        None
    };
    match saved {
        Some(saved) => {
            check_identity(s.out.join(RESUME_FILE), &saved.identity, &identity)?;
            set_vars(&params, &saved.weights)?;
            opt.restore(saved.moments, saved.optimizer_steps, &names)?;
            match (&mut ema, saved.ema) {
                (Some(e), Some(w)) => e.restore(w, &names)?,
                (None, None) => {}
                (mine, _) => {
                    return Err(TrainError::invalid(
                        s.out.join(RESUME_FILE).display().to_string(),
                        format!(
                            "the run there was trained {} EMA weights, this one {}",
                            if mine.is_some() { "without" } else { "with" },
                            if mine.is_some() { "with" } else { "without" },
                        ),
                    )
                    .into())
                }
            }
            state = saved.state;
        }
        None if s.resume && s.out.join("train_state.json").is_file() => {
            return Err(TrainError::invalid(
                s.out.display().to_string(),
                "it holds a run written before the optimiser state was saved (train_state.json \
                 without resume.safetensors), which cannot be continued exactly; use a new --out \
                 directory, or --init from its last/ checkpoint",
            )
            .into());
        }
        None => {}
    }
    let start_step = state.step;
    // Training time of earlier sittings; this sitting's is added to it, never to itself.
    let earlier_seconds = state.train_seconds;
    let mut log = TrainLog::open_at_step(s.out.join("train_log.jsonl"), start_step)?;
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
        let grad_norm = clip_grad_norm(&mut grads, &params, s.grad_clip)?;
        if !grad_norm.is_finite() {
            return Err(TrainError::Diverged {
                step: step + 1,
                what: "gradient norm",
                value: grad_norm,
            }
            .into());
        }
        opt.step(&grads)?;
        step += 1;
        if let Some(e) = &mut ema {
            e.update(&params, step)?;
        }
        window_samples += s.samples_per_step;
        let stopping = s.stop_after == Some(step) && step < s.steps;
        if step % s.log_every.max(1) == 0 || step == s.steps || stopping {
            last_loss = loss
                .total
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
            if !last_loss.is_finite() {
                return Err(TrainError::Diverged {
                    step,
                    what: "loss",
                    value: last_loss,
                }
                .into());
            }
            let rate = window_samples as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            window_start = Instant::now();
            window_samples = 0;
            last_terms = serde_json::Map::new();
            for (name, t) in &loss.terms {
                let v = t.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
                last_terms.insert((*name).into(), v.into());
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
                    (earlier_seconds + started.elapsed().as_secs_f64()).into(),
                ),
            ] {
                line.insert(k.into(), v);
            }
            log.write(serde_json::Value::Object(line))?;
        }
        bar.set_position(step);
        let validating = step % s.val_every.max(1) == 0 || step == s.steps;
        if validating || stopping {
            let seconds = earlier_seconds + started.elapsed().as_secs_f64();
            // Validation and checkpoints see the averaged weights; the raw ones go on training.
            let raw = match &ema {
                Some(e) => {
                    let raw = snapshot(&params)?;
                    set_vars(&params, e.weights())?;
                    Some(raw)
                }
                None => None,
            };
            let mut score = None;
            if validating {
                if let Some((value, record)) = trainee.validate(step)? {
                    log.write(serde_json::json!({
                        "step": step, "val": record, s.score_key: value,
                    }))?;
                    score = Some(value);
                }
                let improved = match (score, state.best_val_score) {
                    (Some(new), _) if !new.is_finite() => false,
                    (Some(new), Some(best)) => new < best,
                    _ => true,
                };
                if improved {
                    state.best_val_score = score.or(state.best_val_score);
                    trainee.save(&best_dir, step, seconds, score)?;
                }
            }
            trainee.save(&last_dir, step, seconds, score)?;
            if let Some(raw) = raw {
                set_vars(&params, &raw)?;
            }
            state.step = step;
            state.train_seconds = seconds;
            ResumeState {
                state: state.clone(),
                identity: identity.clone(),
                weights: snapshot(&params)?,
                moments: opt.moments(),
                optimizer_steps: opt.steps(),
                ema: ema.as_ref().map(|e| e.weights().to_vec()),
            }
            .write(&s.out, &names)?;
            if stopping {
                break;
            }
        }
    }
    bar.finish_and_clear();
    // The variables end as what was saved: the averaged weights when EMA is on.
    if let Some(e) = &ema {
        set_vars(&params, e.weights())?;
    }
    Ok(RunReport {
        start_step,
        final_step: step,
        seconds: started.elapsed().as_secs_f64(),
        best_val_score: state.best_val_score,
        last_loss,
        last_terms,
    })
}
