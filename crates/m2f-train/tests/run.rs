//! The training loop end to end on a tiny model: a run split into sittings reaches exactly
//! the weights of an uninterrupted run (AdamW moments and EMA included), a run made from other
//! inputs is not continued, and the log reads as one run.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use m2f_train::{
    init_linear_uniform, named_vars, run, LayerNorm, Mlp, Schedule, StepLoss, TrainError, Trainee,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Tiny {
    mlp: Mlp,
    norm: LayerNorm,
    varmap: VarMap,
    seed: u64,
}

impl Tiny {
    fn new(seed: u64) -> Self {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let mlp = Mlp::new(&[3, 16, 2], candle_nn::Activation::Silu, vb.pp("mlp")).unwrap();
        let norm = LayerNorm::new(3, 1e-5, vb.pp("norm")).unwrap();
        init_linear_uniform(&varmap, seed).unwrap();
        Self {
            mlp,
            norm,
            varmap,
            seed,
        }
    }
}

impl Trainee for Tiny {
    type Error = TrainError;

    fn loss(&mut self, step: u64) -> Result<StepLoss, TrainError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(step);
        let x: Vec<f32> = (0..8 * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f32> = x
            .chunks(3)
            .flat_map(|r| [r[0] * r[1] - r[2], (r[0] + r[2]).sin()])
            .collect();
        let x = Tensor::from_vec(x, (8, 3), &Device::Cpu)?;
        let y = Tensor::from_vec(y, (8, 2), &Device::Cpu)?;
        let pred = self.mlp.forward(&self.norm.forward(&x)?)?;
        let total = (pred - y)?.sqr()?.mean_all()?;
        Ok(StepLoss {
            terms: vec![("mse", total.clone())],
            total,
        })
    }

    fn validate(&mut self, step: u64) -> Result<Option<(f64, serde_json::Value)>, TrainError> {
        let l = self.loss(1_000_000 + step)?.total.to_scalar::<f32>()? as f64;
        Ok(Some((l, serde_json::json!({ "mse": l }))))
    }

    fn save(&self, dir: &Path, _: u64, _: f64, _: Option<f64>) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        self.varmap.save(dir.join("model.safetensors"))?;
        Ok(())
    }

    fn identity(&self) -> serde_json::Value {
        // An f32 among the inputs: it must read back equal from the resume state.
        serde_json::json!({ "model": "tiny", "seed": self.seed, "scale": 0.03f32 })
    }

    fn message(&self, _: &serde_json::Map<String, serde_json::Value>) -> String {
        String::new()
    }
}

fn schedule(out: &Path, stop_after: Option<u64>) -> Schedule {
    Schedule {
        steps: 40,
        lr: 0.02,
        min_lr: 1e-4,
        warmup_steps: 5,
        weight_decay: 0.01,
        grad_clip: 0.5,
        ema_decay: Some(0.9),
        log_every: 3,
        val_every: 10,
        samples_per_step: 8,
        out: out.to_path_buf(),
        resume: true,
        progress: false,
        score_key: "val_mse",
        stop_after,
    }
}

fn train(
    out: &Path,
    stop_after: Option<u64>,
    seed: u64,
) -> Result<m2f_train::RunReport, TrainError> {
    let mut t = Tiny::new(seed);
    let vars = named_vars(&t.varmap)?;
    run(&mut t, &vars, &schedule(out, stop_after))
}

fn logged_steps(dir: &Path) -> Vec<(u64, bool)> {
    std::fs::read_to_string(dir.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v.get("val").is_some())
        })
        // A sitting's end adds one loss line; validation lines and the regular ones match.
        .filter(|&(s, val)| val || s % 3 == 0 || s == 40)
        .collect()
}

fn first_loss(dir: &Path) -> f64 {
    let text = std::fs::read_to_string(dir.join("train_log.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    v["loss"].as_f64().unwrap()
}

#[test]
fn a_run_split_into_sittings_equals_an_uninterrupted_one() {
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let clock = std::time::Instant::now();
    let r = train(whole.path(), None, 3).unwrap();
    let wall = clock.elapsed().as_secs_f64();
    let names: Vec<String> = {
        let t = Tiny::new(3);
        named_vars(&t.varmap)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    let state = m2f_train::ResumeState::read(whole.path(), &names, &Device::Cpu)
        .unwrap()
        .unwrap()
        .state;
    // Training time is counted once, not re-added at every checkpoint.
    assert!(
        state.train_seconds <= wall,
        "{} s of {wall}",
        state.train_seconds
    );
    assert_eq!((r.start_step, r.final_step), (0, 40));
    // Three sittings, stopped between validations, as a machine with short sessions would.
    let a = train(split.path(), Some(7), 3).unwrap();
    assert_eq!((a.start_step, a.final_step), (0, 7));
    let b = train(split.path(), Some(23), 3).unwrap();
    assert_eq!((b.start_step, b.final_step), (7, 23));
    let c = train(split.path(), None, 3).unwrap();
    assert_eq!((c.start_step, c.final_step), (23, 40));
    assert_eq!(c.best_val_score, r.best_val_score);
    // Weights, AdamW moments and EMA weights, bit for bit (the resume state's metadata holds
    // the wall time, which differs).
    for file in [
        "last/model.safetensors",
        "best/model.safetensors",
        "resume.safetensors",
    ] {
        let load = |dir: &Path| {
            let mut t: Vec<(String, Vec<f32>)> =
                candle_core::safetensors::load(dir.join(file), &Device::Cpu)
                    .unwrap()
                    .into_iter()
                    .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
                    .collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        };
        let (x, y) = (load(whole.path()), load(split.path()));
        assert!(!x.is_empty());
        assert!(x == y, "{file} differs after the split run");
    }
    assert_eq!(logged_steps(whole.path()), logged_steps(split.path()));
    assert!(
        r.last_loss < 0.5 * first_loss(whole.path()),
        "{}",
        r.last_loss
    );
}

#[test]
fn a_run_made_from_other_inputs_is_not_continued() {
    let out = tempfile::tempdir().unwrap();
    train(out.path(), Some(5), 3).unwrap();
    let e = train(out.path(), None, 4).unwrap_err().to_string();
    assert!(e.contains("different seed (3 there, 4 now)"), "{e}");
    // An older run without the resume state is refused, not half-continued.
    let old = tempfile::tempdir().unwrap();
    std::fs::write(old.path().join("train_state.json"), "{}").unwrap();
    let e = train(old.path(), None, 3).unwrap_err().to_string();
    assert!(e.contains("resume.safetensors"), "{e}");
}
