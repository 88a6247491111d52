//! A kernel-3, stride-2 convolution on time-major data with seven products for every three
//! output frames where the direct convolution needs nine: wav2vec2's feature convolutions 1–4,
//! which are 82 % of its convolutional front's arithmetic.
//!
//! Output frame t reads input frames 2t, 2t + 1 and 2t + 2:
//! `y_t = W0 x_2t + W1 x_2t+1 + W2 x_2t+2`. The odd frames meet one tap each (`W1 x_2t+1`: one
//! product per output, nothing to save), but the even frames e_j = x_2j form a kernel-2,
//! stride-1 convolution `W0 e_t + W2 e_t+1`, in which each even frame is read by two outputs.
//! Winograd's minimal filtering F(3, 2) computes three outputs of it from four even frames
//! with four products instead of six:
//!
//! ```text
//! Qa = W0 (e0 − e2)            y0 = Qa + (Qc − Qd) + W1 o0
//! Qb = W2 (e3 − e1)            y1 =      (Qc + Qd) + W1 o1
//! Qc = ½(W0 + W2) (e1 + e2)    y2 = Qb + (Qc − Qd) + W1 o2
//! Qd = ½(W0 − W2) (e1 − e2)
//! ```
//!
//! (Qc + Qd = W0 e1 + W2 e2 and Qc − Qd = W0 e2 + W2 e1.) The products are C_in × C_out, so
//! 4 + 3 = 7 instead of 9 per three frames, for the price of forming four sums of input rows
//! and combining two products' outputs. The tiles are processed in blocks, so that those
//! sums stay in cache between the pass that forms them and the products that read them.

use rayon::prelude::*;

use super::exp::simd_fn;
use super::gelu::gelu_slice;
use super::{product, Strided};

/// Tiles (three output frames each) per block: 512 tiles of 512 channels make 4 MB of sums.
const BLOCK_TILES: usize = 512;
/// Tiles per parallel task within the passes that form the sums and combine the products.
const TILES_PER_TASK: usize = 32;

/// `out[t] += W0 x[2t] + W1 x[2t + 1] + W2 x[2t + 2]` for every output frame t of time-major
/// `x` (`t_in` rows of `c_in`), with `w` in PyTorch's layout `[C_out, C_in, 3]` and `out`
/// holding `(t_in − 3) / 2 + 1` rows of `c_out` (the bias, as the caller fills it), then the
/// exact GELU of every output when `gelu` (applied to each tile while it is in cache).
pub(crate) fn conv_k3_s2_accumulate(
    x: &[f32],
    c_in: usize,
    w: &[f32],
    c_out: usize,
    out: &mut [f32],
    gelu: bool,
    parallelism: gemm::Parallelism,
) {
    let t_in = x.len() / c_in;
    debug_assert!(t_in >= 3 && w.len() == c_out * c_in * 3);
    let t_out = (t_in - 3) / 2 + 1;
    debug_assert_eq!(out.len(), t_out * c_out);
    // The right-hand sides, each [C_in, C_out]: the three taps, then the two that Qc and Qd
    // multiply by; one row of one of them per parallel task (1.3 M values for a 512-channel
    // layer, which one core would lay out while the other waits).
    let size = c_in * c_out;
    let mut rhs = vec![0f32; 5 * size];
    rhs.par_chunks_mut(c_out).enumerate().for_each(|(i, row)| {
        let (matrix, c) = (i / c_in, i % c_in);
        for (o, value) in row.iter_mut().enumerate() {
            let taps = &w[(o * c_in + c) * 3..(o * c_in + c) * 3 + 3];
            *value = match matrix {
                0..=2 => taps[matrix],
                3 => 0.5 * (taps[0] + taps[2]),
                _ => 0.5 * (taps[0] - taps[2]),
            };
        }
    });
    let (w0, rest) = rhs.split_at(size);
    let (w1, rest) = rest.split_at(size);
    let (w2, rest) = rest.split_at(size);
    let (half_sum, half_diff) = rest.split_at(size);

    // The odd frames' tap, for every output frame at once: rows x[2t + 1], a strided view.
    // SAFETY: output row t < t_out reads x[(2t + 1) · C_in + c] for c < C_in, and
    // 2 (t_out − 1) + 2 < t_in; rhs[c, o] = w1[c · C_out + o]; out has t_out rows of C_out.
    unsafe {
        product(
            (t_out, c_out, c_in),
            Strided::rows(out.as_mut_ptr(), c_out),
            true,
            Strided::rows(x.as_ptr().add(c_in), 2 * c_in),
            Strided::rows(w1.as_ptr(), c_out),
            1.0,
            parallelism,
        )
    };

    let tiles = t_out / 3;
    // Blocks of equal size, at most BLOCK_TILES each.
    let block = tiles.div_ceil(tiles.div_ceil(BLOCK_TILES).max(1)).max(1);
    // Per tile the four sums, [e0 − e2 | e3 − e1 | e1 + e2 | e1 − e2], each C_in wide.
    let mut sums = super::pages::zeroed(block * 4 * c_in);
    let mut qc = vec![0f32; block * c_out];
    let mut qd = vec![0f32; block * c_out];
    for first in (0..tiles).step_by(block) {
        let n = block.min(tiles - first);
        let sums = &mut sums[..n * 4 * c_in];
        sums.par_chunks_mut(TILES_PER_TASK * 4 * c_in)
            .enumerate()
            .for_each(|(task, rows)| {
                for (i, tile) in rows.chunks_exact_mut(4 * c_in).enumerate() {
                    let s = first + task * TILES_PER_TASK + i;
                    // Even frames e_j = x[2 (3s + j)], j = 0..=3; e3 exists since output 3s + 2 does.
                    let e = |j: usize| &x[(6 * s + 2 * j) * c_in..(6 * s + 2 * j + 1) * c_in];
                    let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3));
                    let (a, rest) = tile.split_at_mut(c_in);
                    let (b, rest) = rest.split_at_mut(c_in);
                    let (c, d) = rest.split_at_mut(c_in);
                    form_sums(e0, e1, e2, e3, a, b, c, d);
                }
            });
        let (qc, qd) = (&mut qc[..n * c_out], &mut qd[..n * c_out]);
        let rows = &mut out[3 * first * c_out..3 * (first + n) * c_out];
        let stride = 4 * c_in;
        let y = rows.as_mut_ptr();
        // Per product: its output rows and their step, whether it adds to them, the column of
        // the sums it reads, and its right-hand side.
        let products = [
            (y, 3 * c_out, true, 0, w0),
            (y.wrapping_add(2 * c_out), 3 * c_out, true, c_in, w2),
            (qc.as_mut_ptr(), c_out, false, 2 * c_in, half_sum),
            (qd.as_mut_ptr(), c_out, false, 3 * c_in, half_diff),
        ];
        for (dst, dst_row, accumulate, column, rhs) in products {
            // SAFETY: the sums hold n rows of 4 · C_in, each product reading C_in values from its
            // column offset; the right-hand sides are [C_in, C_out]; `rows` holds 3n rows of
            // C_out, of which Qa accumulates into rows 3i and Qb into rows 3i + 2 (row stride
            // 3 · C_out, the last read at (3 (n − 1) + 2) · C_out + C_out ≤ 3n · C_out); qc and
            // qd hold n rows of C_out.
            unsafe {
                product(
                    (n, c_out, c_in),
                    Strided::rows(dst, dst_row),
                    accumulate,
                    Strided::rows(sums.as_ptr().add(column), stride),
                    Strided::rows(rhs.as_ptr(), c_out),
                    1.0,
                    parallelism,
                );
            }
        }
        rows.par_chunks_mut(TILES_PER_TASK * 3 * c_out)
            .zip(qc.par_chunks(TILES_PER_TASK * c_out))
            .zip(qd.par_chunks(TILES_PER_TASK * c_out))
            .for_each(|((rows, qc), qd)| {
                combine(rows, qc, qd, c_out);
                if gelu {
                    gelu_slice(rows);
                }
            });
    }
    // The last one or two output frames, which fill no tile: their even taps directly.
    let done = 3 * tiles;
    if done < t_out {
        let rows = &mut out[done * c_out..];
        for (k, wk) in [(0, w0), (2, w2)] {
            // SAFETY: output row done + r reads x[(2 (done + r) + k) · C_in + c] < t_in · C_in.
            unsafe {
                product(
                    (t_out - done, c_out, c_in),
                    Strided::rows(rows.as_mut_ptr(), c_out),
                    true,
                    Strided::rows(x.as_ptr().add((2 * done + k) * c_in), 2 * c_in),
                    Strided::rows(wk.as_ptr(), c_out),
                    1.0,
                    parallelism,
                );
            }
        }
        if gelu {
            gelu_slice(rows);
        }
    }
}

simd_fn! {
    /// One tile's four sums of even frames.
    #[allow(clippy::too_many_arguments)]
    fn form_sums(
        e0: &[f32],
        e1: &[f32],
        e2: &[f32],
        e3: &[f32],
        a: &mut [f32],
        b: &mut [f32],
        c: &mut [f32],
        d: &mut [f32],
    ) {
        for i in 0..a.len() {
            a[i] = e0[i] - e2[i];
            b[i] = e3[i] - e1[i];
            c[i] = e1[i] + e2[i];
            d[i] = e1[i] - e2[i];
        }
    }
}

simd_fn! {
    /// Adds Qc and Qd into each tile's three output rows (which hold Qa, the odd tap and the
    /// bias in the first, the odd tap and the bias in the second, Qb and the rest in the third).
    fn combine(rows: &mut [f32], qc: &[f32], qd: &[f32], n: usize) {
        for ((tile, c), d) in rows.chunks_exact_mut(3 * n).zip(qc.chunks_exact(n)).zip(qd.chunks_exact(n)) {
            let (y0, rest) = tile.split_at_mut(n);
            let (y1, y2) = rest.split_at_mut(n);
            for i in 0..n {
                let (plus, minus) = (c[i] + d[i], c[i] - d[i]);
                y0[i] += minus;
                y1[i] += plus;
                y2[i] += minus;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Tensor;

    use super::super::linear::Epilogue;
    use super::super::{bias_rows, conv1d_time_major, max_abs_diff, Conv1dShape};
    use super::*;

    /// candle's direct convolution of channel-major x `[B, Cin, T]`, time-major out.
    fn direct(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
        let c_out = w.dims()[0];
        x.conv1d(w, 0, 2, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, c_out, 1)).unwrap())
            .unwrap()
            .transpose(1, 2)
            .unwrap()
    }

    /// Equal to the direct convolution (then its GELU) for output lengths that fill whole
    /// tiles and leave one or two frames over, for one tile only, and over several blocks.
    #[test]
    fn equals_the_direct_convolution() {
        for (t, c_in, c_out) in [(7, 5, 4), (9, 5, 4), (11, 5, 4), (23, 16, 24), (3300, 6, 8)] {
            let t_out = (t - 3) / 2 + 1;
            let x = crate::test_tensor(1.0, (1, c_in, t), 31).unwrap();
            let w = crate::test_tensor(0.5, (c_out, c_in, 3), 32).unwrap();
            let b = crate::test_tensor(1.0, c_out, 33).unwrap();
            let x_tm: Vec<f32> = x
                .transpose(1, 2)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let w_data: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            for gelu in [false, true] {
                let mut out = bias_rows(&b.to_vec1::<f32>().unwrap(), t_out);
                let par = gemm::Parallelism::None;
                conv_k3_s2_accumulate(&x_tm, c_in, &w_data, c_out, &mut out, gelu, par);
                let got =
                    Tensor::from_vec(out, (1, t_out, c_out), &candle_core::Device::Cpu).unwrap();
                let want = direct(&x, &w, &b);
                let want = if gelu { want.gelu_erf().unwrap() } else { want };
                let err = max_abs_diff(&got, &want);
                assert!(err < 1e-5, "{t} frames, GELU {gelu}: {err}");
            }
        }
    }

    /// Taken by `conv1d_time_major` for long inputs, batch items apart, with the epilogue.
    #[test]
    fn taken_for_long_inputs() {
        let x = crate::test_tensor(1.0, (2, 6, 2001), 34).unwrap();
        let w = crate::test_tensor(0.5, (8, 6, 3), 35).unwrap();
        let b = crate::test_tensor(1.0, 8, 36).unwrap();
        let shape = Conv1dShape {
            stride: 2,
            padding: 0,
        };
        let x_tm = x.transpose(1, 2).unwrap();
        let got = conv1d_time_major(&x_tm, &w, &b, shape, Epilogue::GeluErf).unwrap();
        let want = direct(&x, &w, &b).gelu_erf().unwrap();
        assert_eq!(got.dims(), want.dims());
        assert!(max_abs_diff(&got, &want) < 1e-5);
    }
}
