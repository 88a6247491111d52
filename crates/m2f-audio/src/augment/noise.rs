//! Additive noise (white, pink, babble) at a signal-to-noise ratio against the active speech.

use super::error::{AugmentError, Result};
use super::recipe::NoiseSource;
use super::rng::SeededRng;

/// Frame length of the speech-level measurement: 20 ms at 16 kHz.
pub const LEVEL_FRAME: usize = 320;

/// Frames quieter than the loudest frame by more than this many dB count as pauses.
pub const ACTIVE_RANGE_DB: f64 = 40.0;

/// Voss–McCartney rows. Row `k` is renewed every `2^(k+1)` samples, so nine rows (plus the
/// white row renewed every sample) make the spectrum fall as 1/f from about 16 kHz / 2^10 ≈ 16 Hz
/// up; more rows would only add power below hearing, which would count as noise in the SNR.
const PINK_ROWS: usize = 9;

/// The active-speech power of `audio`: the mean square over the 20 ms frames ([`LEVEL_FRAME`])
/// whose own mean square is within [`ACTIVE_RANGE_DB`] of the loudest frame's (the last,
/// shorter frame counts with its own length). Pauses, which synthetic speech has as digital
/// silence, are thereby left out, so the SNR of a clip does not depend on how much silence it
/// has. Returns 0 for empty or silent audio.
pub fn active_speech_power(audio: &[f32]) -> f64 {
    let frames: Vec<(f64, usize)> = audio
        .chunks(LEVEL_FRAME)
        .map(|c| (c.iter().map(|&v| (v as f64) * (v as f64)).sum(), c.len()))
        .collect();
    let loudest = frames
        .iter()
        .map(|&(e, n)| e / n as f64)
        .fold(0.0f64, f64::max);
    if !(loudest > 0.0 && loudest.is_finite()) {
        return 0.0;
    }
    let floor = loudest * 10f64.powf(-ACTIVE_RANGE_DB / 10.0);
    let (energy, count) = frames
        .iter()
        .filter(|&&(e, n)| e / n as f64 >= floor)
        .fold((0.0, 0usize), |(se, sn), &(e, n)| (se + e, sn + n));
    energy / count as f64
}

/// Adds the step's noise to `audio` at `snr_db` (see [`mix_at_snr`]).
pub(crate) fn add_noise(
    audio: &[f32],
    source: NoiseSource,
    snr_db: f64,
    seed: u64,
    babble_sources: &[&[f32]],
    step: usize,
) -> Result<Vec<f32>> {
    let mut rng = SeededRng::new(seed);
    let len = audio.len();
    let noise = match source {
        NoiseSource::White => (0..len).map(|_| rng.gaussian()).collect(),
        NoiseSource::Pink => pink(len, &mut rng),
        NoiseSource::Babble { talkers } => {
            babble(len, babble_sources, talkers as usize, &mut rng, step)?
        }
    };
    Ok(mix_at_snr(audio, &noise, snr_db))
}

/// `audio + g · noise` with `g` chosen so that [`active_speech_power`]`(audio)` over the mean
/// square of `g · noise` (over the whole clip) is `snr_db`. Silent audio is returned unchanged
/// (the noise level is relative to the speech, and there is none), and so is audio whose noise
/// is all zero (a babble excerpt that fell entirely in the sources' pauses).
pub(crate) fn mix_at_snr(audio: &[f32], noise: &[f64], snr_db: f64) -> Vec<f32> {
    let speech = active_speech_power(audio);
    let noise_power = noise.iter().map(|v| v * v).sum::<f64>() / noise.len().max(1) as f64;
    if !(speech > 0.0 && noise_power > 0.0) {
        return audio.to_vec();
    }
    let g = (speech / (noise_power * 10f64.powf(snr_db / 10.0))).sqrt();
    audio
        .iter()
        .zip(noise)
        .map(|(&s, &n)| (s as f64 + g * n) as f32)
        .collect()
}

/// Pink noise by the Voss–McCartney method: the sum of [`PINK_ROWS`] Gaussian values, row `k`
/// renewed when the sample counter has `k` trailing zero bits (every `2^(k+1)` samples), plus
/// a white value renewed every sample. Mean removed.
pub(crate) fn pink(len: usize, rng: &mut SeededRng) -> Vec<f64> {
    let mut rows = [0.0f64; PINK_ROWS];
    for r in rows.iter_mut() {
        *r = rng.gaussian();
    }
    let mut out = Vec::with_capacity(len);
    for n in 0..len {
        let k = (n as u64 + 1).trailing_zeros() as usize;
        if k < PINK_ROWS {
            rows[k] = rng.gaussian();
        }
        out.push(rows.iter().sum::<f64>() + rng.gaussian());
    }
    let mean = out.iter().sum::<f64>() / len.max(1) as f64;
    out.iter_mut().for_each(|v| *v -= mean);
    out
}

/// Babble: the first `talkers` sources, each scaled to unit active-speech power times a seeded
/// level within ±3 dB (so no talker dominates by its recording level alone), read from a
/// seeded start offset and looped to `len` samples, summed.
fn babble(
    len: usize,
    sources: &[&[f32]],
    talkers: usize,
    rng: &mut SeededRng,
    step: usize,
) -> Result<Vec<f64>> {
    if sources.len() < talkers {
        return Err(AugmentError::MissingBabbleSources {
            step,
            needed: talkers,
            given: sources.len(),
        });
    }
    let mut out = vec![0.0f64; len];
    for (i, src) in sources[..talkers].iter().enumerate() {
        let power = active_speech_power(src);
        if src.is_empty() || power <= 0.0 {
            return Err(AugmentError::SilentBabbleSource {
                step,
                source_index: i,
            });
        }
        let level_db = rng.uniform(-3.0, 3.0);
        let g = 10f64.powf(level_db / 20.0) / power.sqrt();
        let mut j = rng.below(src.len() as u64) as usize;
        for o in out.iter_mut() {
            *o += g * src[j] as f64;
            j += 1;
            if j == src.len() {
                j = 0;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    /// Welch power spectral density: Hann windows of `n`, half overlap. Bin `k` is k·16000/n Hz.
    pub(crate) fn welch(x: &[f64], n: usize) -> Vec<f64> {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let window: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        let mut psd = vec![0.0; n / 2 + 1];
        let mut spec = fft.make_output_vec();
        let mut count = 0;
        for start in (0..x.len().saturating_sub(n)).step_by(n / 2) {
            let mut buf: Vec<f64> = (0..n).map(|i| x[start + i] * window[i]).collect();
            fft.process(&mut buf, &mut spec).unwrap();
            for (p, c) in psd.iter_mut().zip(&spec) {
                *p += c.norm_sqr();
            }
            count += 1;
        }
        psd.iter_mut().for_each(|p| *p /= count as f64);
        psd
    }

    #[test]
    fn pink_noise_falls_3_db_per_octave() {
        let x = pink(1 << 19, &mut SeededRng::new(4));
        let n = 4096;
        let psd = welch(&x, n);
        // Least-squares slope of 10·log10(PSD) against log2(f), 100 Hz to 6 kHz.
        let (mut sx, mut sy, mut sxx, mut sxy, mut m) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (k, &p) in psd.iter().enumerate() {
            let f = k as f64 * 16_000.0 / n as f64;
            if !(100.0..=6000.0).contains(&f) {
                continue;
            }
            let (xv, yv) = (f.log2(), 10.0 * p.log10());
            sx += xv;
            sy += yv;
            sxx += xv * xv;
            sxy += xv * yv;
            m += 1.0;
        }
        let slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
        eprintln!("pink noise slope: {slope:.3} dB/octave");
        assert!((slope + 3.0).abs() < 0.3, "slope {slope} dB/octave");
    }

    #[test]
    fn active_power_ignores_pauses() {
        let mut x = vec![0.0f32; 16_000];
        // Whole frames of 320 samples: 12 to 24.
        for v in x[3840..8000].iter_mut() {
            *v = 0.5;
        }
        assert!((active_speech_power(&x) - 0.25).abs() < 1e-12);
        assert_eq!(active_speech_power(&[]), 0.0);
        assert_eq!(active_speech_power(&[0.0; 100]), 0.0);
    }

    #[test]
    fn babble_checks_its_sources() {
        let a = vec![0.1f32; 1000];
        let silent = vec![0.0f32; 1000];
        let mut rng = SeededRng::new(0);
        assert!(matches!(
            babble(10, &[&a], 2, &mut rng, 3),
            Err(AugmentError::MissingBabbleSources {
                step: 3,
                needed: 2,
                given: 1
            })
        ));
        assert!(matches!(
            babble(10, &[&a, &silent], 2, &mut rng, 0),
            Err(AugmentError::SilentBabbleSource {
                source_index: 1,
                ..
            })
        ));
        assert!(matches!(
            babble(10, &[&a, &[]], 2, &mut rng, 0),
            Err(AugmentError::SilentBabbleSource { .. })
        ));
        // A 1000-sample source loops to fill 5000 samples.
        let b = babble(5000, &[&a], 1, &mut rng, 0).unwrap();
        assert!(b.iter().all(|&v| v > 0.0));
    }
}
