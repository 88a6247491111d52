//! A small CPU rasteriser for previews: perspective camera, z-buffer, per-pixel Phong shading
//! of smooth vertex normals, and flat dark fills for the openings of the face (mouth, eyes).
//!
//! Conventions: world coordinates are the template's (metres, +x the subject's left, +y up,
//! +z out of the face). Image coordinates are pixels with the origin at the top-left corner
//! of the image, x to the right, y down; the centre of pixel (i, j) is (i + 0.5, j + 0.5).
//! A camera framed frontally sees the subject's left (+x) on the right of the image, as a
//! photograph does.

use std::sync::OnceLock;

use image::RgbImage;

use crate::error::{MeshError, Result};
use crate::face_mesh::{bounds, check_triangles, cross, dot, sub, vertex_normals};
use crate::regions::FaceRegions;

/// A pinhole (perspective) camera that owns the image size, so that [`project`] and
/// [`render`] agree on pixel coordinates by construction.
///
/// The camera sits at `eye`, looks at `target`, with `up` giving the image's upward
/// direction (it need not be exactly perpendicular to the view direction). `fov_y` is the
/// full vertical field of view in radians; the horizontal one follows from the aspect ratio
/// (square pixels). Points closer than `near` metres along the view direction are not drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Camera position, metres.
    pub eye: [f32; 3],
    /// The point looked at.
    pub target: [f32; 3],
    /// The image's upward direction.
    pub up: [f32; 3],
    /// Full vertical field of view, radians.
    pub fov_y: f32,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Near clipping distance, metres.
    pub near: f32,
}

/// Largest image side [`render`] draws: a larger camera is an error rather than an
/// allocation that aborts the process (an 8192² frame's colour and depth buffers already take
/// about 470 MB).
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Image size used by [`Camera::framing`].
pub const DEFAULT_SIZE: u32 = 256;

/// A longish lens (about 70 mm full-frame equivalent), like a portrait photograph: little
/// perspective distortion of the nose while still showing depth when the head turns.
const DEFAULT_FOV_Y: f32 = 20.0 * std::f32::consts::PI / 180.0;

/// Fraction of the face's extent left free on each side by [`Camera::framing`].
const FRAMING_MARGIN: f32 = 0.08;

impl Camera {
    /// A 256×256 camera that looks at `vertices` frontally (from +z, +y up) and fits their
    /// bounding box with a small margin. Frame the neutral face once and keep the camera for
    /// a whole animation, so that head motion shows. Without finite vertices it frames a
    /// 20 cm box around the origin.
    pub fn framing(vertices: &[[f32; 3]]) -> Camera {
        Camera::framing_sized(vertices, DEFAULT_SIZE, DEFAULT_SIZE)
    }

    /// [`Camera::framing`] for a `width`×`height` image.
    pub fn framing_sized(vertices: &[[f32; 3]], width: u32, height: u32) -> Camera {
        let finite: Vec<[f32; 3]> = vertices
            .iter()
            .copied()
            .filter(|v| v.iter().all(|c| c.is_finite()))
            .collect();
        let (lo, hi) = if finite.is_empty() {
            ([-0.1; 3], [0.1; 3])
        } else {
            bounds(&finite)
        };
        let centre = [
            0.5 * (lo[0] + hi[0]),
            0.5 * (lo[1] + hi[1]),
            0.5 * (lo[2] + hi[2]),
        ];
        let half_w = 0.5 * (hi[0] - lo[0]).max(1e-3) * (1.0 + 2.0 * FRAMING_MARGIN);
        let half_h = 0.5 * (hi[1] - lo[1]).max(1e-3) * (1.0 + 2.0 * FRAMING_MARGIN);
        let tan_y = (0.5 * DEFAULT_FOV_Y).tan();
        let tan_x = tan_y * width.max(1) as f32 / height.max(1) as f32;
        // Distance from the front face of the box: nearer points project larger, so fitting
        // the box's front rectangle fits everything behind it too.
        let dist = (half_w / tan_x).max(half_h / tan_y);
        Camera {
            eye: [centre[0], centre[1], hi[2] + dist],
            target: centre,
            up: [0.0, 1.0, 0.0],
            fov_y: DEFAULT_FOV_Y,
            width,
            height,
            near: 0.01,
        }
    }

    /// The same camera for an image of another size; the vertical field of view is kept.
    pub fn with_size(self, width: u32, height: u32) -> Camera {
        Camera {
            width,
            height,
            ..self
        }
    }

    /// The camera's view basis and intrinsics, or an error naming the bad field.
    fn view(&self) -> Result<View> {
        let bad =
            |field: &str, message: String| MeshError::invalid(format!("camera.{field}"), message);
        if !(1..=MAX_IMAGE_SIDE).contains(&self.width)
            || !(1..=MAX_IMAGE_SIDE).contains(&self.height)
        {
            return Err(bad(
                "width/height",
                format!(
                    "expected an image of 1 to {MAX_IMAGE_SIDE} pixels a side, got {}×{}",
                    self.width, self.height
                ),
            ));
        }
        if !(self.fov_y > 0.0 && self.fov_y < std::f32::consts::PI) {
            return Err(bad(
                "fov_y",
                format!(
                    "expected a field of view in (0, π) radians, got {}",
                    self.fov_y
                ),
            ));
        }
        if !(self.near > 0.0 && self.near.is_finite()) {
            return Err(bad(
                "near",
                format!("expected a positive distance, got {}", self.near),
            ));
        }
        let all_finite = [self.eye, self.target, self.up]
            .iter()
            .all(|v| v.iter().all(|c| c.is_finite()));
        if !all_finite {
            return Err(bad("eye/target/up", "expected finite coordinates".into()));
        }
        let fwd = normalize(sub(self.target, self.eye))
            .ok_or_else(|| bad("target", "must differ from camera.eye".into()))?;
        let right = normalize(cross(fwd, self.up))
            .ok_or_else(|| bad("up", "must not be parallel to the view direction".into()))?;
        let up = cross(right, fwd);
        let focal = 0.5 * self.height as f32 / (0.5 * self.fov_y).tan();
        Ok(View {
            eye: self.eye,
            right,
            up,
            fwd,
            focal,
            cx: 0.5 * self.width as f32,
            cy: 0.5 * self.height as f32,
            near: self.near,
        })
    }
}

/// A camera ready for projection: orthonormal basis and pixel intrinsics.
struct View {
    eye: [f32; 3],
    right: [f32; 3],
    up: [f32; 3],
    fwd: [f32; 3],
    focal: f32,
    cx: f32,
    cy: f32,
    near: f32,
}

impl View {
    /// Pixel position and 1/depth of a point, or `None` behind the near plane.
    fn project(&self, p: [f32; 3]) -> Option<([f32; 2], f32)> {
        let d = sub(p, self.eye);
        let z = dot(d, self.fwd);
        if !z.is_finite() || z < self.near {
            return None;
        }
        let inv_z = 1.0 / z;
        let x = self.cx + self.focal * dot(d, self.right) * inv_z;
        let y = self.cy - self.focal * dot(d, self.up) * inv_z;
        (x.is_finite() && y.is_finite()).then_some(([x, y], inv_z))
    }
}

/// Pixel coordinates of `point` seen by `camera` (origin at the image's top-left corner,
/// y down, pixel centres at half-integers), or `None` if the point lies behind the camera's
/// near plane, is not finite, or the camera is invalid. Points outside the image still get
/// coordinates (outside `0..width`, `0..height`).
pub fn project(camera: &Camera, point: [f32; 3]) -> Option<[f32; 2]> {
    camera.view().ok()?.project(point).map(|(p, _)| p)
}

/// An opening of the face (the mouth between the inner lips, an eye between the lids),
/// painted in a flat colour so that it reads as a cavity rather than skin.
///
/// MediaPipe's mesh is closed across these openings by thin "membrane" triangles whose
/// corners all lie on the opening's contour; those are drawn flat in `color`, depth-tested
/// like any other triangle, so the lips still hide them when the head turns. For meshes
/// where the opening is a real hole, the contour polygon is also painted wherever no
/// triangle covers a pixel, behind everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct HoleFill {
    /// The opening's boundary, vertex indices in order around it.
    pub contour: Vec<u32>,
    /// sRGB fill colour.
    pub color: [u8; 3],
}

/// Default colour inside the mouth: a dark red-brown, read as the mouth cavity.
pub const MOUTH_COLOR: [u8; 3] = [52, 18, 22];
/// Default colour of the eye openings.
pub const EYE_COLOR: [u8; 3] = [34, 30, 32];

impl HoleFill {
    /// The mouth opening, bounded by the inner lip contour.
    pub fn mouth(regions: &FaceRegions, color: [u8; 3]) -> HoleFill {
        HoleFill {
            contour: closed_contour(&regions.upper_inner_lip, &regions.lower_inner_lip),
            color,
        }
    }

    /// The two eye openings, bounded by the eyelid contours.
    pub fn eyes(regions: &FaceRegions, color: [u8; 3]) -> [HoleFill; 2] {
        [
            HoleFill {
                contour: closed_contour(&regions.left_upper_eyelid, &regions.left_lower_eyelid),
                color,
            },
            HoleFill {
                contour: closed_contour(&regions.right_upper_eyelid, &regions.right_lower_eyelid),
                color,
            },
        ]
    }
}

/// Joins two chains that share their end points (corner → corner) into one loop.
fn closed_contour(upper: &[u32], lower: &[u32]) -> Vec<u32> {
    let mut c = upper.to_vec();
    if lower.len() > 2 {
        c.extend(lower[1..lower.len() - 1].iter().rev());
    }
    c
}

/// How [`render`] draws: image background, material, light and hole fills.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// sRGB colour where no face is drawn.
    pub background: [u8; 3],
    /// Surface albedo, linear RGB in [0, 1].
    pub base_color: [f32; 3],
    /// Direction towards the light, world coordinates (need not be unit length). The light
    /// is directional and does not follow the head.
    pub light_dir: [f32; 3],
    /// Ambient fraction of the albedo, in [0, 1].
    pub ambient: f32,
    /// Strength of the Blinn–Phong highlight.
    pub specular: f32,
    /// Blinn–Phong exponent: higher is a tighter highlight.
    pub shininess: f32,
    /// Skip triangles that face away from the camera. Off by default: the face is an open
    /// surface, and a turned head shows its inside at the silhouette, lit from both sides.
    pub cull_back_faces: bool,
    /// Openings painted flat (see [`HoleFill`]); empty by default.
    pub hole_fills: Vec<HoleFill>,
    /// Per-vertex albedo, linear RGB in [0, 1], interpolated across triangles (lips, brows);
    /// empty (the default) for `base_color` everywhere.
    pub vertex_albedo: Vec<[f32; 3]>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            background: [52, 56, 64],
            base_color: [0.62, 0.52, 0.46],
            light_dir: [-0.45, 0.55, 0.85],
            ambient: 0.18,
            specular: 0.15,
            shininess: 20.0,
            cull_back_faces: false,
            hole_fills: Vec::new(),
            vertex_albedo: Vec::new(),
        }
    }
}

impl RenderOptions {
    /// These options with the MediaPipe mouth and eye openings filled in the default colours.
    pub fn with_face_fills(mut self, regions: &FaceRegions) -> Self {
        self.hole_fills.push(HoleFill::mouth(regions, MOUTH_COLOR));
        self.hole_fills.extend(HoleFill::eyes(regions, EYE_COLOR));
        self
    }
}

/// Renders the mesh `vertices`/`triangles` through `camera` into an RGB image of the
/// camera's size.
///
/// Shading is per pixel: perspective-correct interpolation of area-weighted vertex normals,
/// Lambert diffuse plus a Blinn–Phong highlight from one directional light, lit on both
/// sides of the surface, gamma-encoded to sRGB. Degenerate triangles and triangles with a
/// vertex behind the near plane or not finite are skipped, not clipped: the face is always
/// well in front of a preview camera. Fails, naming the field, on triangle or contour
/// indices out of range and on an invalid camera.
pub fn render(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
    camera: &Camera,
    opts: &RenderOptions,
) -> Result<RgbImage> {
    let view = camera.view()?;
    let n = vertices.len();
    check_triangles(triangles, n)?;
    for (h, fill) in opts.hole_fills.iter().enumerate() {
        if let Some(&v) = fill.contour.iter().find(|&&v| v as usize >= n) {
            return Err(MeshError::invalid(
                format!("hole_fills[{h}].contour"),
                format!("vertex {v} out of range for {n} vertices"),
            ));
        }
    }
    let light = normalize(opts.light_dir).ok_or_else(|| {
        MeshError::invalid(
            "light_dir",
            format!(
                "expected a non-zero finite vector, got {:?}",
                opts.light_dir
            ),
        )
    })?;

    if !opts.vertex_albedo.is_empty() && opts.vertex_albedo.len() != n {
        return Err(MeshError::invalid(
            "vertex_albedo",
            format!(
                "{} colours for {n} vertices; expected one per vertex or none",
                opts.vertex_albedo.len()
            ),
        ));
    }
    let (w, h) = (camera.width as usize, camera.height as usize);
    let mut target = Target {
        width: w,
        height: h,
        // 1/depth: 0 is "nothing drawn", larger is nearer.
        depth: vec![0.0f32; w * h],
        color: vec![0u8; w * h * 3],
    };

    let normals = vertex_normals(vertices, triangles);
    let projected: Vec<Option<([f32; 2], f32)>> =
        vertices.iter().map(|&v| view.project(v)).collect();
    // The view direction is taken as constant over the image for the highlight: the field
    // of view is narrow, and this keeps the per-pixel work to one normalisation.
    let to_eye = view.fwd.map(|c| -c);
    let shader = Shader::new(opts, light, to_eye);
    let flat = membrane_colors(n, triangles, &opts.hole_fills);

    for (ti, t) in triangles.iter().enumerate() {
        let [a, b, c] = t.map(|i| i as usize);
        let (Some(pa), Some(pb), Some(pc)) = (projected[a], projected[b], projected[c]) else {
            continue;
        };
        let face_n = cross(sub(vertices[b], vertices[a]), sub(vertices[c], vertices[a]));
        let front = dot(face_n, sub(view.eye, vertices[a])) >= 0.0;
        if opts.cull_back_faces && !front {
            continue;
        }
        // Two-sided lighting: seen from behind, the surface's normal is the reverse one.
        let sign = if front { 1.0 } else { -1.0 };
        // Normals pre-divided by depth, so that interpolating them linearly in screen space
        // and renormalising is perspective-correct (the common 1/depth factor drops out).
        let attr = |n: [f32; 3], iz: f32| n.map(|x| x * sign * iz);
        let (na, nb, nc) = (
            attr(normals[a], pa.1),
            attr(normals[b], pb.1),
            attr(normals[c], pc.1),
        );
        let (w, h) = (target.width, target.height);
        if let Some(color) = flat.get(ti).copied().flatten() {
            raster_triangle(w, h, [pa.0, pb.0, pc.0], |idx, bc| {
                let iz = bc[0] * pa.1 + bc[1] * pb.1 + bc[2] * pc.1;
                if iz > target.depth[idx] {
                    target.depth[idx] = iz;
                    target.color[3 * idx..3 * idx + 3].copy_from_slice(&color);
                }
            });
            continue;
        }
        // Albedo likewise pre-divided by depth; divided back by the interpolated 1/depth.
        let albedo = (!opts.vertex_albedo.is_empty()).then(|| {
            let al = |v: usize, iz: f32| opts.vertex_albedo[v].map(|x| x.clamp(0.0, 1.0) * iz);
            [al(a, pa.1), al(b, pb.1), al(c, pc.1)]
        });
        raster_triangle(w, h, [pa.0, pb.0, pc.0], |idx, bc| {
            let iz = bc[0] * pa.1 + bc[1] * pb.1 + bc[2] * pc.1;
            if iz > target.depth[idx] {
                target.depth[idx] = iz;
                let n = [
                    bc[0] * na[0] + bc[1] * nb[0] + bc[2] * nc[0],
                    bc[0] * na[1] + bc[1] * nb[1] + bc[2] * nc[1],
                    bc[0] * na[2] + bc[1] * nb[2] + bc[2] * nc[2],
                ];
                let albedo = match &albedo {
                    None => shader.albedo,
                    Some([ka, kb, kc]) => std::array::from_fn(|k| {
                        (bc[0] * ka[k] + bc[1] * kb[k] + bc[2] * kc[k]) / iz
                    }),
                };
                target.color[3 * idx..3 * idx + 3].copy_from_slice(&shader.shade(n, albedo));
            }
        });
    }

    for fill in &opts.hole_fills {
        fill_hole(&mut target, &view, vertices, fill);
    }

    for (px, d) in target.color.chunks_exact_mut(3).zip(&target.depth) {
        if *d == 0.0 {
            px.copy_from_slice(&opts.background);
        }
    }
    RgbImage::from_raw(camera.width, camera.height, target.color).ok_or_else(|| {
        MeshError::invalid("camera.width/height", "image buffer size does not match")
    })
}

/// Per triangle, the flat colour of the opening it spans (all three corners on one fill's
/// contour), if any. Empty when there are no fills.
fn membrane_colors(
    vertex_count: usize,
    triangles: &[[u32; 3]],
    fills: &[HoleFill],
) -> Vec<Option<[u8; 3]>> {
    if fills.is_empty() {
        return Vec::new();
    }
    let mut colors = vec![None; triangles.len()];
    let mut on_contour = vec![false; vertex_count];
    for fill in fills {
        for &v in &fill.contour {
            on_contour[v as usize] = true;
        }
        for (c, t) in colors.iter_mut().zip(triangles) {
            if t.iter().all(|&v| on_contour[v as usize]) {
                *c = Some(fill.color);
            }
        }
        for &v in &fill.contour {
            on_contour[v as usize] = false;
        }
    }
    colors
}

/// The colour and depth buffers being drawn into.
struct Target {
    width: usize,
    height: usize,
    depth: Vec<f32>,
    color: Vec<u8>,
}

/// Lighting constants for one frame, with a gamma lookup table so that shading a pixel
/// costs no `powf` for the sRGB encoding.
struct Shader {
    albedo: [f32; 3],
    ambient: f32,
    specular: f32,
    shininess: f32,
    light: [f32; 3],
    half: [f32; 3],
    gamma: &'static [u8; GAMMA_STEPS + 1],
}

const GAMMA_STEPS: usize = 1024;

/// Linear [0, 1] → 8-bit sRGB (gamma 2.2), built once per process.
fn gamma_table() -> &'static [u8; GAMMA_STEPS + 1] {
    static TABLE: OnceLock<[u8; GAMMA_STEPS + 1]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u8; GAMMA_STEPS + 1];
        for (i, v) in t.iter_mut().enumerate() {
            let lin = i as f32 / GAMMA_STEPS as f32;
            *v = (255.0 * lin.powf(1.0 / 2.2) + 0.5) as u8;
        }
        t
    })
}

impl Shader {
    fn new(opts: &RenderOptions, light: [f32; 3], to_eye: [f32; 3]) -> Shader {
        let half = normalize([
            light[0] + to_eye[0],
            light[1] + to_eye[1],
            light[2] + to_eye[2],
        ])
        .unwrap_or(to_eye);
        Shader {
            albedo: opts.base_color.map(|c| c.clamp(0.0, 1.0)),
            ambient: opts.ambient.clamp(0.0, 1.0),
            specular: opts.specular.max(0.0),
            shininess: opts.shininess.max(1.0),
            light,
            half,
            gamma: gamma_table(),
        }
    }

    /// sRGB colour for an (unnormalised) surface normal and an albedo.
    #[inline]
    fn shade(&self, n: [f32; 3], albedo: [f32; 3]) -> [u8; 3] {
        let len2 = dot(n, n);
        if len2.is_nan() || len2 <= 0.0 {
            return self.encode(self.ambient, 0.0, albedo);
        }
        let inv_len = 1.0 / len2.sqrt();
        let diffuse = (dot(n, self.light) * inv_len).max(0.0);
        let nh = dot(n, self.half) * inv_len;
        let spec = if nh > 0.0 && diffuse > 0.0 && self.specular > 0.0 {
            // Schlick's rational stand-in for nh^shininess: the same lobe shape without a
            // `powf` per pixel, which dominated the frame time.
            self.specular * nh / (self.shininess - self.shininess * nh + nh)
        } else {
            0.0
        };
        self.encode(self.ambient + (1.0 - self.ambient) * diffuse, spec, albedo)
    }

    #[inline]
    fn encode(&self, k: f32, spec: f32, albedo: [f32; 3]) -> [u8; 3] {
        let g = |a: f32| {
            let lin = (a * k + spec).clamp(0.0, 1.0);
            self.gamma[(lin * GAMMA_STEPS as f32) as usize]
        };
        [g(albedo[0]), g(albedo[1]), g(albedo[2])]
    }
}

/// Sub-pixel precision of the rasteriser: vertices snap to 1/256 pixel.
const SUBPIXEL: f32 = 256.0;

/// Projected coordinates beyond this many pixels (only points just in front of the near
/// plane get there) are not rasterised, which keeps the fixed-point products within i64.
const MAX_SCREEN_COORD: f32 = 1.0e6;

/// Twice the signed area of (a, b, p) in fixed point; positive when p is on the interior
/// side of a → b for the orientation `raster_triangle` normalises to. Exact integer
/// arithmetic makes the edge shared by two triangles evaluate to exact negatives in both,
/// so the top-left rule leaves neither cracks nor double-drawn pixels.
#[inline]
fn edge(a: [i64; 2], b: [i64; 2], p: [i64; 2]) -> i64 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// Whether edge a → b is a top or left edge under that orientation (y down): pixels whose
/// centre lies exactly on an edge belong to the triangle only for top and left edges.
#[inline]
fn is_top_left(a: [i64; 2], b: [i64; 2]) -> bool {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    dy < 0 || (dy == 0 && dx > 0)
}

/// Rasterises one screen-space triangle with fixed-point edge functions and the top-left
/// rule, calling `pixel(index, barycentrics)` for each pixel whose centre it covers. The
/// barycentrics are in the order of `pts`, whatever the triangle's orientation on screen.
fn raster_triangle(
    width: usize,
    height: usize,
    pts: [[f32; 2]; 3],
    mut pixel: impl FnMut(usize, [f32; 3]),
) {
    if pts
        .iter()
        .flatten()
        .any(|c| !c.is_finite() || c.abs() >= MAX_SCREEN_COORD)
    {
        return; // not finite, or absurdly far off screen
    }
    let fixed = |p: [f32; 2]| {
        [
            (p[0] * SUBPIXEL).round() as i64,
            (p[1] * SUBPIXEL).round() as i64,
        ]
    };
    let [p0, mut p1, mut p2] = pts.map(fixed);
    let mut area = edge(p0, p1, p2);
    if area == 0 {
        return; // degenerate at this precision
    }
    let swapped = area < 0;
    if swapped {
        std::mem::swap(&mut p1, &mut p2);
        area = -area;
    }
    let sub = SUBPIXEL as i64;
    // Pixels whose centres (x + ½) can lie inside the triangle's bounds.
    let first = |lo: i64| ((lo - sub / 2 + sub - 1).div_euclid(sub)).max(0);
    let last = |hi: i64, n: usize| ((hi - sub / 2).div_euclid(sub) + 1).min(n as i64);
    let x0 = first(p0[0].min(p1[0]).min(p2[0]));
    let x1 = last(p0[0].max(p1[0]).max(p2[0]), width);
    let y0 = first(p0[1].min(p1[1]).min(p2[1]));
    let y1 = last(p0[1].max(p1[1]).max(p2[1]), height);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let tl = [
        is_top_left(p1, p2),
        is_top_left(p2, p0),
        is_top_left(p0, p1),
    ];
    // Top-left edges own their boundary pixels: bias the others so that "inside" is w > 0.
    let bias = tl.map(|t| if t { 0 } else { -1 });
    let inv_area = 1.0 / area as f32;
    // Edge functions are affine in the pixel position: step them instead of re-evaluating.
    let step_x = [
        (p1[1] - p2[1]) * sub,
        (p2[1] - p0[1]) * sub,
        (p0[1] - p1[1]) * sub,
    ];
    let step_y = [
        (p2[0] - p1[0]) * sub,
        (p0[0] - p2[0]) * sub,
        (p1[0] - p0[0]) * sub,
    ];
    let start = [x0 * sub + sub / 2, y0 * sub + sub / 2];
    let mut row = [
        edge(p1, p2, start),
        edge(p2, p0, start),
        edge(p0, p1, start),
    ];
    for y in y0 as usize..y1 as usize {
        let mut w = row;
        for x in x0 as usize..x1 as usize {
            if (w[0] + bias[0]) | (w[1] + bias[1]) | (w[2] + bias[2]) >= 0 {
                let (b0, b1, b2) = (
                    w[0] as f32 * inv_area,
                    w[1] as f32 * inv_area,
                    w[2] as f32 * inv_area,
                );
                pixel(
                    y * width + x,
                    if swapped { [b0, b2, b1] } else { [b0, b1, b2] },
                );
            }
            w[0] += step_x[0];
            w[1] += step_x[1];
            w[2] += step_x[2];
        }
        for k in 0..3 {
            row[k] += step_y[k];
        }
    }
}

/// Paints a hole's polygon (a fan from its centroid) where nothing else is drawn yet: the
/// surface around the hole always wins, so the fill reads as lying behind it.
fn fill_hole(target: &mut Target, view: &View, vertices: &[[f32; 3]], fill: &HoleFill) {
    if fill.contour.len() < 3 {
        return;
    }
    let k = fill.contour.len() as f32;
    let centroid = fill.contour.iter().fold([0.0f32; 3], |acc, &i| {
        let p = vertices[i as usize];
        [acc[0] + p[0] / k, acc[1] + p[1] / k, acc[2] + p[2] / k]
    });
    let Some((pc, _)) = view.project(centroid) else {
        return;
    };
    let (w, h) = (target.width, target.height);
    for (i, &a) in fill.contour.iter().enumerate() {
        let b = fill.contour[(i + 1) % fill.contour.len()];
        let (Some((pa, _)), Some((pb, _))) = (
            view.project(vertices[a as usize]),
            view.project(vertices[b as usize]),
        ) else {
            continue;
        };
        raster_triangle(w, h, [pc, pa, pb], |idx, _| {
            if target.depth[idx] == 0.0 {
                // The smallest positive depth marks the pixel drawn, behind any surface.
                target.depth[idx] = f32::MIN_POSITIVE;
                target.color[3 * idx..3 * idx + 3].copy_from_slice(&fill.color);
            }
        });
    }
}

fn normalize(v: [f32; 3]) -> Option<[f32; 3]> {
    let len = dot(v, v).sqrt();
    (len > 1e-12 && len.is_finite()).then(|| v.map(|c| c / len))
}
