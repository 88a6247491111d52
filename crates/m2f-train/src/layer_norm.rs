//! A layer norm that trains: candle-nn 0.11's fused `LayerNorm` (`ops::layer_norm`) has no
//! backward pass, so its weight and bias would silently never learn.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

/// Layer norm over the last dimension with a learned scale and shift (`weight`, `bias`,
/// initialised to 1 and 0), through `ops::layer_norm_slow`, which has a backward pass, when
/// a gradient may be asked for (and the fused kernel when not).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// The scale `[dim]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The shift `[dim]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The variance floor.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// `weight` and `bias` of length `dim` under `vb`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?,
            eps,
        })
    }
}

impl Module for LayerNorm {
    /// xs: [..., dim] → [..., dim].
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if xs.track_op() || self.weight.track_op() || self.bias.track_op() {
            candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps as f32)
        } else {
            // Nothing to differentiate: the fused kernel computes the same normalisation. It
            // reads its input as contiguous rows (a transposed view would be misread).
            let xs = xs.contiguous()?;
            candle_nn::ops::layer_norm(&xs, &self.weight, &self.bias, self.eps as f32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn equals_the_fused_norm_and_trains() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let norm = LayerNorm::new(5, 1e-5, vb).unwrap();
        let xs = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        let fused = candle_nn::LayerNorm::new(norm.weight.clone(), norm.bias.clone(), 1e-5);
        let diff = (norm.forward(&xs).unwrap() - fused.forward(&xs).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
        // Plain tensors (a loaded model) take the fused path: the same values.
        let w = (Tensor::randn(0f32, 1.0, 5, &dev).unwrap() + 1.0).unwrap();
        let b = Tensor::randn(0f32, 1.0, 5, &dev).unwrap();
        let plain = LayerNorm {
            weight: w.clone(),
            bias: b.clone(),
            eps: 1e-5,
        };
        let slow = candle_nn::ops::layer_norm_slow(&xs, &w, &b, 1e-5).unwrap();
        let diff = (plain.forward(&xs).unwrap() - slow)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
        // A transposed view (channels-first data turned channels-last) is read correctly.
        let xt = Tensor::randn(0f32, 1.0, (5, 3), &dev).unwrap().t().unwrap();
        let slow = candle_nn::ops::layer_norm_slow(&xt, &w, &b, 1e-5).unwrap();
        let diff = (plain.forward(&xt).unwrap() - slow)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
        let target = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        let loss = (norm.forward(&xs).unwrap() - target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let named = crate::named_vars(&vm).unwrap();
        assert!(crate::variables_without_gradient(&grads, &named)
            .unwrap()
            .is_empty());
    }
}
