//! The geometry VAE: `E_geo` (expression displacement → μ, log σ²) and `G_geo(neutral, z)`
//! (→ displacement). Identity enters only through the neutral mesh given to the decoder.

use candle_core::{Module, Tensor, D};
use candle_nn::{linear, Activation, Linear, VarBuilder};
use m2f_train::Mlp;

use crate::config::GnpfaConfig;
use crate::error::Result;

/// `E_geo`: expression displacement from the subject's neutral → (μ, log σ²) of z.
#[derive(Debug, Clone)]
pub struct GeoEncoder {
    trunk: Mlp,
    mu: Linear,
    logvar: Linear,
    scale: f64,
}

impl GeoEncoder {
    /// Variables `trunk`, `mu` and `logvar` under `vb`.
    pub fn new(cfg: &GnpfaConfig, vb: VarBuilder) -> Result<Self> {
        let mut sizes = vec![cfg.num_vertices * 3];
        sizes.extend(&cfg.encoder_hidden);
        let trunk = Mlp::new(&sizes, Activation::Silu, vb.pp("trunk"))?;
        let last = *sizes.last().unwrap_or(&(cfg.num_vertices * 3));
        Ok(Self {
            trunk,
            mu: linear(last, cfg.latent_dim, vb.pp("mu"))?,
            logvar: linear(last, cfg.latent_dim, vb.pp("logvar"))?,
            scale: cfg.geometry_scale as f64,
        })
    }

    /// displacement: [B, V*3] metres (expression vertices − neutral) → (μ [B, Z], log σ² [B, Z]).
    pub fn forward(&self, displacement: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = (displacement / self.scale)?;
        let h = self.trunk.forward(&x)?.silu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }
}

/// `G_geo(neutral, z)`: the expression displacement for latent z on the face `neutral`.
///
/// A global MLP over [z, identity code]; the identity code is a learned linear projection of
/// the neutral's offset from the template neutral. No identity latent: two faces given the same
/// z get the same expression, adapted to their shapes.
#[derive(Debug, Clone)]
pub struct GeoDecoder {
    identity: Option<Linear>,
    mlp: Mlp,
    /// [1, V*3] the template neutral, metres (not trained).
    reference: Tensor,
    scale: f64,
}

impl GeoDecoder {
    /// `reference`: the template neutral, [V, 3] metres.
    pub fn new(cfg: &GnpfaConfig, reference: &Tensor, vb: VarBuilder) -> Result<Self> {
        let v3 = cfg.num_vertices * 3;
        let identity = if cfg.identity_dim > 0 {
            Some(linear(v3, cfg.identity_dim, vb.pp("identity"))?)
        } else {
            None
        };
        let mut sizes = vec![cfg.latent_dim + cfg.identity_dim];
        sizes.extend(&cfg.decoder_hidden);
        sizes.push(v3);
        Ok(Self {
            identity,
            mlp: Mlp::new(&sizes, Activation::Silu, vb.pp("mlp"))?,
            reference: reference.reshape((1, v3))?,
            scale: cfg.geometry_scale as f64,
        })
    }

    /// neutral: [B, V*3] metres, z: [B, Z] → displacement [B, V*3] metres.
    pub fn forward(&self, neutral: &Tensor, z: &Tensor) -> Result<Tensor> {
        let input = match &self.identity {
            Some(identity) => {
                let offset = (neutral.broadcast_sub(&self.reference)? / self.scale)?;
                let code = identity.forward(&offset)?;
                Tensor::cat(&[z, &code], D::Minus1)?
            }
            None => z.clone(),
        };
        Ok((self.mlp.forward(&input)? * self.scale)?)
    }
}

/// The geometry VAE: `E_geo` and `G_geo`.
#[derive(Debug, Clone)]
pub struct GeometryVae {
    /// `E_geo`.
    pub encoder: GeoEncoder,
    /// `G_geo`.
    pub decoder: GeoDecoder,
}

impl GeometryVae {
    /// Variables under `vb.pp("encoder")` and `vb.pp("decoder")`.
    pub fn new(cfg: &GnpfaConfig, reference: &Tensor, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            encoder: GeoEncoder::new(cfg, vb.pp("encoder"))?,
            decoder: GeoDecoder::new(cfg, reference, vb.pp("decoder"))?,
        })
    }

    /// displacement [B, V*3] → (μ [B, Z], log σ² [B, Z]).
    pub fn encode(&self, displacement: &Tensor) -> Result<(Tensor, Tensor)> {
        self.encoder.forward(displacement)
    }

    /// neutral [B, V*3], z [B, Z] → displacement [B, V*3].
    pub fn decode(&self, neutral: &Tensor, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(neutral, z)
    }
}

/// KL(q(z|x) ‖ N(0, I)) summed over latent dimensions, mean over the batch.
/// mu, logvar: [B, Z] → scalar.
pub fn kl_divergence(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let term = ((logvar.exp()? + mu.sqr()?)? - logvar)? - 1.0;
    Ok((term?.sum(D::Minus1)?.mean_all()? * 0.5)?)
}
