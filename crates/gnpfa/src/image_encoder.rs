//! The image encoders `E_exp` (face crop → expression latent z) and `E_pose` (face crop → head
//! pose), and the crop convention they are trained in.
//!
//! A face crop is a square RGB image of `image_size` pixels seen through one fixed pinhole
//! camera, [`CropCamera`], that frames the template's neutral face. The head pose θ is the
//! pose of the face in that camera's world frame (the template frame), so the translation says
//! where in the crop, and how large, the face appears. Whoever crops real frames (the face
//! tracker) maps them into this convention.

use candle_core::{Device, Tensor, D};
use candle_nn::{linear, Linear, Module, VarBuilder};
use image::RgbImage;
use m2f_mesh::HeadPose;
use m2f_train::LayerNorm;
use serde::{Deserialize, Serialize};

use crate::crop_camera::CropCamera;
use crate::error::{GnpfaError, Result};
use crate::projection::rotation_from_6d;

/// Architecture of the image encoders, stored in the checkpoint's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEncoderConfig {
    /// Side of the square RGB crop, pixels. Must be divisible by
    /// `patch_size · 2^(stage_channels.len() − 1)`.
    pub image_size: usize,
    /// The first stage embeds non-overlapping `patch_size`² patches.
    pub patch_size: usize,
    /// Channels after each stage; every stage after the first merges 2×2 neighbours.
    pub stage_channels: Vec<usize>,
    /// Width of the head MLP over the flattened last feature map.
    pub head_hidden: usize,
    /// Layer norm over channels after every stage's linear layer (and the head's hidden one).
    /// Off by default: measured over 500 steps it learned about twice as much per step but
    /// ran at half the speed (candle's differentiable layer norm is a chain of broadcast ops),
    /// no gain per second of training.
    #[serde(default)]
    pub layer_norm: bool,
    /// The crop convention.
    pub camera: CropCamera,
    /// The pose head predicts translation in units of this many metres.
    pub translation_scale: f32,
    /// Weight of the 3D expression geometry loss (`E_exp` through `G_geo`).
    pub geometry_weight: f64,
    /// Weight of the posed 3D geometry loss (`E_pose`).
    pub posed_geometry_weight: f64,
    /// Weight of the 2D landmark reprojection loss (pixels measured in percent of the crop
    /// side).
    pub landmark_weight: f64,
    /// Weight of ‖E_exp(I) − μ(E_geo(G))‖²: keeps `E_exp`'s latents where `E_geo` puts them,
    /// in the directions `G_geo` ignores too (there the geometry loss is blind, and `M′` and
    /// the diffusion model would read whatever `E_exp` left).
    #[serde(default)]
    pub latent_weight: f64,
}

/// The most stages [`ImageEncoderConfig::validate`] accepts (each halves the feature map).
const MAX_STAGES: usize = 16;

impl ImageEncoderConfig {
    /// The default crop for a template neutral: 96 px, 25 % margin around the neutral face.
    pub fn for_template(neutral: &[[f32; 3]]) -> Self {
        Self {
            image_size: 96,
            patch_size: 4,
            stage_channels: vec![64, 128, 256, 256],
            head_hidden: 512,
            layer_norm: false,
            camera: CropCamera::framing(neutral, 0.25),
            translation_scale: 0.01,
            geometry_weight: 1.0,
            posed_geometry_weight: 1.0,
            landmark_weight: 0.01,
            latent_weight: 0.0,
        }
    }

    /// A small network for tests.
    pub fn tiny(neutral: &[[f32; 3]]) -> Self {
        Self {
            image_size: 32,
            patch_size: 4,
            stage_channels: vec![8, 16],
            head_hidden: 32,
            layer_norm: true,
            ..Self::for_template(neutral)
        }
    }

    /// Side of the last feature map.
    pub fn final_grid(&self) -> usize {
        let merges = self.stage_channels.len().saturating_sub(1) as u32;
        self.image_size / (self.patch_size.max(1) * 2usize.pow(merges))
    }

    /// Checks the sizes are positive and tile the crop, the camera is usable, the loss weights
    /// are finite and ≥ 0 and `translation_scale` is positive; `what` names the source in the
    /// error.
    pub fn validate(&self, what: &str) -> Result<()> {
        let bad = |m: String| Err(GnpfaError::invalid(format!("{what}: image encoder"), m));
        if self.stage_channels.is_empty()
            || self.stage_channels.contains(&0)
            || self.patch_size == 0
            || self.head_hidden == 0
        {
            return bad("stage_channels, patch_size and head_hidden must be positive".into());
        }
        // Refused before anything is built of them (a damaged config can name any size).
        let sizes = [self.image_size, self.patch_size, self.head_hidden];
        if let Some(v) = sizes
            .iter()
            .chain(&self.stage_channels)
            .find(|&&v| v > crate::config::MAX_SIZE)
        {
            return bad(format!(
                "size {v} is more than the limit {}",
                crate::config::MAX_SIZE
            ));
        }
        if self.stage_channels.len() > MAX_STAGES {
            return bad(format!(
                "{} stages (at most {MAX_STAGES})",
                self.stage_channels.len()
            ));
        }
        let merges = self.stage_channels.len() as u32 - 1;
        let stride = self.patch_size * 2usize.pow(merges);
        if self.image_size == 0 || self.image_size % stride != 0 {
            return bad(format!(
                "image_size {} must be a positive multiple of patch_size·2^{merges} = {stride}",
                self.image_size
            ));
        }
        let c = &self.camera;
        if !(c.fov_y > 0.0 && c.fov_y < std::f32::consts::PI) {
            return bad(format!("camera.fov_y {} is not in (0, π)", c.fov_y));
        }
        if !c.eye.iter().chain(&c.target).all(|v| v.is_finite()) {
            return bad("camera.eye and camera.target must be finite".into());
        }
        let dir: Vec<f32> = (0..3).map(|k| c.target[k] - c.eye[k]).collect();
        let len = dir.iter().map(|d| d * d).sum::<f32>().sqrt();
        // The crop's up is +y: the camera must not look along it.
        if len < 1e-6 || dir[1].abs() > 0.999 * len {
            return bad(format!(
                "camera.target must differ from camera.eye and not lie straight above or below \
                 it (eye {:?}, target {:?})",
                c.eye, c.target
            ));
        }
        let weights = [
            self.geometry_weight,
            self.posed_geometry_weight,
            self.landmark_weight,
            self.latent_weight,
        ];
        if !weights.iter().all(|w| w.is_finite() && *w >= 0.0) {
            return bad(format!(
                "loss weights must be finite and ≥ 0, got {weights:?}"
            ));
        }
        if !(self.translation_scale > 0.0 && self.translation_scale.is_finite()) {
            return bad("translation_scale must be positive".into());
        }
        Ok(())
    }
}

/// Rearranges [B, H, W, C] into [B, H/f, W/f, f·f·C]: each output cell holds its f×f block.
pub fn space_to_depth(x: &Tensor, f: usize) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    Ok(x.reshape((b, h / f, f, w / f, f, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .reshape((b, h / f, w / f, f * f * c))?)
}

/// A patch-merging network: a patch embedding, then stages that each merge 2×2 neighbours
/// with one linear layer (and optionally a layer norm), then an MLP head over the whole last feature map (so the head sees
/// where things are, which a pooled feature would forget).
///
/// Only reshapes and matrix products: fast on candle's CPU backend in both directions, where
/// its transposed convolution (the backward of a convolution) is not.
#[derive(Debug, Clone)]
pub struct ImageEncoder {
    stages: Vec<Linear>,
    /// One per stage and one for the head's hidden layer, when the config asks for them.
    norms: Vec<LayerNorm>,
    hidden: Linear,
    out: Linear,
    patch_size: usize,
}

impl ImageEncoder {
    /// Variables `stage{i}`, `hidden`, `out` (and with layer norms `stage{i}_norm`,
    /// `hidden_norm`) under `vb`; `out_dim` outputs.
    pub fn new(cfg: &ImageEncoderConfig, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let mut stages = Vec::with_capacity(cfg.stage_channels.len());
        let mut norms = Vec::new();
        let mut prev = 3 * cfg.patch_size * cfg.patch_size;
        for (i, &c) in cfg.stage_channels.iter().enumerate() {
            stages.push(linear(prev, c, vb.pp(format!("stage{i}")))?);
            if cfg.layer_norm {
                norms.push(LayerNorm::new(c, 1e-5, vb.pp(format!("stage{i}_norm")))?);
            }
            prev = 4 * c;
        }
        if cfg.layer_norm {
            norms.push(LayerNorm::new(cfg.head_hidden, 1e-5, vb.pp("hidden_norm"))?);
        }
        let grid = cfg.final_grid();
        let last = *cfg.stage_channels.last().unwrap_or(&1);
        Ok(Self {
            stages,
            norms,
            hidden: linear(grid * grid * last, cfg.head_hidden, vb.pp("hidden"))?,
            out: linear(cfg.head_hidden, out_dim, vb.pp("out"))?,
            patch_size: cfg.patch_size,
        })
    }

    /// pixels: [B, S, S, 3] normalised (see [`images_to_tensor`]) → [B, out_dim].
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let b = pixels.dim(0)?;
        let mut h = pixels.clone();
        for (i, stage) in self.stages.iter().enumerate() {
            let f = if i == 0 { self.patch_size } else { 2 };
            h = space_to_depth(&h, f)?;
            let (_, gh, gw, c) = h.dims4()?;
            let mut x = stage.forward(&h.reshape((b * gh * gw, c))?)?;
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(&x)?;
            }
            h = x.silu()?.reshape((b, gh, gw, ()))?;
        }
        let mut x = self.hidden.forward(&h.flatten_from(1)?)?;
        if let Some(norm) = self.norms.get(self.stages.len()) {
            x = norm.forward(&x)?;
        }
        Ok(self.out.forward(&x.silu()?)?)
    }
}

/// `E_exp` and `E_pose`: two [`ImageEncoder`]s over the same crop.
#[derive(Debug, Clone)]
pub struct ImageEncoders {
    /// The architecture both encoders were built with.
    pub config: ImageEncoderConfig,
    /// `E_exp`: crop → z.
    pub expression: ImageEncoder,
    /// `E_pose`: crop → 6D rotation (two columns of R, as offsets from the identity) and
    /// translation / `translation_scale`.
    pub pose: ImageEncoder,
}

/// Outputs of `E_pose` per crop: the 6D rotation and the translation head.
pub const POSE_OUTPUTS: usize = 9;

impl ImageEncoders {
    /// Variables under `vb.pp("expression")` and `vb.pp("pose")`.
    pub fn new(cfg: &ImageEncoderConfig, latent_dim: usize, vb: VarBuilder) -> Result<Self> {
        cfg.validate("config")?;
        Ok(Self {
            config: cfg.clone(),
            expression: ImageEncoder::new(cfg, latent_dim, vb.pp("expression"))?,
            pose: ImageEncoder::new(cfg, POSE_OUTPUTS, vb.pp("pose"))?,
        })
    }

    /// `E_exp`: pixels [B, S, S, 3] → z [B, Z].
    pub fn encode_expression(&self, pixels: &Tensor) -> Result<Tensor> {
        self.expression.forward(pixels)
    }

    /// `E_pose`: pixels [B, S, S, 3] → (rotation matrices [B, 3, 3], translation [B, 3] m).
    pub fn encode_pose(&self, pixels: &Tensor) -> Result<(Tensor, Tensor)> {
        let raw = self.pose.forward(pixels)?;
        let rotation = rotation_from_6d(&raw.narrow(D::Minus1, 0, 6)?)?;
        let translation = (raw.narrow(D::Minus1, 6, 3)? * self.config.translation_scale as f64)?;
        Ok((rotation, translation))
    }

    /// The head pose as read at inference: `E_pose` reads the crop and its mirror image and
    /// the two answers are averaged (the mirrored one mirrored back), which shrinks the errors
    /// that are not mirror-symmetric (measured: mean rotation error 3.51° → 3.13° on 256
    /// validation crops, at step 2500 of training). The crop camera sits on the template's
    /// plane of symmetry (x = 0), so a mirrored crop is the crop of the mirrored head; a
    /// camera off that plane gets `E_pose`'s single answer.
    /// pixels [B, S, S, 3] → (rotation [B, 3, 3], translation [B, 3] m).
    pub fn estimate_pose(&self, pixels: &Tensor) -> Result<(Tensor, Tensor)> {
        let (rotation, translation) = self.encode_pose(pixels)?;
        let camera = &self.config.camera;
        if camera.eye[0].abs() + camera.target[0].abs() > 1e-6 {
            return Ok((rotation, translation));
        }
        let device = pixels.device();
        let s = pixels.dim(2)?;
        let reversed: Vec<u32> = (0..s as u32).rev().collect();
        let mirrored = pixels.index_select(&Tensor::new(reversed.as_slice(), device)?, 2)?;
        let (r_m, t_m) = self.encode_pose(&mirrored)?;
        // Mirroring x: R ↦ M R M, t ↦ M t with M = diag(−1, 1, 1).
        let m = Tensor::new(
            &[[-1f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            device,
        )?;
        let b = rotation.dim(0)?;
        let mb = m.unsqueeze(0)?.repeat((b, 1, 1))?;
        let r_back = mb.matmul(&r_m)?.matmul(&mb)?;
        let t_back = t_m.broadcast_mul(&Tensor::new(&[[-1f32, 1.0, 1.0]], device)?)?;
        // The mean of two rotations, made a rotation again through its first two columns.
        let mean = ((rotation + r_back)? * 0.5)?;
        let columns = Tensor::cat(
            &[
                mean.narrow(2, 0, 1)?.squeeze(2)?,
                mean.narrow(2, 1, 1)?.squeeze(2)?,
            ],
            D::Minus1,
        )?;
        let identity = Tensor::new(&[[1f32, 0.0, 0.0, 0.0, 1.0, 0.0]], device)?;
        let rotation = rotation_from_6d(&columns.broadcast_sub(&identity)?)?;
        Ok((rotation, ((translation + t_back)? * 0.5)?))
    }
}

/// Checks every crop is `size`×`size` and turns them into normalised pixels [B, S, S, 3]
/// (`(value/255 − 0.5) / 0.25`). `what` names the images in the error.
pub fn images_to_tensor(
    images: &[&RgbImage],
    size: usize,
    what: &str,
    device: &Device,
) -> Result<Tensor> {
    let mut data = Vec::with_capacity(images.len() * size * size * 3);
    for (i, img) in images.iter().enumerate() {
        if img.width() as usize != size || img.height() as usize != size {
            return Err(GnpfaError::invalid(
                format!("{what} {i}"),
                format!(
                    "expected a {size}×{size} face crop (the checkpoint's image_size, framed \
                     by its crop camera), got {}×{}",
                    img.width(),
                    img.height()
                ),
            ));
        }
        data.extend(img.as_raw().iter().map(|&p| (p as f32 / 255.0 - 0.5) * 4.0));
    }
    if images.is_empty() {
        return Err(GnpfaError::invalid(what.to_string(), "no images"));
    }
    Ok(Tensor::from_vec(
        data,
        (images.len(), size, size, 3),
        device,
    )?)
}

/// What `E_exp` and `E_pose` read from one crop.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEstimate {
    /// Expression latent z.
    pub latent: Vec<f32>,
    /// Head pose in the crop camera's frame.
    pub pose: HeadPose,
}
