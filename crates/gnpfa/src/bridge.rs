//! The blendshape bridge: `M` (rig weights → z) and `M′` (z → rig weights).

use candle_core::{Module, Tensor};
use candle_nn::{Activation, VarBuilder};
use m2f_train::Mlp;

use crate::config::GnpfaConfig;
use crate::error::Result;

/// `M` and `M′`, two MLPs between ARKit-named weights and the expression latent.
#[derive(Debug, Clone)]
pub struct Bridge {
    to_latent: Mlp,
    to_weights: Mlp,
}

impl Bridge {
    /// Variables under `vb.pp("to_latent")` (M) and `vb.pp("to_weights")` (M′).
    pub fn new(cfg: &GnpfaConfig, vb: VarBuilder) -> Result<Self> {
        let mut m = vec![cfg.num_blendshapes];
        m.extend(&cfg.bridge_hidden);
        m.push(cfg.latent_dim);
        let mut m_prime = vec![cfg.latent_dim];
        m_prime.extend(&cfg.bridge_hidden);
        m_prime.push(cfg.num_blendshapes);
        Ok(Self {
            to_latent: Mlp::new(&m, Activation::Silu, vb.pp("to_latent"))?,
            to_weights: Mlp::new(&m_prime, Activation::Silu, vb.pp("to_weights"))?,
        })
    }

    /// `M`: weights [B, K] → z [B, Z].
    pub fn weights_to_latent(&self, weights: &Tensor) -> Result<Tensor> {
        Ok(self.to_latent.forward(weights)?)
    }

    /// `M′`: z [B, Z] → weights [B, K].
    pub fn latent_to_weights(&self, z: &Tensor) -> Result<Tensor> {
        Ok(self.to_weights.forward(z)?)
    }
}
