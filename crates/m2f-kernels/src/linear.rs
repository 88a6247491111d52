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
use super::{bias_rows, contiguous_f32, gemm_parallelism, product, Strided};

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
        // A weight stored transposed (see [`transposed_weight`]) is read as it is.
        let w = if is_stored_transposed(weight)? {
            weight.clone()
        } else {
            weight.contiguous()?
        };
        let (x, b) = (x.contiguous()?, bias.contiguous()?);
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

/// `weight` ([out, in]) stored transposed: the same tensor, its values laid out as [in, out] in
/// memory. gemm's AVX-512 kernels read the product's right-hand side much faster that way at
/// the encoders' shapes (a [499, 3072] × [3072, 768] product, wav2vec2-base's feed-forward
/// output on 10 s: 8.4 → 4.8 ms on 2 cores of an AMD Zen 5); its AVX2 kernels read both
/// layouts at the same speed. For the weights of a loaded model that is not trained: made
/// from a variable, the copy would not follow the optimiser's updates of it. Other devices
/// and types are returned unchanged.
///
/// # Errors
/// A weight that is not a matrix.
pub fn transposed_weight(weight: &Tensor) -> candle_core::Result<Tensor> {
    if weight.rank() != 2 {
        candle_core::bail!("transposed weight: {:?} is not [out, in]", weight.dims());
    }
    if weight.device().is_cpu() && weight.dtype() == DType::F32 {
        weight.t()?.contiguous()?.t()
    } else {
        Ok(weight.clone())
    }
}

/// A linear layer whose weight [`transposed_weight`] stores transposed.
///
/// # Errors
/// As [`transposed_weight`].
pub fn with_transposed_weight(layer: candle_nn::Linear) -> candle_core::Result<candle_nn::Linear> {
    Ok(candle_nn::Linear::new(
        transposed_weight(layer.weight())?,
        layer.bias().cloned(),
    ))
}

/// Whether a matrix is the transpose of a contiguous one (and not itself contiguous).
fn is_stored_transposed(w: &Tensor) -> candle_core::Result<bool> {
    Ok(w.rank() == 2 && !w.is_contiguous() && w.t()?.is_contiguous())
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
        let (x, b) = (
            contiguous_f32("fused linear", s1, l1)?,
            contiguous_f32("fused linear", s3, l3)?,
        );
        // The weight as [out, in] rows (gemm reads it as the transposed right-hand side), or
        // stored transposed as [in, out] rows (the right-hand side as it is).
        let stored_transposed = !l2.is_contiguous() && l2.stride() == [1, d_out];
        let w = if stored_transposed {
            let candle_core::CpuStorage::F32(data) = s2 else {
                candle_core::bail!("fused linear: f32 expected");
            };
            let start = l2.start_offset();
            data.get(start..start + d_in * d_out).ok_or_else(|| {
                candle_core::Error::Msg("fused linear: weight out of its storage".into())
            })?
        } else {
            contiguous_f32("fused linear", s2, l2)?
        };
        let (rhs_cs, rhs_rs) = if stored_transposed {
            (1, d_out as isize)
        } else {
            (d_in as isize, 1)
        };
        let rows = x.len() / d_in.max(1);
        // The output starts as the bias rows (no zeroing pass first).
        let mut out = bias_rows(b, rows);
        let parallelism = gemm_parallelism();
        if rows <= SKINNY_ROWS && !stored_transposed {
            let parallel = !matches!(parallelism, gemm::Parallelism::None);
            skinny_product(x, w, &mut out, rows, d_in, parallel);
            if self.epilogue == Epilogue::GeluErf {
                gelu_in_place(&mut out);
            }
            return Ok((CpuStorage::F32(out), output_shape(xd, d_out)));
        }
        // SAFETY: out is rows × d_out and x rows × d_in, row-major and contiguous; w holds
        // d_out × d_in values, addressed through (rhs_cs, rhs_rs) as laid out above.
        unsafe {
            let rhs = Strided {
                ptr: w.as_ptr(),
                row: rhs_rs,
                col: rhs_cs,
            };
            product(
                (rows, d_out, d_in),
                Strided::rows(out.as_mut_ptr(), d_out),
                true,
                Strided::rows(x.as_ptr(), d_in),
                rhs,
                1.0,
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
        // A weight stored transposed gives the same values, on many rows and on few.
        let wt = transposed_weight(&w).unwrap();
        assert!(!wt.is_contiguous() && wt.dims() == w.dims());
        let got = linear(&x, &wt, &b, Epilogue::GeluErf).unwrap();
        assert!(max_abs_diff(&got, &want.gelu_erf().unwrap()) < 1e-5);
        let few = x.narrow(1, 0, 3).unwrap();
        let got = linear(&few, &wt, &b, Epilogue::None).unwrap();
        let plain = linear(&few, &w, &b, Epilogue::None).unwrap();
        assert!(max_abs_diff(&got, &plain) < 1e-5);
        let layer =
            with_transposed_weight(candle_nn::Linear::new(w.clone(), Some(b.clone()))).unwrap();
        let y = candle_core::Module::forward(&layer, &x).unwrap();
        assert!(max_abs_diff(&y, &want) < 1e-5);
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
