//! A vectorisable `exp` for f32 and the row softmax built on it: range reduction to
//! `2^n · e^r` with |r| ≤ ln 2 / 2 and a degree-6 polynomial for `e^r` (relative error below
//! 2e-7 over the f32 range), written as plain loops the compiler turns into SIMD, unlike libm's
//! scalar `expf`. The loops are compiled three times (SSE2, AVX2 + FMA, AVX-512) and the
//! widest the CPU has is chosen at run time.

/// Which instruction set the loops run with on this CPU (only x86-64 has a choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Simd {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Simd {
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }
}

/// Defines a function whose body is compiled for SSE2, AVX2 + FMA and AVX-512, and runs the
/// widest the CPU has. (A body passed as a closure to a `#[target_feature]` function is not
/// reliably inlined into it, and then runs without the wide instructions.)
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    imp($($arg),*)
                }
                match $crate::exp::Simd::detect() {
                    // SAFETY: the CPU has the features each function is compiled for.
                    $crate::exp::Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::exp::Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::exp::Simd::Baseline => {}
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use simd_fn;

simd_fn! {
    /// Softmax of each `width`-long row of `xs`, in place.
    pub(crate) fn softmax_rows(xs: &mut [f32], width: usize) {
        for row in xs.chunks_exact_mut(width) {
            let max = reduce(row, f32::NEG_INFINITY, f32::max);
            // Blocks of 64 give the compiler four independent vectors per iteration, so the
            // polynomial's dependency chains overlap instead of waiting on each other.
            let mut blocks = row.chunks_exact_mut(64);
            for block in &mut blocks {
                for x in block.iter_mut() {
                    *x = exp(*x - max);
                }
            }
            // The rest in whole vectors too (rows of 25 or 202 keys would otherwise spend
            // most of their time in a scalar tail): padded with -inf, whose exp is 0.
            for part in blocks.into_remainder().chunks_mut(LANES) {
                let mut padded = [f32::NEG_INFINITY; LANES];
                padded[..part.len()].copy_from_slice(part);
                for x in padded.iter_mut() {
                    *x = exp(*x - max);
                }
                part.copy_from_slice(&padded[..part.len()]);
            }
            let inv = 1.0 / reduce(row, 0.0, |a, b| a + b);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// Lanes of the widest vector (AVX-512 f32).
const LANES: usize = 16;

/// A reduction with 16 independent lanes, so that it vectorises (a single running value
/// would serialise the loop: float addition is not associative); the tail is padded with
/// `init` into one more vector.
#[inline(always)]
fn reduce(xs: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l = op(*l, x);
        }
    }
    let mut tail = [init; LANES];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    for (l, x) in lanes.iter_mut().zip(tail) {
        *l = op(*l, x);
    }
    lanes.into_iter().fold(init, op)
}

/// Σ f(x) over `xs` in 16 independent lanes, so that it vectorises.
#[inline(always)]
pub(crate) fn sum_lanes(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l += f(x);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    lanes.into_iter().sum::<f32>() + tail
}

/// `e^x`; inputs below about -87.3 give 0, above 88.7 give +inf.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n · LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.336_55, 88.722_83);
    // Round to nearest through the float adder (1.5 · 2^23): the low bits of `k` then hold n
    // as an integer, read with integer ops. Unlike `round` and a float-to-int `as` cast (which
    // saturates), all of it vectorises.
    const MAGIC: f32 = 12_582_912.0;
    let k = x * LOG2E + MAGIC;
    let n = k - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor coefficients 1/k! to degree 6, in Horner form.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n through the exponent bits; n ≥ -126 after the clamp, so the result is normal.
    let n_int = (k.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let bits = (n_int.wrapping_add(127) as u32) << 23;
    let y = p * f32::from_bits(bits);
    if x <= -87.336_55 {
        0.0
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        // Widths below, at and past a 64-block, with and without a partial vector.
        for width in [7, 16, 25, 100, 202] {
            let mut xs: Vec<f32> = (0..3 * width)
                .map(|i| (i as f32 * 0.37).sin() * 20.0)
                .collect();
            let want: Vec<f32> = xs
                .chunks(width)
                .flat_map(|row| {
                    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f64> = row.iter().map(|&x| ((x - max) as f64).exp()).collect();
                    let s: f64 = e.iter().sum();
                    e.into_iter().map(move |v| (v / s) as f32)
                })
                .collect();
            softmax_rows(&mut xs, width);
            for (a, b) in xs.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "width {width}: {a} {b}");
            }
        }
    }

    #[test]
    fn close_to_libm_everywhere() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_3;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }
}
