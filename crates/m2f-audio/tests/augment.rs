//! Augmentation recipes end to end: reproducibility, measured SNR, RT60, band limits, codec
//! alignment and lip sync under speed perturbation. Measured numbers are printed
//! (`cargo test -p m2f-audio --release -- --nocapture`) and quoted in `docs/augmentation.md`.

use m2f_audio::{
    frame_count, AugmentConfig, AugmentError, AugmentRecipe, ClipMode, Codec, NoiseSource,
    NoiseWeights, Step,
};

const SR: f64 = 16_000.0;

/// A small deterministic generator for test signals (independent of the crate's own).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Speech-like audio: voiced syllables (harmonics of a gliding 100–220 Hz pitch, brighter in
/// the formant region), fricative noise bursts and pauses of digital silence. Peak about 0.3.
fn speech_like(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed.wrapping_mul(2_654_435_761).wrapping_add(17));
    let mut x = vec![0.0f32; len];
    let mut n = (rng.next() * 1600.0) as usize;
    while n < len {
        let syl = 1600 + (rng.next() * 2400.0) as usize;
        let f0 = 100.0 + rng.next() * 120.0;
        let glide = (rng.next() - 0.5) * 60.0;
        let formant = 500.0 + rng.next() * 1500.0;
        let fricative = rng.next() < 0.3;
        let mut phase = 0.0f64;
        for i in 0..syl.min(len - n) {
            let t = i as f64 / syl as f64;
            let env = (std::f64::consts::PI * t).sin().powi(2);
            let v = if fricative {
                (rng.next() - 0.5) * 0.5
            } else {
                phase += std::f64::consts::TAU * (f0 + glide * t) / SR;
                let mut s = 0.0;
                for h in 1..40 {
                    let fh = h as f64 * (f0 + glide * t);
                    if fh > 7000.0 {
                        break;
                    }
                    let w = 1.0 / (1.0 + ((fh - formant) / 400.0).powi(2)) + 0.3 / h as f64;
                    s += w * (h as f64 * phase).sin();
                }
                s * 0.08
            };
            x[n + i] = (env * v) as f32;
        }
        n += syl + (rng.next() * 3200.0) as usize;
    }
    x
}

fn mean_square(x: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v * v, n + 1));
    s / n.max(1) as f64
}

/// Cross-correlation of `y` against `x` at lags −max..=max (`y` delayed by `lag` samples
/// correlates best with `x`), by FFT; returns the best lag, refined by a parabola through the
/// peak and its neighbours.
fn xcorr_lag(x: &[f32], y: &[f32], max: usize) -> f64 {
    use realfft::RealFftPlanner;
    let n = x.len().min(y.len());
    let n_fft = (2 * n).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n_fft);
    let inv = planner.plan_fft_inverse(n_fft);
    let spectrum = |v: &[f32]| {
        let mut buf = fwd.make_input_vec();
        for (b, &s) in buf.iter_mut().zip(&v[..n]) {
            *b = s as f64;
        }
        let mut spec = fwd.make_output_vec();
        fwd.process(&mut buf, &mut spec).unwrap();
        spec
    };
    let (sx, sy) = (spectrum(x), spectrum(y));
    let mut prod: Vec<_> = sx.iter().zip(&sy).map(|(a, b)| a.conj() * b).collect();
    let last = prod.len() - 1;
    prod[0].im = 0.0;
    prod[last].im = 0.0;
    let mut r = inv.make_output_vec();
    inv.process(&mut prod, &mut r).unwrap();
    // r[lag] for lag >= 0, r[n_fft + lag] for lag < 0.
    let at = |lag: i64| r[lag.rem_euclid(n_fft as i64) as usize];
    let max = max as i64;
    let best = (-max..=max)
        .max_by(|&a, &b| at(a).total_cmp(&at(b)))
        .unwrap();
    let (a, b, d) = (at(best - 1), at(best), at(best + 1));
    let den = a - 2.0 * b + d;
    best as f64 + if den != 0.0 { 0.5 * (a - d) / den } else { 0.0 }
}

fn one_step(step: Step) -> AugmentRecipe {
    AugmentRecipe::new(vec![step])
}

/// Every step kind, with all optional parts on.
fn full_recipe() -> AugmentRecipe {
    AugmentRecipe::new(vec![
        Step::Speed {
            numerator: 1047,
            denominator: 1000,
        },
        Step::Reverb {
            rt60_s: 0.42,
            drr_db: 4.5,
            early_reflections: 5,
            seed: 77,
        },
        Step::Noise {
            source: NoiseSource::Babble { talkers: 4 },
            snr_db: 12.5,
            seed: 5,
        },
        Step::Noise {
            source: NoiseSource::Pink,
            snr_db: 25.0,
            seed: 6,
        },
        Step::LowPass { cutoff_hz: 5500.0 },
        Step::Telephone,
        Step::Codec {
            codec: Codec::Mp3,
            bitrate_kbps: 32,
        },
        Step::Gain { gain_db: 9.0 },
        Step::Clip {
            mode: ClipMode::Soft,
            threshold: 0.6,
        },
    ])
}

fn babble_pool() -> Vec<Vec<f32>> {
    // Different lengths, so that some loop and some are cut.
    (0..6)
        .map(|i| speech_like(12_000 + 9_000 * i, 100 + i as u64))
        .collect()
}

#[test]
fn recipes_round_trip_and_replay_bit_identically() {
    let speech = speech_like(40_000, 1);
    let pool = babble_pool();
    let sources: Vec<&[f32]> = pool.iter().map(Vec::as_slice).collect();
    let recipe = full_recipe();
    let json = serde_json::to_string_pretty(&recipe).unwrap();
    eprintln!("full recipe:\n{json}");
    let back: AugmentRecipe = serde_json::from_str(&json).unwrap();
    assert_eq!(back, recipe);

    let a = recipe.apply(&speech, &sources).unwrap();
    let b = back.apply(&speech, &sources).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.audio), bits(&b.audio));
    assert_eq!(a.audio.len(), (40_000.0f64 / 1.047).round() as usize);
    assert_eq!(a.speed_factor, 1.047);
    assert!(a.audio.iter().all(|v| v.is_finite() && v.abs() <= 1.0));

    // Sampled recipes: the same seed gives the same recipe; different seeds differ.
    let config = AugmentConfig::default();
    let r1 = AugmentRecipe::sample(&config, 2024).unwrap();
    assert_eq!(r1, AugmentRecipe::sample(&config, 2024).unwrap());
    let others: Vec<AugmentRecipe> = (0..12)
        .map(|s| AugmentRecipe::sample(&config, s).unwrap())
        .collect();
    assert!(others.iter().all(|r| r != &r1 || r.steps.is_empty()));
    let distinct: std::collections::HashSet<String> = others
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert_eq!(distinct.len(), 12);
    for (seed, r) in others.iter().enumerate() {
        let json = serde_json::to_string(r).unwrap();
        assert_eq!(&serde_json::from_str::<AugmentRecipe>(&json).unwrap(), r);
        let x = r.apply(&speech, &sources).unwrap();
        let y = r.apply(&speech, &sources).unwrap();
        assert_eq!(bits(&x.audio), bits(&y.audio), "seed {seed}");
        assert!(x.audio.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }
    eprintln!(
        "sampled recipe (seed 3):\n{}",
        serde_json::to_string_pretty(&others[3]).unwrap()
    );
}

/// The example in `docs/augmentation.md`: also pins the sampling algorithm, since a change there
/// would silently change every training set built from seeds.
#[test]
fn sampling_is_stable() {
    let r = AugmentRecipe::sample(&AugmentConfig::default(), 121).unwrap();
    let want = r#"{"version": 1, "steps": [
        {"step": "speed", "numerator": 481, "denominator": 500},
        {"step": "reverb", "rt60_s": 0.494, "drr_db": 4.3, "early_reflections": 1,
         "seed": 502877156987117736},
        {"step": "noise", "source": {"babble": {"talkers": 5}}, "snr_db": 3.7,
         "seed": 162451904778182645},
        {"step": "telephone"},
        {"step": "codec", "codec": "aac", "bitrate_kbps": 16},
        {"step": "gain", "gain_db": -5.5}
    ]}"#;
    assert_eq!(r, serde_json::from_str::<AugmentRecipe>(want).unwrap());
}

#[test]
fn json_is_strict_and_readable() {
    let json = r#"{"version": 1, "steps": [
        {"step": "speed", "numerator": 9, "denominator": 10},
        {"step": "noise", "source": {"babble": {"talkers": 3}}, "snr_db": 10.0, "seed": 1},
        {"step": "noise", "source": "white", "snr_db": 20.0, "seed": 2},
        {"step": "telephone"},
        {"step": "codec", "codec": "aac", "bitrate_kbps": 24},
        {"step": "clip", "mode": "hard", "threshold": 0.5}
    ]}"#;
    let r: AugmentRecipe = serde_json::from_str(json).unwrap();
    assert_eq!(r.steps.len(), 6);
    assert_eq!(r.babble_talkers(), 3);
    assert!(r.needs_ffmpeg());
    assert_eq!(r.speed_factor(), 0.9);
    // A misspelt field is an error, not a silently ignored parameter.
    let typo = r#"{"version": 1, "steps": [{"step": "gain", "gain_dB": 3.0}]}"#;
    assert!(serde_json::from_str::<AugmentRecipe>(typo).is_err());
    let unknown = r#"{"version": 1, "steps": [{"step": "flanger"}]}"#;
    assert!(serde_json::from_str::<AugmentRecipe>(unknown).is_err());
}

#[test]
fn noise_is_added_at_the_recorded_snr() {
    let speech = speech_like(48_000, 2);
    let pool = babble_pool();
    let sources: Vec<&[f32]> = pool.iter().map(Vec::as_slice).collect();
    let active = m2f_audio::active_speech_power(&speech);
    let mut worst = 0.0f64;
    for source in [
        NoiseSource::White,
        NoiseSource::Pink,
        NoiseSource::Babble { talkers: 3 },
        NoiseSource::Babble { talkers: 6 },
    ] {
        for snr_db in [0.0, 7.5, 15.0, 30.0] {
            for seed in 0..3 {
                let r = one_step(Step::Noise {
                    source,
                    snr_db,
                    seed,
                });
                let out = r.apply(&speech, &sources).unwrap();
                let g = out.normalisation_gain as f64;
                let noise = out
                    .audio
                    .iter()
                    .zip(&speech)
                    .map(|(&y, &s)| y as f64 / g - s as f64);
                let measured = 10.0 * (active / mean_square(noise)).log10();
                worst = worst.max((measured - snr_db).abs());
            }
        }
    }
    eprintln!("noise: worst |measured SNR - recipe SNR| = {worst:.2e} dB");
    assert!(worst < 0.5, "{worst} dB");

    // Different seeds give different noise; the same seed the same.
    let r = |seed| {
        one_step(Step::Noise {
            source: NoiseSource::Pink,
            snr_db: 10.0,
            seed,
        })
    };
    let a = (r(1)).apply(&speech, &[]).unwrap().audio;
    assert_eq!(a, (r(1)).apply(&speech, &[]).unwrap().audio);
    assert_ne!(a, (r(2)).apply(&speech, &[]).unwrap().audio);
}

/// Reverberation time by the Schroeder backward integral of `h[1..]` (leaving out the direct
/// path): the energy decay curve's slope between −5 and −25 dB, extrapolated to −60 dB.
fn schroeder_rt60(h: &[f32]) -> f64 {
    let e: Vec<f64> = h[1..].iter().map(|&v| (v as f64).powi(2)).collect();
    let mut edc = vec![0.0; e.len()];
    let mut acc = 0.0;
    for i in (0..e.len()).rev() {
        acc += e[i];
        edc[i] = acc;
    }
    let (mut sx, mut sy, mut sxx, mut sxy, mut m) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in edc.iter().enumerate() {
        let db = 10.0 * (v / edc[0]).log10();
        if (-25.0..=-5.0).contains(&db) {
            let t = i as f64 / SR;
            sx += t;
            sy += db;
            sxx += t * t;
            sxy += t * db;
            m += 1.0;
        }
    }
    -60.0 / ((m * sxy - sx * sy) / (m * sxx - sx * sx))
}

#[test]
fn reverb_decays_at_rt60_without_shifting_speech() {
    let mut worst_rt = 0.0f64;
    for rt60_s in [0.1, 0.25, 0.5, 0.8] {
        for (early_reflections, drr_db) in [(0, 0.0), (4, 6.0), (6, -3.0)] {
            for seed in 0..10 {
                let r = one_step(Step::Reverb {
                    rt60_s,
                    drr_db,
                    early_reflections,
                    seed,
                });
                // The response of the whole step to an impulse at sample 200.
                let mut x = vec![0.0f32; 16_000];
                x[200] = 0.5;
                let y = r.apply(&x, &[]).unwrap().audio;
                // Only FFT rounding (~1e-17) before the impulse: the response is causal.
                assert!(
                    y[..200].iter().all(|&v| v.abs() < 1e-9),
                    "energy before the impulse"
                );
                let est = schroeder_rt60(&y[200..]);
                worst_rt = worst_rt.max(((est - rt60_s) / rt60_s).abs());
            }
        }
    }
    eprintln!(
        "reverb: worst RT60 error {:.1} % (Schroeder, -5..-25 dB)",
        100.0 * worst_rt
    );
    assert!(worst_rt < 0.2);

    let speech = speech_like(32_000, 3);
    let mut lags = Vec::new();
    for (rt60_s, drr_db, refl) in [(0.8, -3.0, 6), (0.5, 0.0, 1), (0.3, 6.0, 4), (0.1, 12.0, 0)] {
        for seed in 0..3 {
            let r = one_step(Step::Reverb {
                rt60_s,
                drr_db,
                early_reflections: refl,
                seed,
            });
            let y = r.apply(&speech, &[]).unwrap().audio;
            assert_eq!(y.len(), speech.len());
            lags.push(xcorr_lag(&speech, &y, 400));
        }
    }
    let worst = lags.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    eprintln!("reverb: worst cross-correlation lag with the dry speech {worst:.3} samples");
    assert!(worst < 0.5, "{lags:?}");
}

fn tone(freq: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (0.5 * (std::f64::consts::TAU * freq * i as f64 / SR).sin()) as f32)
        .collect()
}

fn gain_db(step: &Step, freq: f64) -> f64 {
    let x = tone(freq, 16_000);
    let y = (one_step(step.clone())).apply(&x, &[]).unwrap().audio;
    let p = |v: &[f32]| mean_square(v[2000..14_000].iter().map(|&s| s as f64));
    10.0 * (p(&y) / p(&x)).log10()
}

#[test]
fn band_limits_attenuate_out_of_band_tones_without_delay() {
    let tel = Step::Telephone;
    let (g100, g1k, g5k) = (
        gain_db(&tel, 100.0),
        gain_db(&tel, 1000.0),
        gain_db(&tel, 5000.0),
    );
    let lp = Step::LowPass { cutoff_hz: 6000.0 };
    let (lp1k, lp7k) = (gain_db(&lp, 1000.0), gain_db(&lp, 7000.0));
    let lp4 = Step::LowPass { cutoff_hz: 4000.0 };
    let lp4_5k = gain_db(&lp4, 5000.0);
    eprintln!(
        "telephone: 100 Hz {g100:.1} dB, 1 kHz {g1k:.3} dB, 5 kHz {g5k:.1} dB; low-pass 6 kHz: \
         1 kHz {lp1k:.3} dB, 7 kHz {lp7k:.1} dB; low-pass 4 kHz: 5 kHz {lp4_5k:.1} dB"
    );
    assert!(g100 < -60.0 && g5k < -40.0 && g1k.abs() < 0.1);
    assert!(lp7k < -60.0 && lp1k.abs() < 0.01 && lp4_5k < -25.0);

    let speech = speech_like(32_000, 4);
    for step in [tel, lp, lp4] {
        let y = (one_step(step.clone())).apply(&speech, &[]).unwrap().audio;
        assert_eq!(y.len(), speech.len());
        let lag = xcorr_lag(&speech, &y, 200);
        eprintln!("{step:?}: lag {lag:.4} samples");
        assert!(lag.abs() < 0.05, "{step:?}: lag {lag}");
    }
}

#[test]
fn codec_round_trip_is_aligned_and_keeps_length() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: ffmpeg is not installed (apt-get install ffmpeg)");
        return;
    }
    // Bitrate sweep on 2.5 s; lengths (odd, short) at 64 kbit/s.
    let cases = [
        (40_000usize, 16u32),
        (40_000, 32),
        (40_000, 64),
        (16_001, 64),
        (3_333, 64),
    ];
    for (len, bitrate_kbps) in cases {
        let speech = speech_like(len, 5 + len as u64);
        for codec in [Codec::Mp3, Codec::Aac] {
            let r = one_step(Step::Codec {
                codec,
                bitrate_kbps,
            });
            let out = r.apply(&speech, &[]).unwrap();
            let y = &out.audio;
            assert_eq!(y.len(), speech.len(), "{codec:?} {bitrate_kbps}k");
            // Priming would show as a lag of about 1024 (AAC) or 1105 (MP3) samples.
            let lag = xcorr_lag(&speech, y, 2000);
            let err = y
                .iter()
                .zip(&speech)
                .map(|(&a, &b)| a as f64 / out.normalisation_gain as f64 - b as f64);
            let snr =
                10.0 * (mean_square(speech.iter().map(|&v| v as f64)) / mean_square(err)).log10();
            eprintln!(
                "{codec:?} {bitrate_kbps} kbit/s, {len} samples: lag {lag:.3} samples, SNR \
                 {snr:.1} dB"
            );
            assert!(
                lag.abs() <= 16.0,
                "{codec:?} {bitrate_kbps}k: lag {lag} samples"
            );
            if bitrate_kbps == 64 && len >= 16_000 {
                assert!(snr > 10.0, "{codec:?} 64k: SNR {snr} dB");
            }
            if len == 16_001 {
                assert_eq!(&r.apply(&speech, &[]).unwrap(), &out, "not deterministic");
            }
        }
    }
    // Empty audio needs no ffmpeg run; one sample survives the round trip.
    for codec in [Codec::Mp3, Codec::Aac] {
        let r = one_step(Step::Codec {
            codec,
            bitrate_kbps: 24,
        });
        assert!(r.apply(&[], &[]).unwrap().audio.is_empty());
        assert_eq!(r.apply(&[0.25], &[]).unwrap().audio.len(), 1);
    }
}

/// Position of the largest |sample| near `around`, refined by a parabola through its neighbours.
fn peak_near(y: &[f32], around: f64, radius: usize) -> f64 {
    let c = around.round() as usize;
    let (lo, hi) = (c.saturating_sub(radius), (c + radius).min(y.len() - 1));
    let k = (lo..=hi)
        .max_by(|&a, &b| y[a].abs().total_cmp(&y[b].abs()))
        .unwrap();
    let (a, b, d) = (
        y[k - 1].abs() as f64,
        y[k].abs() as f64,
        y[k + 1].abs() as f64,
    );
    k as f64 + 0.5 * (a - d) / (a - 2.0 * b + d)
}

#[test]
fn speed_perturbation_keeps_lip_sync() {
    let fps = 30.0;
    let len = 56_000;
    // Frames that are multiples of 3 fall on whole samples at 16 kHz (frame k at k·1600/3).
    let frames_at = [30usize, 57, 93];
    let mut audio = vec![0.0f32; len];
    for &k in &frames_at {
        audio[k * 16_000 / 30] = 0.8;
    }
    let t = frame_count(len, fps);
    // Channel 0: spikes at the click frames; channel 1: the frame's own time, in seconds.
    let mut track = vec![0.0f32; t * 2];
    for i in 0..t {
        track[2 * i + 1] = i as f32 / fps as f32;
    }
    for &k in &frames_at {
        track[2 * k] = 1.0;
    }
    let mut worst_click = 0.0f64;
    let mut worst_nearest = 0.0f64;
    let mut worst_centroid = 0.0f64;
    let mut worst_apex = 0.0f64;
    let mut worst_ramp = 0.0f64;
    for factor in [0.9, 1.1, 0.953, 1.047, 0.5, 2.0] {
        let recipe = AugmentRecipe::new(vec![Step::speed_from_factor(factor).unwrap()]);
        let out = recipe.apply(&audio, &[]).unwrap();
        assert_eq!(out.speed_factor, factor);
        assert_eq!(out.audio.len(), (len as f64 / factor).round() as usize);
        let y = out.resample_track(&track, 2, fps).unwrap();
        let t_out = y.len() / 2;
        assert_eq!(t_out, frame_count(out.audio.len(), fps));
        for &k in &frames_at {
            let t_true = k as f64 / fps / factor;
            // Linear interpolation does not low-pass: at factor 2 an odd frame's spike falls
            // between output frames, so single-frame events are only followed below 2.
            if factor >= 2.0 {
                let click = peak_near(&out.audio, t_true * SR, 40) / SR;
                worst_click = worst_click.max((click - t_true).abs());
                continue;
            }
            // Click time in the perturbed audio.
            let click = peak_near(&out.audio, t_true * SR, 40) / SR;
            // Spike time in the resampled track. Linear interpolation turns the one-frame
            // spike into a triangle of half-width 1/factor output frames: its apex, from the
            // largest sample and the side of its larger neighbour, is where the track puts it.
            let j0 = (t_true * fps).round() as usize;
            let window = j0.saturating_sub(2)..=(j0 + 2).min(t_out - 2);
            let jm = window
                .clone()
                .max_by(|&a, &b| y[2 * a].total_cmp(&y[2 * b]))
                .unwrap();
            let (w, left, right) = (y[2 * jm] as f64, y[2 * jm - 2], y[2 * jm + 2]);
            let side = if right >= left { 1.0 } else { -1.0 };
            let apex = (jm as f64 + side * (1.0 - w) / factor) / fps;
            let nearest = jm as f64 / fps;
            // The centroid, a cruder reading of the same triangle.
            let (mut s, mut sw) = (0.0, 0.0);
            for j in window {
                s += j as f64 * y[2 * j] as f64;
                sw += y[2 * j] as f64;
            }
            let centroid = s / sw / fps;
            worst_click = worst_click.max((click - t_true).abs());
            worst_nearest = worst_nearest.max((nearest - click).abs());
            worst_centroid = worst_centroid.max((centroid - click).abs());
            worst_apex = worst_apex.max((apex - click).abs());
        }
        // The time channel: frame j of the output must hold the input time it stands for.
        for j in 0..t_out {
            let want = (j as f64 * factor / fps).min((t - 1) as f64 / fps);
            worst_ramp = worst_ramp.max((y[2 * j + 1] as f64 - want).abs());
        }
    }
    eprintln!(
        "speed: click vs true time {:.4} ms; spike vs click: nearest frame {:.2} ms, centroid \
         {:.3} ms, triangle apex {:.4} ms; time channel {:.2e} ms",
        1e3 * worst_click,
        1e3 * worst_nearest,
        1e3 * worst_centroid,
        1e3 * worst_apex,
        1e3 * worst_ramp
    );
    assert!(worst_click < 0.1e-3);
    assert!(worst_nearest <= 0.5 / fps + 0.1e-3);
    assert!(worst_centroid < 3e-3);
    assert!(worst_apex < 0.1e-3);
    assert!(worst_ramp < 1e-5);
}

#[test]
fn bad_inputs_give_errors_not_panics() {
    let speech = speech_like(8_000, 9);
    let full = full_recipe();
    let pool = babble_pool();
    let sources: Vec<&[f32]> = pool.iter().map(Vec::as_slice).collect();

    // Empty and tiny audio pass through every step.
    for len in [0usize, 1, 2, 5] {
        let x = vec![0.3f32; len];
        let out = full.apply(&x, &sources).unwrap();
        assert_eq!(out.audio.len(), (len as f64 / 1.047).round() as usize);
    }
    // Silent audio gets no noise.
    let r = one_step(Step::Noise {
        source: NoiseSource::White,
        snr_db: 0.0,
        seed: 0,
    });
    assert_eq!(r.apply(&[0.0; 100], &[]).unwrap().audio, vec![0.0; 100]);

    let mut bad = speech.clone();
    bad[17] = f32::NAN;
    assert!(matches!(
        full.apply(&bad, &sources),
        Err(AugmentError::NonFinite { index: 17, .. })
    ));
    let mut bad_src = pool[1].clone();
    bad_src[3] = f32::INFINITY;
    let srcs = [sources[0], &bad_src[..], sources[2], sources[3]];
    let e = full.apply(&speech, &srcs).unwrap_err();
    assert!(e.to_string().contains("babble source 1"), "{e}");
    assert!(matches!(
        full.apply(&speech, &sources[..2]),
        Err(AugmentError::MissingBabbleSources {
            step: 2,
            needed: 4,
            given: 2
        })
    ));

    for (step, field) in [
        (
            Step::Speed {
                numerator: u32::MAX,
                denominator: 1,
            },
            "steps[0].numerator",
        ),
        (
            Step::Speed {
                numerator: 1000,
                denominator: 1,
            },
            "steps[0].numerator / denominator",
        ),
        (
            Step::Reverb {
                rt60_s: f64::INFINITY,
                drr_db: 0.0,
                early_reflections: 0,
                seed: 0,
            },
            "steps[0].rt60_s",
        ),
        (
            Step::Reverb {
                rt60_s: 0.3,
                drr_db: -20.0,
                early_reflections: 0,
                seed: 0,
            },
            "steps[0].drr_db",
        ),
        (
            Step::Noise {
                source: NoiseSource::Babble { talkers: 0 },
                snr_db: 5.0,
                seed: 0,
            },
            "steps[0].source.babble.talkers",
        ),
        (Step::LowPass { cutoff_hz: 8000.0 }, "steps[0].cutoff_hz"),
        (
            Step::Codec {
                codec: Codec::Aac,
                bitrate_kbps: 0,
            },
            "steps[0].bitrate_kbps",
        ),
        (Step::Gain { gain_db: f64::NAN }, "steps[0].gain_db"),
        (
            Step::Clip {
                mode: ClipMode::Hard,
                threshold: 0.0,
            },
            "steps[0].threshold",
        ),
    ] {
        let e = (one_step(step)).apply(&speech, &[]).unwrap_err();
        match &e {
            AugmentError::InvalidParameter { field: f, .. } => assert_eq!(f, field, "{e}"),
            other => panic!("{field}: expected InvalidParameter, got {other}"),
        }
    }

    // Loud input is scaled back into [-1, 1]; absurdly loud input is an error, not a panic.
    let loud: Vec<f32> = speech.iter().map(|v| v * 1e6).collect();
    let out = (one_step(Step::Gain { gain_db: 40.0 }))
        .apply(&loud, &[])
        .unwrap();
    assert!(out.audio.iter().all(|v| v.abs() <= 1.0) && out.normalisation_gain < 1e-6);
    let absurd = vec![3e37f32; 100];
    assert!(matches!(
        (one_step(Step::Gain { gain_db: 40.0 })).apply(&absurd, &[]),
        Err(AugmentError::NonFiniteOutput { step: 0, .. })
    ));

    // Bad configs are refused with the field named.
    let c = AugmentConfig {
        noise_weights: NoiseWeights {
            white: -1.0,
            pink: 1.0,
            babble: 1.0,
        },
        ..AugmentConfig::default()
    };
    let e = AugmentRecipe::sample(&c, 0).unwrap_err().to_string();
    assert!(e.contains("noise_weights.white"), "{e}");
}
