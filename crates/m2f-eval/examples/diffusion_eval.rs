//! A denoiser's sampler features measured on held-out clips of extracted shards, beside the
//! quality `m2f eval` reports: lip sync (inner-lip gap of the motion decoded through GNPFA,
//! against the clip's own latents decoded the same way) against guidance scales and DDIM
//! steps, how far emotion prompts move the face (rig weights through GNPFA's bridge M′),
//! keyframes, seams of long audio, and streaming.
//!
//! ```text
//! cargo run --release -p m2f-eval --example diffusion_eval -- \
//!     SHARDS CHECKPOINT GNPFA AUDIO_FEATURES_SPEC MINILM_DIR [CLIPS]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use conditioning::AudioEncoder;
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use diffusion::{DiffusionModel, Motion, SamplerOptions, Style};
use m2f_dataset::{
    read_manifests, AudioFeatures, JointLogMel, Record, ShardStore, StoredFeatures,
    LOG_MEL_FEATURES,
};
use m2f_eval::{inner_lip_gaps, pearson, LipSync, PhoneSpan};
use m2f_synth::Emotion;
use m2f_synth::Split;

/// Per-frame inner-lip gap (mm) of latents `z` [T, Z] on the face `neutral`.
fn lip_gaps(gnpfa: &gnpfa::Gnpfa, neutral: &[[f32; 3]], z: &[Vec<f32>]) -> Result<Vec<f32>> {
    let frames = gnpfa.decode_frames(neutral, z)?;
    Ok(inner_lip_gaps(&frames, &gnpfa.template.regions))
}

fn latents_of(m: &Motion) -> Vec<Vec<f32>> {
    (0..m.frames()).map(|i| m.latent(i).to_vec()).collect()
}

/// Lip-sync scores of generated gaps against true ones over one record's phonemes.
fn lip_sync(gen: &[f32], truth: &[f32], rec: &Record) -> LipSync {
    let phones: Vec<PhoneSpan> = rec
        .meta
        .phonemes
        .iter()
        .map(PhoneSpan::of_phoneme)
        .collect();
    LipSync::of_clip(gen, truth, &phones, rec.meta.fps)
}

fn row(s: &LipSync, name: &str, truth_closure: f64) -> String {
    format!(
        "| {name} | {:.2} | {:.3} | {:.2} ({:.2} true) | {:.2} |",
        s.gap_error_mm(),
        s.gap_correlation(),
        s.closure(),
        truth_closure,
        s.opening(),
    )
}

/// Per-frame audio features [T, dim] of one record.
struct Feats {
    values: Vec<f32>,
    dim: usize,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        bail!(
            "usage: diffusion_eval SHARDS CHECKPOINT GNPFA AUDIO_FEATURES_SPEC|log-mel MINILM_DIR [CLIPS]"
        );
    }
    let clips: usize = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(24);
    let dev = Device::Cpu;
    let store = ShardStore::open_read(&args[0])?;
    let model = DiffusionModel::load(Path::new(&args[1]), &dev)?;
    let gnpfa = gnpfa::Gnpfa::load(Path::new(&args[2]))?;
    // Features as the denoiser was trained on them: stored in the shards by a frozen encoder,
    // or made from the audio by the log-mel encoder saved with the denoiser.
    let log_mel = (args[3] == LOG_MEL_FEATURES)
        .then(|| JointLogMel::load(Path::new(&args[1]), &dev))
        .transpose()?;
    let key = match &log_mel {
        Some(_) => String::new(),
        None => AudioFeatures::load(&args[3], &dev)?.info().key(),
    };
    let features_of = |rec: &Record| -> Result<Feats> {
        let n = rec.meta.num_frames;
        let (values, dim) = match &log_mel {
            Some(encoder) => {
                let f = encoder.encode(&rec.audio_f32(), rec.meta.fps as f64)?;
                let dim = f.dim(1)?;
                let mut values = f.flatten_all()?.to_vec1::<f32>()?;
                // Pad with the last frame if the audio rounds to a frame fewer.
                while values.len() < n * dim {
                    let last = values[values.len() - dim..].to_vec();
                    values.extend(last);
                }
                (values, dim)
            }
            None => {
                let f = StoredFeatures::read(&store, &rec.meta.id, &key)?
                    .with_context(|| format!("record {} has no features {key}", rec.meta.id))?;
                (f.values, f.info.dim)
            }
        };
        Ok(Feats { values, dim })
    };
    let text = SentenceEncoder::load(&ModelSource::local(&args[4]), &dev)?;
    let embed = |s: &str| -> Result<Vec<f32>> {
        Ok(text.embed_batch(&[s])?.flatten_all()?.to_vec1::<f32>()?)
    };
    let mut lines: Vec<_> = read_manifests(&store)?
        .into_iter()
        .filter(|l| l.split == Split::Test && l.variant == 0)
        .collect();
    lines.sort_by(|a, b| a.id.cmp(&b.id));
    lines.truncate(clips);
    eprintln!("{} test clips", lines.len());
    let configs: Vec<(&str, SamplerOptions)> = {
        let base = SamplerOptions::default();
        vec![
            ("paper guidance s_A 2.5 s_P 1.5, 25 steps", base),
            (
                "s_A 2.5 s_P 1.5, 10 steps",
                SamplerOptions { steps: 10, ..base },
            ),
            (
                "s_A 2.5 s_P 1.5, 50 steps",
                SamplerOptions { steps: 50, ..base },
            ),
            (
                "no guidance (G(X_t, A, P)), 25 steps",
                SamplerOptions {
                    audio_guidance: 0.0,
                    style_guidance: 1.0,
                    ..base
                },
            ),
            (
                "s_A 1 s_P 1, 25 steps",
                SamplerOptions {
                    audio_guidance: 1.0,
                    style_guidance: 1.0,
                    ..base
                },
            ),
        ]
    };
    let mut scores = vec![LipSync::default(); configs.len()];
    let mut ceiling = LipSync::default();
    let mut records = Vec::new();
    for line in &lines {
        let rec = Record::read(&store, &line.id)?;
        let feats = features_of(&rec)?;
        let z_dim = rec.meta.latent_dim;
        let n = rec.meta.num_frames;
        let neutral: Vec<[f32; 3]> = rec.neutral.chunks(3).map(|v| [v[0], v[1], v[2]]).collect();
        let truth_z: Vec<Vec<f32>> = rec.latents.chunks(z_dim).map(|r| r.to_vec()).collect();
        let truth = lip_gaps(&gnpfa, &neutral, &truth_z)?;
        ceiling.add(&lip_sync(&truth, &truth, &rec));
        let style = Style::Text(embed(&rec.meta.labels.style)?);
        for (k, (_, o)) in configs.iter().enumerate() {
            let m = model.sample(&feats.values[..n * feats.dim], &style, o)?;
            let gaps = lip_gaps(&gnpfa, &neutral, &latents_of(&m))?;
            scores[k].add(&lip_sync(&gaps, &truth, &rec));
        }
        records.push((rec, feats, neutral));
        eprint!(".");
    }
    eprintln!();
    println!(
        "| sampling | gap MAE (mm) | gap correlation | bilabial closure | open-vowel peak ratio |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (k, (name, _)) in configs.iter().enumerate() {
        println!("{}", row(&scores[k], name, ceiling.closure()));
    }
    println!(
        "{}",
        row(&ceiling, "truth (GNPFA-decoded)", ceiling.closure())
    );

    // Emotion prompts on the same audio: M′ rig weights, nearest emotion centroid of the
    // true latents' weights.
    let names = &gnpfa.config.blendshape_names;
    let weights_of = |z: &[Vec<f32>]| -> Result<Vec<f32>> {
        let flat: Vec<f32> = z.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (z.len(), z[0].len()), &dev)?;
        Ok(gnpfa.latent_to_weights(&t)?.mean(0)?.to_vec1::<f32>()?)
    };
    let mut centroids: BTreeMap<&str, (Vec<f32>, usize)> = BTreeMap::new();
    for (rec, _, _) in &records {
        let z: Vec<Vec<f32>> = rec
            .latents
            .chunks(rec.meta.latent_dim)
            .map(|r| r.to_vec())
            .collect();
        let w = weights_of(&z)?;
        let e = centroids
            .entry(rec.meta.labels.emotion.name())
            .or_insert((vec![0.0; w.len()], 0));
        e.0.iter_mut().zip(&w).for_each(|(a, b)| *a += b);
        e.1 += 1;
    }
    for (w, n) in centroids.values_mut() {
        w.iter_mut().for_each(|x| *x /= *n as f32);
    }
    let smile: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.starts_with("mouthSmile"))
        .map(|(i, _)| i)
        .collect();
    let (mut hits, mut total) = (0, 0);
    println!();
    println!(
        "| prompt | nearest emotion (of {} clips) | mean mouthSmile |",
        records.len().min(6)
    );
    println!("| --- | --- | --- |");
    for emotion in Emotion::ALL {
        let sentence = format!(
            "a {}{} person talking",
            if emotion == Emotion::Neutral {
                ""
            } else {
                "very "
            },
            emotion.name()
        );
        let style = Style::Text(embed(&sentence)?);
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        let mut smile_sum = 0.0;
        for (rec, feats, _) in records.iter().take(6) {
            let n = rec.meta.num_frames;
            let m = model.sample(
                &feats.values[..n * feats.dim],
                &style,
                &SamplerOptions::default(),
            )?;
            let w = weights_of(&latents_of(&m))?;
            smile_sum += smile.iter().map(|&i| w[i]).sum::<f32>() / smile.len().max(1) as f32;
            let nearest = centroids
                .iter()
                .min_by(|a, b| {
                    let d =
                        |c: &Vec<f32>| c.iter().zip(&w).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
                    d(&a.1 .0).total_cmp(&d(&b.1 .0))
                })
                .map(|(k, _)| *k)
                .unwrap_or("?");
            *votes.entry(nearest).or_default() += 1;
            hits += (nearest == emotion.name()) as usize;
            total += 1;
        }
        println!(
            "| {sentence} | {votes:?} | {:.3} |",
            smile_sum / records.len().min(6) as f32
        );
    }
    println!("\nprompt following: {hits}/{total} nearest to the prompted emotion");

    // Keyframes and streaming on the first clips long enough.
    let speed = |m: &Motion, i: usize| -> f32 {
        let (a, b) = (m.latent(i), m.latent(i + 1));
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt()
    };
    let mean_speed = |m: &Motion| {
        (0..m.frames() - 1).map(|i| speed(m, i)).sum::<f32>() / (m.frames() - 1) as f32
    };
    let long: Vec<_> = records
        .iter()
        .filter(|(r, _, _)| r.meta.num_frames >= 120)
        .take(6)
        .collect();
    let (mut jump, mut base, mut hold) = (0.0, 0.0, 0.0);
    for (rec, feats, _) in &long {
        let n = rec.meta.num_frames;
        let audio = &feats.values[..n * feats.dim];
        let style = Style::Text(embed(&rec.meta.labels.style)?);
        let o = SamplerOptions::default();
        let free = model.sample(audio, &style, &o)?;
        // The keyframe: frame 60 takes the expression of frame 20 of the same take.
        let key = diffusion::Keyframe {
            frame: 60,
            latent: Some(free.latent(20).to_vec()),
            pose: None,
        };
        let edited = model.sample_edited(audio, &style, &[key], &o)?;
        jump += (speed(&edited, 59) + speed(&edited, 60)) / 2.0;
        base += mean_speed(&edited);
        hold += free
            .latent(20)
            .iter()
            .zip(edited.latent(60))
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>();
    }
    let k = long.len().max(1) as f32;
    println!(
        "\nkeyframes ({} clips): latent speed around the keyframe {:.3} vs mean {:.3} (ratio {:.2}); held to {:.1e}",
        long.len(), jump / k, base / k, jump / base.max(1e-9), hold / k
    );
    // Seams of long audio: the test clips' features end to end (30 s or more), sampled in
    // overlapping windows; the latent's frame-to-frame change inside the overlaps against
    // elsewhere (frames within 3 of a clip join left out: the truth jumps there).
    {
        let f = records[0].1.dim;
        let mut audio = Vec::new();
        let mut joins = Vec::new();
        for (rec, feats, _) in &records {
            let n = rec.meta.num_frames;
            audio.extend_from_slice(&feats.values[..n * f]);
            joins.push(audio.len() / f);
            if audio.len() / f >= 900 {
                break;
            }
        }
        let total = audio.len() / f;
        let cfg = &model.config.model;
        let o = SamplerOptions::default();
        let overlap = o.overlap.unwrap_or(cfg.window / 4);
        let plan = diffusion::WindowPlan::new(total, cfg.window, overlap)?;
        let mut in_overlap = vec![false; total];
        for w in plan.starts.windows(2) {
            for flag in &mut in_overlap[w[1]..(w[0] + plan.len).min(total)] {
                *flag = true;
            }
        }
        let style = Style::Text(embed("a calm person talking")?);
        let m = model.sample(&audio, &style, &o)?;
        let near_join = |i: usize| joins.iter().any(|&j| i + 3 >= j && i <= j + 3);
        let (mut a, mut na, mut b, mut nb) = (0f32, 0, 0f32, 0);
        for (i, &overlapping) in in_overlap.iter().enumerate().take(total - 1) {
            if near_join(i) {
                continue;
            }
            if overlapping {
                a += speed(&m, i);
                na += 1;
            } else {
                b += speed(&m, i);
                nb += 1;
            }
        }
        println!(
            "long audio ({total} frames, {} windows, overlap {overlap}): latent speed in the overlaps {:.3}, elsewhere {:.3} (ratio {:.2})",
            plan.starts.len(),
            a / na.max(1) as f32,
            b / nb.max(1) as f32,
            (a / na.max(1) as f32) / (b / nb.max(1) as f32).max(1e-9)
        );
    }
    if let Some((rec, feats, neutral)) = long.first() {
        let n = rec.meta.num_frames;
        let f = feats.dim;
        let cfg = &model.config.model;
        let style = Style::Text(embed(&rec.meta.labels.style)?);
        let so = diffusion::StreamOptions::default();
        let mut stream = diffusion::MotionStream::new(&model, style.clone(), so)?;
        let mut times = Vec::new();
        let mut out = Vec::new();
        for piece in feats.values[..n * f].chunks(5 * f) {
            let t0 = std::time::Instant::now();
            let m = stream.push(piece)?;
            if m.frames() > 0 {
                times.push(t0.elapsed().as_secs_f64());
            }
            out.extend(m.data);
        }
        out.extend(stream.finish()?.data);
        let streamed = Motion {
            fps: cfg.fps,
            latent_dim: cfg.latent_dim,
            pose_dim: cfg.pose_dim,
            data: out,
        };
        let offline = model.sample(&feats.values[..n * f], &style, &SamplerOptions::default())?;
        let truth_z: Vec<Vec<f32>> = rec
            .latents
            .chunks(rec.meta.latent_dim)
            .map(|r| r.to_vec())
            .collect();
        let truth = lip_gaps(&gnpfa, neutral, &truth_z)?;
        let g_stream = lip_gaps(&gnpfa, neutral, &latents_of(&streamed))?;
        let g_off = lip_gaps(&gnpfa, neutral, &latents_of(&offline))?;
        let mean_t = times.iter().sum::<f64>() / times.len().max(1) as f64;
        println!(
            "streaming (chunk {}, context {}, lookahead {}) of one {n}-frame clip: {} generations of {:.3} s on average (max {:.3}); \
             a frame leaves {:.2} s of audio after it arrives plus one generation; gap correlation with the truth {:.3} (offline {:.3})",
            so.chunk, so.context, so.lookahead, times.len(), mean_t,
            times.iter().copied().fold(0.0, f64::max),
            (so.chunk + so.lookahead) as f64 / cfg.fps as f64,
            pearson(&g_stream, &truth), pearson(&g_off, &truth)
        );
    }
    Ok(())
}
