//! Training images for `E_exp` / `E_pose`: expressions on identities (as the geometry VAE is
//! trained on), posed at random and rendered by the software renderer into the crop camera
//! with random lighting, material, background and sensor noise.

use candle_core::{Device, Tensor};
use image::RgbImage;
use m2f_mesh::{axis_angle_to_matrix, Mat3};
use m2f_mesh::{render, FaceTemplate, HeadPose, HoleFill, RenderOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{flat_neutral, mirror_partners, sample_rows, Rows, TrainData};
use crate::error::{GnpfaError, Result};
use crate::image_encoder::{images_to_tensor, ImageEncoderConfig};
use crate::model::Gnpfa;
use crate::projection::poses_to_tensors;

/// The ranges poses and appearance are drawn from (uniformly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRanges {
    /// Largest |yaw| (about +y), degrees; rotations are applied as yaw · pitch · roll.
    pub yaw_deg: f32,
    /// Largest |pitch| (about +x), degrees.
    pub pitch_deg: f32,
    /// Largest |roll| (about +z), degrees.
    pub roll_deg: f32,
    /// Largest sideways / vertical shift of the head in the crop, metres.
    pub shift_m: f32,
    /// Largest shift towards or away from the camera, metres: the scale of the face.
    pub depth_m: f32,
    /// Range [low, high] of the ambient light fraction.
    pub ambient: [f32; 2],
    /// Largest specular strength.
    pub specular_max: f32,
    /// Largest standard deviation of per-pixel Gaussian noise, in [0, 1] pixel units.
    pub noise_max: f32,
}

impl Default for RenderRanges {
    fn default() -> Self {
        Self {
            yaw_deg: 35.0,
            pitch_deg: 25.0,
            roll_deg: 20.0,
            shift_m: 0.012,
            depth_m: 0.03,
            ambient: [0.08, 0.45],
            specular_max: 0.35,
            noise_max: 0.03,
        }
    }
}

impl RenderRanges {
    /// Checks every range is finite and ordered, naming the field that is not.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("yaw_deg", self.yaw_deg),
            ("pitch_deg", self.pitch_deg),
            ("roll_deg", self.roll_deg),
            ("shift_m", self.shift_m),
            ("depth_m", self.depth_m),
            ("specular_max", self.specular_max),
            ("noise_max", self.noise_max),
        ];
        for (name, v) in fields {
            if !(v.is_finite() && v >= 0.0) {
                return Err(GnpfaError::invalid(
                    format!("render ranges: {name}"),
                    format!("expected a finite value ≥ 0, got {v}"),
                ));
            }
        }
        let [lo, hi] = self.ambient;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
            return Err(GnpfaError::invalid(
                "render ranges: ambient",
                format!("expected 0 ≤ low ≤ high, got [{lo}, {hi}]"),
            ));
        }
        Ok(())
    }

    /// A random head pose: rotation about the template origin, then a shift.
    pub fn sample_pose(&self, rng: &mut impl Rng) -> HeadPose {
        let mut angle = |max: f32| rng.random_range(-max..=max).to_radians();
        let (yaw, pitch, roll) = (
            angle(self.yaw_deg),
            angle(self.pitch_deg),
            angle(self.roll_deg),
        );
        let r = matmul(
            &axis_angle_to_matrix([0.0, yaw, 0.0]),
            &matmul(
                &axis_angle_to_matrix([pitch, 0.0, 0.0]),
                &axis_angle_to_matrix([0.0, 0.0, roll]),
            ),
        );
        let translation = [
            rng.random_range(-self.shift_m..=self.shift_m),
            rng.random_range(-self.shift_m..=self.shift_m),
            rng.random_range(-self.depth_m..=self.depth_m),
        ];
        HeadPose::from_matrix(&r, translation)
    }

    /// Random lighting, skin albedo, background and opening colours.
    pub fn sample_appearance(&self, rng: &mut impl Rng, template: &FaceTemplate) -> RenderOptions {
        let light_dir = [
            rng.random_range(-1.0f32..=1.0),
            rng.random_range(-0.6f32..=1.0),
            rng.random_range(0.3f32..=1.0),
        ];
        let r = rng.random_range(0.30f32..=0.90);
        let g = r * rng.random_range(0.65f32..=0.92);
        let b = g * rng.random_range(0.70f32..=0.95);
        let mut background = [0u8; 3];
        for c in &mut background {
            *c = rng.random_range(0..=255);
        }
        let mouth = jitter(rng, m2f_mesh::MOUTH_COLOR);
        let eyes = jitter(rng, m2f_mesh::EYE_COLOR);
        let mut fills = vec![HoleFill::mouth(&template.regions, mouth)];
        fills.extend(HoleFill::eyes(&template.regions, eyes));
        RenderOptions {
            background,
            base_color: [r, g, b],
            light_dir,
            ambient: rng.random_range(self.ambient[0]..=self.ambient[1]),
            specular: rng.random_range(0.0..=self.specular_max),
            shininess: rng.random_range(8.0f32..=40.0),
            cull_back_faces: false,
            hole_fills: fills,
            vertex_albedo: Vec::new(),
        }
    }
}

/// A colour scaled by a random factor in [0.6, 1.4].
fn jitter(rng: &mut impl Rng, base: [u8; 3]) -> [u8; 3] {
    let k = rng.random_range(0.6f32..=1.4);
    base.map(|c| (c as f32 * k).min(255.0) as u8)
}

fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0f32; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

/// Renders one crop of `neutral + displacement` (flat `[V*3]`, metres) posed by `pose`.
pub fn render_crop(
    template: &FaceTemplate,
    cfg: &ImageEncoderConfig,
    neutral: &[f32],
    displacement: &[f32],
    pose: &HeadPose,
    appearance: &RenderOptions,
) -> Result<RgbImage> {
    if neutral.len() != displacement.len() || neutral.len() != template.mesh.num_vertices() * 3 {
        return Err(GnpfaError::invalid(
            "crop geometry",
            format!(
                "expected {} coordinates for the neutral and the displacement, got {} and {}",
                template.mesh.num_vertices() * 3,
                neutral.len(),
                displacement.len()
            ),
        ));
    }
    let vertices: Vec<[f32; 3]> = neutral
        .chunks_exact(3)
        .zip(displacement.chunks_exact(3))
        .map(|(n, d)| [n[0] + d[0], n[1] + d[1], n[2] + d[2]])
        .collect();
    let posed = pose.apply(&vertices);
    let camera = cfg.camera.camera(cfg.image_size);
    Ok(render(
        &posed,
        &template.mesh.triangles,
        &camera,
        appearance,
    )?)
}

/// A batch of rendered crops and their truth.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// Normalised pixels [B, S, S, 3] (with sensor noise).
    pub pixels: Tensor,
    /// Each crop's identity neutral [B, V*3], metres.
    pub neutral: Tensor,
    /// Each crop's expression displacement from its neutral [B, V*3], metres.
    pub displacement: Tensor,
    /// The rig weights of the expressions [B, K].
    pub weights: Tensor,
    /// True head rotation matrices [B, 3, 3].
    pub rotation: Tensor,
    /// True head translations [B, 3], metres.
    pub translation: Tensor,
    /// The same true head poses, one per crop.
    pub poses: Vec<HeadPose>,
    /// The rendered crops, before noise.
    pub images: Vec<RgbImage>,
}

/// Renders the rows' expressions, each with its own pose and appearance drawn from `seeds`,
/// on `threads` threads (the result does not depend on the thread count).
#[allow(clippy::too_many_arguments)]
pub fn render_rows(
    rows: &Rows,
    seeds: &[u64],
    template: &FaceTemplate,
    cfg: &ImageEncoderConfig,
    ranges: &RenderRanges,
    threads: usize,
    device: &Device,
) -> Result<ImageBatch> {
    let b = rows.len;
    let v3 = template.mesh.num_vertices() * 3;
    if seeds.len() != b || rows.neutral.len() != b * v3 || rows.displacement.len() != b * v3 {
        return Err(GnpfaError::invalid(
            "image batch",
            format!(
                "{b} rows need {} neutral and displacement values ({v3} each) and {b} seeds; got \
                 {}, {} and {}",
                b * v3,
                rows.neutral.len(),
                rows.displacement.len(),
                seeds.len()
            ),
        ));
    }
    ranges.validate()?;
    let render_one = |i: usize| -> Result<(RgbImage, HeadPose, Vec<f32>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seeds[i]);
        let pose = ranges.sample_pose(&mut rng);
        let appearance = ranges.sample_appearance(&mut rng, template);
        let image = render_crop(
            template,
            cfg,
            &rows.neutral[i * v3..(i + 1) * v3],
            &rows.displacement[i * v3..(i + 1) * v3],
            &pose,
            &appearance,
        )
        .map_err(|e| GnpfaError::invalid(format!("image batch row {i}"), e.to_string()))?;
        let sigma = rng.random_range(0.0..=ranges.noise_max) * 4.0;
        let noise: Vec<f32> = (0..image.as_raw().len())
            .map(|_| sigma * rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect();
        Ok((image, pose, noise))
    };
    let threads = threads.clamp(1, b.max(1));
    let chunk = b.div_ceil(threads);
    let mut results: Vec<Result<(RgbImage, HeadPose, Vec<f32>)>> = Vec::with_capacity(b);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let render_one = &render_one;
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(b))
                        .map(render_one)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(part) => results.extend(part),
                Err(_) => results.push(Err(GnpfaError::invalid(
                    "image batch",
                    "a rendering thread panicked",
                ))),
            }
        }
    });
    let mut images = Vec::with_capacity(b);
    let mut poses = Vec::with_capacity(b);
    let mut noise = Vec::with_capacity(b * cfg.image_size * cfg.image_size * 3);
    for r in results {
        let (image, pose, n) = r?;
        images.push(image);
        poses.push(pose);
        noise.extend(n);
    }
    let refs: Vec<&RgbImage> = images.iter().collect();
    let clean = images_to_tensor(&refs, cfg.image_size, "rendered crop", device)?;
    let pixels = (clean + Tensor::from_vec(noise, clean_shape(b, cfg), device)?)?;
    let (rotation, translation) = poses_to_tensors(&poses, device)?;
    let geometry = rows.to_batch(device)?;
    Ok(ImageBatch {
        pixels,
        neutral: geometry.neutral,
        displacement: geometry.displacement,
        weights: geometry.weights,
        rotation,
        translation,
        poses,
        images,
    })
}

fn clean_shape(b: usize, cfg: &ImageEncoderConfig) -> (usize, usize, usize, usize) {
    (b, cfg.image_size, cfg.image_size, 3)
}

/// Where image-encoder training batches come from: the geometry's training data, its
/// identities' neutral faces and the rig's mirror pairs, and how crops are rendered.
#[derive(Debug, Clone)]
pub struct ImageBatchSource<'a> {
    data: &'a TrainData,
    neutrals: Vec<Vec<f32>>,
    partners: Vec<usize>,
    template: FaceTemplate,
    cfg: ImageEncoderConfig,
    ranges: RenderRanges,
}

impl<'a> ImageBatchSource<'a> {
    /// Batches drawn from `data` for `model`'s image encoders of shape `cfg`, posed and lit
    /// within `ranges`.
    pub fn new(
        data: &'a TrainData,
        model: &Gnpfa,
        cfg: &ImageEncoderConfig,
        ranges: &RenderRanges,
    ) -> Self {
        Self {
            data,
            neutrals: data.train.iter().map(flat_neutral).collect(),
            partners: mirror_partners(&model.config.blendshape_names),
            template: model.template.clone(),
            cfg: cfg.clone(),
            ranges: ranges.clone(),
        }
    }

    /// The batch of `step`, a pure function of (seed, step): expressions as the geometry
    /// trainer draws them (random rig weights on training identities, and clip frames), then
    /// a random pose and appearance per crop.
    ///
    /// # Errors
    /// When the training data is empty or a crop cannot be rendered.
    pub fn batch_at(
        &self,
        batch_size: usize,
        seed: u64,
        step: u64,
        device: &Device,
    ) -> Result<ImageBatch> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1a6e_0000_0000);
        rng.set_stream(step);
        let rows = sample_rows(
            self.data,
            &self.neutrals,
            &self.partners,
            batch_size,
            &mut rng,
        )?;
        let seeds: Vec<u64> = (0..rows.len).map(|_| rng.random()).collect();
        render_rows(
            &rows,
            &seeds,
            &self.template,
            &self.cfg,
            &self.ranges,
            2,
            device,
        )
    }
}
