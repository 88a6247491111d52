//! `Gnpfa`: the geometry VAE and the blendshape bridge over one face template, and its
//! checkpoint directory (`config.json` + `model.safetensors` carrying the template).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use m2f_mesh::{FaceMesh, FaceRegions, FaceTemplate};
use serde::{Deserialize, Serialize};

use crate::bridge::Bridge;
use crate::config::GnpfaConfig;
use crate::error::{GnpfaError, Result};
use crate::image_encoder::{images_to_tensor, ImageEncoders, ImageEstimate};
use crate::projection::tensors_to_poses;
use crate::vae::GeometryVae;

/// File names inside a checkpoint directory.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of this checkpoint format in `config.json`.
pub const FORMAT: &str = "media2face-gnpfa";
pub const FORMAT_VERSION: u32 = 1;
/// The decoder family (see docs/gnpfa.md).
pub const ARCHITECTURE: &str = "geometry-vae/global-mlp-with-neutral-code";

const TEMPLATE_NEUTRAL: &str = "template.neutral";
const TEMPLATE_TRIANGLES: &str = "template.triangles";
const TEMPLATE_UVS: &str = "template.uvs";
const TEMPLATE_LANDMARKS: &str = "template.landmarks";
const TEMPLATE_REGION: &str = "template.region.";

/// The template as `config.json` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// `FaceTemplate::fingerprint()` as 16 hex digits.
    pub fingerprint: String,
    pub num_vertices: usize,
    pub num_triangles: usize,
    /// Region names, each stored as tensor `template.region.<name>`.
    pub regions: Vec<String>,
    /// Landmark names in the order of tensor `template.landmarks`.
    pub landmarks: Vec<String>,
}

/// How a checkpoint was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    pub created_by: String,
    pub command: String,
    pub seed: u64,
    pub step: u64,
    pub total_steps: u64,
    pub batch_size: usize,
    pub train_identities: usize,
    pub val_identities: usize,
    pub data: Option<String>,
    pub data_frames: usize,
    pub train_seconds: f64,
    /// Validation score at this checkpoint: for the geometry, mean vertex error + bridge
    /// geometry error (mm); for the image encoders, geometry error (mm) + rotation error (°).
    pub val_score_mm: Option<f64>,
}

/// `config.json` of a GNPFA checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    pub format: String,
    pub format_version: u32,
    pub architecture: String,
    pub model: GnpfaConfig,
    pub template: TemplateInfo,
    /// How the geometry VAE and the bridge were trained.
    pub provenance: Provenance,
    /// How the image encoders were trained (with the geometry frozen), when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_provenance: Option<Provenance>,
}

/// GNPFA: `E_geo`, `G_geo`, `M`, `M′`, optionally the image encoders `E_exp` / `E_pose`, and
/// the template they were trained on. Holds no interior mutability: `Send + Sync`, shareable
/// across threads.
#[derive(Debug, Clone)]
pub struct Gnpfa {
    pub config: GnpfaConfig,
    pub vae: GeometryVae,
    pub bridge: Bridge,
    pub image: Option<ImageEncoders>,
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

    /// Loads a checkpoint directory. Errors name the missing or mis-shaped tensor with the
    /// expected and actual shape, or the config field that does not match.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    pub fn load_on(dir: &Path, device: &Device) -> Result<Self> {
        let (config, tensors, weights_path) = read_checkpoint(dir, device)?;
        let template = template_from_tensors(&config, &tensors, &weights_path)?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = Self::new(&config.model, template, vb).map_err(|e| GnpfaError::Config {
            path: dir.join(CONFIG_FILE),
            message: e.to_string(),
        })?;
        copy_into_vars(&varmap, &tensors, &weights_path, |_| true)?;
        {
            let vars = varmap
                .data()
                .lock()
                .map_err(|_| GnpfaError::invalid("variable map", "poisoned lock while loading"))?;
            let mut extra: Vec<&String> = tensors
                .keys()
                .filter(|k| !k.starts_with("template.") && !vars.contains_key(*k))
                .collect();
            extra.sort();
            if let Some(name) = extra.first() {
                return Err(GnpfaError::Config {
                    path: dir.join(CONFIG_FILE),
                    message: format!(
                        "the weights hold tensor {name:?} ({} unexpected in all) that this \
                         config ({ARCHITECTURE}) does not use: config and weights do not match",
                        extra.len()
                    ),
                });
            }
        }
        Ok(model)
    }
}

/// Copies `tensors` (read from `path`) into the variables of `varmap` whose names pass
/// `select`; each must be there with the variable's shape, else the error names it.
pub fn copy_into_vars(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    select: impl Fn(&str) -> bool,
) -> Result<()> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| GnpfaError::invalid("variable map", "poisoned lock"))?;
    for (name, var) in vars.iter().filter(|(n, _)| select(n)) {
        let t = fetch(tensors, path, name, var.dims())?;
        var.set(&t.to_dtype(DType::F32)?)?;
    }
    Ok(())
}

/// Reads and checks `config.json` and the tensors of `model.safetensors`.
pub fn read_checkpoint(
    dir: &Path,
    device: &Device,
) -> Result<(CheckpointConfig, HashMap<String, Tensor>, PathBuf)> {
    let dir = &m2f_train::resolve_dir(dir);
    let config_path = dir.join(CONFIG_FILE);
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| GnpfaError::io(&config_path, e))?;
    let config: CheckpointConfig = serde_json::from_str(&text).map_err(|e| GnpfaError::Config {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    if config.format != FORMAT {
        return Err(GnpfaError::Config {
            path: config_path,
            message: format!("format is {:?}, expected {FORMAT:?}", config.format),
        });
    }
    if config.format_version > FORMAT_VERSION {
        return Err(GnpfaError::Config {
            path: config_path,
            message: format!(
                "format_version {} is newer than this build reads ({FORMAT_VERSION})",
                config.format_version
            ),
        });
    }
    config.model.validate(&config_path.display().to_string())?;
    let weights_path = dir.join(WEIGHTS_FILE);
    if !weights_path.is_file() {
        return Err(GnpfaError::io(
            &weights_path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        ));
    }
    let tensors = candle_core::safetensors::load(&weights_path, device).map_err(|e| {
        GnpfaError::invalid(
            weights_path.display().to_string(),
            format!("not a readable safetensors file: {e}"),
        )
    })?;
    Ok((config, tensors, weights_path))
}

fn fetch<'a>(
    tensors: &'a HashMap<String, Tensor>,
    path: &Path,
    name: &str,
    expected: &[usize],
) -> Result<&'a Tensor> {
    let t = tensors.get(name).ok_or_else(|| GnpfaError::MissingTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        expected: expected.to_vec(),
    })?;
    if t.dims() != expected {
        return Err(GnpfaError::TensorShape {
            path: path.to_path_buf(),
            name: name.to_string(),
            expected: expected.to_vec(),
            actual: t.dims().to_vec(),
        });
    }
    Ok(t)
}

/// Rebuilds the template (mesh and regions) from the checkpoint's `template.*` tensors.
pub fn template_from_tensors(
    config: &CheckpointConfig,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<FaceTemplate> {
    let info = &config.template;
    if info.num_vertices != config.model.num_vertices {
        return Err(GnpfaError::Config {
            path: path.with_file_name(CONFIG_FILE),
            message: format!(
                "template.num_vertices is {} but model.num_vertices is {}",
                info.num_vertices, config.model.num_vertices
            ),
        });
    }
    let neutral = fetch(tensors, path, TEMPLATE_NEUTRAL, &[info.num_vertices, 3])?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    let triangles = fetch(tensors, path, TEMPLATE_TRIANGLES, &[info.num_triangles, 3])?
        .to_dtype(DType::U32)?
        .to_vec2::<u32>()?;
    let vertices: Vec<[f32; 3]> = neutral.iter().map(|v| [v[0], v[1], v[2]]).collect();
    let triangles: Vec<[u32; 3]> = triangles.iter().map(|t| [t[0], t[1], t[2]]).collect();
    let uvs = match tensors.get(TEMPLATE_UVS) {
        Some(_) => Some(
            fetch(tensors, path, TEMPLATE_UVS, &[info.num_vertices, 2])?
                .to_dtype(DType::F32)?
                .to_vec2::<f32>()?
                .iter()
                .map(|uv| [uv[0], uv[1]])
                .collect(),
        ),
        None => None,
    };
    let mesh = FaceMesh::new(vertices, triangles, uvs)?;
    let landmarks = fetch(tensors, path, TEMPLATE_LANDMARKS, &[info.landmarks.len()])?
        .to_dtype(DType::U32)?
        .to_vec1::<u32>()?;
    let mut object = serde_json::Map::new();
    for name in &info.regions {
        let key = format!("{TEMPLATE_REGION}{name}");
        let t = tensors.get(&key).ok_or_else(|| GnpfaError::MissingTensor {
            path: path.to_path_buf(),
            name: key.clone(),
            expected: vec![],
        })?;
        if t.rank() != 1 {
            return Err(GnpfaError::TensorShape {
                path: path.to_path_buf(),
                name: key,
                expected: vec![t.elem_count()],
                actual: t.dims().to_vec(),
            });
        }
        let list = t.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        if let Some(bad) = list.iter().find(|&&i| i as usize >= info.num_vertices) {
            return Err(GnpfaError::invalid(
                format!("{}: tensor {key:?}", path.display()),
                format!(
                    "vertex index {bad} out of range for {} vertices",
                    info.num_vertices
                ),
            ));
        }
        object.insert(name.clone(), serde_json::json!(list));
    }
    let lm: BTreeMap<&String, u32> = info.landmarks.iter().zip(landmarks).collect();
    object.insert("landmarks".into(), serde_json::json!(lm));
    let regions: FaceRegions =
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
            GnpfaError::invalid(
                format!("{}: template regions", path.display()),
                e.to_string(),
            )
        })?;
    let template = FaceTemplate { mesh, regions };
    let fp = format!("{:016x}", template.fingerprint());
    if fp != info.fingerprint {
        return Err(GnpfaError::Config {
            path: path.with_file_name(CONFIG_FILE),
            message: format!(
                "template fingerprint is {} in config.json but the stored template hashes to {fp}",
                info.fingerprint
            ),
        });
    }
    Ok(template)
}

/// The template's region lists and landmarks, as (config description, tensors).
pub fn template_tensors(
    template: &FaceTemplate,
    device: &Device,
) -> Result<(TemplateInfo, Vec<(String, Tensor)>)> {
    let mesh = &template.mesh;
    let mut out = vec![
        (
            TEMPLATE_NEUTRAL.to_string(),
            vertices_tensor(&mesh.vertices, device)?.reshape((mesh.num_vertices(), 3))?,
        ),
        (
            TEMPLATE_TRIANGLES.to_string(),
            Tensor::from_vec(
                mesh.triangles
                    .iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<u32>>(),
                (mesh.triangles.len(), 3),
                device,
            )?,
        ),
    ];
    if let Some(uvs) = &mesh.uvs {
        let flat: Vec<f32> = uvs.iter().flatten().copied().collect();
        out.push((
            TEMPLATE_UVS.to_string(),
            Tensor::from_vec(flat, (uvs.len(), 2), device)?,
        ));
    }
    let value = serde_json::to_value(&template.regions)
        .map_err(|e| GnpfaError::invalid("template regions", e.to_string()))?;
    let serde_json::Value::Object(object) = value else {
        return Err(GnpfaError::invalid("template regions", "not a JSON object"));
    };
    let mut regions = Vec::new();
    let mut landmark_names = Vec::new();
    for (name, v) in object {
        if name == "landmarks" {
            if let serde_json::Value::Object(lm) = v {
                let mut ids = Vec::new();
                for (k, i) in lm {
                    landmark_names.push(k);
                    ids.push(i.as_u64().unwrap_or(0) as u32);
                }
                let n = ids.len();
                out.push((TEMPLATE_LANDMARKS.into(), Tensor::from_vec(ids, n, device)?));
            }
            continue;
        }
        let list: Vec<u32> = serde_json::from_value(v)
            .map_err(|e| GnpfaError::invalid(format!("template region {name}"), e.to_string()))?;
        let n = list.len();
        out.push((
            format!("{TEMPLATE_REGION}{name}"),
            Tensor::from_vec(list, n, device)?,
        ));
        regions.push(name);
    }
    let info = TemplateInfo {
        fingerprint: format!("{:016x}", template.fingerprint()),
        num_vertices: mesh.num_vertices(),
        num_triangles: mesh.triangles.len(),
        regions,
        landmarks: landmark_names,
    };
    Ok((info, out))
}

/// Writes a checkpoint directory (atomically: a sibling temporary directory renamed into place).
pub fn save_checkpoint(
    dir: &Path,
    model: &Gnpfa,
    varmap: &VarMap,
    provenance: &Provenance,
) -> Result<()> {
    save_checkpoint_with_image(dir, model, varmap, provenance, None)
}

/// [`save_checkpoint`] with the provenance of the image encoders' training.
pub fn save_checkpoint_with_image(
    dir: &Path,
    model: &Gnpfa,
    varmap: &VarMap,
    provenance: &Provenance,
    image_provenance: Option<&Provenance>,
) -> Result<()> {
    let (template_info, template_tensors) = template_tensors(&model.template, model.device())?;
    let config = CheckpointConfig {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        architecture: ARCHITECTURE.into(),
        model: model.config.clone(),
        template: template_info,
        provenance: provenance.clone(),
        image_provenance: image_provenance.cloned(),
    };
    let mut tensors: HashMap<String, Tensor> = template_tensors.into_iter().collect();
    {
        let vars = varmap
            .data()
            .lock()
            .map_err(|_| GnpfaError::invalid("variable map", "poisoned lock while saving"))?;
        for (name, var) in vars.iter() {
            tensors.insert(name.clone(), var.as_tensor().clone());
        }
    }
    let json = serde_json::to_string_pretty(&config)
        .map_err(|e| GnpfaError::invalid("checkpoint config", e.to_string()))?;
    // Written beside `dir` and swapped in: a kill leaves the old or the new checkpoint whole
    // (or a swap cut short, which readers see through and the next writer completes).
    m2f_train::write_dir_atomic(dir, |tmp: &Path| -> Result<()> {
        std::fs::write(tmp.join(CONFIG_FILE), json + "\n")
            .map_err(|e| GnpfaError::io(tmp.join(CONFIG_FILE), e))?;
        let weights = tmp.join(WEIGHTS_FILE);
        candle_core::safetensors::save(&tensors, &weights)?;
        // The safetensors writer creates the file private (0600); a checkpoint is for sharing.
        std::fs::File::open(&weights)
            .and_then(|f| m2f_mesh::publish_permissions(&f, false))
            .map_err(|e| GnpfaError::io(&weights, e))
    })
}

/// [V] points → [V*3] f32 tensor.
pub fn vertices_tensor(vertices: &[[f32; 3]], device: &Device) -> Result<Tensor> {
    let flat: Vec<f32> = vertices.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, vertices.len() * 3, device)?)
}
