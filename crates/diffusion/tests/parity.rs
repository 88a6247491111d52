//! The denoiser against its PyTorch reference (`tools/diffusion_reference.py fixtures`): a
//! tiny random-weight checkpoint written by the reference loads here, and the memory and the
//! predictions for the same inputs agree.

mod common;

use std::path::Path;

use candle_core::{Device, Tensor};
use common::max_abs_diff;
use diffusion::{cross_attention_bias, padding_bias, Conditions, DiffusionModel, StyleInput};

#[test]
fn denoiser_matches_the_pytorch_reference() {
    let dev = Device::Cpu;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let model = DiffusionModel::load(&dir, &dev).unwrap();
    let r = candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap();
    let cfg = model.denoiser.config();
    let d = &model.denoiser;
    let memory = d.memory(&r["audio"], StyleInput::Text(&r["text"])).unwrap();
    let e = max_abs_diff(&memory, &r["memory_text"]);
    assert!(e < 1e-5, "memory: max abs error {e}");
    eprintln!("memory: max abs error {e}");
    // Two windows' memories, four predictions (each branch of Eq. 9; window j in row i·2 + j),
    // padding at the end of the last.
    let kv = d.memory_key_values(&memory).unwrap();
    let conds = [
        Conditions::NONE,
        Conditions::AUDIO,
        Conditions::AUDIO_STYLE,
        Conditions::AUDIO_STYLE,
    ];
    let n = 20;
    let bias = cross_attention_bias(n, &conds, cfg.audio_radius, &dev).unwrap();
    let mut mask = vec![1f32; 4 * n];
    mask[4 * n - 4..].fill(0.0);
    let pad = padding_bias(&mask, 4, n, &dev).unwrap();
    let xs = Tensor::cat(&[&r["x_t"], &r["x_t"]], 0).unwrap();
    let out = d
        .forward(&xs, &[3, 17, 30, 49], &kv, &bias, pad.as_ref())
        .unwrap();
    let e = max_abs_diff(&out, &r["out_text"]);
    assert!(e < 1e-4, "text-style predictions: max abs error {e}");
    eprintln!("text-style predictions (four guidance branches, padding): max abs error {e}");
    let memory = d
        .memory(&r["audio"], StyleInput::Image(&r["image"]))
        .unwrap();
    let kv = d.memory_key_values(&memory).unwrap();
    let bias =
        cross_attention_bias(n, &[Conditions::AUDIO_STYLE; 2], cfg.audio_radius, &dev).unwrap();
    let out = d.forward(&r["x_t"], &[11], &kv, &bias, None).unwrap();
    let e = max_abs_diff(&out, &r["out_image"]);
    assert!(e < 1e-4, "image-style predictions: max abs error {e}");
    eprintln!("image-style predictions: max abs error {e}");
    // Branches that share each window's noisy motion, run once up to the first
    // cross-attention, predict what the repeated motion does.
    let conds = [
        Conditions::NONE,
        Conditions::NONE,
        Conditions::AUDIO_STYLE,
        Conditions::AUDIO_STYLE,
    ];
    let bias = cross_attention_bias(n, &conds, cfg.audio_radius, &dev).unwrap();
    let shared = d
        .forward_branches(&r["x_t"], 2, &[23], &kv, &bias, None)
        .unwrap();
    let repeated = Tensor::cat(&[&r["x_t"], &r["x_t"]], 0).unwrap();
    let want = d.forward(&repeated, &[23], &kv, &bias, None).unwrap();
    let e = max_abs_diff(&shared, &want);
    assert!(e < 1e-5, "shared branches: max abs error {e}");
    assert!(d
        .forward_branches(&r["x_t"], 0, &[23], &kv, &bias, None)
        .is_err());
}
