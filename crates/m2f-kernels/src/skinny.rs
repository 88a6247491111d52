//! Products with a few rows (a prompt of a dozen tokens, one memory token): `x wᵀ` as dot
//! products along the weight's rows, read once and straight from their `[out, in]` layout.
//!
//! With so few rows a product reads each weight once and does little with it, so its speed is
//! the rate at which the weights stream from memory. gemm copies (packs) the weight before
//! multiplying, which doubles that traffic, and splits the work by rows, of which there are
//! too few to keep two cores busy: CLIP's text tower on a 9-token prompt took 3.2 times as long
//! as PyTorch's. Here the weight's rows are split among the threads, and each row is read once
//! for every row of x.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::exp::Simd;

/// Rows of x up to which a product takes this path rather than gemm's.
pub(crate) const SKINNY_ROWS: usize = 16;

/// Weight rows (output columns) per parallel task: 32 rows of a 512-wide weight is 64 kB.
const COLUMNS_PER_TASK: usize = 32;

/// Lanes of one accumulator: one AVX2 vector (the compiler widens none of this further, and
/// wider arrays would leave too few registers for the 4 × 2 accumulators below).
const LANES: usize = 8;

/// `out += x wᵀ` for x `[rows, k]`, w `[n, k]` and out `[rows, n]`, all row-major and
/// contiguous; `parallel` splits the weight's rows among rayon's threads.
pub(crate) fn skinny_product(
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    rows: usize,
    k: usize,
    parallel: bool,
) {
    let n = w.len().checked_div(k).unwrap_or(0);
    debug_assert_eq!(x.len(), rows * k);
    debug_assert_eq!(out.len(), rows * n);
    if rows == 0 || n == 0 || k == 0 {
        return;
    }
    // The dots of each task land column-major ([n, rows]), each task in its own part, and are
    // added to `out` afterwards: a small pass next to reading the weights.
    let mut dots = vec![0f32; n * rows];
    let task = |(w, dots): (&[f32], &mut [f32])| dot_rows(x, rows, k, w, dots);
    let weights = w.chunks(COLUMNS_PER_TASK * k);
    if parallel && n > COLUMNS_PER_TASK {
        w.par_chunks(COLUMNS_PER_TASK * k)
            .zip(dots.par_chunks_mut(COLUMNS_PER_TASK * rows))
            .for_each(task);
    } else {
        weights
            .zip(dots.chunks_mut(COLUMNS_PER_TASK * rows))
            .for_each(task);
    }
    for (j, column) in dots.chunks_exact(rows).enumerate() {
        for (i, d) in column.iter().enumerate() {
            out[i * n + j] += d;
        }
    }
}

/// `dots[j · rows + i] = x_i · w_j` for every row x_i of x `[rows, k]` and w_j of w
/// `[cols, k]`: with AVX2 + FMA where the CPU has them (AVX-512 gains nothing at this size of
/// block), in portable code elsewhere.
fn dot_rows(x: &[f32], rows: usize, k: usize, w: &[f32], dots: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn fused(x: &[f32], rows: usize, k: usize, w: &[f32], dots: &mut [f32]) {
            dot_rows_with::<true>(x, rows, k, w, dots)
        }
        if Simd::detect() != Simd::Baseline {
            // SAFETY: the CPU has AVX2 and FMA (AVX-512 implies both).
            return unsafe { fused(x, rows, k, w, dots) };
        }
    }
    dot_rows_with::<false>(x, rows, k, w, dots)
}

/// [`dot_rows`]: pairs of weight rows against groups of four x rows, so that each vector of
/// weights loaded serves four products and each vector of x two. `AVX2` (only ever true on
/// x86-64 CPUs that have AVX2 and FMA) picks the intrinsics.
#[inline(always)]
fn dot_rows_with<const AVX2: bool>(x: &[f32], rows: usize, k: usize, w: &[f32], dots: &mut [f32]) {
    let pairs = w.len() / (2 * k);
    for (w2, d2) in w.chunks_exact(2 * k).zip(dots.chunks_exact_mut(2 * rows)) {
        let (w0, w1) = w2.split_at(k);
        let (d0, d1) = d2.split_at_mut(rows);
        let mut quads = x.chunks_exact(4 * k);
        let mut i = 0;
        for x4 in &mut quads {
            let xs = [&x4[..k], &x4[k..2 * k], &x4[2 * k..3 * k], &x4[3 * k..]];
            let (a, b) = dots_of::<4, AVX2>(xs, w0, w1);
            d0[i..i + 4].copy_from_slice(&a);
            d1[i..i + 4].copy_from_slice(&b);
            i += 4;
        }
        for xi in quads.remainder().chunks_exact(k) {
            let (a, b) = dots_of::<1, AVX2>([xi], w0, w1);
            d0[i] = a[0];
            d1[i] = b[0];
            i += 1;
        }
    }
    if w.len() / k > 2 * pairs {
        // An odd weight row: paired with itself.
        let w0 = &w[2 * pairs * k..];
        let d0 = &mut dots[2 * pairs * rows..];
        for (i, xi) in x.chunks_exact(k).enumerate() {
            d0[i] = dots_of::<1, AVX2>([xi], w0, w0).0[0];
        }
    }
}

/// `(x_r · w0, x_r · w1)` for the R rows x_r, every slice `k` long.
#[inline(always)]
fn dots_of<const R: usize, const AVX2: bool>(
    xs: [&[f32]; R],
    w0: &[f32],
    w1: &[f32],
) -> ([f32; R], [f32; R]) {
    let k = w0.len();
    assert!(w1.len() == k && xs.iter().all(|x| x.len() == k));
    let whole = k - k % LANES;
    #[cfg(target_arch = "x86_64")]
    let (mut out0, mut out1) = if AVX2 {
        // SAFETY: AVX2 is only true where the CPU has AVX2 and FMA, and the vectors read lie
        // within the first `whole` ≤ k elements of slices checked above to be k long.
        unsafe { x86::dots(xs, w0, w1, whole) }
    } else {
        portable_dots(xs, w0, w1, whole)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (mut out0, mut out1) = portable_dots(xs, w0, w1, whole);
    for r in 0..R {
        for at in whole..k {
            out0[r] += xs[r][at] * w0[at];
            out1[r] += xs[r][at] * w1[at];
        }
    }
    (out0, out1)
}

/// The dots over the first `whole` (a multiple of [`LANES`]) elements, in lane-wide arrays
/// the compiler turns into vectors.
#[inline(always)]
fn portable_dots<const R: usize>(
    xs: [&[f32]; R],
    w0: &[f32],
    w1: &[f32],
    whole: usize,
) -> ([f32; R], [f32; R]) {
    // Slices of one known length, so that the loop below needs no bounds checks.
    let (a0, a1) = (&w0[..whole], &w1[..whole]);
    let x = xs.map(|x| &x[..whole]);
    let mut acc0 = [[0f32; LANES]; R];
    let mut acc1 = [[0f32; LANES]; R];
    for c in 0..whole / LANES {
        let at = c * LANES;
        let (a, b) = (&a0[at..at + LANES], &a1[at..at + LANES]);
        for r in 0..R {
            let v = &x[r][at..at + LANES];
            for l in 0..LANES {
                acc0[r][l] += v[l] * a[l];
                acc1[r][l] += v[l] * b[l];
            }
        }
    }
    (acc0.map(|a| a.iter().sum()), acc1.map(|a| a.iter().sum()))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm_add_ps, _mm_cvtss_f32, _mm_hadd_ps,
    };

    /// [`super::portable_dots`] in AVX2 vectors with fused multiply-adds.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA, and every slice holds at least `whole` elements, a multiple
    /// of 8.
    #[inline(always)]
    pub(super) unsafe fn dots<const R: usize>(
        xs: [&[f32]; R],
        w0: &[f32],
        w1: &[f32],
        whole: usize,
    ) -> ([f32; R], [f32; R]) {
        unsafe {
            let mut acc0 = [_mm256_setzero_ps(); R];
            let mut acc1 = [_mm256_setzero_ps(); R];
            let mut at = 0;
            while at < whole {
                let a = _mm256_loadu_ps(w0.as_ptr().add(at));
                let b = _mm256_loadu_ps(w1.as_ptr().add(at));
                for r in 0..R {
                    let v = _mm256_loadu_ps(xs[r].as_ptr().add(at));
                    acc0[r] = _mm256_fmadd_ps(v, a, acc0[r]);
                    acc1[r] = _mm256_fmadd_ps(v, b, acc1[r]);
                }
                at += 8;
            }
            (acc0.map(|v| sum(v)), acc1.map(|v| sum(v)))
        }
    }

    /// The sum of a vector's eight lanes.
    #[inline(always)]
    unsafe fn sum(v: __m256) -> f32 {
        unsafe {
            let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pairs = _mm_hadd_ps(halves, halves);
            _mm_cvtss_f32(_mm_hadd_ps(pairs, pairs))
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Row counts up to the threshold (the groups of four and the single rows), odd and even
    /// weight rows, a width with a tail past the vectors, serial and parallel, against plain
    /// f64 sums; and the portable loops against the vector ones.
    #[test]
    fn equals_the_plain_product() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        for (rows, n, k) in [
            (1, 1, 1),
            (3, 5, 13),
            (4, 64, 32),
            (9, 77, 37),
            (16, 130, 512),
        ] {
            let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
            let start: Vec<f32> = (0..rows * n).map(|_| next()).collect();
            for parallel in [false, true] {
                let mut out = start.clone();
                skinny_product(&x, &w, &mut out, rows, k, parallel);
                for i in 0..rows {
                    for j in 0..n {
                        let want = start[i * n + j] as f64
                            + (0..k)
                                .map(|t| x[i * k + t] as f64 * w[j * k + t] as f64)
                                .sum::<f64>();
                        let got = out[i * n + j] as f64;
                        assert!(
                            (got - want).abs() < 1e-5,
                            "rows {rows} n {n} k {k} at ({i}, {j}): {got} vs {want}"
                        );
                    }
                }
            }
            // The portable loops, which a CPU with AVX2 does not otherwise run, give the same.
            let mut fast = vec![0f32; rows * n];
            let mut portable = vec![0f32; rows * n];
            dot_rows(&x, rows, k, &w, &mut fast);
            dot_rows_with::<false>(&x, rows, k, &w, &mut portable);
            for (a, b) in fast.iter().zip(&portable) {
                assert!((a - b).abs() < 1e-5, "rows {rows} n {n} k {k}: {a} vs {b}");
            }
        }
    }
}
