//! Fused multi-head attention for CPU inference: `softmax(q kᵀ · scale) v` computed block by
//! block, so the [T, T] score matrix of a head never exists in full.
//!
//! candle's composed version writes a [H, T, T] score tensor (54 MB for Whisper's 1500 frames
//! and 6 heads), softmaxes it through libm's scalar `exp`, and multiplies it out again: memory
//! traffic and page faults dominate. Here each task takes 128 query rows of one head, computes
//! their scores into a buffer that stays in cache, softmaxes them with a vectorisable `exp`,
//! and multiplies by V; tasks run in parallel on rayon's pool.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::exp::softmax_rows;
use super::{contiguous_f32, product, Strided};

/// Query rows per task.
const ROWS: usize = 128;

/// `softmax(q kᵀ · scale) v` over the last two dims: q, k, v [..., T, Dh] → [..., T, Dh].
/// Inference only (no backward). f32 on the CPU takes the fused kernel; other devices and
/// types the same math through candle's ops.
///
/// # Errors
/// Shape mismatches between q, k and v.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    if q.device().is_cpu() && q.dtype() == DType::F32 && q.rank() >= 2 {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        q.apply_op3_no_bwd(&k, &v, &FusedAttention { scale })
    } else {
        let scores = (q.matmul(&k.t()?)? * scale)?;
        candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)
    }
}

struct FusedAttention {
    scale: f64,
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (qd, kd, vd) = (l1.dims(), l2.dims(), l3.dims());
        let r = qd.len();
        if r < 2 || kd.len() != r || vd.len() != r {
            candle_core::bail!("fused attention: q {qd:?}, k {kd:?}, v {vd:?} do not fit");
        }
        let (t, dh) = (qd[r - 2], qd[r - 1]);
        let tk = kd[r - 2];
        if kd[r - 1] != dh
            || vd[r - 2] != tk
            || vd[r - 1] != dh
            || qd[..r - 2] != kd[..r - 2]
            || kd[..r - 2] != vd[..r - 2]
        {
            candle_core::bail!("fused attention: q {qd:?}, k {kd:?}, v {vd:?} do not fit");
        }
        let op = "fused attention";
        let (q, k, v) = (
            contiguous_f32(op, s1, l1)?,
            contiguous_f32(op, s2, l2)?,
            contiguous_f32(op, s3, l3)?,
        );
        let heads: usize = qd[..r - 2].iter().product();
        let mut out = vec![0f32; heads * t * dh];
        // [..., T, Dh] contiguous: every "head" is one block of rows.
        let plain = |rows: usize| Operand {
            groups: 1,
            group: rows * dh,
            head: 0,
            row: dh,
            batches: usize::MAX,
        };
        attend(
            Dims { heads, t, tk, dh },
            (q, plain(t)),
            (k, plain(tk)),
            (v, plain(tk)),
            (&mut out, plain(t)),
            None,
            self.scale as f32,
        );
        Ok((CpuStorage::F32(out), Shape::from_dims(qd)))
    }
}

/// [`attention`] over the packed output of a fused QKV projection: qkv [B, T, 3 · H · Dh]
/// (queries, then keys, then values, each H heads of Dh) → [B, T, H · Dh], with no copies to
/// split or merge heads. f32 on the CPU takes the fused kernel; anything else candle's ops.
/// A `bias` [B, T, T] (a causal or padding mask, as [`attention_shared`] takes it) goes
/// through [`attention_shared`] on the three parts.
///
/// # Errors
/// If the last dimension is not a multiple of 3 · `heads`, or the bias does not fit.
pub fn attention_packed(
    qkv: &Tensor,
    heads: usize,
    scale: f64,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (b, t, three_d) = qkv.dims3()?;
    if heads == 0 || three_d % (3 * heads) != 0 {
        candle_core::bail!("packed attention: width {three_d} is not 3 × {heads} heads × Dh");
    }
    if let Some(bias) = bias {
        let d = three_d / 3;
        let part = |i: usize| qkv.narrow(2, i * d, d);
        return attention_shared(&part(0)?, &part(1)?, &part(2)?, Some(bias), heads, scale);
    }
    if qkv.device().is_cpu() && qkv.dtype() == DType::F32 {
        qkv.contiguous()?
            .apply_op1_no_bwd(&PackedAttention { heads, scale })
    } else {
        let dh = three_d / 3 / heads;
        let split = qkv
            .reshape((b, t, 3, heads, dh))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let ctx = attention(&split.get(0)?, &split.get(1)?, &split.get(2)?, scale)?;
        ctx.transpose(1, 2)?.reshape((b, t, three_d / 3))
    }
}

/// Multi-head attention with heads side by side, as linear layers write them, and an additive
/// bias: q [B, N, H · Dh], k and v [Bm, M, H · Dh] with B a multiple of Bm (query element b
/// reads keys and values `b % Bm`, so guidance branches share one memory without copies),
/// bias [B, N, M] (0 to attend, a large negative number to ignore) → [B, N, H · Dh]. f32 on
/// the CPU with nothing asking for a gradient takes the fused kernel; anything else (training
/// included) candle's composed ops, which have a backward pass.
///
/// # Errors
/// Shapes that do not fit.
pub fn attention_shared(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    heads: usize,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (b, n, d) = q.dims3()?;
    let (bm, m, dk) = k.dims3()?;
    if heads == 0 || d % heads != 0 || dk != d || v.dims() != k.dims() || bm == 0 || b % bm != 0 {
        candle_core::bail!(
            "shared attention: q {:?}, k {:?}, v {:?} with {heads} heads do not fit",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if let Some(bias) = bias {
        if bias.dims() != [b, n, m] {
            candle_core::bail!(
                "shared attention: bias {:?}, expected [{b}, {n}, {m}]",
                bias.dims()
            );
        }
    }
    let dh = d / heads;
    let tracks = [Some(q), Some(k), Some(v), bias]
        .into_iter()
        .flatten()
        .any(Tensor::track_op);
    if q.device().is_cpu() && q.dtype() == DType::F32 && !tracks {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        let (s1, l1) = q.storage_and_layout();
        let (s2, l2) = k.storage_and_layout();
        let (s3, l3) = v.storage_and_layout();
        let (
            candle_core::Storage::Cpu(s1),
            candle_core::Storage::Cpu(s2),
            candle_core::Storage::Cpu(s3),
        ) = (&*s1, &*s2, &*s3)
        else {
            candle_core::bail!("shared attention: CPU tensors expected");
        };
        let op = "shared attention";
        let (qd, kd, vd) = (
            contiguous_f32(op, s1, l1)?,
            contiguous_f32(op, s2, l2)?,
            contiguous_f32(op, s3, l3)?,
        );
        let bias = bias.map(|t| t.contiguous()).transpose()?;
        let bias_guard = bias.as_ref().map(|t| t.storage_and_layout());
        let bias_data = match &bias_guard {
            Some((s, l)) => match &**s {
                candle_core::Storage::Cpu(s) => Some(contiguous_f32(op, s, l)?),
                _ => candle_core::bail!("shared attention: CPU bias expected"),
            },
            None => None,
        };
        let packed = |rows: usize, batches: usize| Operand {
            groups: heads,
            group: rows * d,
            head: dh,
            row: d,
            batches,
        };
        let mut out = vec![0f32; b * n * d];
        attend(
            Dims {
                heads: b * heads,
                t: n,
                tk: m,
                dh,
            },
            (qd, packed(n, usize::MAX)),
            (kd, packed(m, bm)),
            (vd, packed(m, bm)),
            (&mut out, packed(n, usize::MAX)),
            bias_data.map(|data| {
                (
                    data,
                    Operand {
                        groups: heads,
                        group: n * m,
                        head: 0,
                        row: m,
                        batches: usize::MAX,
                    },
                )
            }),
            scale as f32,
        );
        Tensor::from_vec(out, (b, n, d), q.device())
    } else {
        let g = b / bm;
        let split = |t: &Tensor, rows: usize| -> candle_core::Result<Tensor> {
            t.reshape((t.dim(0)?, rows, heads, dh))?
                .transpose(1, 2)?
                .contiguous()
        };
        // [B, N, d] → [g, Bm, H, N, dh] → [Bm, H, g·N, dh]
        let q = split(q, n)?
            .reshape((g, bm, heads, n, dh))?
            .permute((1, 2, 0, 3, 4))?
            .contiguous()?
            .reshape((bm, heads, g * n, dh))?;
        let (k, v) = (split(k, m)?, split(v, m)?);
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if let Some(bias) = bias {
            let bias = bias
                .reshape((g, bm, n, m))?
                .transpose(0, 1)?
                .reshape((bm, 1, g * n, m))?;
            scores = scores.broadcast_add(&bias)?;
        }
        // candle-nn's fused softmax has no backward pass.
        let probs = if tracks {
            candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        probs
            .matmul(&v)?
            .reshape((bm, heads, g, n, dh))?
            .permute((2, 0, 3, 1, 4))?
            .reshape((b, n, d))
    }
}

struct PackedAttention {
    heads: usize,
    scale: f64,
}

impl CustomOp1 for PackedAttention {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous_f32("packed attention", storage, layout)?;
        let &[b, t, three_d] = layout.dims() else {
            candle_core::bail!(
                "packed attention: qkv {:?} is not [B, T, 3d]",
                layout.dims()
            );
        };
        let d = three_d / 3;
        let dh = d / self.heads;
        let mut out = vec![0f32; b * t * d];
        // Head (n, h) of a [B, T, 3, H, Dh] tensor: rows of width 3d, heads Dh apart.
        let packed = |part: usize| {
            Operand {
                groups: self.heads,
                group: t * three_d,
                head: dh,
                row: three_d,
                batches: usize::MAX,
            }
            .offset_by(part * d)
        };
        let (q, k, v) = (packed(0), packed(1), packed(2));
        let o = Operand {
            groups: self.heads,
            group: t * d,
            head: dh,
            row: d,
            batches: usize::MAX,
        };
        attend(
            Dims {
                heads: b * self.heads,
                t,
                tk: t,
                dh,
            },
            (&qkv[q.0..], q.1),
            (&qkv[k.0..], k.1),
            (&qkv[v.0..], v.1),
            (&mut out, o),
            None,
            self.scale as f32,
        );
        Ok((CpuStorage::F32(out), Shape::from_dims(&[b, t, d])))
    }
}

/// Where the rows of head `hh` of an operand lie: heads come in groups of `groups` (the heads
/// of one batch element); head `hh` starts at `((hh / groups) % batches) · group +
/// (hh % groups) · head` and its rows are `row` apart. `batches` lets several query batch
/// elements read one element of a smaller operand (guidance branches sharing a memory).
#[derive(Debug, Clone, Copy)]
struct Operand {
    groups: usize,
    group: usize,
    head: usize,
    row: usize,
    batches: usize,
}

impl Operand {
    fn start(&self, hh: usize) -> usize {
        ((hh / self.groups) % self.batches) * self.group + (hh % self.groups) * self.head
    }

    /// The slice offset and layout of a part that starts `offset` elements in.
    fn offset_by(self, offset: usize) -> (usize, Self) {
        (offset, self)
    }
}

#[derive(Debug, Clone, Copy)]
struct Dims {
    heads: usize,
    t: usize,
    tk: usize,
    dh: usize,
}

/// A raw output pointer shared by the tasks, each of which writes its own rows of one head.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint (head, row block) regions, and `attend` waits for all of them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer; a method, so that closures capture the whole (Send) wrapper.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// A bias at or below this hides its key: the key's softmax weight is exactly 0 in f32 (the
/// exponent underflows), so a block of rows that hides a key in every row skips it.
const HIDDEN_AT: f32 = -1e8;

/// Query rows per task when a bias may hide keys: small blocks of a banded mask (each frame
/// seeing its neighbours' audio) reach few keys, so most of the scores are never computed.
const BIASED_ROWS: usize = 32;

/// Per task buffers: the scores, and the keys a block sees with their gathered K and V rows.
struct Scratch {
    scores: Vec<f32>,
    visible: Vec<bool>,
    columns: Vec<usize>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

/// softmax(q kᵀ · scale + bias) v for every head, in parallel over (head, block of rows);
/// `bias` rows are `tk` wide. Keys that the bias hides from every row of a block are left
/// out of that block's products (gathered K and V rows of the others), when that saves at
/// least a quarter of them.
fn attend(
    dims: Dims,
    q: (&[f32], Operand),
    k: (&[f32], Operand),
    v: (&[f32], Operand),
    out: (&mut [f32], Operand),
    bias: Option<(&[f32], Operand)>,
    scale: f32,
) {
    let Dims { heads, t, tk, dh } = dims;
    if heads == 0 || t == 0 || tk == 0 || dh == 0 {
        return;
    }
    let block = if bias.is_some() { BIASED_ROWS } else { ROWS };
    let blocks = t.div_ceil(block);
    let (out, o) = out;
    // The last element each operand's layout reaches must lie inside its slice.
    let last = |op: &Operand, rows: usize| op.start(heads - 1) + (rows - 1) * op.row + dh;
    assert!(
        last(&q.1, t) <= q.0.len()
            && last(&k.1, tk) <= k.0.len()
            && last(&v.1, tk) <= v.0.len()
            && last(&o, t) <= out.len()
            && bias.is_none_or(|(b, op)| op.start(heads - 1) + t * op.row <= b.len()),
        "attention operands smaller than their layouts"
    );
    let out_ptr = OutPtr(out.as_mut_ptr());
    (0..heads * blocks).into_par_iter().for_each_init(
        || Scratch {
            scores: vec![0f32; block * tk],
            visible: vec![false; tk],
            columns: Vec::with_capacity(tk),
            keys: Vec::with_capacity(tk * dh),
            values: Vec::with_capacity(tk * dh),
        },
        |scratch, task| {
            let (hh, row0) = (task / blocks, (task % blocks) * block);
            let rows = block.min(t - row0);
            let q_at = q.1.start(hh) + row0 * q.1.row;
            let (k_at, v_at) = (k.1.start(hh), v.1.start(hh));
            let o_at = o.start(hh) + row0 * o.row;
            let bias_rows = bias.map(|(b, op)| {
                let at = op.start(hh) + row0 * op.row;
                (b, at, op.row)
            });
            // The keys this block sees, when leaving out the others pays.
            let gathered = match bias_rows {
                Some((b, at, stride)) => {
                    visible_columns(scratch, b, at, stride, rows, tk) && {
                        scratch.keys.clear();
                        scratch.values.clear();
                        for &j in &scratch.columns {
                            let (kj, vj) = (k_at + j * k.1.row, v_at + j * v.1.row);
                            scratch.keys.extend_from_slice(&k.0[kj..kj + dh]);
                            scratch.values.extend_from_slice(&v.0[vj..vj + dh]);
                        }
                        true
                    }
                }
                None => false,
            };
            // Keys and values as (data, row stride) and the scores' width.
            let (keys, k_row, values, v_row, width) = if gathered {
                let w = scratch.columns.len();
                (&scratch.keys[..], dh, &scratch.values[..], dh, w)
            } else {
                (&k.0[k_at..], k.1.row, &v.0[v_at..], v.1.row, tk)
            };
            let scores = &mut scratch.scores[..rows * width];
            // SAFETY: the assert above bounds every row any layout addresses (and the
            // gathered keys and values are `width` rows of dh); tasks write disjoint
            // rows × dh blocks of `out`.
            unsafe {
                // rhs[l, j] = keys[j · k_row + l]: the keys, transposed.
                let keys_t = Strided {
                    ptr: keys.as_ptr(),
                    row: 1,
                    col: k_row as isize,
                };
                product(
                    (rows, width, dh),
                    Strided::rows(scores.as_mut_ptr(), width),
                    false,
                    Strided::rows(q.0.as_ptr().add(q_at), q.1.row),
                    keys_t,
                    scale,
                    gemm::Parallelism::None,
                );
                if let Some((b, at, stride)) = bias_rows {
                    for (r, row) in scores.chunks_mut(width).enumerate() {
                        let b = &b[at + r * stride..at + r * stride + tk];
                        if gathered {
                            for (s, &j) in row.iter_mut().zip(&scratch.columns) {
                                *s += b[j];
                            }
                        } else {
                            for (s, b) in row.iter_mut().zip(b) {
                                *s += b;
                            }
                        }
                    }
                }
                softmax_rows(scores, width);
                product(
                    (rows, dh, width),
                    Strided::rows(out_ptr.get().add(o_at), o.row),
                    false,
                    Strided::rows(scores.as_ptr(), width),
                    Strided::rows(values.as_ptr(), v_row),
                    1.0,
                    gemm::Parallelism::None,
                );
            }
        },
    );
}

/// Fills `scratch.columns` with the keys that some row of the block (`rows` bias rows of
/// `tk`, `stride` apart from `at`) does not hide, and says whether leaving out the rest is
/// worth it: at least a quarter of the keys hidden, and every row seeing one key at least
/// (a row that hides everything softmaxes over all keys, as the composed ops do).
fn visible_columns(
    scratch: &mut Scratch,
    bias: &[f32],
    at: usize,
    stride: usize,
    rows: usize,
    tk: usize,
) -> bool {
    scratch.visible.fill(false);
    for r in 0..rows {
        let row = &bias[at + r * stride..at + r * stride + tk];
        let mut any = false;
        for (seen, &b) in scratch.visible.iter_mut().zip(row) {
            let shown = b > HIDDEN_AT;
            *seen |= shown;
            any |= shown;
        }
        if !any {
            return false;
        }
    }
    scratch.columns.clear();
    scratch
        .columns
        .extend((0..tk).filter(|&j| scratch.visible[j]));
    scratch.columns.len() * 4 <= tk * 3
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_the_composed_ops() {
        // T not a multiple of the block, keys longer than queries.
        let q = crate::test_tensor(1.0, (2, 3, 45, 8), 7).unwrap();
        let k = crate::test_tensor(1.0, (2, 3, 70, 8), 8).unwrap();
        let v = crate::test_tensor(1.0, (2, 3, 70, 8), 9).unwrap();
        let fused = attention(&q, &k, &v, 0.35).unwrap();
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * 0.35).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&v)
            .unwrap();
        let err = max_abs_diff(&fused, &want);
        assert!(err < 1e-5, "{err}");
        // A transposed (non-contiguous) input gives the same.
        let kt = k
            .transpose(2, 3)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(2, 3)
            .unwrap();
        let again = attention(&q, &kt, &v, 0.35).unwrap();
        let fused = attention(&q, &k, &v, 0.35).unwrap();
        let diff = max_abs_diff(&fused, &again);
        assert_eq!(diff, 0.0);
    }

    #[test]
    fn shared_memory_with_bias_equals_the_composed_ops() {
        let dev = Device::Cpu;
        // 3 branches of 2 windows over 2 memories; rows more than one block.
        let (bm, g, n, m, h, dh) = (2, 3, 150, 41, 4, 8);
        let b = g * bm;
        let q = crate::test_tensor(1.0, (b, n, h * dh), 10).unwrap();
        let k = crate::test_tensor(1.0, (bm, m, h * dh), 11).unwrap();
        let v = crate::test_tensor(1.0, (bm, m, h * dh), 12).unwrap();
        let mask = crate::test_tensor(1.0, (b, n, m), 13).unwrap();
        // Hide about half of the keys, never the first.
        let bias = (mask.ge(0f32).unwrap().to_dtype(DType::F32).unwrap() * -1e9).unwrap();
        let keep_first = Tensor::cat(
            &[
                Tensor::zeros((b, n, 1), DType::F32, &dev).unwrap(),
                Tensor::ones((b, n, m - 1), DType::F32, &dev).unwrap(),
            ],
            2,
        )
        .unwrap();
        let bias = (bias * keep_first).unwrap();
        let got = attention_shared(&q, &k, &v, Some(&bias), h, 0.3).unwrap();
        // The composed reference, with each branch's memory repeated.
        let k_rep = Tensor::cat(&vec![&k; g], 0).unwrap();
        let v_rep = Tensor::cat(&vec![&v; g], 0).unwrap();
        let split = |t: &Tensor, rows: usize| {
            t.reshape((b, rows, h, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let scores = ((split(&q, n).matmul(&split(&k_rep, m).t().unwrap()).unwrap() * 0.3)
            .unwrap()
            .broadcast_add(&bias.unsqueeze(1).unwrap()))
        .unwrap();
        let want = candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&split(&v_rep, m))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, n, h * dh))
            .unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-5);
        // Variables take the composed path: the same values, with gradients.
        let qv = candle_core::Var::from_tensor(&q).unwrap();
        let tracked = attention_shared(qv.as_tensor(), &k, &v, Some(&bias), h, 0.3).unwrap();
        assert!(max_abs_diff(&tracked, &want) < 1e-5);
        let grads = tracked
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(qv.as_tensor()).is_some());
        let none = attention_shared(&q, &k, &v, None, h, 0.3).unwrap();
        assert!(max_abs_diff(&none, &got) > 1e-3);
        let bad = attention_shared(&q, &k, &v, Some(&bias.narrow(2, 0, 5).unwrap()), h, 0.3);
        assert!(bad.unwrap_err().to_string().contains("bias"));
    }

    /// A banded mask (each query sees key 0 and keys within 3 of its own), one branch that
    /// sees key 0 only, and one row that hides everything: the blocks that skip keys give
    /// what the composed ops give over all of them.
    #[test]
    fn banded_bias_equals_the_composed_ops() {
        let dev = Device::Cpu;
        let (bm, g, n, h, dh) = (1, 3, 100, 2, 8);
        let (m, b) = (n + 1, g * bm);
        let mut bias = vec![-1e9f32; b * n * m];
        for br in 0..g {
            for i in 0..n {
                let row = &mut bias[(br * n + i) * m..(br * n + i + 1) * m];
                row[0] = 0.0;
                if br > 0 {
                    for j in i.saturating_sub(3)..=(i + 3).min(n - 1) {
                        row[1 + j] = 0.0;
                    }
                }
            }
        }
        bias[(2 * n + 50) * m..(2 * n + 51) * m].fill(-1e9);
        let bias = Tensor::from_vec(bias, (b, n, m), &dev).unwrap();
        let q = crate::test_tensor(1.0, (b, n, h * dh), 14).unwrap();
        let k = crate::test_tensor(1.0, (bm, m, h * dh), 15).unwrap();
        let v = crate::test_tensor(1.0, (bm, m, h * dh), 16).unwrap();
        let got = attention_shared(&q, &k, &v, Some(&bias), h, 0.3).unwrap();
        // The composed path: q as a variable.
        let qv = candle_core::Var::from_tensor(&q).unwrap();
        let want = attention_shared(qv.as_tensor(), &k, &v, Some(&bias), h, 0.3).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-5);
        // Branch 0 sees key 0 alone: its output is v's first row.
        let v0 = v.get(0).unwrap().get(0).unwrap();
        let first = got.get(0).unwrap().get(17).unwrap();
        assert!(max_abs_diff(&first, &v0) < 1e-6);
    }

    #[test]
    fn packed_equals_split_heads() {
        let (b, t, h, dh) = (2, 150, 3, 8);
        let qkv = crate::test_tensor(1.0, (b, t, 3 * h * dh), 17).unwrap();
        let split = qkv
            .reshape((b, t, 3, h, dh))
            .unwrap()
            .permute((2, 0, 3, 1, 4))
            .unwrap()
            .contiguous()
            .unwrap();
        let (q, k, v) = (
            split.get(0).unwrap(),
            split.get(1).unwrap(),
            split.get(2).unwrap(),
        );
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * 0.3).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, t, h * dh))
            .unwrap();
        let got = attention_packed(&qkv, h, 0.3, None).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-5);
    }
}
