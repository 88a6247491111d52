//! The GNPFA checkpoint directory: `config.json` (the model's shape, the face template's
//! description and the provenance) and `model.safetensors` (the weights and the template's
//! geometry), so a checkpoint carries everything needed to decode on its own face.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use m2f_mesh::{FaceMesh, FaceRegions, FaceTemplate};
use serde::{Deserialize, Serialize};

use crate::config::GnpfaConfig;
use crate::error::{GnpfaError, Result};
use crate::model::{vertices_tensor, Gnpfa};

/// Name of the config file inside a checkpoint directory.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the weights file (network variables and template tensors) inside a checkpoint
/// directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of this checkpoint format in `config.json`.
pub const FORMAT: &str = "media2face-gnpfa";
/// Version of the checkpoint format this build writes; it reads this version and older ones.
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
    /// Vertices of the template mesh.
    pub num_vertices: usize,
    /// Triangles of the template mesh.
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
    /// The program that wrote the checkpoint and its version (`gnpfa <version>`).
    pub created_by: String,
    /// The command line of the training run.
    pub command: String,
    /// Seed of the run's initialisation and batch sampling.
    pub seed: u64,
    /// Training step at which the checkpoint was written.
    pub step: u64,
    /// Steps the run was scheduled for.
    pub total_steps: u64,
    /// Training examples per step.
    pub batch_size: usize,
    /// Identities (rigs) trained on.
    pub train_identities: usize,
    /// Held-out identities validated on.
    pub val_identities: usize,
    /// Description of the training data (where it came from, how crops were rendered).
    pub data: Option<String>,
    /// Recorded clip frames in the training data (0 when only rig expressions were used).
    pub data_frames: usize,
    /// Training wall time up to this checkpoint, seconds, summed over resumed sittings.
    pub train_seconds: f64,
    /// Validation score at this checkpoint: for the geometry, mean vertex error + bridge
    /// geometry error (mm); for the image encoders, geometry error (mm) + rotation error (°).
    pub val_score_mm: Option<f64>,
}

/// `config.json` of a GNPFA checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// Name of the checkpoint format, always the one this build writes (`media2face-gnpfa`).
    pub format: String,
    /// Version of the checkpoint format (at most the version this build writes to be readable).
    pub format_version: u32,
    /// The decoder family this build writes (see docs/gnpfa.md).
    pub architecture: String,
    /// The model's architecture and loss settings.
    pub model: GnpfaConfig,
    /// The face template stored in the weights file.
    pub template: TemplateInfo,
    /// How the geometry VAE and the bridge were trained.
    pub provenance: Provenance,
    /// How the image encoders were trained (with the geometry frozen), when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_provenance: Option<Provenance>,
}

impl Gnpfa {
    /// Loads a checkpoint directory. Errors name the missing or mis-shaped tensor with the
    /// expected and actual shape, or the config field that does not match.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// Loads a checkpoint directory onto `device`; errors as [`Gnpfa::load`].
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self> {
        let (config, tensors, weights_path) = read_checkpoint(dir, device)?;
        if let Some(name) = m2f_train::first_non_finite(&tensors)? {
            return Err(GnpfaError::invalid(
                format!("{} tensor {name:?}", weights_path.display()),
                "holds NaN or infinite values (a damaged checkpoint)",
            ));
        }
        let template = template_from_tensors(&config, &tensors, &weights_path)?;
        // Every variable the config implies, checked against the weights before the
        // variables are allocated (a damaged config can name sizes no machine holds).
        let checked = m2f_train::CheckedTensors::new(tensors.clone());
        let built = Self::new(
            &config.model,
            template.clone(),
            checked.var_builder(DType::F32, device),
        );
        if let Some(m) = checked.first_mismatch() {
            return Err(match m.actual {
                None => GnpfaError::MissingTensor {
                    path: weights_path,
                    name: m.name,
                    expected: m.expected,
                },
                Some(actual) => GnpfaError::TensorShape {
                    path: weights_path,
                    name: m.name,
                    expected: m.expected,
                    actual,
                },
            });
        }
        built.map_err(|e| GnpfaError::Config {
            path: dir.join(CONFIG_FILE),
            message: e.to_string(),
        })?;
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
    let in_range =
        |key: &str, list: &[u32]| match list.iter().find(|&&i| i as usize >= info.num_vertices) {
            Some(bad) => Err(GnpfaError::invalid(
                format!("{}: tensor {key:?}", path.display()),
                format!(
                    "vertex index {bad} out of range for {} vertices",
                    info.num_vertices
                ),
            )),
            None => Ok(()),
        };
    in_range(TEMPLATE_LANDMARKS, &landmarks)?;
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
        in_range(&key, &list)?;
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
    regions.check(info.num_vertices).map_err(|e| {
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

/// Writes a checkpoint directory (atomically: a sibling temporary directory renamed into
/// place): `model`'s config and template, the variables of `varmap`, the provenance of its
/// training and, when it has image encoders, of theirs.
pub fn save_checkpoint(
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
