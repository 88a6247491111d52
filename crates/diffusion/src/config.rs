//! The denoiser's architecture: what `config.json` of a diffusion checkpoint holds under
//! `model`.

use candle_nn::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::noise_schedule::NoiseScheduleKind;

/// The highest frame rate a denoiser may be configured for (the audio encoders resample to at
/// most the same): no face animation runs faster, and a rate read from a file sizes every clip.
const MAX_FPS: f32 = 1000.0;

/// Architecture of the Media2Face denoiser (a transformer decoder over frames of [z, θ]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoiserConfig {
    /// Z: the GNPFA expression latent size.
    pub latent_dim: usize,
    /// Head pose size: 6 (axis-angle rotation, translation).
    pub pose_dim: usize,
    /// Width of the audio features, one vector per animation frame.
    pub audio_dim: usize,
    /// Width of text style embeddings (384 for all-MiniLM-L6-v2); 0: no text prompts.
    pub text_style_dim: usize,
    /// Width of image style latents (a face image's GNPFA `E_exp` latent); 0: no image prompts.
    pub image_style_dim: usize,
    /// Width of the transformer.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Activation of the feed-forward block.
    pub activation: Activation,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// Frames of one window (longer audio is cut into overlapping windows).
    pub window: usize,
    /// Animation frame rate.
    pub fps: f32,
    /// Each frame's cross-attention sees the audio of the frames within this distance (an
    /// alignment band, as FaceFormer's alignment bias): lip motion follows the sound of its
    /// own moment, and the band makes the network independent of window length. `None`: all
    /// frames of the window.
    pub audio_radius: Option<usize>,
    /// Diffusion steps T.
    pub diffusion_steps: usize,
    /// The noise schedule.
    pub noise_schedule: NoiseScheduleKind,
    /// What the network is trained to do: denoise (the Media2Face model) or regress the
    /// motion straight from the conditions (the deterministic baseline of the evaluation).
    #[serde(default, skip_serializing_if = "Objective::is_diffusion")]
    pub objective: Objective,
}

impl Objective {
    /// The Media2Face objective (left out of `config.json`, so that earlier readers still
    /// load diffusion checkpoints).
    pub fn is_diffusion(&self) -> bool {
        *self == Objective::Diffusion
    }
}

/// The training objective of a denoiser network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// X⁰ from a noisy X_t at a random diffusion step: sampled by guided DDIM.
    #[default]
    Diffusion,
    /// X⁰ from the conditions alone: the same network always sees X_t = 0 (the mean of pure
    /// noise) at the last diffusion step, with audio and style, and is sampled in one pass.
    /// The deterministic regression baseline of the same size as the diffusion model.
    Regression,
}

/// The largest width, layer count or head count [`DenoiserConfig::validate`] accepts: far above
/// any real denoiser, low enough that sums and products of sizes cannot overflow.
const MAX_SIZE: usize = 1 << 20;
/// The longest window [`DenoiserConfig::validate`] accepts, frames (the positions of a window
/// are a table of `window × hidden_size`).
const MAX_WINDOW: usize = 1 << 16;
/// The most diffusion steps [`DenoiserConfig::validate`] accepts.
const MAX_DIFFUSION_STEPS: usize = 1 << 20;

impl DenoiserConfig {
    /// The paper's denoiser: 8 layers, width 512, 4 heads, windows of 200 frames at 30 fps,
    /// cosine schedule with T = 500, over audio features of width `audio_dim`.
    pub fn paper(audio_dim: usize) -> Self {
        Self {
            latent_dim: 64,
            pose_dim: 6,
            audio_dim,
            text_style_dim: 384,
            image_style_dim: 64,
            hidden_size: 512,
            num_layers: 8,
            num_heads: 4,
            intermediate_size: 1024,
            activation: Activation::Gelu,
            layer_norm_eps: 1e-5,
            window: 200,
            fps: 30.0,
            audio_radius: Some(10),
            diffusion_steps: 500,
            noise_schedule: NoiseScheduleKind::Cosine,
            objective: Objective::Diffusion,
        }
    }

    /// The denoiser of the default checkpoint, small enough to train on two CPU cores: the
    /// paper's but 3 layers of width 192. Chosen by measured quality per training hour on two
    /// cores against 4 × 256 and 6 × 384 (`docs/diffusion.md`).
    pub fn small(audio_dim: usize) -> Self {
        Self {
            hidden_size: 192,
            num_layers: 3,
            intermediate_size: 384,
            ..Self::paper(audio_dim)
        }
    }

    /// A preset by name: `paper` or `small`.
    pub fn preset(name: &str, audio_dim: usize) -> Result<Self> {
        match name {
            "paper" => Ok(Self::paper(audio_dim)),
            "small" => Ok(Self::small(audio_dim)),
            _ => Err(DiffusionError::invalid(
                "denoiser preset",
                format!("{name:?}; expected paper or small"),
            )),
        }
    }

    /// Z + 6: the width of one frame of motion.
    pub fn motion_dim(&self) -> usize {
        self.latent_dim + self.pose_dim
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// Checks the fields can build a network; `what` names the config in errors.
    pub fn validate(&self, what: &str) -> Result<()> {
        let bad = |field: &str, message: String| {
            Err(DiffusionError::invalid(format!("{what}: {field}"), message))
        };
        // Refused before anything is built of them (a damaged config can name any size).
        for (field, v, max) in [
            ("latent_dim", self.latent_dim, MAX_SIZE),
            ("pose_dim", self.pose_dim, MAX_SIZE),
            ("audio_dim", self.audio_dim, MAX_SIZE),
            ("text_style_dim", self.text_style_dim, MAX_SIZE),
            ("image_style_dim", self.image_style_dim, MAX_SIZE),
            ("hidden_size", self.hidden_size, MAX_SIZE),
            ("num_layers", self.num_layers, MAX_SIZE),
            ("num_heads", self.num_heads, MAX_SIZE),
            ("intermediate_size", self.intermediate_size, MAX_SIZE),
            ("window", self.window, MAX_WINDOW),
            ("diffusion_steps", self.diffusion_steps, MAX_DIFFUSION_STEPS),
        ] {
            if v > max {
                return bad(field, format!("{v} is more than the limit {max}"));
            }
        }
        for (field, v) in [
            ("latent_dim", self.latent_dim),
            ("audio_dim", self.audio_dim),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("intermediate_size", self.intermediate_size),
            ("window", self.window),
        ] {
            if v == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.hidden_size % self.num_heads != 0 {
            return bad(
                "num_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    self.num_heads, self.hidden_size
                ),
            );
        }
        if self.diffusion_steps < 2 {
            return bad(
                "diffusion_steps",
                format!("{} (at least 2)", self.diffusion_steps),
            );
        }
        // The frame rate sizes every generated clip (frames = seconds × fps).
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= MAX_FPS) {
            return bad(
                "fps",
                format!("{} (must be positive and at most {MAX_FPS})", self.fps),
            );
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return bad(
                "layer_norm_eps",
                format!("{} (must be positive)", self.layer_norm_eps),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_fields_are_named() {
        DenoiserConfig::paper(384).validate("paper").unwrap();
        DenoiserConfig::small(384).validate("small").unwrap();
        let c = DenoiserConfig {
            num_heads: 5,
            ..DenoiserConfig::small(384)
        };
        let e = c.validate("config").unwrap_err().to_string();
        assert!(e.contains("num_heads"), "{e}");
        for fps in [0.0, f32::NAN, 1e30] {
            let c = DenoiserConfig {
                fps,
                ..DenoiserConfig::small(384)
            };
            let e = c.validate("config").unwrap_err().to_string();
            assert!(e.contains("fps"), "{e}");
        }
        let json = serde_json::to_string(&DenoiserConfig::paper(384)).unwrap();
        let back: DenoiserConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, DenoiserConfig::paper(384));
        assert!(DenoiserConfig::preset("huge", 384).is_err());
    }
}
