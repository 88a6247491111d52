//! Which conditions each prediction may see, as attention biases: the guidance terms of
//! Eq. 9 (none, audio, audio + style) and the random masking that trains them are the same
//! network with parts of its cross-attention memory hidden.

use candle_core::{Device, Tensor};

/// The additive bias that hides a key from attention (the attention kernel's).
pub const HIDDEN: f32 = m2f_kernels::HIDDEN_BIAS;

/// The conditions one window's prediction sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conditions {
    /// The audio features.
    pub audio: bool,
    /// The style prompt.
    pub style: bool,
}

impl Conditions {
    /// G(X_t): nothing but the noisy motion.
    pub const NONE: Self = Self {
        audio: false,
        style: false,
    };
    /// G(X_t, A).
    pub const AUDIO: Self = Self {
        audio: true,
        style: false,
    };
    /// G(X_t, A, P).
    pub const AUDIO_STYLE: Self = Self {
        audio: true,
        style: true,
    };
}

/// The cross-attention bias [B, N, N + 2] over the memory [null; audio frames; style] for
/// windows of `frames` frames: the null token is always visible; frame i sees audio frame j
/// when its window's audio is on and |i − j| ≤ `radius`; the style token when its style is on.
pub fn cross_attention_bias(
    frames: usize,
    conditions: &[Conditions],
    radius: Option<usize>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    padded_cross_attention_bias(frames, conditions, radius, None, device)
}

/// [`cross_attention_bias`] that also hides the audio of padding frames (`valid` [B·N], 1
/// for a real frame): training windows past a clip's end hold no audio, and inference never
/// shows such frames.
pub fn padded_cross_attention_bias(
    frames: usize,
    conditions: &[Conditions],
    radius: Option<usize>,
    valid: Option<&[f32]>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let m = frames + 2;
    let mut bias = vec![HIDDEN; conditions.len() * frames * m];
    for (b, c) in conditions.iter().enumerate() {
        for i in 0..frames {
            let row = &mut bias[(b * frames + i) * m..(b * frames + i + 1) * m];
            row[0] = 0.0;
            if c.audio {
                let (lo, hi) = match radius {
                    Some(r) => (i.saturating_sub(r), i.saturating_add(r).min(frames - 1)),
                    None => (0, frames - 1),
                };
                row[1 + lo..=1 + hi].fill(0.0);
                if let Some(valid) = valid {
                    for j in lo..=hi {
                        if valid[b * frames + j] <= 0.5 {
                            row[1 + j] = HIDDEN;
                        }
                    }
                }
            }
            if c.style {
                row[m - 1] = 0.0;
            }
        }
    }
    Tensor::from_vec(bias, (conditions.len(), frames, m), device)
}

/// The self-attention bias [B, N, N] that hides padding frames (`mask` [B·N], 1 for a real
/// frame) from every query; `None` when there is no padding.
pub fn padding_bias(
    mask: &[f32],
    batch: usize,
    frames: usize,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    if mask.iter().all(|&v| v > 0.5) {
        return Ok(None);
    }
    let mut bias = vec![0f32; batch * frames * frames];
    for b in 0..batch {
        for i in 0..frames {
            for j in 0..frames {
                if mask[b * frames + j] <= 0.5 {
                    bias[(b * frames + i) * frames + j] = HIDDEN;
                }
            }
        }
    }
    Tensor::from_vec(bias, (batch, frames, frames), device).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_the_conditions_and_the_band() {
        let dev = Device::Cpu;
        let conds = [Conditions::NONE, Conditions::AUDIO, Conditions::AUDIO_STYLE];
        let b = cross_attention_bias(5, &conds, Some(1), &dev)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let seen = |row: &Vec<f32>| -> Vec<usize> {
            row.iter()
                .enumerate()
                .filter(|(_, &v)| v == 0.0)
                .map(|(i, _)| i)
                .collect()
        };
        assert_eq!(seen(&b[0][2]), vec![0]);
        assert_eq!(seen(&b[1][2]), vec![0, 2, 3, 4]);
        assert_eq!(seen(&b[2][0]), vec![0, 1, 2, 6]);
        assert_eq!(seen(&b[2][4]), vec![0, 4, 5, 6]);
        let p = padding_bias(&[1.0, 1.0, 0.0], 1, 3, &dev).unwrap().unwrap();
        assert_eq!(p.to_vec3::<f32>().unwrap()[0][0], vec![0.0, 0.0, HIDDEN]);
        assert!(padding_bias(&[1.0; 3], 1, 3, &dev).unwrap().is_none());
    }
}
