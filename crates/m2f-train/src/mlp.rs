//! A multi-layer perceptron: the feed-forward block trainers build their heads from.

use candle_core::{Module, Tensor};
use candle_nn::{linear, Activation, Linear, VarBuilder};

/// A stack of linear layers with an activation between them (none after the last).
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// `sizes` = [input, hidden..., output]; layers are `l0`, `l1`, ... under `vb`.
    pub fn new(
        sizes: &[usize],
        activation: Activation,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let mut layers = Vec::with_capacity(sizes.len().saturating_sub(1));
        for (i, w) in sizes.windows(2).enumerate() {
            layers.push(linear(w[0], w[1], vb.pp(format!("l{i}")))?);
        }
        Ok(Self { layers, activation })
    }
}

impl Module for Mlp {
    /// xs: [..., input] → [..., output].
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = xs.clone();
        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i < last {
                h = self.activation.forward(&h)?;
            }
        }
        Ok(h)
    }
}
