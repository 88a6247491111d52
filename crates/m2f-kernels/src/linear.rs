//! A fused linear layer for CPU inference: `x wᵀ + b`, optionally followed by exact GELU, in one
//! output buffer.
//!
//! candle-nn's `Linear` multiplies, then adds the bias through a broadcasting binary op that
//! costs about as much as the product itself for Whisper's shapes (1.7 ms against 1.9 ms for a
//! [500, 384] × [384, 1536] layer on the project's VM). Here the output starts as the bias rows
//! and the product is accumulated into it by one gemm call (by dot products along the weight's
//! rows when x has only a few rows: `skinny`); GELU then runs in place.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use super::gelu::gelu_in_place;
use super::skinny::{skinny_product, SKINNY_ROWS};
use super::{bias_rows, contiguous_f32, gemm_parallelism};

/// What runs on the output after the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// Nothing: `x wᵀ + b`.
    None,
    /// Exact (erf) GELU: `gelu(x wᵀ + b)`.
    GeluErf,
}

/// A fused op followed by `act`: exact GELU (`candle_nn::Activation::Gelu`) runs inside the
/// kernel as its epilogue, any other activation after it.
///
/// # Errors
/// Those of `op` and of the activation.
pub fn then_activate(
    act: candle_nn::Activation,
    op: impl FnOnce(Epilogue) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    match act {
        candle_nn::Activation::Gelu => op(Epilogue::GeluErf),
        other => candle_core::Module::forward(&other, &op(Epilogue::None)?),
    }
}

/// `x wᵀ + b` (then `epilogue`) for x `[..., in]`, w `[out, in]`, b `[out]` → `[..., out]`. f32
/// on the CPU takes the fused kernel; other devices and types the same math through candle's ops.
///
/// # Errors
/// Shape mismatches.
pub fn linear(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() >= 1 {
        let (x, w, b) = (x.contiguous()?, weight.contiguous()?, bias.contiguous()?);
        x.apply_op3_no_bwd(&w, &b, &FusedLinear { epilogue })
    } else {
        let y = x.broadcast_matmul(&weight.t()?)?.broadcast_add(bias)?;
        match epilogue {
            Epilogue::None => Ok(y),
            Epilogue::GeluErf => y.gelu_erf(),
        }
    }
}

/// A candle-nn `Linear` layer (with a bias) through [`linear`] when nothing asks for a gradient
/// (x and the layer's weights are plain tensors, as in a loaded model), and through its own
/// composed ops otherwise, so that training keeps its backward pass.
///
/// # Errors
/// Shape mismatches.
pub fn linear_layer(
    layer: &candle_nn::Linear,
    x: &Tensor,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    match layer.bias() {
        Some(bias) if !(x.track_op() || layer.weight().track_op() || bias.track_op()) => {
            linear(x, layer.weight(), bias, epilogue)
        }
        _ => {
            let y = candle_core::Module::forward(layer, x)?;
            match epilogue {
                Epilogue::None => Ok(y),
                Epilogue::GeluErf => y.gelu_erf(),
            }
        }
    }
}

/// Layers that read the same input as one layer of their outputs side by side (attention's
/// query, key and value projections as one product): weights and biases concatenated along
/// the output dimension.
///
/// # Errors
/// Layers of different input widths, or some with a bias and some without.
pub fn concat_linear(layers: &[&candle_nn::Linear]) -> candle_core::Result<candle_nn::Linear> {
    let weights: Vec<&Tensor> = layers.iter().map(|l| l.weight()).collect();
    let biases: Option<Vec<&Tensor>> = layers.iter().map(|l| l.bias()).collect();
    if biases.is_none() && layers.iter().any(|l| l.bias().is_some()) {
        candle_core::bail!("concat_linear: some layers have a bias and some do not");
    }
    let bias = biases.map(|b| Tensor::cat(&b, 0)).transpose()?;
    Ok(candle_nn::Linear::new(Tensor::cat(&weights, 0)?, bias))
}

struct FusedLinear {
    epilogue: Epilogue,
}

impl CustomOp3 for FusedLinear {
    fn name(&self) -> &'static str {
        "fused-linear"
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
        let (xd, wd, bd) = (l1.dims(), l2.dims(), l3.dims());
        let Some(&d_in) = xd.last() else {
            candle_core::bail!("fused linear: x is a scalar");
        };
        let [d_out, w_in] = wd[..] else {
            candle_core::bail!("fused linear: weight {wd:?} is not [out, in]");
        };
        if w_in != d_in || bd != [d_out] {
            candle_core::bail!("fused linear: x {xd:?}, weight {wd:?}, bias {bd:?} do not fit");
        }
        let (x, w, b) = (
            contiguous_f32("fused linear", s1, l1)?,
            contiguous_f32("fused linear", s2, l2)?,
            contiguous_f32("fused linear", s3, l3)?,
        );
        let rows = x.len() / d_in.max(1);
        // The output starts as the bias rows (no zeroing pass first).
        let mut out = bias_rows(b, rows);
        let parallelism = gemm_parallelism();
        if rows <= SKINNY_ROWS {
            let parallel = !matches!(parallelism, gemm::Parallelism::None);
            skinny_product(x, w, &mut out, rows, d_in, parallel);
            if self.epilogue == Epilogue::GeluErf {
                gelu_in_place(&mut out);
            }
            return Ok((CpuStorage::F32(out), output_shape(xd, d_out)));
        }
        // SAFETY: out is rows × d_out, x rows × d_in, w d_out × d_in (read transposed), all
        // row-major and contiguous.
        unsafe {
            gemm::gemm(
                rows,
                d_out,
                d_in,
                out.as_mut_ptr(),
                1,
                d_out as isize,
                true,
                x.as_ptr(),
                1,
                d_in as isize,
                w.as_ptr(),
                d_in as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        if self.epilogue == Epilogue::GeluErf {
            gelu_in_place(&mut out);
        }
        Ok((CpuStorage::F32(out), output_shape(xd, d_out)))
    }
}

/// x's dims with the last replaced by the layer's output width.
fn output_shape(x_dims: &[usize], d_out: usize) -> Shape {
    let mut dims = x_dims[..x_dims.len() - 1].to_vec();
    dims.push(d_out);
    Shape::from_dims(&dims)
}

#[cfg(test)]
mod tests {
    use super::super::max_abs_diff;
    use super::*;

    #[test]
    fn equals_candle_linear_and_gelu() {
        let x = crate::test_tensor(1.0, (2, 37, 24), 3).unwrap();
        let w = crate::test_tensor(0.3, (40, 24), 4).unwrap();
        let b = crate::test_tensor(1.0, 40, 5).unwrap();
        let want = candle_nn::Linear::new(w.clone(), Some(b.clone()));
        let want = candle_core::Module::forward(&want, &x).unwrap();
        let got = linear(&x, &w, &b, Epilogue::None).unwrap();
        assert_eq!(got.dims(), &[2, 37, 40]);
        assert!(max_abs_diff(&got, &want) < 1e-5);
        let got = linear(&x, &w, &b, Epilogue::GeluErf).unwrap();
        assert!(max_abs_diff(&got, &want.gelu_erf().unwrap()) < 1e-5);
        // A layer of variables keeps its backward pass and gives the same values.
        let layer = candle_nn::Linear::new(w.clone(), Some(b.clone()));
        let plain = linear_layer(&layer, &x, Epilogue::GeluErf).unwrap();
        assert!(max_abs_diff(&plain, &got) < 1e-5);
        let wv = candle_core::Var::from_tensor(&w).unwrap();
        let trained = candle_nn::Linear::new(wv.as_tensor().clone(), Some(b.clone()));
        let y = linear_layer(&trained, &x, Epilogue::GeluErf).unwrap();
        assert!(max_abs_diff(&y, &got) < 1e-5);
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(wv.as_tensor()).is_some());
        // A prompt's few rows take the dot-product path.
        let x = crate::test_tensor(1.0, (1, 9, 24), 6).unwrap();
        let want = candle_nn::Linear::new(w.clone(), Some(b.clone()));
        let want = candle_core::Module::forward(&want, &x).unwrap();
        let got = linear(&x, &w, &b, Epilogue::None).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-5);
        let got = linear(&x, &w, &b, Epilogue::GeluErf).unwrap();
        assert!(max_abs_diff(&got, &want.gelu_erf().unwrap()) < 1e-5);
    }
}
