//! The denoiser, its trainer and sampler on a tiny world whose truth is known.

mod common;

use std::path::Path;

use candle_core::{Device, Tensor};
use common::{tiny_config, TinyWorld};
use diffusion::{
    cross_attention_bias, init_denoiser, padding_bias, train, train_with_audio_encoder, Conditions,
    DiffusionError, DiffusionModel, DiffusionTrainOptions, JointAudioEncoder, SamplerOptions,
    Style, StyleInput, WindowSource, AUDIO_ENCODER_PREFIX,
};
use rand::SeedableRng;

fn options(out: &Path, steps: u64) -> DiffusionTrainOptions {
    DiffusionTrainOptions {
        steps,
        batch_size: 8,
        lr: 3e-3,
        min_lr: 1e-4,
        warmup_steps: 20,
        ema_decay: Some(0.99),
        val_every: 50,
        log_every: 10,
        seed: 1,
        out: out.to_path_buf(),
        progress: false,
        ..DiffusionTrainOptions::default()
    }
}

#[test]
fn every_variable_gets_a_gradient() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let (model, varmap) = init_denoiser(&cfg, &dev, 0).unwrap();
    let mut world = TinyWorld::new(&cfg, 4, 40, 0);
    let w = world.train_batch(0, 4, 20).unwrap();
    let t = w.to_tensors(&cfg, &dev).unwrap();
    let is_text = Tensor::new(&[1f32, 0.0, 1.0, 0.0], &dev).unwrap();
    let style = StyleInput::Mixed {
        text: t.text_style.as_ref().unwrap(),
        image: t.image_style.as_ref().unwrap(),
        is_text: &is_text,
    };
    let memory = model.memory(&t.audio, style).unwrap();
    let kv = model.memory_key_values(&memory).unwrap();
    let conds = [
        Conditions::NONE,
        Conditions::AUDIO,
        Conditions::AUDIO_STYLE,
        Conditions::AUDIO_STYLE,
    ];
    let cross = cross_attention_bias(20, &conds, cfg.audio_radius, &dev).unwrap();
    let mut mask = vec![1f32; 4 * 20];
    mask[79] = 0.0;
    let pad = padding_bias(&mask, 4, 20, &dev).unwrap();
    let x = Tensor::randn(0f32, 1.0, (4, 20, cfg.motion_dim()), &dev).unwrap();
    let y = model
        .forward(&x, &[3, 10, 40, 49], &kv, &cross, pad.as_ref())
        .unwrap();
    let target = Tensor::randn(0f32, 1.0, y.dims(), &dev).unwrap();
    let loss = (y - target).unwrap().sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    let vars = m2f_train::named_vars(&varmap).unwrap();
    assert!(vars.len() > 40, "{}", vars.len());
    let missing = m2f_train::variables_without_gradient(&grads, &vars).unwrap();
    assert!(missing.is_empty(), "no gradient: {missing:?}");
}

/// The sampling path (plain weights: fused kernels, frames cut into parts run in parallel,
/// the branches sharing each window's first self-attention) predicts what the training path
/// (variables: candle's composed ops, one part) predicts, padding included.
#[test]
fn sampling_path_equals_training_path() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let (tracked, varmap) = init_denoiser(&cfg, &dev, 3).unwrap();
    let plain =
        DiffusionModel::from_variables(diffusion::CheckpointConfig::untrained(&cfg), &varmap, &dev)
            .unwrap()
            .denoiser;
    // Frames not a multiple of the part count; two windows, three branches.
    let n = 75;
    let audio = Tensor::randn(0f32, 1.0, (2, n, cfg.audio_dim), &dev).unwrap();
    let text = Tensor::randn(0f32, 1.0, (2, cfg.text_style_dim), &dev).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, n, cfg.motion_dim()), &dev).unwrap();
    let conds = [
        Conditions::NONE,
        Conditions::NONE,
        Conditions::AUDIO,
        Conditions::AUDIO,
        Conditions::AUDIO_STYLE,
        Conditions::AUDIO_STYLE,
    ];
    let cross = cross_attention_bias(n, &conds, cfg.audio_radius, &dev).unwrap();
    let mut mask = vec![1f32; 2 * n];
    mask[2 * n - 5..].fill(0.0);
    let pad = padding_bias(&mask, 2, n, &dev).unwrap();
    let predict = |model: &diffusion::Denoiser| {
        let memory = model.memory(&audio, StyleInput::Text(&text)).unwrap();
        let kv = model.memory_key_values(&memory).unwrap();
        model
            .forward_branches(&x, 3, &[7, 30], &kv, &cross, pad.as_ref())
            .unwrap()
    };
    let want = predict(&tracked);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let got = pool.install(|| predict(&plain));
    assert_eq!(got.dims(), &[6, n, cfg.motion_dim()]);
    let err = common::max_abs_diff(&got, &want);
    assert!(err < 1e-4, "max abs error {err}");
}

/// Mean absolute difference of two equal-length slices.
fn mae(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn a_tiny_world_is_learned_and_sampling_follows_audio_and_style() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&cfg, 8, 48, 3);
    let opts = options(dir.path(), 400);
    let (_, _, report) = train(&cfg, &mut world, &opts, &dev).unwrap();
    assert_eq!(report.final_step, 400);
    let log = std::fs::read_to_string(dir.path().join("train_log.jsonl")).unwrap();
    let vals: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("val_loss").and_then(|x| x.as_f64()))
        .collect();
    let best = report.best_val_loss.unwrap();
    eprintln!("validation losses {vals:?}");
    assert!(best < 0.25 * vals[0], "validation {vals:?}");
    let model = DiffusionModel::load(&dir.path().join("best"), &dev).unwrap();
    let clip = &world.clips[0];
    let (f, c, n) = (cfg.audio_dim, cfg.motion_dim(), cfg.window);
    let audio = &clip.audio[..n * f];
    let truth = &clip.motion[..n * c];
    let own = Style::Text(world.labels[clip.label].clone());
    let other = Style::Text(world.labels[1 - clip.label].clone());
    let silent = vec![0f32; audio.len()];
    // Eq. 9 with s_A = 0, s_P = 1 is G(X_t, A, P) alone: the conditional model.
    let o = SamplerOptions {
        steps: 20,
        audio_guidance: 0.0,
        style_guidance: 1.0,
        ..SamplerOptions::default()
    };
    let sampled = model.sample(audio, &own, &o).unwrap();
    assert_eq!(sampled.frames(), n);
    let err_own = mae(&sampled.data, truth);
    let err_other = mae(&model.sample(audio, &other, &o).unwrap().data, truth);
    let err_silent = mae(&model.sample(&silent, &own, &o).unwrap().data, truth);
    let spread = truth.iter().map(|x| x.abs()).sum::<f32>() / truth.len() as f32;
    eprintln!(
        "error with own style {err_own}, other style {err_other}, no audio {err_silent} \
         (mean |truth| {spread})"
    );
    assert!(err_own < 0.3 * spread, "{err_own}");
    assert!(err_own < 0.6 * err_other, "{err_own} vs {err_other}");
    assert!(err_own < 0.6 * err_silent, "{err_own} vs {err_silent}");
    // G(X_t, A) (s_A = 1, s_P = 0) does not see the style, G(X_t) (both 0) nothing at all:
    // hidden memory gets exactly zero attention.
    let audio_only = SamplerOptions {
        audio_guidance: 1.0,
        style_guidance: 0.0,
        ..o
    };
    assert_eq!(
        model.sample(audio, &own, &audio_only).unwrap(),
        model.sample(audio, &other, &audio_only).unwrap()
    );
    let unconditional = SamplerOptions {
        audio_guidance: 0.0,
        style_guidance: 0.0,
        ..o
    };
    assert_eq!(
        model.sample(audio, &own, &unconditional).unwrap(),
        model.sample(&silent, &other, &unconditional).unwrap()
    );
    // The paper's scales run (their quality is measured on the real model, docs/diffusion.md).
    let paper = model
        .sample(audio, &own, &SamplerOptions::default())
        .unwrap();
    assert!(paper.data.iter().all(|v| v.is_finite()));
    // The same seed gives the same motion; another seed another one.
    assert_eq!(model.sample(audio, &own, &o).unwrap(), sampled);
    let o2 = SamplerOptions {
        seed: 9,
        eta: 0.5,
        ..o
    };
    assert_ne!(model.sample(audio, &own, &o2).unwrap(), sampled);
}

#[test]
fn a_run_split_into_sittings_equals_an_uninterrupted_one() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&cfg, 4, 40, 5);
    train(&cfg, &mut world, &options(whole.path(), 30), &dev).unwrap();
    let first = DiffusionTrainOptions {
        stop_after: Some(17),
        ..options(split.path(), 30)
    };
    let r = train(&cfg, &mut world, &first, &dev).unwrap().2;
    assert_eq!(r.final_step, 17);
    let r = train(&cfg, &mut world, &options(split.path(), 30), &dev)
        .unwrap()
        .2;
    assert_eq!((r.start_step, r.final_step), (17, 30));
    for file in ["last/model.safetensors", "resume.safetensors"] {
        let load = |dir: &Path| {
            let mut t: Vec<(String, Vec<f32>)> =
                candle_core::safetensors::load(dir.join(file), &dev)
                    .unwrap()
                    .into_iter()
                    .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
                    .collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        };
        assert!(load(whole.path()) == load(split.path()), "{file} differs");
    }
    // Another seed in the same directory is refused.
    let other = DiffusionTrainOptions {
        seed: 2,
        steps: 40,
        ..options(split.path(), 40)
    };
    let Err(e) = train(&cfg, &mut world, &other, &dev) else {
        panic!("a run with another seed was continued");
    };
    assert!(e.to_string().contains("different seed"), "{e}");
}

#[test]
fn bad_checkpoints_and_inputs_are_named() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&cfg, 2, 30, 0);
    train(&cfg, &mut world, &options(dir.path(), 2), &dev).unwrap();
    let last = dir.path().join("last");
    let model = DiffusionModel::load(&last, &dev).unwrap();
    let f = cfg.audio_dim;
    let o = SamplerOptions::default();
    let err = |r: Result<diffusion::Motion, DiffusionError>| r.unwrap_err().to_string();
    let e = err(model.sample(&vec![0.0; 10 * f + 1], &Style::None, &o));
    assert!(e.contains("audio_dim"), "{e}");
    let e = err(model.sample(
        &vec![0.0; 10 * f],
        &Style::None,
        &SamplerOptions {
            overlap: Some(cfg.window),
            ..o
        },
    ));
    assert!(e.contains("overlap"), "{e}");
    let e = err(model.sample(&vec![0.0; 10 * f], &Style::Text(vec![0.0; 3]), &o));
    assert!(e.contains("text style"), "{e}");
    let zero_steps = SamplerOptions { steps: 0, ..o };
    let e = err(model.sample(&vec![0.0; 10 * f], &Style::None, &zero_steps));
    assert!(e.contains("steps"), "{e}");
    let bad_scale = SamplerOptions {
        audio_guidance: f64::INFINITY,
        ..o
    };
    let e = err(model.sample(&vec![0.0; 10 * f], &Style::None, &bad_scale));
    assert!(e.contains("audio guidance"), "{e}");
    // Training windows longer than the model's, or with arrays of the wrong size.
    let mut w = world.train_batch(0, 2, 24).unwrap();
    w.frames = 30;
    let e = w.validate(&cfg).unwrap_err().to_string();
    assert!(e.contains("longer than the model's window"), "{e}");
    let mut w = world.train_batch(0, 2, 24).unwrap();
    w.audio.pop();
    let e = w.validate(&cfg).unwrap_err().to_string();
    assert!(e.contains("audio"), "{e}");
    // A config whose width does not match the weights.
    let text = std::fs::read_to_string(last.join("config.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["model"]["hidden_size"] = 64.into();
    std::fs::write(last.join("config.json"), json.to_string()).unwrap();
    let e = DiffusionModel::load(&last, &dev).unwrap_err().to_string();
    assert!(e.contains("has shape") && e.contains("expected"), "{e}");
    json["model"]["num_heads"] = 5.into();
    std::fs::write(last.join("config.json"), json.to_string()).unwrap();
    let e = DiffusionModel::load(&last, &dev).unwrap_err().to_string();
    assert!(e.contains("num_heads"), "{e}");
}

#[test]
fn absurd_sizes_in_a_checkpoint_config_are_refused_before_allocating() {
    // Found in review and by fuzzing (fuzz/fuzz_targets/denoiser_checkpoint.rs): sizes no machine holds were
    // allocated (or overflowed) while building the network, before the weights were checked.
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let (_, varmap) = init_denoiser(&cfg, &dev, 0).unwrap();
    diffusion::save_checkpoint(
        &ckpt,
        &diffusion::CheckpointConfig::untrained(&cfg),
        &varmap,
    )
    .unwrap();
    DiffusionModel::load(&ckpt, &dev).unwrap();
    let cfg_path = ckpt.join("config.json");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let cases: [(&str, serde_json::Value, &str); 7] = [
        ("latent_dim", u64::MAX.into(), "latent_dim"),
        ("hidden_size", (1u64 << 40).into(), "hidden_size"),
        ("window", (1u64 << 40).into(), "window"),
        (
            "diffusion_steps",
            4_000_000_000_000u64.into(),
            "diffusion_steps",
        ),
        ("num_layers", (1u64 << 40).into(), "num_layers"),
        // Within the limits, but not the weights' sizes: refused at the first tensor.
        ("hidden_size", (1u64 << 20).into(), "has shape"),
        ("num_layers", (1u64 << 20).into(), "layers.2."),
    ];
    for (field, value, expected) in cases {
        let mut config = good.clone();
        config["model"][field] = value;
        std::fs::write(&cfg_path, config.to_string()).unwrap();
        let e = DiffusionModel::load(&ckpt, &dev).unwrap_err().to_string();
        assert!(e.contains(expected), "{field}: {e}");
    }
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<DiffusionModel>();
    let _ = rand_chacha::ChaCha8Rng::seed_from_u64(0);
}

/// Windows of frames `[from, to)` of clip `k`'s audio and motion.
fn clip_span(world: &TinyWorld, k: usize, from: usize, to: usize) -> (Vec<f32>, Vec<f32>) {
    let cfg = &world.cfg;
    let (f, c) = (cfg.audio_dim, cfg.motion_dim());
    let clip = &world.clips[k];
    (
        clip.audio[from * f..to * f].to_vec(),
        clip.motion[from * c..to * c].to_vec(),
    )
}

#[test]
fn long_audio_is_blended_without_seams_and_keyframes_hold() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&cfg, 8, 96, 3);
    train(&cfg, &mut world, &options(dir.path(), 300), &dev).unwrap();
    let model = DiffusionModel::load(&dir.path().join("best"), &dev).unwrap();
    let (audio, truth) = clip_span(&world, 0, 0, 96);
    let style = Style::Text(world.labels[world.clips[0].label].clone());
    let o = SamplerOptions {
        steps: 20,
        audio_guidance: 0.0,
        style_guidance: 1.0,
        overlap: Some(8),
        windows_per_batch: 2,
        ..SamplerOptions::default()
    };
    // 96 frames in windows of 24: starts 0, 16, 32, 48, 64, 72.
    let long = model.sample(&audio, &style, &o).unwrap();
    assert_eq!(long.frames(), 96);
    let c = cfg.motion_dim();
    let err_long = mae(&long.data, &truth);
    let (first_audio, first_truth) = clip_span(&world, 0, 0, 24);
    let one = model.sample(&first_audio, &style, &o).unwrap();
    let err_one = mae(&one.data, &first_truth);
    eprintln!("error over 96 frames {err_long}, one window {err_one}");
    assert!(err_long < 1.5 * err_one + 0.05, "{err_long} vs {err_one}");
    // Batching the windows differently changes nothing.
    let all_at_once = SamplerOptions {
        windows_per_batch: 16,
        ..o
    };
    let again = model.sample(&audio, &style, &all_at_once).unwrap();
    assert!(mae(&again.data, &long.data) < 1e-5);
    // No seam: the frame-to-frame change at window borders is like the change elsewhere.
    let speed = |m: &[f32], i: usize| mae(&m[i * c..(i + 1) * c], &m[(i + 1) * c..(i + 2) * c]);
    let borders = [15usize, 23, 31, 39, 47, 55, 63, 71, 87];
    let at_borders = borders.iter().map(|&i| speed(&long.data, i)).sum::<f32>() / 9.0;
    let inside = (0..95).map(|i| speed(&long.data, i)).sum::<f32>() / 95.0;
    let truth_speed = (0..95).map(|i| speed(&truth, i)).sum::<f32>() / 95.0;
    eprintln!("speed at borders {at_borders}, everywhere {inside}, truth {truth_speed}");
    assert!(at_borders < 1.5 * inside, "{at_borders} vs {inside}");
    // A keyframe is held exactly. (How its neighbours follow it is measured on the real
    // model: in this world motion is a per-frame function of audio, so they need not.)
    let target: Vec<f32> = truth[40 * c..40 * c + cfg.latent_dim]
        .iter()
        .map(|v| v + 0.5)
        .collect();
    let key = diffusion::Keyframe {
        frame: 40,
        latent: Some(target.clone()),
        pose: None,
    };
    let edited = model.sample_edited(&audio, &style, &[key], &o).unwrap();
    assert!(mae(edited.latent(40), &target) < 1e-5);
    assert!(mae(edited.pose(40), long.pose(40)) < 0.2);
    assert!(edited.data.iter().all(|v| v.is_finite()));
    // Style that changes over time: label 0 for the first half, label 1 after (in this
    // world the label moves the first three channels by +0.8 or -0.8).
    let spans = [
        diffusion::StyleSpan {
            style: Style::Text(world.labels[0].clone()),
            frames: 0..48,
        },
        diffusion::StyleSpan {
            style: Style::Text(world.labels[1].clone()),
            frames: 48..96,
        },
    ];
    let switched = model.sample_styled(&audio, &spans, &[], &o).unwrap();
    let offset = |m: &diffusion::Motion, frames: std::ops::Range<usize>| {
        let n = frames.len() as f32;
        frames
            .map(|i| m.latent(i)[..3].iter().sum::<f32>() / 3.0)
            .sum::<f32>()
            / n
    };
    let (first, second) = (offset(&switched, 0..40), offset(&switched, 56..96));
    let (truth_first, truth_second) = (offset(&long, 0..40), offset(&long, 56..96));
    eprintln!("style offsets: first half {first} (single style {truth_first}), second {second} (single {truth_second})");
    assert!(first - second > 1.0, "{first} vs {second}");
    assert!(
        (first - truth_first).abs() < 0.2,
        "{first} vs {truth_first}"
    );
    // Streaming: features in pieces, every frame out once, continuing what was emitted.
    let f = cfg.audio_dim;
    let so = diffusion::StreamOptions {
        chunk: 6,
        context: 12,
        lookahead: 3,
        sampler: o,
    };
    let mut stream = diffusion::MotionStream::new(&model, style.clone(), so).unwrap();
    let mut streamed = Vec::new();
    for piece in audio.chunks(7 * f) {
        let m = stream.push(piece).unwrap();
        assert_eq!(m.frames() % 6, 0);
        streamed.extend(m.data);
    }
    streamed.extend(stream.finish().unwrap().data);
    assert_eq!(streamed.len(), truth.len());
    let err_stream = mae(&streamed, &truth);
    let joins: Vec<usize> = (1..16).map(|k| 6 * k - 1).collect();
    let at_joins = joins.iter().map(|&i| speed(&streamed, i)).sum::<f32>() / joins.len() as f32;
    let inside_stream = (0..95).map(|i| speed(&streamed, i)).sum::<f32>() / 95.0;
    eprintln!("streamed error {err_stream}; speed at joins {at_joins}, everywhere {inside_stream}");
    assert!(
        err_stream < 1.5 * err_one + 0.05,
        "{err_stream} vs {err_one}"
    );
    assert!(
        at_joins < 1.5 * inside_stream,
        "{at_joins} vs {inside_stream}"
    );
    let bad = diffusion::Keyframe {
        frame: 96,
        latent: None,
        pose: Some(vec![0.0; 6]),
    };
    let e = model
        .sample_edited(&audio, &style, &[bad], &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("keyframe at frame 96"), "{e}");
}

#[test]
fn presets_have_the_documented_sizes() {
    // docs/diffusion.md's table, for Whisper tiny.en features (width 384).
    for (cfg, want) in [
        (diffusion::DenoiserConfig::small(384), 1_636_486),
        (diffusion::DenoiserConfig::paper(384), 26_525_766),
    ] {
        let (_, varmap) = init_denoiser(&cfg, &Device::Cpu, 0).unwrap();
        let count: usize = m2f_train::named_vars(&varmap)
            .unwrap()
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum();
        assert_eq!(count, want, "{} layers", cfg.num_layers);
    }
}

/// A stand-in for the log-mel encoder: each window's "samples" are its frames' raw vectors
/// (the tiny world's features), projected per frame by a trained linear layer.
struct FrameProjection {
    proj: candle_nn::Linear,
    width: usize,
}

impl JointAudioEncoder for FrameProjection {
    fn feature_dim(&self) -> usize {
        self.width
    }

    fn forward(
        &self,
        samples: &[f32],
        batch: usize,
        frames: usize,
        _fps: f64,
    ) -> diffusion::Result<Tensor> {
        let x = Tensor::from_slice(samples, (batch, frames, self.width), &Device::Cpu)?;
        Ok(candle_nn::Module::forward(&self.proj, &x)?.tanh()?)
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "frame-projection", "width": self.width })
    }
}

/// The tiny world with each window's audio given as samples.
struct SampleWorld(TinyWorld);

impl SampleWorld {
    fn as_samples(&self, mut w: diffusion::TrainingWindows) -> diffusion::TrainingWindows {
        w.audio_samples = w.frames * self.0.cfg.audio_dim;
        w
    }
}

impl WindowSource for SampleWorld {
    fn train_batch(
        &mut self,
        step: u64,
        batch: usize,
        frames: usize,
    ) -> diffusion::Result<diffusion::TrainingWindows> {
        let w = self.0.train_batch(step, batch, frames)?;
        Ok(self.as_samples(w))
    }

    fn validation(&mut self, frames: usize) -> diffusion::Result<Vec<diffusion::TrainingWindows>> {
        let v = self.0.validation(frames)?;
        Ok(v.into_iter().map(|w| self.as_samples(w)).collect())
    }

    fn stats(&self) -> diffusion::MotionStats {
        self.0.stats()
    }

    fn audio_features(&self) -> String {
        "frame-projection".into()
    }

    fn audio_features_key(&self) -> String {
        "frame-projection (trained with the denoiser)".into()
    }

    fn describe(&self) -> serde_json::Value {
        self.0.describe()
    }
}

#[test]
fn an_audio_encoder_trains_with_the_denoiser() {
    let cfg = tiny_config();
    let dev = Device::Cpu;
    let width = cfg.audio_dim;
    let build = |vb: candle_nn::VarBuilder| -> diffusion::Result<Box<dyn JointAudioEncoder>> {
        Ok(Box::new(FrameProjection {
            proj: candle_nn::linear(width, width, vb.pp("proj"))?,
            width,
        }))
    };
    // Every variable, the encoder's included, gets a gradient through the denoiser's loss.
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &dev);
    let model = diffusion::Denoiser::new(&cfg, vb.clone()).unwrap();
    let encoder = build(vb.pp(AUDIO_ENCODER_PREFIX)).unwrap();
    let mut world = SampleWorld(TinyWorld::new(&cfg, 4, 40, 3));
    let w = world.train_batch(0, 2, 20).unwrap();
    let t = w.to_tensors(&cfg, &dev).unwrap();
    assert_eq!(t.audio.dims(), &[2, 20 * width]);
    let audio = encoder.forward(&w.audio, 2, 20, cfg.fps as f64).unwrap();
    let is_text = Tensor::new(&[1f32, 0.0], &dev).unwrap();
    let style = StyleInput::Mixed {
        text: t.text_style.as_ref().unwrap(),
        image: t.image_style.as_ref().unwrap(),
        is_text: &is_text,
    };
    let memory = model.memory(&audio, style).unwrap();
    let kv = model.memory_key_values(&memory).unwrap();
    let conds = [Conditions::AUDIO_STYLE; 2];
    let cross = cross_attention_bias(20, &conds, cfg.audio_radius, &dev).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 20, cfg.motion_dim()), &dev).unwrap();
    let y = model.forward(&x, &[3, 30], &kv, &cross, None).unwrap();
    let loss = (y - &t.motion).unwrap().sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    let vars = m2f_train::named_vars(&varmap).unwrap();
    assert!(vars.iter().any(|(n, _)| n == "audio_encoder.proj.weight"));
    let missing = m2f_train::variables_without_gradient(&grads, &vars).unwrap();
    assert!(missing.is_empty(), "no gradient: {missing:?}");

    // A run trains it and saves it beside the denoiser, with its config.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 30);
    let report = train_with_audio_encoder(&cfg, &build, &mut world, &opts, &dev)
        .unwrap()
        .2;
    assert_eq!(report.final_step, 30);
    let saved =
        candle_core::safetensors::load(dir.path().join("last/model.safetensors"), &dev).unwrap();
    let trained = saved["audio_encoder.proj.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let fresh = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&fresh, candle_core::DType::F32, &dev);
    diffusion::Denoiser::new(&cfg, vb.clone()).unwrap();
    build(vb.pp(AUDIO_ENCODER_PREFIX)).unwrap();
    m2f_train::init_linear_uniform(&fresh, opts.seed).unwrap();
    let init = fresh.data().lock().unwrap()["audio_encoder.proj.weight"]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(mae(&trained, &init) > 1e-4, "the encoder did not train");
    let model = DiffusionModel::load(&dir.path().join("last"), &dev).unwrap();
    assert_eq!(
        model.config.audio_encoder,
        Some(serde_json::json!({ "kind": "frame-projection", "width": width }))
    );
    // Features where the encoder wants samples, and samples without an encoder, are named.
    let mut plain = TinyWorld::new(&cfg, 4, 40, 3);
    let other = tempfile::tempdir().unwrap();
    let e = train_with_audio_encoder(&cfg, &build, &mut plain, &options(other.path(), 5), &dev)
        .err()
        .expect("features were taken for samples");
    assert!(e.to_string().contains("needs samples"), "{e}");
    let e = train(&cfg, &mut world, &options(other.path(), 5), &dev)
        .err()
        .expect("samples were taken for features");
    assert!(e.to_string().contains("no audio encoder"), "{e}");
}

#[test]
fn the_regression_baseline_learns_the_mean_motion_in_one_deterministic_pass() {
    let cfg = diffusion::DenoiserConfig {
        objective: diffusion::Objective::Regression,
        ..tiny_config()
    };
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&cfg, 8, 48, 3);
    let (_, _, report) = train(&cfg, &mut world, &options(dir.path(), 200), &dev).unwrap();
    let model = DiffusionModel::load(&dir.path().join("best"), &dev).unwrap();
    assert_eq!(
        model.config.model.objective,
        diffusion::Objective::Regression
    );
    let clip = &world.clips[0];
    let (f, c, n) = (cfg.audio_dim, cfg.motion_dim(), cfg.window);
    let audio = &clip.audio[..n * f];
    let truth = &clip.motion[..n * c];
    let own = Style::Text(world.labels[clip.label].clone());
    let o = SamplerOptions::default();
    let predicted = model.sample(audio, &own, &o).unwrap();
    let spread = truth.iter().map(|x| x.abs()).sum::<f32>() / truth.len() as f32;
    let err = mae(&predicted.data, truth);
    eprintln!(
        "regression error {err} (mean |truth| {spread}), best val {:?}",
        report.best_val_loss
    );
    assert!(err < 0.3 * spread, "{err}");
    // Deterministic: seeds, steps and guidance scales change nothing.
    let other = SamplerOptions {
        seed: 5,
        steps: 7,
        eta: 1.0,
        audio_guidance: 3.0,
        ..o
    };
    assert_eq!(model.sample(audio, &own, &other).unwrap(), predicted);
    // A keyframe is held, and only its neighbourhood changes: the network's input stays
    // X_t = 0 (it never saw noised keyframes).
    let key = diffusion::Keyframe {
        frame: 2,
        latent: Some(vec![0.5; cfg.latent_dim]),
        pose: None,
    };
    let edited = model.sample_edited(audio, &own, &[key], &o).unwrap();
    assert!(edited.latent(2).iter().all(|v| (v - 0.5).abs() < 1e-5));
    assert_eq!(edited.latent(20), predicted.latent(20));
    // It was trained with a style on every frame: no prompt is refused by name.
    let e = model
        .sample(audio, &Style::None, &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("style"), "{e}");
}

/// The tensors of a safetensors file, sorted by name.
fn weights_of(file: &Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<(String, Vec<f32>)> = candle_core::safetensors::load(file, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[test]
fn a_run_started_from_a_checkpoint_takes_its_weights_and_refuses_misfits() {
    let dev = Device::Cpu;
    let regression_cfg = diffusion::DenoiserConfig {
        objective: diffusion::Objective::Regression,
        ..tiny_config()
    };
    let regression = tempfile::tempdir().unwrap();
    let mut world = TinyWorld::new(&regression_cfg, 4, 40, 5);
    train(
        &regression_cfg,
        &mut world,
        &options(regression.path(), 20),
        &dev,
    )
    .unwrap();
    let start = regression.path().join("last");
    // A denoiser started from the regression run, with a learning rate too small to move
    // the weights in its one step: what it saves is what it started from.
    let cfg = tiny_config();
    let warm = tempfile::tempdir().unwrap();
    let still = |out: &Path| DiffusionTrainOptions {
        lr: 1e-12,
        min_lr: 1e-13,
        warmup_steps: 0,
        init_from: Some(start.clone()),
        ..options(out, 1)
    };
    train(&cfg, &mut world, &still(warm.path()), &dev).unwrap();
    let (a, b) = (
        weights_of(&start.join("model.safetensors")),
        weights_of(&warm.path().join("last/model.safetensors")),
    );
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let d = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-6, "{na} moved by {d}");
    }
    let model = DiffusionModel::load(&warm.path().join("last"), &dev).unwrap();
    assert_eq!(
        model.config.model.objective,
        diffusion::Objective::Diffusion
    );
    let sha = model.config.provenance.init_weights_sha256.clone().unwrap();
    assert_eq!(sha.len(), 64);
    // A seeded start saves other weights.
    let cold = tempfile::tempdir().unwrap();
    let seeded = DiffusionTrainOptions {
        init_from: None,
        ..still(cold.path())
    };
    train(&cfg, &mut world, &seeded, &dev).unwrap();
    assert!(weights_of(&cold.path().join("last/model.safetensors")) != b);
    // Continuing the warm run from other weights is refused by name.
    let other = DiffusionTrainOptions {
        init_from: Some(cold.path().join("last")),
        ..still(warm.path())
    };
    let e = train_error(&cfg, &mut world, &other);
    assert!(e.contains("init_from"), "{e}");
    // Another architecture, or no checkpoint at all, is named.
    let wide = diffusion::DenoiserConfig {
        hidden_size: 48,
        intermediate_size: 96,
        ..tiny_config()
    };
    let fresh = tempfile::tempdir().unwrap();
    let e = train_error(&wide, &mut world, &still(fresh.path()));
    assert!(e.contains("model.hidden_size") && e.contains("32"), "{e}");
    let missing = DiffusionTrainOptions {
        init_from: Some(fresh.path().join("nothing")),
        ..still(fresh.path())
    };
    let e = train_error(&cfg, &mut world, &missing);
    assert!(e.contains("nothing") && e.contains("config.json"), "{e}");
}

fn train_error(
    cfg: &diffusion::DenoiserConfig,
    world: &mut TinyWorld,
    opts: &DiffusionTrainOptions,
) -> String {
    match train(cfg, world, opts, &Device::Cpu) {
        Ok(_) => panic!("training from {:?} was accepted", opts.init_from),
        Err(e) => e.to_string(),
    }
}
