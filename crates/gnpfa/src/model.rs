//! `Gnpfa`: the geometry VAE, the blendshape bridge and the image encoders over one face
//! template. Its checkpoint directory is `checkpoint.rs`'s.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use m2f_mesh::FaceTemplate;

use crate::bridge::Bridge;
use crate::config::GnpfaConfig;
use crate::error::{GnpfaError, Result};
use crate::image_encoder::{images_to_tensor, ImageEncoders, ImageEstimate};
use crate::projection::tensors_to_poses;
use crate::vae::GeometryVae;

/// GNPFA: `E_geo`, `G_geo`, `M`, `M′`, optionally the image encoders `E_exp` / `E_pose`, and
/// the template they were trained on. Holds no interior mutability: `Send + Sync`, shareable
/// across threads.
#[derive(Debug, Clone)]
pub struct Gnpfa {
    /// The architecture and loss settings.
    pub config: GnpfaConfig,
    /// The geometry VAE (`E_geo`, `G_geo`).
    pub vae: GeometryVae,
    /// The blendshape bridge (`M`, `M′`).
    pub bridge: Bridge,
    /// The image encoders (`E_exp`, `E_pose`), when the checkpoint has them.
    pub image: Option<ImageEncoders>,
    /// The face template (mesh, regions, landmarks) the model was trained on.
    pub template: FaceTemplate,
    device: Device,
}

impl Gnpfa {
    /// Builds the networks from `vb` (variables under `vae.*`, `bridge.*` and, when the config
    /// has image encoders, `image.*`).
    pub fn new(config: &GnpfaConfig, template: FaceTemplate, vb: VarBuilder) -> Result<Self> {
        config.validate("GNPFA config")?;
        let nv = template.mesh.num_vertices();
        if nv != config.num_vertices {
            return Err(GnpfaError::invalid(
                "face template",
                format!(
                    "the config expects {} vertices, the template has {nv}",
                    config.num_vertices
                ),
            ));
        }
        let device = vb.device().clone();
        let reference = vertices_tensor(&template.mesh.vertices, &device)?;
        Ok(Self {
            config: config.clone(),
            vae: GeometryVae::new(config, &reference, vb.pp("vae"))?,
            bridge: Bridge::new(config, vb.pp("bridge"))?,
            image: match &config.image {
                Some(ic) => Some(ImageEncoders::new(ic, config.latent_dim, vb.pp("image"))?),
                None => None,
            },
            template,
            device,
        })
    }

    /// A fresh model with its variables in a new `VarMap` (for training), initialised from
    /// `seed` (PyTorch's `Linear` default: weights and biases uniform in ±1/√fan_in), so the
    /// same seed gives the same model (candle's CPU generator cannot be seeded).
    pub fn init(
        config: &GnpfaConfig,
        template: FaceTemplate,
        device: &Device,
        seed: u64,
    ) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = Self::new(config, template, vb)?;
        m2f_train::init_linear_uniform(&varmap, seed)?;
        Ok((model, varmap))
    }

    /// The device the model's tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// E_geo: displacement [B, V*3] metres → (μ, log σ²) [B, Z].
    pub fn encode(&self, displacement: &Tensor) -> Result<(Tensor, Tensor)> {
        self.vae.encode(displacement)
    }

    /// G_geo: neutral [B, V*3], z [B, Z] → displacement [B, V*3] metres.
    pub fn decode(&self, neutral: &Tensor, z: &Tensor) -> Result<Tensor> {
        self.vae.decode(neutral, z)
    }

    /// M: rig weights [B, K] → z [B, Z].
    pub fn weights_to_latent(&self, weights: &Tensor) -> Result<Tensor> {
        self.bridge.weights_to_latent(weights)
    }

    /// M′: z [B, Z] → rig weights [B, K].
    pub fn latent_to_weights(&self, z: &Tensor) -> Result<Tensor> {
        self.bridge.latent_to_weights(z)
    }

    /// Checks a mesh has the template's vertex count; `what` names it in the error.
    pub fn check_vertices(&self, what: &str, vertices: &[[f32; 3]]) -> Result<()> {
        if vertices.len() != self.config.num_vertices {
            return Err(GnpfaError::invalid(
                what.to_string(),
                format!(
                    "expected a mesh of {} vertices (the checkpoint's template), got {}",
                    self.config.num_vertices,
                    vertices.len()
                ),
            ));
        }
        Ok(())
    }

    /// `E_geo` on whole meshes: the expression latent (the mean μ) of each frame of the face
    /// whose neutral is `neutral`. Every mesh must have the template's vertex count.
    pub fn encode_frames(
        &self,
        neutral: &[[f32; 3]],
        frames: &[&[[f32; 3]]],
    ) -> Result<Vec<Vec<f32>>> {
        self.check_vertices("neutral mesh", neutral)?;
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let mut flat = Vec::with_capacity(frames.len() * neutral.len() * 3);
        for (i, frame) in frames.iter().enumerate() {
            self.check_vertices(&format!("frame {i}"), frame)?;
            flat.extend(
                frame
                    .iter()
                    .zip(neutral)
                    .flat_map(|(v, n)| [v[0] - n[0], v[1] - n[1], v[2] - n[2]]),
            );
        }
        let d = Tensor::from_vec(flat, (frames.len(), neutral.len() * 3), &self.device)?;
        let (mu, _) = self.encode(&d)?;
        Ok(mu.to_vec2::<f32>()?)
    }

    /// `G_geo` on whole meshes: the vertices of each latent's expression on the face whose
    /// neutral is `neutral`.
    pub fn decode_frames(
        &self,
        neutral: &[[f32; 3]],
        latents: &[Vec<f32>],
    ) -> Result<Vec<Vec<[f32; 3]>>> {
        self.check_vertices("neutral mesh", neutral)?;
        if latents.is_empty() {
            return Ok(Vec::new());
        }
        let z = self.latents_tensor(latents)?;
        let n = vertices_tensor(neutral, &self.device)?
            .unsqueeze(0)?
            .repeat((latents.len(), 1))?;
        let d = self.decode(&n, &z)?.to_vec2::<f32>()?;
        Ok(d.iter()
            .map(|row| {
                row.chunks_exact(3)
                    .zip(neutral)
                    .map(|(d, n)| [n[0] + d[0], n[1] + d[1], n[2] + d[2]])
                    .collect()
            })
            .collect())
    }

    /// `M′` per latent: ARKit-named rig weights (order of `config.blendshape_names`).
    pub fn weights_from_latents(&self, latents: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if latents.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .latent_to_weights(&self.latents_tensor(latents)?)?
            .to_vec2::<f32>()?)
    }

    fn latents_tensor(&self, latents: &[Vec<f32>]) -> Result<Tensor> {
        let zd = self.config.latent_dim;
        if let Some((i, z)) = latents.iter().enumerate().find(|(_, z)| z.len() != zd) {
            return Err(GnpfaError::invalid(
                format!("latent {i}"),
                format!(
                    "expected {zd} values (the checkpoint's latent_dim), got {}",
                    z.len()
                ),
            ));
        }
        let flat: Vec<f32> = latents.iter().flatten().copied().collect();
        Ok(Tensor::from_vec(flat, (latents.len(), zd), &self.device)?)
    }

    /// Latents made `E_geo`'s own: decoded on the template neutral and encoded again (μ).
    /// z [B, Z] → [B, Z]. `E_exp` is trained through `G_geo`, which ignores some latent
    /// directions (those the KL term left nearly empty), so its raw latents can decode well
    /// and still lie where `M′` and the diffusion model never saw a latent; the round trip
    /// puts them back (z carries no identity, so the template's face serves for every face).
    pub fn canonical_latents(&self, z: &Tensor) -> Result<Tensor> {
        let b = z.dim(0)?;
        let neutral = vertices_tensor(&self.template.mesh.vertices, &self.device)?
            .unsqueeze(0)?
            .repeat((b, 1))?;
        Ok(self.encode(&self.decode(&neutral, z)?)?.0)
    }

    /// `E_exp` and `E_pose` on face crops: each crop's expression latent (made canonical,
    /// [`Gnpfa::canonical_latents`]) and head pose (read from the crop and its mirror image,
    /// [`ImageEncoders::estimate_pose`]). Crops must be `image_size` pixels square and framed
    /// by the checkpoint's crop camera.
    pub fn encode_images(&self, images: &[&image::RgbImage]) -> Result<Vec<ImageEstimate>> {
        let Some(enc) = &self.image else {
            return Err(GnpfaError::invalid(
                "GNPFA checkpoint",
                "it has no image encoders (train them with `m2f train gnpfa-image`)",
            ));
        };
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let pixels = images_to_tensor(images, enc.config.image_size, "image", &self.device)?;
        let latents = self
            .canonical_latents(&enc.encode_expression(&pixels)?)?
            .to_vec2::<f32>()?;
        let (rotation, translation) = enc.estimate_pose(&pixels)?;
        let poses = tensors_to_poses(&rotation, &translation)?;
        Ok(latents
            .into_iter()
            .zip(poses)
            .map(|(latent, pose)| ImageEstimate { latent, pose })
            .collect())
    }
}

/// `[V]` points → `[V*3]` f32 tensor.
pub fn vertices_tensor(vertices: &[[f32; 3]], device: &Device) -> Result<Tensor> {
    let flat: Vec<f32> = vertices.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, vertices.len() * 3, device)?)
}
