//! glTF 2.0 binary (GLB) export of a blendshape animation, written by hand.
//!
//! The file holds one mesh (the rig's neutral with its blendshapes as morph targets), one node
//! `"head"` carrying it, and one animation `"speech"` that drives the morph target weights and,
//! when head poses are given, the node's rotation and translation. Blender, three.js and game
//! engines play it back with exactly the linear blend the rig defines.

use std::path::Path;

use serde_json::{json, Value};

use crate::atomic::write_atomic;
use crate::error::{MeshError, Result};
use crate::face_mesh::{bounds, vertex_normals};
use crate::head_pose::HeadPose;
use crate::rig::Rig;

/// A speech animation to export: per-frame blendshape weights on a rig, optional head poses.
#[derive(Debug, Clone, Copy)]
pub struct Animation<'a> {
    /// The rig whose neutral becomes the mesh and whose blendshapes become morph targets.
    pub rig: &'a Rig,
    /// Blendshape weights `[T][K]`, one row per frame, in the rig's blendshape order.
    pub weights: &'a [Vec<f32>],
    /// Head pose per frame `[T]`, animating the `"head"` node; `None` leaves the head still.
    pub poses: Option<&'a [HeadPose]>,
    /// Frames per second: frame `t` plays at time `t / fps` seconds.
    pub fps: f32,
}

const GLB_MAGIC: u32 = 0x4654_6C67; // "glTF"
const GLB_VERSION: u32 = 2;
const CHUNK_JSON: u32 = 0x4E4F_534A; // "JSON"
const CHUNK_BIN: u32 = 0x004E_4942; // "BIN\0"

const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const FLOAT: u32 = 5126;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;

/// A light skin tone, so an untextured face reads as a face in any viewer.
const SKIN_BASE_COLOUR: [f32; 4] = [0.80, 0.62, 0.54, 1.0];

/// Writes `anim` as a GLB file at `path`, atomically: on any error the file is untouched.
pub fn write_glb(path: &Path, anim: &Animation) -> Result<()> {
    let bytes = glb_bytes(anim).map_err(|e| match e {
        // Name the destination in errors that would otherwise not say which export failed.
        MeshError::Invalid { what, message } => MeshError::Export {
            path: path.to_path_buf(),
            message: format!("invalid {what}: {message}"),
        },
        other => other,
    })?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// The GLB file for `anim`, as bytes. Fails with the offending field when the inputs are
/// inconsistent (frame count, weights per frame, pose count, fps) or not finite.
pub fn glb_bytes(anim: &Animation) -> Result<Vec<u8>> {
    validate(anim)?;
    let rig = anim.rig;
    let mesh = rig.neutral();
    let n_shapes = rig.num_blendshapes();
    let n_verts = mesh.vertices.len();

    let mut b = Builder::default();

    // Mesh attributes.
    let (lo, hi) = bounds(&mesh.vertices);
    let position = b.accessor(
        &f32_bytes(mesh.vertices.iter().flatten()),
        Some(ARRAY_BUFFER),
        FLOAT,
        n_verts,
        "VEC3",
        Some((&lo, &hi)),
    );
    let normals: Vec<[f32; 3]> = vertex_normals(&mesh.vertices, &mesh.triangles)
        .into_iter()
        // A vertex on no triangle has no normal; glTF requires unit normals, so give it +z,
        // the template's "out of the face" direction.
        .map(|n| if n == [0.0; 3] { [0.0, 0.0, 1.0] } else { n })
        .collect();
    let normal = b.accessor(
        &f32_bytes(normals.iter().flatten()),
        Some(ARRAY_BUFFER),
        FLOAT,
        n_verts,
        "VEC3",
        None,
    );
    let mut attributes = json!({ "POSITION": position, "NORMAL": normal });
    if let Some(uvs) = &mesh.uvs {
        // OBJ puts v = 0 at the bottom of the image, glTF at the top.
        let flipped: Vec<f32> = uvs.iter().flat_map(|&[u, v]| [u, 1.0 - v]).collect();
        let texcoord = b.accessor(
            &f32_bytes(flipped.iter()),
            Some(ARRAY_BUFFER),
            FLOAT,
            n_verts,
            "VEC2",
            None,
        );
        attributes["TEXCOORD_0"] = json!(texcoord);
    }

    // Indices: u16 when every index fits, halving their size; glTF reserves the type's
    // maximum value (primitive restart), hence the strict bound.
    let flat_indices = mesh.triangles.iter().flatten();
    let indices = if n_verts < u16::MAX as usize {
        let bytes: Vec<u8> = flat_indices
            .flat_map(|&i| (i as u16).to_le_bytes())
            .collect();
        b.accessor(
            &bytes,
            Some(ELEMENT_ARRAY_BUFFER),
            UNSIGNED_SHORT,
            mesh.triangles.len() * 3,
            "SCALAR",
            None,
        )
    } else {
        let bytes: Vec<u8> = flat_indices.flat_map(|&i| i.to_le_bytes()).collect();
        b.accessor(
            &bytes,
            Some(ELEMENT_ARRAY_BUFFER),
            UNSIGNED_INT,
            mesh.triangles.len() * 3,
            "SCALAR",
            None,
        )
    };

    // Morph targets; glTF requires min/max on every POSITION accessor, targets included.
    let targets: Vec<Value> = rig
        .deltas()
        .iter()
        .map(|d| {
            let (lo, hi) = bounds(d);
            let acc = b.accessor(
                &f32_bytes(d.iter().flatten()),
                Some(ARRAY_BUFFER),
                FLOAT,
                n_verts,
                "VEC3",
                Some((&lo, &hi)),
            );
            json!({ "POSITION": acc })
        })
        .collect();

    let mut primitive = json!({
        "attributes": attributes,
        "indices": indices,
        "material": 0,
        "mode": 4,
    });
    let mut gltf_mesh = json!({ "name": "face", "primitives": [] });
    if n_shapes > 0 {
        primitive["targets"] = json!(targets);
        gltf_mesh["weights"] = json!(vec![0.0f32; n_shapes]);
        // Not in the core spec, but where Blender, three.js and Babylon look for names.
        gltf_mesh["extras"] = json!({ "targetNames": rig.names() });
    }
    gltf_mesh["primitives"] = json!([primitive]);

    // An animation without channels is invalid glTF, and its keyframe times would be an
    // unused accessor: a still, shapeless mesh gets no animation at all.
    let animation = if n_shapes > 0 || anim.poses.is_some() {
        Some(animation_json(&mut b, anim))
    } else {
        None
    };

    let mut doc = json!({
        "asset": { "version": "2.0", "generator": "media2face" },
        "scene": 0,
        "scenes": [{ "name": "media2face", "nodes": [0] }],
        "nodes": [{ "name": "head", "mesh": 0 }],
        "meshes": [gltf_mesh],
        "materials": [{
            "name": "skin",
            "pbrMetallicRoughness": {
                "baseColorFactor": SKIN_BASE_COLOUR,
                "metallicFactor": 0.0,
                "roughnessFactor": 0.6,
            },
            "doubleSided": false,
        }],
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{ "byteLength": b.bin.len() }],
    });
    if let Some(a) = animation {
        doc["animations"] = json!([a]);
    }

    let json = serde_json::to_vec(&doc)
        .map_err(|e| MeshError::invalid("glTF JSON", format!("cannot serialise: {e}")))?;
    assemble(json, b.bin)
}

/// Appends the keyframe data of `anim` to `b` and returns the `"speech"` animation, with a
/// weights channel if the rig has blendshapes and rotation/translation channels if posed.
fn animation_json(b: &mut Builder, anim: &Animation) -> Value {
    let n_frames = anim.weights.len();
    let n_shapes = anim.rig.num_blendshapes();
    let times: Vec<f32> = (0..n_frames).map(|t| t as f32 / anim.fps).collect();
    let t_lo = [times[0]];
    let t_hi = [times[n_frames - 1]];
    let input = b.accessor(
        &f32_bytes(times.iter()),
        None,
        FLOAT,
        n_frames,
        "SCALAR",
        Some((&t_lo, &t_hi)),
    );
    let mut samplers = Vec::new();
    let mut channels = Vec::new();
    let mut add_channel = |output: usize, path: &str| {
        channels.push(json!({
            "sampler": samplers.len(),
            "target": { "node": 0, "path": path },
        }));
        samplers.push(json!({ "input": input, "output": output, "interpolation": "LINEAR" }));
    };
    if n_shapes > 0 {
        let out = b.accessor(
            &f32_bytes(anim.weights.iter().flatten()),
            None,
            FLOAT,
            n_frames * n_shapes,
            "SCALAR",
            None,
        );
        add_channel(out, "weights");
    }
    if let Some(poses) = anim.poses {
        let quats = continuous_quaternions(poses);
        let rot = b.accessor(
            &f32_bytes(quats.iter().flatten()),
            None,
            FLOAT,
            n_frames,
            "VEC4",
            None,
        );
        add_channel(rot, "rotation");
        let trans = b.accessor(
            &f32_bytes(poses.iter().flat_map(|p| p.translation.iter())),
            None,
            FLOAT,
            n_frames,
            "VEC3",
            None,
        );
        add_channel(trans, "translation");
    }

    json!({ "name": "speech", "channels": channels, "samplers": samplers })
}

/// Checks everything glTF or the rig would otherwise reject, naming the field at fault.
fn validate(anim: &Animation) -> Result<()> {
    if !(anim.fps.is_finite() && anim.fps > 0.0) {
        return Err(MeshError::invalid(
            "fps",
            format!("expected a finite number > 0, got {}", anim.fps),
        ));
    }
    let n_frames = anim.weights.len();
    if n_frames == 0 {
        return Err(MeshError::invalid(
            "weights",
            "expected at least 1 frame, got 0",
        ));
    }
    let names = anim.rig.names();
    let k = names.len();
    for (t, row) in anim.weights.iter().enumerate() {
        if row.len() != k {
            return Err(MeshError::invalid(
                format!("weights frame {t}"),
                format!(
                    "expected {k} values (one per blendshape), got {}",
                    row.len()
                ),
            ));
        }
        if let Some(j) = row.iter().position(|w| !w.is_finite()) {
            return Err(MeshError::invalid(
                format!("weights frame {t}, blendshape {:?}", names[j]),
                format!("expected a finite number, got {}", row[j]),
            ));
        }
    }
    if let Some(poses) = anim.poses {
        if poses.len() != n_frames {
            return Err(MeshError::invalid(
                "poses",
                format!(
                    "expected {n_frames} poses (one per weights frame), got {}",
                    poses.len()
                ),
            ));
        }
        for (t, p) in poses.iter().enumerate() {
            if p.rotation
                .iter()
                .chain(&p.translation)
                .any(|c| !c.is_finite())
            {
                return Err(MeshError::invalid(
                    format!("poses frame {t}"),
                    format!(
                        "expected finite rotation and translation, got {:?} and {:?}",
                        p.rotation, p.translation
                    ),
                ));
            }
        }
    }
    // Keyframe times must strictly increase; in f32 that fails only for absurd frame counts.
    if n_frames > 1 && (n_frames - 1) as f32 / anim.fps <= (n_frames - 2) as f32 / anim.fps {
        return Err(MeshError::invalid(
            "weights",
            format!(
                "{n_frames} frames at {} fps give keyframe times that f32 cannot tell apart",
                anim.fps
            ),
        ));
    }

    // The mesh's fields are public, so re-check what glTF validators would reject.
    let mesh = anim.rig.neutral();
    let n_verts = mesh.vertices.len();
    if n_verts == 0 || mesh.triangles.is_empty() {
        return Err(MeshError::invalid(
            "rig neutral mesh",
            format!(
                "expected vertices and triangles, got {n_verts} vertices and {} triangles",
                mesh.triangles.len()
            ),
        ));
    }
    if let Some(i) = mesh
        .vertices
        .iter()
        .position(|v| v.iter().any(|c| !c.is_finite()))
    {
        return Err(MeshError::invalid(
            format!("rig neutral vertex {i}"),
            format!("expected finite coordinates, got {:?}", mesh.vertices[i]),
        ));
    }
    if let Some((i, t)) = mesh
        .triangles
        .iter()
        .enumerate()
        .find(|(_, t)| t.iter().any(|&v| v as usize >= n_verts))
    {
        return Err(MeshError::invalid(
            format!("rig neutral triangle {i}"),
            format!("indices {t:?} out of range for {n_verts} vertices"),
        ));
    }
    if let Some(uvs) = &mesh.uvs {
        mesh.check_vertex_count("rig neutral uvs", uvs.len())?;
        if let Some(i) = uvs.iter().position(|uv| uv.iter().any(|c| !c.is_finite())) {
            return Err(MeshError::invalid(
                format!("rig neutral uv {i}"),
                format!("expected finite texture coordinates, got {:?}", uvs[i]),
            ));
        }
    }
    Ok(())
}

/// Head rotations as unit quaternions, each flipped into the hemisphere of the previous one:
/// q and −q are the same rotation, but LINEAR interpolation between opposite signs would
/// swing the head the long way round.
fn continuous_quaternions(poses: &[HeadPose]) -> Vec<[f32; 4]> {
    let mut out: Vec<[f32; 4]> = Vec::with_capacity(poses.len());
    for p in poses {
        let q = p.quaternion();
        let norm = q.iter().map(|c| c * c).sum::<f32>().sqrt();
        // Re-normalise: the validator rejects quaternions off unit length by more than ~1e-5.
        let mut q = q.map(|c| c / norm);
        if let Some(prev) = out.last() {
            if prev.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>() < 0.0 {
                q = q.map(|c| -c);
            }
        }
        out.push(q);
    }
    out
}

fn f32_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

/// Accumulates the BIN chunk with one 4-byte-aligned buffer view per accessor.
#[derive(Default)]
struct Builder {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
}

impl Builder {
    /// Appends `data` as a new buffer view and accessor; returns the accessor index.
    fn accessor(
        &mut self,
        data: &[u8],
        target: Option<u32>,
        component_type: u32,
        count: usize,
        kind: &str,
        min_max: Option<(&[f32], &[f32])>,
    ) -> usize {
        let offset = self.bin.len();
        self.bin.extend_from_slice(data);
        // Every view starts 4-aligned so any component type can be read in place.
        self.bin.resize(self.bin.len().next_multiple_of(4), 0);
        let mut view = json!({ "buffer": 0, "byteOffset": offset, "byteLength": data.len() });
        if let Some(t) = target {
            view["target"] = json!(t);
        }
        self.views.push(view);
        let mut acc = json!({
            "bufferView": self.views.len() - 1,
            "componentType": component_type,
            "count": count,
            "type": kind,
        });
        if let Some((lo, hi)) = min_max {
            // Widen exactly: validators compare min/max with the stored f32 values bit for bit.
            acc["min"] = json!(lo.iter().map(|&v| v as f64).collect::<Vec<_>>());
            acc["max"] = json!(hi.iter().map(|&v| v as f64).collect::<Vec<_>>());
        }
        self.accessors.push(acc);
        self.accessors.len() - 1
    }
}

/// Frames the JSON and BIN chunks into a GLB container.
fn assemble(mut json: Vec<u8>, mut bin: Vec<u8>) -> Result<Vec<u8>> {
    // Chunks must be 4-aligned: JSON is padded with spaces (still valid JSON), BIN with zeros.
    json.resize(json.len().next_multiple_of(4), b' ');
    bin.resize(bin.len().next_multiple_of(4), 0);
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let too_big = || {
        MeshError::invalid(
            "GLB",
            format!("{total} bytes exceed the format's 4 GiB limit; export fewer frames"),
        )
    };
    let total32 = u32::try_from(total).map_err(|_| too_big())?;
    let mut out = Vec::with_capacity(total);
    for word in [GLB_MAGIC, GLB_VERSION, total32] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    // Both chunk lengths are below `total`, which fits in u32.
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&CHUNK_JSON.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(&CHUNK_BIN.to_le_bytes());
    out.extend_from_slice(&bin);
    Ok(out)
}
