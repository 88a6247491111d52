//! The architecture and loss settings of a GNPFA model, stored as `config.json`.

use serde::{Deserialize, Serialize};

use crate::error::{GnpfaError, Result};
use crate::image_encoder::ImageEncoderConfig;

/// Architecture of GNPFA (geometry VAE + blendshape bridge), as in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GnpfaConfig {
    /// Vertices of the face topology (468 for MediaPipe).
    pub num_vertices: usize,
    /// Size of the expression latent z.
    pub latent_dim: usize,
    /// Hidden widths of the geometry encoder `E_geo`, input side first.
    pub encoder_hidden: Vec<usize>,
    /// Hidden widths of the geometry decoder `G_geo`, latent side first.
    pub decoder_hidden: Vec<usize>,
    /// Size of the identity code the decoder computes from the neutral (0: the decoder ignores
    /// the neutral, an ablation).
    pub identity_dim: usize,
    /// Hidden widths of the bridge MLPs `M` (weights → z) and `M′` (z → weights).
    pub bridge_hidden: Vec<usize>,
    /// Number of rig blendshapes (43 ARKit names).
    pub num_blendshapes: usize,
    /// Blendshape names, in the order of weight vectors.
    pub blendshape_names: Vec<String>,
    /// Geometry is divided by this (metres) before entering the networks: 0.01 = centimetres.
    pub geometry_scale: f32,
    /// Weight of the KL term against the reconstruction term (both per element means).
    pub kl_weight: f64,
    /// Weight of the bridge geometry loss ‖G̃_B−G_B‖² (geometry decoded from `M(w)`).
    pub bridge_geometry_weight: f64,
    /// Weight of the bridge latent loss ‖z̃_B−z_B‖² (`M(w)` against `E_geo`'s μ).
    pub bridge_latent_weight: f64,
    /// Weight of the bridge weights loss ‖w̃_B−w_B‖² (`M′` back to rig weights).
    pub bridge_weights_weight: f64,
    /// Animation frame rate the model is meant for.
    pub fps: f32,
    /// The image encoders `E_exp` / `E_pose`, when the checkpoint has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageEncoderConfig>,
}

impl Default for GnpfaConfig {
    fn default() -> Self {
        Self {
            num_vertices: m2f_mesh::MEDIAPIPE_VERTEX_COUNT,
            latent_dim: 64,
            encoder_hidden: vec![512, 256],
            decoder_hidden: vec![256, 512],
            identity_dim: 32,
            bridge_hidden: vec![256, 256],
            num_blendshapes: m2f_mesh::ARKIT_BLENDSHAPES.len(),
            blendshape_names: m2f_mesh::ARKIT_BLENDSHAPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            geometry_scale: 0.01,
            kl_weight: 1e-6,
            bridge_geometry_weight: 1.0,
            bridge_latent_weight: 1.0,
            bridge_weights_weight: 1.0,
            fps: 30.0,
            image: None,
        }
    }
}

/// The largest size (vertices, latent, hidden width, blendshapes, image sizes)
/// [`GnpfaConfig::validate`] accepts: far above any real model, low enough that sums and
/// products of sizes cannot overflow.
pub(crate) const MAX_SIZE: usize = 1 << 20;

impl GnpfaConfig {
    /// A small model for tests.
    pub fn tiny() -> Self {
        Self {
            latent_dim: 8,
            encoder_hidden: vec![32],
            decoder_hidden: vec![32],
            identity_dim: 4,
            bridge_hidden: vec![16],
            ..Self::default()
        }
    }

    /// Checks the numbers are usable; `what` names the source in the error.
    pub fn validate(&self, what: &str) -> Result<()> {
        let bad = |m: String| Err(GnpfaError::invalid(what.to_string(), m));
        if self.num_vertices == 0 || self.latent_dim == 0 || self.num_blendshapes == 0 {
            return bad("num_vertices, latent_dim and num_blendshapes must be positive".into());
        }
        // Refused before anything is built of them (a damaged config can name any size).
        let sizes = [
            ("num_vertices", self.num_vertices),
            ("latent_dim", self.latent_dim),
            ("identity_dim", self.identity_dim),
            ("num_blendshapes", self.num_blendshapes),
        ];
        let hidden = (self.encoder_hidden.iter())
            .chain(&self.decoder_hidden)
            .chain(&self.bridge_hidden)
            .map(|&h| ("hidden sizes", h));
        if let Some((field, v)) = sizes.into_iter().chain(hidden).find(|(_, v)| *v > MAX_SIZE) {
            return bad(format!("{field}: {v} is more than the limit {MAX_SIZE}"));
        }
        if self.blendshape_names.len() != self.num_blendshapes {
            return bad(format!(
                "num_blendshapes is {} but {} blendshape names are listed",
                self.num_blendshapes,
                self.blendshape_names.len()
            ));
        }
        if self
            .encoder_hidden
            .iter()
            .chain(&self.decoder_hidden)
            .chain(&self.bridge_hidden)
            .any(|&h| h == 0)
        {
            return bad("hidden sizes must be positive".into());
        }
        if !self.geometry_scale.is_finite() || self.geometry_scale <= 0.0 {
            return bad(format!(
                "geometry_scale must be positive, got {}",
                self.geometry_scale
            ));
        }
        if let Some(image) = &self.image {
            image.validate(what)?;
        }
        Ok(())
    }
}
