//! Wav2Vec2 against HF transformers on tiny random models (fixtures made by
//! `tools/make_audio_fixtures.py`; see docs/conditioning.md).

mod common;
use common::max_abs_diff;
use std::path::PathBuf;

use candle_core::Device;
use conditioning::AudioEncoder;
use conditioning::{wav2vec2_normalize, Wav2Vec2Encoder};

const TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("wav2vec2_{name}"))
}

fn check(name: &str) {
    let dir = fixture(name);
    let dev = Device::Cpu;
    let refs = candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap();
    let input = &refs["input"];
    let n_layers = 3;

    let last = Wav2Vec2Encoder::load(&dir, None, &dev).unwrap();
    let got = last.model().forward(input).unwrap();
    let err = max_abs_diff(&got, &refs["last_hidden_state"]);
    println!("{name}: last_hidden_state max abs err {err:.3e}");
    assert!(err < TOL, "{name}: last_hidden_state err {err}");

    let mid = Wav2Vec2Encoder::load(&dir, Some(1), &dev).unwrap();
    let got = mid.model().forward_hidden(input, 1).unwrap();
    let err = max_abs_diff(&got, &refs["hidden_state_1"]);
    println!("{name}: hidden_state_1 max abs err {err:.3e}");
    assert!(err < TOL, "{name}: hidden_state_1 err {err}");

    // The encoder path: HF normalisation, then the model.
    let samples: Vec<f32> = input.flatten_all().unwrap().to_vec1().unwrap();
    let normed = wav2vec2_normalize(&samples);
    let want_norm: Vec<f32> = refs["input_normalized"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let err = normed
        .iter()
        .zip(&want_norm)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-5, "{name}: normalisation err {err}");
    let feats = last.native_features(&samples).unwrap();
    let err = max_abs_diff(
        &feats,
        &refs["normalized_last_hidden_state"].squeeze(0).unwrap(),
    );
    println!("{name}: normalized input, last_hidden_state max abs err {err:.3e}");
    assert!(err < TOL, "{name}: normalised path err {err}");

    // Frame-rate conversion: 1600 samples = 0.1 s = 3 frames at 30 fps.
    let out = last.encode_default(&samples).unwrap();
    assert_eq!(out.dims(), &[3, 16]);
    assert_eq!(last.feature_dim(), 16);
    assert!(Wav2Vec2Encoder::load(&dir, Some(n_layers + 1), &dev).is_err());
}

#[test]
fn parity_group_norm_post_ln_weight_g_v() {
    check("group_post_gv");
}

#[test]
fn parity_layer_norm_stable_parametrizations_ctc_prefix() {
    check("layer_stable_param_ctc");
}

#[test]
fn parity_group_norm_plain_weight_ctc_prefix() {
    check("group_post_plain_ctc");
}

#[test]
fn parity_layer_norm_post_ln_parametrizations() {
    check("layer_post_param");
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("group_post_gv");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut tensors =
        candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    tensors.remove("encoder.layers.1.attention.k_proj.weight");
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();
    let err = Wav2Vec2Encoder::load(dir.path(), None, &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("encoder.layers.1.attention.k_proj.weight"),
        "{msg}"
    );
}

#[test]
fn too_short_audio_is_an_error() {
    let enc = Wav2Vec2Encoder::load(fixture("group_post_gv"), None, &Device::Cpu).unwrap();
    let err = enc.encode_default(&[0.0; 10]).unwrap_err();
    assert!(err.to_string().contains("receptive field"), "{err}");
}

/// The log-mel front end against HF's WhisperFeatureExtractor (same recipe). Whisper pads the
/// end with zeros to 30 s where we reflect, so the last frames (whose windows reach past the
/// end) are excluded.
#[test]
fn log_mel_matches_whisper_feature_extractor() {
    let path = fixture("logmel").join("whisper_mel.safetensors");
    let refs = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    let x: Vec<f32> = refs["input"].to_vec1().unwrap();
    let got = conditioning::LogMel::new()
        .compute(&x, &Device::Cpu)
        .unwrap();
    assert_eq!(got.dims(), &[80, 101]);
    let interior = 98;
    let err = max_abs_diff(
        &got.narrow(1, 0, interior).unwrap(),
        &refs["log_mel"].narrow(1, 0, interior).unwrap(),
    );
    println!("log-mel vs Whisper max abs err {err:.3e}");
    assert!(err < 1e-4, "log-mel err {err}");
}
