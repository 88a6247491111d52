//! CPU kernels for inference where candle's composed ops are slow: fused attention, linear
//! layers and time-major (grouped) convolutions with their bias (and exact GELU) fused into
//! the product, residual + layer norm, and a per-channel norm over time. A product of a few
//! rows (a prompt's tokens) runs as dot products along the weight's rows instead of gemm; a
//! kernel-3, stride-2 convolution (wav2vec2's feature extractor) takes seven products for every
//! nine of the direct form; outputs of 4 MB and more are placed on huge pages where Linux
//! allows it, so that writing them does not fault on every 4 kB page.
//! Each falls back to candle's ops off the CPU or for other types. Used by the Whisper,
//! wav2vec2, BERT and CLIP encoders and the denoiser's sampling path; none has a backward pass.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use m2f_kernels::{linear, Epilogue};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let x = Tensor::randn(0f32, 1.0, (2, 50, 384), &dev)?; // [batch, frames, in]
//! let w = Tensor::randn(0f32, 0.05, (1536, 384), &dev)?; // [out, in], as nn.Linear stores it
//! let b = Tensor::zeros(1536, candle_core::DType::F32, &dev)?;
//! let fused = linear(&x, &w, &b, Epilogue::GeluErf)?; // one pass: gelu(x wᵀ + b)
//! let composed = x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?.gelu_erf()?;
//! let diff = (fused - composed)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert!(diff < 1e-4);
//! # Ok(())
//! # }
//! ```

mod attention;
mod channel_norm;
mod conv;
mod exp;
mod gelu;
mod linear;
mod minimal_conv;
mod pages;
mod residual_norm;
mod skinny;
mod waveform_conv;

pub use attention::{attention, attention_packed, attention_shared};
pub use channel_norm::channel_norm_time_major;
pub use conv::{conv1d_time_major, conv1d_time_major_grouped, Conv1dShape};
pub use linear::{
    concat_linear, linear, linear_layer, then_activate, transposed_weight, with_transposed_weight,
    Epilogue,
};
pub use residual_norm::residual_layer_norm;
pub use waveform_conv::waveform_conv_norm;

/// An attention bias that hides its key: added to a score, it leaves the key a softmax weight
/// of exactly 0 in f32, and the attention kernel skips keys that every row of a block hides.
pub const HIDDEN_BIAS: f32 = -1e9;

/// Runs `f` on a thread of rayon's pool (directly when already on one). A kernel called from
/// outside the pool hands its work to the pool and sleeps until it is done, a context switch
/// pair per kernel; called around a whole forward pass, the kernels and parallel parts inside
/// split their work from within the pool instead.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

thread_local! {
    /// Set while this thread runs work that is already one task per core.
    static SERIAL_PRODUCTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the products it calls on this thread left unsplit: for a caller that
/// already runs one such task per core (splitting each product again only adds hand-offs).
pub fn serial_products<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL_PRODUCTS.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL_PRODUCTS.with(|s| s.replace(true)));
    f()
}

/// The gemm threading for one product on rayon's pool.
fn gemm_parallelism() -> gemm::Parallelism {
    if SERIAL_PRODUCTS.with(std::cell::Cell::get) {
        return gemm::Parallelism::None;
    }
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// A matrix operand of one product: its first element and the steps, in elements, from one
/// row and from one column to the next (gemm takes any steps, so that strided and transposed
/// views need no copy).
#[derive(Clone, Copy)]
struct Strided<P> {
    ptr: P,
    row: isize,
    col: isize,
}

impl<P> Strided<P> {
    /// Rows `row` elements apart, each contiguous.
    fn rows(ptr: P, row: usize) -> Self {
        Self {
            ptr,
            row: row as isize,
            col: 1,
        }
    }
}

/// `dst = scale · lhs · rhs` (`m × k` times `k × n`), or `dst += ...` when `accumulate`:
/// one gemm call.
///
/// # Safety
/// Every element the three views address must lie in its allocation, and no other thread may
/// touch `dst`'s elements during the call.
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: Strided<*mut f32>,
    accumulate: bool,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
    scale: f32,
    parallelism: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.ptr,
        dst.col,
        dst.row,
        accumulate,
        lhs.ptr,
        lhs.col,
        lhs.row,
        rhs.ptr,
        rhs.col,
        rhs.row,
        1.0,
        scale,
        false,
        false,
        false,
        parallelism,
    );
}

/// `rows` copies of `bias`, one after the other: the output a fused product accumulates into
/// (written in parallel, on huge pages when large: see `pages`).
fn bias_rows(bias: &[f32], rows: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = pages::zeroed(rows * bias.len());
    if !bias.is_empty() && bias.iter().any(|&b| b != 0.0) {
        out.par_chunks_mut(256 * bias.len()).for_each(|chunk| {
            chunk
                .chunks_exact_mut(bias.len())
                .for_each(|row| row.copy_from_slice(bias))
        });
    }
    out
}

/// The contiguous f32 data of a custom op's input, or an error naming the op.
fn contiguous_f32<'a>(
    op: &str,
    storage: &'a candle_core::CpuStorage,
    layout: &candle_core::Layout,
) -> candle_core::Result<&'a [f32]> {
    let candle_core::CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: f32 expected");
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: contiguous input expected"),
    }
}

/// Values of unit variance times `scale` (uniform, from a fixed seed) for the kernels' tests,
/// so that a failure reproduces.
#[cfg(test)]
fn test_tensor(
    scale: f64,
    shape: impl Into<candle_core::Shape>,
    seed: u64,
) -> candle_core::Result<candle_core::Tensor> {
    let shape = shape.into();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let values = (0..shape.elem_count())
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f64 / (1u64 << 24) as f64;
            ((u - 0.5) * 12f64.sqrt() * scale) as f32
        })
        .collect();
    candle_core::Tensor::from_vec(values, shape, &candle_core::Device::Cpu)
}

/// The largest absolute difference between two tensors (for the kernels' tests).
#[cfg(test)]
fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}
