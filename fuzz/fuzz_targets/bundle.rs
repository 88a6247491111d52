//! A whole model bundle of any content: `Media2Face::from_dir` reads `media2face.json` and the
//! parts it names (GNPFA, the denoiser, the Whisper encoder, the emotion table), checks that
//! they fit together, and returns a model or an error, never panics or aborts. A model that
//! loads generates: 0.5 s of a sine under its first emotion gives 0.5 s of frames of the template's
//! vertices and ARKit weights, all finite, or (only when some weights are huge) an error
//! saying the output is not finite.
//!
//! Input: 9 parts (`parts.rs`), in the order of [`FILES`].
#![no_main]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use conditioning::{WhisperConfig, WhisperEncoderModel};
use diffusion::{CheckpointConfig, DenoiserConfig, NoiseScheduleKind, Objective};
use gnpfa::{Gnpfa, GnpfaConfig, Provenance};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use m2f_mesh::{FaceTemplate, ARKIT_BLENDSHAPES};
use media2face::{AudioInput, BundleManifest, Intensity, Media2Face, Prompt, Request};

#[path = "parts.rs"]
mod parts;

/// The bundle's files, relative to its directory, as the seed's manifest names them.
/// GNPFA's weights come last: with the MediaPipe template they outgrow the 64 KiB a part
/// before the last may hold.
const FILES: [&str; 9] = [
    "media2face.json",
    "gnpfa/config.json",
    "diffusion/config.json",
    "diffusion/model.safetensors",
    "whisper/config.json",
    "whisper/preprocessor_config.json",
    "whisper/model.safetensors",
    "emotions.safetensors",
    "gnpfa/model.safetensors",
];

/// Width of the tiny Whisper encoder's features.
const AUDIO_DIM: usize = 8;
/// Width of the tiny denoiser's text-style input and of the emotion embeddings.
const TEXT_DIM: usize = 2;

fn manifest(guidance: bool) -> BundleManifest {
    BundleManifest {
        format: media2face::BUNDLE_FORMAT.into(),
        format_version: 1,
        gnpfa: "gnpfa".into(),
        denoiser: "diffusion".into(),
        audio_encoder: "whisper".into(),
        emotions: "emotions.safetensors".into(),
        text_encoder: "sentence-transformers/all-MiniLM-L6-v2".into(),
        guidance: guidance.then(|| media2face::Guidance {
            audio: 1.5,
            style: 1.5,
        }),
    }
}

/// GNPFA on the MediaPipe face with the ARKit rig's blendshapes, widths 3, latent 2.
fn write_gnpfa(dir: &std::path::Path) {
    let cfg = GnpfaConfig {
        num_vertices: m2f_mesh::MEDIAPIPE_VERTEX_COUNT,
        latent_dim: 2,
        encoder_hidden: vec![3],
        decoder_hidden: vec![3],
        identity_dim: 2,
        bridge_hidden: vec![3],
        num_blendshapes: ARKIT_BLENDSHAPES.len(),
        blendshape_names: ARKIT_BLENDSHAPES.iter().map(|s| s.to_string()).collect(),
        ..GnpfaConfig::default()
    };
    let (model, varmap) = Gnpfa::init(&cfg, FaceTemplate::mediapipe(), &Device::Cpu, 0).unwrap();
    let provenance = Provenance {
        created_by: "m2f-fuzz".into(),
        step: 1,
        total_steps: 1,
        ..Provenance::default()
    };
    gnpfa::save_checkpoint(&dir.join("gnpfa"), &model, &varmap, &provenance, None).unwrap();
}

/// A denoiser of width 4 taking the tiny encoder's features, latents of 2 and text styles of 2.
fn write_denoiser(dir: &std::path::Path, policy: &str) {
    let cfg = DenoiserConfig {
        latent_dim: 2,
        pose_dim: 6,
        audio_dim: AUDIO_DIM,
        text_style_dim: TEXT_DIM,
        image_style_dim: 0,
        hidden_size: 4,
        num_layers: 1,
        num_heads: 2,
        intermediate_size: 4,
        activation: candle_nn::Activation::Gelu,
        layer_norm_eps: 1e-5,
        window: 8,
        fps: 30.0,
        audio_radius: Some(2),
        diffusion_steps: 4,
        noise_schedule: NoiseScheduleKind::Cosine,
        objective: Objective::Diffusion,
    };
    let (_, varmap) = diffusion::init_denoiser(&cfg, &Device::Cpu, 0).unwrap();
    let mut config = CheckpointConfig::untrained(&cfg);
    config.audio_features = format!("whisper:whisper{policy}");
    config.provenance.created_by = "m2f-fuzz".into();
    config.text_encoder = Some("sentence-transformers/all-MiniLM-L6-v2".into());
    diffusion::save_checkpoint(&dir.join("diffusion"), &config, &varmap).unwrap();
}

/// A random-weight Whisper encoder of width 8 with a 0.5 s window, in HF layout.
fn write_whisper(dir: &std::path::Path) {
    let dir = dir.join("whisper");
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "model_type": "whisper", "num_mel_bins": 80, "d_model": AUDIO_DIM, "encoder_layers": 1,
        "encoder_attention_heads": 2, "encoder_ffn_dim": 16, "max_source_positions": 25,
        "activation_function": "gelu",
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let pre = serde_json::json!({
        "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80,
        "sampling_rate": 16000, "hop_length": 160, "n_fft": 400,
    });
    std::fs::write(dir.join("preprocessor_config.json"), pre.to_string()).unwrap();
    let cfg = WhisperConfig::from_file(dir.join("config.json")).unwrap();
    let vm = VarMap::new();
    WhisperEncoderModel::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu).pp("encoder"),
    )
    .unwrap();
    let tensors: HashMap<String, Tensor> = (vm.data().lock().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// Embeddings of width 2 for `emotions` at the three intensities.
fn write_emotions(dir: &std::path::Path, emotions: &[&str]) {
    let mut tensors = HashMap::new();
    for (i, e) in emotions.iter().enumerate() {
        for (j, level) in ["low", "medium", "high"].into_iter().enumerate() {
            let v = [i as f32 * 0.1, j as f32 * 0.3 - 0.2];
            tensors.insert(
                format!("{e}/{level}"),
                Tensor::new(&v[..], &Device::Cpu).unwrap(),
            );
        }
    }
    candle_core::safetensors::save(&tensors, dir.join("emotions.safetensors")).unwrap();
}

fn seed(guidance: bool, policy: &str, emotions: &[&str]) -> Vec<u8> {
    let dir = parts::scratch_dir("bundle-seed");
    manifest(guidance).write(&dir).unwrap();
    write_gnpfa(&dir);
    write_denoiser(&dir, policy);
    write_whisper(&dir);
    write_emotions(&dir, emotions);
    let files: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap_or_default())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    let input = parts::join(&files.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let dir = parts::scratch_dir("bundle-seed-check");
    let model = load(&input, &dir).expect("the seed loads");
    check(&model, &input);
    std::fs::remove_dir_all(&dir).unwrap();
    input
}

fn load(data: &[u8], dir: &std::path::Path) -> media2face::Result<Media2Face> {
    for sub in ["gnpfa", "diffusion", "whisper"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    parts::put_all(dir, &FILES, data);
    Media2Face::from_dir(dir)
}

fn check(model: &Media2Face, data: &[u8]) {
    let emotions = model.emotions();
    assert!(!emotions.is_empty());
    let samples: Vec<f32> = (0..8000).map(|i| 0.3 * (i as f32 * 0.0864).sin()).collect();
    let request = Request::new(AudioInput::Samples {
        samples,
        sample_rate: 16_000,
        channels: 1,
    })
    .prompt(Prompt::Emotion {
        name: emotions[0].clone(),
        intensity: Intensity::High,
    })
    .steps(2);
    let p = parts::split(data, FILES.len());
    // Finite weights of any size load; huge ones may overflow into a non-finite face, which
    // generation refuses with an error.
    let moderate = [p[3], p[6], p[7], p[8]]
        .iter()
        .all(|w| parts::moderate_weights(w));
    let anim = match model.generate(&request) {
        Ok(anim) => anim,
        Err(e) if !moderate => {
            assert!(e.to_string().contains("not finite"), "{e}");
            return;
        }
        Err(e) => panic!("a loaded bundle with moderate weights fails to generate: {e}"),
    };
    // 0.5 s at the denoiser's frame rate (30 fps in the seeds: 15 frames).
    let frames = conditioning::frames_for(8000, anim.fps as f64);
    assert_eq!(anim.frames(), frames);
    assert_eq!(anim.vertices.len(), frames);
    assert!(anim
        .vertices
        .iter()
        .all(|v| v.len() == m2f_mesh::MEDIAPIPE_VERTEX_COUNT));
    assert!(anim
        .arkit_weights
        .iter()
        .all(|w| w.len() == anim.arkit_names.len()));
    let finite = |x: &f32| x.is_finite();
    assert!(
        anim.vertices.iter().flatten().flatten().all(finite),
        "non-finite face"
    );
    assert!(
        anim.arkit_weights.iter().flatten().all(finite),
        "non-finite ARKit weights"
    );
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(
                &out,
                &[
                    ("guided_exact", seed(true, "#exact", &["happy", "neutral"])),
                    ("paper_guidance_padded", seed(false, "", &["neutral"])),
                ],
            );
        }
    },
    |data: &[u8]| {
        let dir = parts::scratch("bundle");
        if let Ok(model) = load(data, dir) {
            check(&model, data);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, FILES.len())
});
