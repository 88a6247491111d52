//! Peak memory and time of sampling long audio with a preset's denoiser (random weights and
//! features: neither changes the cost):
//!
//! ```text
//! cargo run --release -p diffusion --example sample_memory -- small 60 10
//! ```
//!
//! Arguments: preset, seconds of audio, DDIM steps. Prints the process's peak resident
//! memory (VmHWM) before and after sampling, so runs of different lengths show whether
//! memory grows with length beyond the output.

use std::time::Instant;

use candle_core::Device;
use diffusion::{
    init_denoiser, save_checkpoint, CheckpointConfig, DenoiserConfig, DiffusionModel,
    SamplerOptions, Style,
};
use rand::{Rng, SeedableRng};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("small", String::as_str);
    let seconds: f64 = args.get(1).map_or(Ok(60.0), |s| s.parse())?;
    let steps: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let cfg = DenoiserConfig::preset(preset, 384)?;
    let dev = Device::Cpu;
    let (_, varmap) = init_denoiser(&cfg, &dev, 0)?;
    // Through a checkpoint on disk, as users load models: weights that are plain tensors,
    // not training variables (which would make every op keep its inputs for a backward pass).
    let dir = std::env::temp_dir().join(format!("m2f-sample-memory-{preset}"));
    save_checkpoint(&dir, &CheckpointConfig::untrained(&cfg), &varmap)?;
    drop(varmap);
    let model = DiffusionModel::load(&dir, &dev)?;
    let frames = (seconds * cfg.fps as f64).round() as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let audio: Vec<f32> = (0..frames * cfg.audio_dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let style = Style::Text(vec![0.05; cfg.text_style_dim]);
    let before = peak_rss_mib();
    let t0 = Instant::now();
    let opts = SamplerOptions {
        steps,
        ..SamplerOptions::default()
    };
    let motion = model.sample(&audio, &style, &opts)?;
    let dt = t0.elapsed().as_secs_f64();
    let output_mib = (motion.data.len() * 4) as f64 / (1 << 20) as f64;
    println!(
        "{preset}: {seconds} s of audio ({frames} frames), {steps} steps: {dt:.1} s ({:.3} s per second of audio); peak RSS {before:.0} MiB before, {:.0} MiB after; output {output_mib:.1} MiB",
        dt / seconds,
        peak_rss_mib()
    );
    Ok(())
}
