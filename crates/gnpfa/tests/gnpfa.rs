//! The geometry VAE and bridge: gradients, overfitting, checkpoints and their damage, the
//! metrics, resumed training, seeding, and the shipped checkpoint's accuracy.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use gnpfa::losses;
use gnpfa::vertex_errors;
use gnpfa::{displacement, flat_neutral, mirror_partners, Frame, FrameSet, Rows, TrainData};
use gnpfa::{evaluate, train, Gnpfa, GnpfaConfig, GnpfaError, TrainOptions};
use gnpfa::{save_checkpoint, Provenance, WEIGHTS_FILE};
use m2f_mesh::{FaceTemplate, Rig};
use m2f_train::variables_without_gradient;

mod common;
use common::rigs;

fn tiny() -> (Gnpfa, candle_nn::VarMap) {
    Gnpfa::init(
        &GnpfaConfig::tiny(),
        FaceTemplate::mediapipe(),
        &Device::Cpu,
        0,
    )
    .unwrap()
}

/// A few fixed frames: each rig with a handful of weight vectors.
fn frames(rigs: &[Rig], per_rig: usize) -> FrameSet {
    let names: Vec<String> = m2f_mesh::ARKIT_BLENDSHAPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let k = names.len();
    let mut set = FrameSet::default();
    for (r, rig) in rigs.iter().enumerate() {
        set.neutrals.push(flat_neutral(rig));
        for j in 0..per_rig {
            let mut w = vec![0.0f32; k];
            w[(j * 7) % k] = 0.8;
            w[(j * 13 + 5) % k] = 0.4;
            set.frames.push(Frame {
                neutral: r,
                displacement: displacement(rig, &w).unwrap(),
                weights: w,
            });
        }
    }
    set
}

fn batch_of(set: &FrameSet) -> gnpfa::Batch {
    let mut rows = Rows::default();
    for f in &set.frames {
        rows.push(&set.neutrals[f.neutral], &f.displacement, &f.weights);
    }
    rows.to_batch(&Device::Cpu).unwrap()
}

#[test]
fn every_variable_gets_a_gradient() {
    let (model, varmap) = tiny();
    let set = frames(&rigs(2), 4);
    let batch = batch_of(&set);
    let eps = Tensor::randn(
        0f32,
        1.0,
        (set.frames.len(), model.config.latent_dim),
        &Device::Cpu,
    )
    .unwrap();
    let l = losses(&model, &batch, &eps).unwrap();
    let grads = l.total.backward().unwrap();
    let vars: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    assert!(vars.len() > 10);
    let missing = variables_without_gradient(&grads, &vars).unwrap();
    assert!(missing.is_empty(), "no gradient: {missing:?}");
}

#[test]
fn overfits_a_tiny_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = GnpfaConfig {
        kl_weight: 0.0,
        ..GnpfaConfig::tiny()
    };
    let set = frames(&rigs(2), 4);
    let data = TrainData {
        frames: set.clone(),
        description: "tiny".into(),
        ..TrainData::default()
    };
    let opts = TrainOptions {
        steps: 1000,
        batch_size: 8,
        lr: 3e-3,
        min_lr: 1e-4,
        warmup_steps: 20,
        val_every: 1000,
        out: dir.path().to_path_buf(),
        progress: false,
        ..TrainOptions::default()
    };
    let (model0, _) =
        Gnpfa::init(&config, FaceTemplate::mediapipe(), &Device::Cpu, opts.seed).unwrap();
    let batch = batch_of(&set);
    let zero = Tensor::zeros((8, config.latent_dim), DType::F32, &Device::Cpu).unwrap();
    let before = losses(&model0, &batch, &zero).unwrap();
    let before = before.recon.to_scalar::<f32>().unwrap();
    let (model, _, report) = train(
        &config,
        FaceTemplate::mediapipe(),
        &data,
        &opts,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(report.final_step, 1000);
    let after = losses(&model, &batch, &zero).unwrap();
    let recon = after.recon.to_scalar::<f32>().unwrap();
    let bridge = after.bridge_geometry.to_scalar::<f32>().unwrap();
    // (cm)² per coordinate: 1e-3 is an RMS vertex error of about 0.5 mm.
    assert!(
        recon < 1e-3 && recon < before * 0.01,
        "recon {before} -> {recon}"
    );
    assert!(bridge < 2e-3, "bridge geometry {bridge}");
}

#[test]
fn checkpoint_round_trips_and_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let (model, varmap) = tiny();
    save_checkpoint(&ckpt, &model, &varmap, &Provenance::default(), None).unwrap();
    let loaded = Gnpfa::load(&ckpt).unwrap();
    assert!(
        loaded.template == model.template,
        "the template round-trips"
    );
    assert_eq!(loaded.config, model.config);
    let set = frames(&rigs(2), 2);
    let b = batch_of(&set);
    let (mu, _) = model.encode(&b.displacement).unwrap();
    let (mu2, _) = loaded.encode(&b.displacement).unwrap();
    let d1 = model.decode(&b.neutral, &mu).unwrap();
    let d2 = loaded.decode(&b.neutral, &mu2).unwrap();
    let diff = (d1 - d2).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);

    // A missing tensor.
    let path = ckpt.join(WEIGHTS_FILE);
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let good = tensors.clone();
    tensors.remove("vae.decoder.mlp.l0.weight");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Gnpfa::load(&ckpt).unwrap_err();
    assert!(
        matches!(&err, GnpfaError::MissingTensor { name, .. } if name == "vae.decoder.mlp.l0.weight"),
        "{err}"
    );
    // A mis-shaped tensor.
    let mut tensors = good.clone();
    tensors.insert(
        "bridge.to_latent.l0.bias".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Gnpfa::load(&ckpt).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bridge.to_latent.l0.bias") && msg.contains("[16]") && msg.contains("[3]"),
        "{msg}"
    );
    // A config that does not match the weights.
    candle_core::safetensors::save(&good, &path).unwrap();
    let cfg_path = ckpt.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        text.replace("\"latent_dim\": 8", "\"latent_dim\": 9"),
    )
    .unwrap();
    let err = Gnpfa::load(&ckpt).unwrap_err();
    assert!(matches!(err, GnpfaError::TensorShape { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
    // A template tensor of the wrong vertex count.
    std::fs::write(&cfg_path, &text).unwrap();
    let mut tensors = good.clone();
    tensors.insert(
        "template.neutral".into(),
        Tensor::zeros((100, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Gnpfa::load(&ckpt).unwrap_err();
    assert!(
        err.to_string().contains("template.neutral") && err.to_string().contains("[468, 3]"),
        "{err}"
    );
    // A truncated weights file.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Gnpfa::load(&ckpt).unwrap_err();
    assert!(err.to_string().contains("safetensors"), "{err}");
    // No weights at all.
    std::fs::remove_file(&path).unwrap();
    assert!(Gnpfa::load(&ckpt)
        .unwrap_err()
        .to_string()
        .contains(WEIGHTS_FILE));
}

/// Found by fuzzing a whole bundle (fuzz/fuzz_targets/bundle.rs): a stored landmark index past
/// the vertices loaded (the template's fingerprint covers the mesh, not the regions) and the
/// ARKit rig indexed out of bounds with it; an empty region would have too. Both are refused
/// at load, naming the tensor or the region.
#[test]
fn template_regions_outside_the_mesh_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let (model, varmap) = tiny();
    save_checkpoint(&ckpt, &model, &varmap, &Provenance::default(), None).unwrap();
    let path = ckpt.join(WEIGHTS_FILE);
    let good = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let landmarks = "template.landmarks";
    let region = "template.region.jaw";
    assert!(good.contains_key(landmarks) && good.contains_key(region));
    let cases = [
        (
            landmarks,
            good[landmarks].affine(0.0, 16_777_277.0).unwrap(),
            "out of range",
        ),
        (
            region,
            Tensor::zeros(0, good[region].dtype(), &Device::Cpu).unwrap(),
            "is empty",
        ),
    ];
    for (name, damaged, expected) in cases {
        let mut tensors = good.clone();
        tensors.insert(name.to_string(), damaged);
        candle_core::safetensors::save(&tensors, &path).unwrap();
        let err = Gnpfa::load(&ckpt).unwrap_err().to_string();
        let named = if name == region { "jaw" } else { name };
        assert!(err.contains(named) && err.contains(expected), "{err}");
    }
}

#[test]
fn absurd_sizes_in_a_checkpoint_config_are_refused_before_allocating() {
    // Found in review and by fuzzing (fuzz/fuzz_targets/gnpfa_checkpoint.rs): sizes no machine holds were
    // allocated (or overflowed) while building the model, before the weights were checked.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let (model, varmap) = tiny();
    save_checkpoint(&ckpt, &model, &varmap, &Provenance::default(), None).unwrap();
    let cfg_path = ckpt.join("config.json");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let image = serde_json::to_value(gnpfa::ImageEncoderConfig::tiny(
        &FaceTemplate::mediapipe().mesh.vertices,
    ))
    .unwrap();
    let cases: [(&str, serde_json::Value, &str); 6] = [
        (
            "encoder_hidden",
            serde_json::json!([1_000_000_000_000u64]),
            "limit",
        ),
        ("latent_dim", serde_json::json!(u64::MAX), "limit"),
        // Within the limits, but not the weights' sizes: refused at the first tensor.
        ("encoder_hidden", serde_json::json!([1 << 20]), "has shape"),
        (
            "encoder_hidden",
            serde_json::json!([32, 1 << 20, 1 << 20]),
            "missing",
        ),
        (
            "image",
            serde_json::json!({"stage_channels": vec![2; 70]}),
            "70 stages",
        ),
        (
            "image",
            serde_json::json!({"image_size": 1u64 << 40}),
            "limit",
        ),
    ];
    for (field, value, expected) in cases {
        let mut config = good.clone();
        config["model"][field] = match (field, value) {
            ("image", serde_json::Value::Object(edit)) => {
                let mut image = image.clone();
                for (k, v) in edit {
                    image[k] = v;
                }
                image
            }
            (_, value) => value,
        };
        std::fs::write(&cfg_path, config.to_string()).unwrap();
        let err = Gnpfa::load(&ckpt).unwrap_err().to_string();
        assert!(err.contains(expected), "{field}: {err}");
    }
}

#[test]
fn vertex_error_metric_matches_a_hand_computation() {
    // Two frames of three vertices; the lips are vertex 2.
    let truth = vec![0.0f32; 18];
    let mut pred = truth.clone();
    // Frame 0: every vertex 1 mm off in x, vertex 2 3 mm off in total (3, 0, 0).
    pred[0] = 0.001;
    pred[3] = 0.001;
    pred[6] = 0.003;
    // Frame 1: vertex 0 off by (3, 4, 0) mm = 5 mm.
    pred[9] = 0.003;
    pred[10] = 0.004;
    let e = vertex_errors(&pred, &truth, 2, &[2]).unwrap();
    assert!((e[0].0 - 0.005 / 3.0).abs() < 1e-9, "{e:?}");
    assert!((e[0].1 - 0.003).abs() < 1e-9);
    assert!((e[1].0 - 0.005 / 3.0).abs() < 1e-9);
    assert!(e[1].1.abs() < 1e-12);
    assert!(vertex_errors(&pred, &truth[..9], 2, &[2]).is_err());
}

#[test]
fn evaluate_is_deterministic_and_consistent() {
    let (model, _) = tiny();
    let rigs = rigs(3);
    let a = evaluate(&model, &rigs, 40, 7).unwrap();
    let b = evaluate(&model, &rigs, 40, 7).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.frames, 40);
    for v in [
        a.recon_mean_mm,
        a.recon_lip_max_mm,
        a.cross_identity_mean_mm,
        a.bridge_weights_mae,
        a.bridge_geometry_mean_mm,
    ] {
        assert!(v.is_finite() && v > 0.0);
    }
    assert!(a.recon_lip_max_worst_mm >= a.recon_lip_max_mm);
    assert!(evaluate(&model, &rigs[..1], 4, 0).is_err());
}

#[test]
fn training_resumes_from_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rigs = rigs(4);
    let data = TrainData {
        train: rigs[..2].to_vec(),
        val: rigs[2..].to_vec(),
        description: "tiny".into(),
        ..TrainData::default()
    };
    let mut opts = TrainOptions {
        steps: 10,
        batch_size: 4,
        warmup_steps: 2,
        val_every: 5,
        val_frames: 8,
        log_every: 5,
        out: dir.path().to_path_buf(),
        progress: false,
        ..TrainOptions::default()
    };
    let config = GnpfaConfig::tiny();
    let t = FaceTemplate::mediapipe();
    let (_, _, r) = train(&config, t.clone(), &data, &opts, &Device::Cpu).unwrap();
    assert_eq!((r.start_step, r.final_step), (0, 10));
    assert!(dir.path().join("best/model.safetensors").is_file());
    opts.steps = 15;
    let (_, _, r) = train(&config, t.clone(), &data, &opts, &Device::Cpu).unwrap();
    assert_eq!((r.start_step, r.final_step), (10, 15));
    let log = std::fs::read_to_string(dir.path().join("train_log.jsonl")).unwrap();
    assert!(log.lines().count() >= 6);
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    assert!(dir.path().join("resume.safetensors").is_file());
    let loaded = Gnpfa::load(&dir.path().join("last")).unwrap();
    assert_eq!(loaded.config, config);
    // A different config in the same directory is refused, not silently mixed.
    let other = GnpfaConfig {
        latent_dim: 6,
        ..GnpfaConfig::tiny()
    };
    opts.steps = 20;
    let Err(e) = train(&other, t, &data, &opts, &Device::Cpu) else {
        panic!("a run of another config was continued");
    };
    assert!(e.to_string().contains("different model"), "{e}");
}

#[test]
fn mirror_partners_pair_left_and_right() {
    let names: Vec<String> = m2f_mesh::ARKIT_BLENDSHAPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let p = mirror_partners(&names);
    let i = names.iter().position(|n| n == "mouthSmileLeft").unwrap();
    assert_eq!(names[p[i]], "mouthSmileRight");
    let j = names.iter().position(|n| n == "jawOpen").unwrap();
    assert_eq!(p[j], j);
}

#[test]
fn initialisation_follows_the_seed() {
    let t = FaceTemplate::mediapipe();
    let cfg = GnpfaConfig::tiny();
    let (a, _) = Gnpfa::init(&cfg, t.clone(), &Device::Cpu, 3).unwrap();
    let (b, _) = Gnpfa::init(&cfg, t.clone(), &Device::Cpu, 3).unwrap();
    let (c, _) = Gnpfa::init(&cfg, t, &Device::Cpu, 4).unwrap();
    let w = Tensor::ones((1, cfg.num_blendshapes), DType::F32, &Device::Cpu).unwrap();
    let za = a.weights_to_latent(&w).unwrap().to_vec2::<f32>().unwrap();
    let zb = b.weights_to_latent(&w).unwrap().to_vec2::<f32>().unwrap();
    let zc = c.weights_to_latent(&w).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(za, zb);
    assert_ne!(za, zc);
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Gnpfa>();
    let _ = VarBuilder::zeros(DType::F32, &Device::Cpu);
}

/// The checkpoint shipped in `weights/gnpfa` loads and still meets the targets on
/// held-out (test-split) identities of the world it was trained in.
#[test]
fn shipped_checkpoint_meets_the_targets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa");
    let model = Gnpfa::load(&dir).unwrap();
    assert_eq!(
        model.template.fingerprint(),
        FaceTemplate::mediapipe().fingerprint()
    );
    let test = test_split_rigs();
    assert!(test.len() > 10);
    let r = evaluate(&model, &test, 300, 12345).unwrap();
    // The measurement (seeded, so the same on every machine up to rounding) plus about 20 %:
    // a worse checkpoint or a change in the decoder fails here, long before the issue's
    // targets (0.5, 1.5, 1.0, 0.03, 0.7) would notice.
    assert!(r.recon_mean_mm < 0.15, "measured 0.121: {r:?}");
    assert!(r.recon_lip_max_mm < 0.55, "measured 0.447: {r:?}");
    assert!(r.cross_identity_mean_mm < 0.17, "measured 0.136: {r:?}");
    assert!(r.bridge_weights_mae < 0.033, "measured 0.0278: {r:?}");
    assert!(r.bridge_geometry_mean_mm < 0.17, "measured 0.135: {r:?}");
}

/// The image encoders shipped in `weights/gnpfa` read rendered crops of held-out identities
/// (bounds on 128 crops; the numbers on 1000 are in `eval_images.json`).
#[test]
fn shipped_image_encoders_read_held_out_crops() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa");
    let model = Gnpfa::load(&dir).unwrap();
    assert!(
        model.image.is_some(),
        "the shipped checkpoint has image encoders"
    );
    let test = test_split_rigs();
    let ranges = gnpfa::RenderRanges::default();
    let r = gnpfa::evaluate_images(&model, &test, 128, &ranges, 777).unwrap();
    // The measurement on these 128 seeded crops plus about 20 %.
    assert!(r.rotation_mean_deg < 2.3, "measured 1.89: {r:?}");
    assert!(r.geometry_rms_mm < 2.1, "measured 1.77: {r:?}");
    assert!(
        r.geometry_rms_mm < 0.8 * r.neutral_baseline_rms_mm,
        "measured 0.75 of the neutral's: {r:?}"
    );
    assert!(r.weights_mae < 0.125, "measured 0.102: {r:?}");
    assert!(r.landmark_mean_px < 0.9, "measured 0.72: {r:?}");
}

/// The test-split identities of synthetic world 1 (the shipped checkpoint's world).
fn test_split_rigs() -> Vec<Rig> {
    let template = FaceTemplate::mediapipe();
    let world = m2f_synth::WorldConfig {
        seed: 1,
        identities: 400,
        ..Default::default()
    };
    world
        .identity_rigs(m2f_synth::Split::Test, &template)
        .unwrap()
}
