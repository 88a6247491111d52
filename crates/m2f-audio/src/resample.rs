//! Sample-rate conversion of mono audio (espeak-ng's 22 050 Hz, or any file's rate, to the
//! 16 kHz the audio encoders expect).

use rubato::{FftFixedInOut, Resampler};

/// Why resampling failed.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// A zero rate, non-finite samples or an unreasonable rate pair.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The parameter or input at fault.
        what: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// rubato itself failed.
    #[error("resampling {from_hz} Hz -> {to_hz} Hz failed: {message}")]
    Rubato {
        /// The input sample rate, in Hz.
        from_hz: u32,
        /// The output sample rate, in Hz.
        to_hz: u32,
        /// rubato's error message.
        message: String,
    },
}

impl ResampleError {
    fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

type Result<T, E = ResampleError> = std::result::Result<T, E>;

/// Input frames per FFT block we aim for. Longer blocks mean a longer (sharper) anti-aliasing
/// filter; ~1000 taps at 22 kHz keeps the transition band narrow while staying cheap.
const TARGET_BLOCK: usize = 1024;

/// Largest FFT block we accept. Coprime rates such as 44 100 -> 16 001 Hz would need blocks of
/// tens of thousands of samples per rate unit; beyond this the memory use is silly.
const MAX_BLOCK: usize = 1 << 22;

/// The number of output samples for `len` input samples: `round(len * to_hz / from_hz)`.
pub fn output_len(len: usize, from_hz: u32, to_hz: u32) -> usize {
    if from_hz == 0 {
        return 0;
    }
    // u128 so that even absurd lengths cannot overflow; ties round up.
    let num = len as u128 * to_hz as u128 * 2 + from_hz as u128;
    (num / (2 * from_hz as u128)) as usize
}

/// Resamples mono `samples` from `from_hz` to `to_hz`.
///
/// Uses rubato's synchronous FFT resampler (windowed-sinc anti-aliasing filter). The output has
/// exactly [`output_len`]`(samples.len(), from_hz, to_hz)` samples and no time shift: the
/// resampler's group delay is removed, so an event at input sample `n` appears at output sample
/// `n * to_hz / from_hz`. The result depends only on the input (no state, no threads).
///
/// # Errors
/// [`ResampleError::Invalid`] for a zero rate, non-finite samples or a rate pair whose FFT block
/// would be unreasonably large; [`ResampleError::Rubato`] if rubato itself fails.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>> {
    if from_hz == 0 || to_hz == 0 {
        return Err(ResampleError::invalid(
            "sample rate",
            format!("rates must be positive, got {from_hz} Hz -> {to_hz} Hz"),
        ));
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(ResampleError::invalid(
            "audio",
            format!("sample {i} is {} (not finite)", samples[i]),
        ));
    }
    let target = output_len(samples.len(), from_hz, to_hz);
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    if from_hz == to_hz {
        return Ok(samples.to_vec());
    }

    let rubato_err = |message: String| ResampleError::Rubato {
        from_hz,
        to_hz,
        message,
    };

    let g = gcd(from_hz as usize, to_hz as usize);
    let unit_in = from_hz as usize / g;
    // An even number of rate units makes both FFT block sizes even. rubato centres its filter at
    // block_in / 2 input samples, which then maps exactly onto its reported output delay of
    // block_out / 2 samples; with odd blocks the two disagree by a fraction of a sample.
    let mut units = TARGET_BLOCK.div_ceil(unit_in).max(1);
    units += units % 2;
    let block_in = units.checked_mul(unit_in).filter(|&b| b <= MAX_BLOCK);
    let Some(block_in) = block_in else {
        return Err(ResampleError::invalid(
            "sample rate",
            format!(
                "{from_hz} Hz -> {to_hz} Hz needs an FFT block of more than {MAX_BLOCK} samples; \
                 use rates with a larger common divisor"
            ),
        ));
    };

    let mut resampler = FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, block_in, 1)
        .map_err(|e| rubato_err(e.to_string()))?;
    debug_assert_eq!(resampler.input_frames_next(), block_in);
    let delay = resampler.output_delay();
    let wanted = delay + target;

    let mut out: Vec<f32> = Vec::with_capacity(wanted + resampler.output_frames_max());
    let mut input = vec![vec![0.0f32; block_in]];
    let mut output = resampler.output_buffer_allocate(true);
    let mut consumed = 0;
    // Past the end of the input, keep feeding silence until the delayed tail has come out.
    while out.len() < wanted {
        let take = (samples.len() - consumed).min(block_in);
        input[0][..take].copy_from_slice(&samples[consumed..consumed + take]);
        input[0][take..].fill(0.0);
        consumed += take;
        let (_, written) = resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| rubato_err(e.to_string()))?;
        out.extend_from_slice(&output[0][..written]);
    }
    out.truncate(wanted);
    out.drain(..delay);
    Ok(out)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5
            })
            .collect()
    }

    /// Frequency estimate from the mean spacing of upward zero crossings (interpolated).
    fn zero_crossing_freq(x: &[f32], rate: u32) -> f64 {
        let mut crossings = Vec::new();
        for i in 1..x.len() {
            if x[i - 1] < 0.0 && x[i] >= 0.0 {
                let frac = -x[i - 1] as f64 / (x[i] - x[i - 1]) as f64;
                crossings.push(i as f64 - 1.0 + frac);
            }
        }
        let n = crossings.len() - 1;
        rate as f64 * n as f64 / (crossings[n] - crossings[0])
    }

    #[test]
    fn output_length_is_rounded_ratio() {
        for len in [0, 1, 2, 3, 440, 441, 442, 1000, 22050, 88_201, 123_457] {
            let x = vec![0.1f32; len];
            let y = resample(&x, 22_050, 16_000).unwrap();
            let exact = len as f64 * 16_000.0 / 22_050.0;
            assert_eq!(y.len(), exact.round() as usize, "len {len}");
            assert_eq!(y.len(), output_len(len, 22_050, 16_000));
        }
        assert_eq!(resample(&[0.5; 100], 16_000, 48_000).unwrap().len(), 300);
    }

    #[test]
    fn sine_frequency_is_preserved() {
        for freq in [220.0, 1000.0, 3500.0, 7000.0] {
            let x = sine(freq, 22_050, 22_050);
            let y = resample(&x, 22_050, 16_000).unwrap();
            // Skip the edges, where the signal starts and stops abruptly.
            let mid = &y[2000..y.len() - 2000];
            let est = zero_crossing_freq(mid, 16_000);
            assert!((est - freq).abs() < 0.5, "{freq} Hz came out as {est} Hz");
            let expected = sine(freq, 16_000, y.len());
            let err = mid
                .iter()
                .zip(&expected[2000..y.len() - 2000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Also checks the phase, i.e. that the delay is compensated.
            assert!(err < 0.01, "{freq} Hz: max deviation {err}");
        }
    }

    #[test]
    fn content_above_new_nyquist_is_removed() {
        let x = sine(10_000.0, 22_050, 22_050);
        let y = resample(&x, 22_050, 16_000).unwrap();
        let rms = (y[2000..y.len() - 2000].iter().map(|v| v * v).sum::<f32>()
            / (y.len() - 4000) as f32)
            .sqrt();
        assert!(rms < 0.01, "10 kHz leaked through with rms {rms}");
    }

    #[test]
    fn impulse_position_is_preserved() {
        for n in [0usize, 1, 100, 441, 1000, 5_003, 20_000, 22_049] {
            let mut x = vec![0.0f32; 22_050];
            x[n] = 1.0;
            let y = resample(&x, 22_050, 16_000).unwrap();
            let peak = y
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap();
            let expected = n as f64 * 16_000.0 / 22_050.0;
            assert!(
                (peak as f64 - expected).abs() <= 1.0,
                "impulse at {n} came out at {peak}, expected {expected:.2}"
            );
        }
    }

    #[test]
    fn deterministic_and_identity() {
        let x = sine(440.0, 22_050, 5000);
        assert_eq!(
            resample(&x, 22_050, 16_000).unwrap(),
            resample(&x, 22_050, 16_000).unwrap()
        );
        assert_eq!(resample(&x, 16_000, 16_000).unwrap(), x);
        assert!(resample(&[], 22_050, 16_000).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            resample(&[0.0], 0, 16_000),
            Err(ResampleError::Invalid { .. })
        ));
        assert!(matches!(
            resample(&[0.0, f32::NAN], 22_050, 16_000),
            Err(ResampleError::Invalid { .. })
        ));
    }
}
