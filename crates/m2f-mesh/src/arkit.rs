//! The procedural ARKit-named blendshape rig ([`arkit_rig`], documented there).

use crate::error::Result;
use crate::face_mesh::{dot, sub, FaceMesh};
use crate::fields::{
    add_into, closest_on_polyline, contour_field, contour_y_at, gauss, point_field, sigmoid,
    smoothstep,
};
use crate::head_pose::{axis_angle_to_matrix, mat_vec};
use crate::regions::FaceRegions;
use crate::rig::Rig;

/// The blendshapes of the procedural rig, in the order of its weight vectors.
pub const ARKIT_BLENDSHAPES: [&str; 43] = [
    "jawOpen",
    "jawForward",
    "jawLeft",
    "jawRight",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
];

/// Jaw rotation at `jawOpen = 1`, radians (about 17°, a wide-open mouth).
pub const JAW_OPEN_ANGLE: f32 = 0.30;

/// Canonical interocular distance (outer eye corners), metres: the rig's unit of scale.
const CANONICAL_INTEROCULAR: f32 = 0.0889;

/// MediaPipe vertices the rig anchors to beside the named landmarks: (left, right) pairs.
const CHEEK: (u32, u32) = (427, 207);
const UNDER_EYE: (u32, u32) = (348, 119);
const NOSE_WING: (u32, u32) = (455, 235);

/// Which side of the face a field acts on ("left" is the subject's own, +x).
#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

impl Side {
    fn sign(self) -> f32 {
        match self {
            Side::Left => 1.0,
            Side::Right => -1.0,
        }
    }
}

/// What the fields need to know about one neutral face.
struct FaceFrame<'a> {
    v: &'a [[f32; 3]],
    regions: &'a FaceRegions,
    /// Metres per canonical centimetre for this face.
    u: f32,
    /// 1 below the mouth line, 0 above: keeps the lips apart in every lower-face field.
    lower: Vec<f32>,
    /// Subject's left half (smooth across the midline).
    left: Vec<f32>,
    /// Mouth centre, between the inner lip centres.
    mouth_centre: [f32; 3],
    /// Half the mouth width, metres.
    mouth_half_width: f32,
}

impl<'a> FaceFrame<'a> {
    fn new(neutral: &'a FaceMesh, regions: &'a FaceRegions) -> Self {
        let v = &neutral.vertices;
        let lm = regions.landmarks;
        let eye_dist = {
            let d = sub(
                v[lm.left_eye_outer as usize],
                v[lm.right_eye_outer as usize],
            );
            dot(d, d).sqrt()
        };
        let u = 0.01 * eye_dist / CANONICAL_INTEROCULAR;
        let pts = |idx: &[u32]| -> Vec<[f32; 3]> { idx.iter().map(|&i| v[i as usize]).collect() };
        let upper = pts(&regions.upper_inner_lip);
        let lower_c = pts(&regions.lower_inner_lip);
        let inner_upper = &regions.upper_inner_lip;
        let inner_lower = &regions.lower_inner_lip;
        let corners = [lm.mouth_corner_left, lm.mouth_corner_right];
        let (first, last) = (inner_upper[0], inner_upper[inner_upper.len() - 1]);
        let lower: Vec<f32> = v
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let i = i as u32;
                if i == first || i == last || corners.contains(&i) {
                    0.5
                } else if inner_upper.contains(&i) {
                    0.0
                } else if inner_lower.contains(&i) {
                    1.0
                } else {
                    let line = 0.5 * (contour_y_at(&upper, p[0]) + contour_y_at(&lower_c, p[0]));
                    sigmoid((line - p[1]) / (0.04 * u))
                }
            })
            .collect();
        let left = v.iter().map(|p| sigmoid(p[0] / (0.25 * u))).collect();
        let a = v[lm.upper_inner_lip as usize];
        let b = v[lm.lower_inner_lip as usize];
        let mouth_centre = [0, 1, 2].map(|k| 0.5 * (a[k] + b[k]));
        let cl = v[lm.mouth_corner_left as usize];
        let cr = v[lm.mouth_corner_right as usize];
        let mouth_half_width = 0.5 * (cl[0] - cr[0]).abs();
        Self {
            v,
            regions,
            u,
            lower,
            left,
            mouth_centre,
            mouth_half_width,
        }
    }

    fn upper(&self) -> Vec<f32> {
        self.lower.iter().map(|l| 1.0 - l).collect()
    }

    fn side(&self, side: Side) -> Vec<f32> {
        match side {
            Side::Left => self.left.clone(),
            Side::Right => self.left.iter().map(|l| 1.0 - l).collect(),
        }
    }

    fn ones(&self) -> Vec<f32> {
        vec![1.0; self.v.len()]
    }

    fn vertex(&self, i: u32) -> [f32; 3] {
        self.v[i as usize]
    }

    /// Centimetres of the canonical face → metres on this face.
    fn cm(&self, d: [f32; 3]) -> [f32; 3] {
        d.map(|c| c * self.u)
    }

    /// Per-contour-vertex displacement from a function of the lateral position x / half width.
    fn along_lip(&self, contour: &[u32], f: impl Fn(f32) -> [f32; 3]) -> Vec<[f32; 3]> {
        contour
            .iter()
            .map(|&i| {
                let x = (self.vertex(i)[0] - self.mouth_centre[0]) / self.mouth_half_width;
                self.cm(f(x.clamp(-1.0, 1.0)))
            })
            .collect()
    }

    /// How much each vertex rides on the mandible.
    fn jaw_weight(&self) -> Vec<f32> {
        let lm = self.regions.landmarks;
        let corners = [
            self.vertex(lm.mouth_corner_left),
            self.vertex(lm.mouth_corner_right),
        ];
        self.v
            .iter()
            .zip(&self.lower)
            .map(|(p, &l)| {
                let lateral = 1.0 - 0.7 * smoothstep(2.5 * self.u, 6.5 * self.u, p[0].abs());
                // The cheek skin beside (not above) the mouth corners stretches a little
                // with the jaw; the upper lip itself stays on the maxilla.
                let beside = smoothstep(
                    self.mouth_half_width,
                    self.mouth_half_width + 0.8 * self.u,
                    (p[0] - self.mouth_centre[0]).abs(),
                );
                let corner = beside
                    * corners
                        .iter()
                        .map(|c| {
                            let d = sub(*p, *c);
                            gauss(dot(d, d).sqrt(), 1.2 * self.u)
                        })
                        .fold(0.0f32, f32::max);
                l * lateral + (1.0 - l) * 0.15 * corner
            })
            .collect()
    }

    /// The jaw hinge: in front of the ears, ~3.8 cm above and ~8.3 cm behind the mouth,
    /// shifted sideways by `lateral_cm` (a condyle for sideways turns).
    fn jaw_pivot(&self, lateral_cm: f32) -> [f32; 3] {
        let m = self.mouth_centre;
        [
            m[0] + lateral_cm * self.u,
            m[1] + 3.8 * self.u,
            m[2] - 8.3 * self.u,
        ]
    }

    /// Displacement of the mandible's vertices under a rotation `axis_angle` about `pivot`,
    /// weighted by how much each vertex rides on the jaw.
    fn jaw_rotation(&self, pivot: [f32; 3], axis_angle: [f32; 3]) -> Vec<[f32; 3]> {
        let r = axis_angle_to_matrix(axis_angle);
        self.v
            .iter()
            .zip(self.jaw_weight())
            .map(|(p, w)| {
                let q = mat_vec(&r, sub(*p, pivot));
                [0, 1, 2].map(|k| w * (q[k] + pivot[k] - p[k]))
            })
            .collect()
    }

    fn jaw_open(&self) -> Vec<[f32; 3]> {
        self.jaw_rotation(self.jaw_pivot(0.0), [JAW_OPEN_ANGLE, 0.0, 0.0])
    }

    /// Sideways jaw: a turn about the vertical axis through the opposite condyle, so that
    /// jawLeft and jawRight are mirror images, not negatives of each other.
    fn jaw_side(&self, side: Side) -> Vec<[f32; 3]> {
        self.jaw_rotation(
            self.jaw_pivot(-side.sign() * 4.5),
            [0.0, side.sign() * 0.055, 0.0],
        )
    }

    /// The mouth pulled to one side: the lips slide, the corner on that side draws back and
    /// the far corner stretches forward.
    fn mouth_side(&self, side: Side) -> Vec<[f32; 3]> {
        let mut f = point_field(
            self.v,
            self.mouth_centre,
            self.cm([0.6 * side.sign(), 0.0, 0.0]),
            1.6 * self.u,
            &self.ones(),
        );
        let other = match side {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        };
        add_into(&mut f, &self.corner(side, [0.1, 0.05, -0.2], 1.0));
        add_into(&mut f, &self.corner(other, [-0.1, 0.0, 0.1], 1.0));
        f
    }

    fn jaw_shift(&self, d: [f32; 3]) -> Vec<[f32; 3]> {
        let d = self.cm(d);
        self.jaw_weight()
            .into_iter()
            .map(|w| d.map(|c| w * c))
            .collect()
    }

    /// Lower lip carried back against the jaw: with `jawOpen = mouthClose` the lips stay
    /// sealed while the jaw drops, as in ARKit.
    fn mouth_close(&self, jaw_open: &[[f32; 3]]) -> Vec<[f32; 3]> {
        let line: Vec<[f32; 3]> = self
            .regions
            .lower_inner_lip
            .iter()
            .map(|&i| self.vertex(i))
            .collect();
        self.v
            .iter()
            .zip(jaw_open)
            .zip(&self.lower)
            .map(|((p, j), &l)| {
                let (d, _, _) = closest_on_polyline(*p, &line);
                let w = l * gauss(d, 0.9 * self.u);
                j.map(|c| -w * c)
            })
            .collect()
    }

    fn lips(
        &self,
        upper: impl Fn(f32) -> [f32; 3],
        lower: impl Fn(f32) -> [f32; 3],
        radius_cm: f32,
        side: Option<Side>,
    ) -> Vec<[f32; 3]> {
        let side_mask = side.map(|s| self.side(s));
        let masked = |m: Vec<f32>| -> Vec<f32> {
            match &side_mask {
                Some(s) => m.iter().zip(s).map(|(a, b)| a * b).collect(),
                None => m,
            }
        };
        let r = self.regions;
        let mut field = contour_field(
            self.v,
            &r.upper_inner_lip,
            &self.along_lip(&r.upper_inner_lip, upper),
            radius_cm * self.u,
            &masked(self.upper()),
        );
        let lower_field = contour_field(
            self.v,
            &r.lower_inner_lip,
            &self.along_lip(&r.lower_inner_lip, lower),
            radius_cm * self.u,
            &masked(self.lower.clone()),
        );
        add_into(&mut field, &lower_field);
        field
    }

    fn outer_lips(
        &self,
        upper: [f32; 3],
        lower: [f32; 3],
        radius_cm: f32,
        side: Side,
    ) -> Vec<[f32; 3]> {
        let r = self.regions;
        let s = self.side(side);
        let um: Vec<f32> = self.upper().iter().zip(&s).map(|(a, b)| a * b).collect();
        let lm: Vec<f32> = self.lower.iter().zip(&s).map(|(a, b)| a * b).collect();
        let n_up = r.upper_outer_lip.len();
        let n_lo = r.lower_outer_lip.len();
        let mut field = contour_field(
            self.v,
            &r.upper_outer_lip,
            &vec![self.cm(upper); n_up],
            radius_cm * self.u,
            &um,
        );
        add_into(
            &mut field,
            &contour_field(
                self.v,
                &r.lower_outer_lip,
                &vec![self.cm(lower); n_lo],
                radius_cm * self.u,
                &lm,
            ),
        );
        field
    }

    fn corner(&self, side: Side, d: [f32; 3], radius_cm: f32) -> Vec<[f32; 3]> {
        let lm = self.regions.landmarks;
        let c = match side {
            Side::Left => lm.mouth_corner_left,
            Side::Right => lm.mouth_corner_right,
        };
        let d = [d[0] * side.sign(), d[1], d[2]];
        point_field(
            self.v,
            self.vertex(c),
            self.cm(d),
            radius_cm * self.u,
            &self.side(side),
        )
    }

    fn at(&self, pair: (u32, u32), side: Side, d: [f32; 3], radius_cm: f32) -> Vec<[f32; 3]> {
        let i = match side {
            Side::Left => pair.0,
            Side::Right => pair.1,
        };
        let d = [d[0] * side.sign(), d[1], d[2]];
        point_field(
            self.v,
            self.vertex(i),
            self.cm(d),
            radius_cm * self.u,
            &self.side(side),
        )
    }

    fn brow(&self, side: Side) -> &[u32] {
        match side {
            Side::Left => &self.regions.left_brow,
            Side::Right => &self.regions.right_brow,
        }
    }

    /// Brow vertices of `sides`, ordered by x, each with its lateral position t along its own
    /// brow (0 at the inner end, 1 at the tail) and its side's sign.
    fn brow_chain(&self, sides: &[Side]) -> Vec<(u32, f32, f32)> {
        let mut chain = Vec::new();
        for &side in sides {
            let idx = self.brow(side);
            let ax = |i: u32| self.vertex(i)[0].abs();
            let inner = idx.iter().map(|&i| ax(i)).fold(f32::INFINITY, f32::min);
            let outer = idx.iter().map(|&i| ax(i)).fold(0.0f32, f32::max);
            let span = (outer - inner).max(1e-6);
            chain.extend(
                idx.iter()
                    .map(|&i| (i, ((ax(i) - inner) / span).clamp(0.0, 1.0), side.sign())),
            );
        }
        chain.sort_by(|a, b| self.vertex(a.0)[0].total_cmp(&self.vertex(b.0)[0]));
        chain
    }

    /// 0 at and below the upper-lid margin, rising smoothly to 1 three quarters of the way up
    /// to the brow: the brow muscles move the brow and the skin of the upper lid above the
    /// fold, not the lid margin, which belongs to the eye shapes (so that brows never push a
    /// lid through the other one).
    fn above_lids(&self) -> Vec<f32> {
        let guard = |side: Side| -> Vec<f32> {
            let (up, _) = self.eyelids(side);
            let lid: Vec<[f32; 3]> = up.iter().map(|&i| self.vertex(i)).collect();
            let brow = self.brow(side);
            let brow_y =
                brow.iter().map(|&i| self.vertex(i)[1]).sum::<f32>() / brow.len().max(1) as f32;
            let lid_y = lid.iter().map(|p| p[1]).fold(f32::NEG_INFINITY, f32::max);
            let ramp = (0.75 * (brow_y - lid_y)).max(0.3 * self.u);
            self.v
                .iter()
                .map(|p| {
                    let y0 = contour_y_at(&lid, p[0]);
                    smoothstep(y0, y0 + ramp, p[1])
                })
                .collect()
        };
        let (l, r) = (guard(Side::Left), guard(Side::Right));
        self.left
            .iter()
            .zip(l.iter().zip(&r))
            .map(|(s, (a, b))| s * a + (1.0 - s) * b)
            .collect()
    }

    /// A field carried by the brows of `sides`: each brow vertex moves by `disp(t)` (cm, x
    /// pointing away from the midline on its side) where t runs from 0 at the brow's inner end
    /// to 1 at its tail; the skin around follows with falloff `radius_cm` (up into the
    /// forehead) and [`Self::above_lids`] (down toward the eye).
    fn brow_field(
        &self,
        sides: &[Side],
        disp: impl Fn(f32) -> [f32; 3],
        radius_cm: f32,
    ) -> Vec<[f32; 3]> {
        let chain = self.brow_chain(sides);
        let contour: Vec<u32> = chain.iter().map(|c| c.0).collect();
        let moves: Vec<[f32; 3]> = chain
            .iter()
            .map(|&(_, t, sign)| {
                let d = disp(t);
                self.cm([d[0] * sign, d[1], d[2]])
            })
            .collect();
        let mut mask = self.above_lids();
        if let [side] = sides {
            for (m, s) in mask.iter_mut().zip(self.side(*side)) {
                *m *= s;
            }
        }
        contour_field(self.v, &contour, &moves, radius_cm * self.u, &mask)
    }

    /// Corrugator and depressors: the brow drawn down and toward the midline, most at its
    /// inner half, bunching slightly forward.
    fn brow_down(&self, side: Side) -> Vec<[f32; 3]> {
        self.brow_field(&[side], |t| [-0.3 * (1.0 - t), -0.8 + 0.6 * t, 0.1], 1.3)
    }

    /// Medial frontalis: the inner brows and the centre of the forehead lifted, the tails much
    /// less (the oblique brow of sadness and fear).
    fn brow_inner_up(&self) -> Vec<[f32; 3]> {
        self.brow_field(
            &[Side::Left, Side::Right],
            |t| [-0.1 * (1.0 - t), 1.0 - 0.85 * t, 0.05],
            1.4,
        )
    }

    /// Lateral frontalis: the brow's tail lifted and arched, its inner end a little.
    fn brow_outer_up(&self, side: Side) -> Vec<[f32; 3]> {
        self.brow_field(&[side], |t| [0.05 * t, 0.3 + 0.65 * t, 0.0], 1.4)
    }

    fn eyelids(&self, side: Side) -> (&[u32], &[u32]) {
        let r = self.regions;
        match side {
            Side::Left => (&r.left_upper_eyelid, &r.left_lower_eyelid),
            Side::Right => (&r.right_upper_eyelid, &r.right_lower_eyelid),
        }
    }

    /// (above, below) the eye's mid line, each restricted to one side of the face.
    fn eye_masks(&self, side: Side) -> (Vec<f32>, Vec<f32>) {
        let (up, lo) = self.eyelids(side);
        let up: Vec<[f32; 3]> = up.iter().map(|&i| self.vertex(i)).collect();
        let lo: Vec<[f32; 3]> = lo.iter().map(|&i| self.vertex(i)).collect();
        let s = self.side(side);
        let above: Vec<f32> = self
            .v
            .iter()
            .zip(&s)
            .map(|(p, sm)| {
                let line = 0.5 * (contour_y_at(&up, p[0]) + contour_y_at(&lo, p[0]));
                sm * sigmoid((p[1] - line) / (0.03 * self.u))
            })
            .collect();
        let below = above.iter().zip(&s).map(|(a, sm)| sm - a).collect();
        (above, below)
    }

    fn eye_blink(&self, side: Side) -> Vec<[f32; 3]> {
        let (up, lo) = self.eyelids(side);
        let (above, _) = self.eye_masks(side);
        // Upper lid meets the lower lid vertex by vertex (both run outer → inner corner).
        let disp: Vec<[f32; 3]> = up
            .iter()
            .zip(lo)
            .map(|(&a, &b)| {
                let d = sub(self.vertex(b), self.vertex(a));
                d.map(|c| 0.97 * c)
            })
            .collect();
        contour_field(self.v, up, &disp, 0.35 * self.u, &above)
    }

    /// The lids moved by `upper` and `lower` (cm) at the widest point of the eye, each lid
    /// vertex in proportion to the eye's opening there, so the corners stay put and no
    /// combination of the eye shapes at weights ≤ 1 pushes one lid through the other.
    fn eye_lid_shift(
        &self,
        side: Side,
        upper: [f32; 3],
        lower: [f32; 3],
        radius_cm: f32,
    ) -> Vec<[f32; 3]> {
        let (up, lo) = self.eyelids(side);
        let (above, below) = self.eye_masks(side);
        let opening: Vec<f32> = up
            .iter()
            .zip(lo)
            .map(|(&a, &b)| {
                let d = sub(self.vertex(a), self.vertex(b));
                dot(d, d).sqrt()
            })
            .collect();
        let widest = opening.iter().copied().fold(0.0f32, f32::max).max(1e-6);
        let along = |d: [f32; 3]| -> Vec<[f32; 3]> {
            opening
                .iter()
                .map(|o| self.cm(d).map(|c| c * o / widest))
                .collect()
        };
        let mut field = contour_field(self.v, up, &along(upper), radius_cm * self.u, &above);
        add_into(
            &mut field,
            &contour_field(self.v, lo, &along(lower), radius_cm * self.u, &below),
        );
        field
    }

    /// Orbicularis oculi (orbital part) with the cheek raiser: the cheek's apple lifted and
    /// pushed forward, bulging under the eye. The lower lid margin rises only a quarter as
    /// much (eyeSquint narrows the eye): a lid raised as far as the cheek would cross the
    /// upper lid during a blink.
    fn cheek_squint(&self, side: Side) -> Vec<[f32; 3]> {
        let (_, lo) = self.eyelids(side);
        let lid: Vec<[f32; 3]> = lo.iter().map(|&i| self.vertex(i)).collect();
        let s = self.side(side);
        let mask: Vec<f32> = self
            .v
            .iter()
            .zip(&s)
            .map(|(p, sm)| {
                let y0 = contour_y_at(&lid, p[0]);
                sm * (0.25 + 0.75 * smoothstep(y0, y0 - self.u, p[1]))
            })
            .collect();
        let i = match side {
            Side::Left => UNDER_EYE.0,
            Side::Right => UNDER_EYE.1,
        };
        let c = self.vertex(i);
        point_field(
            self.v,
            [c[0], c[1] - 0.2 * self.u, c[2]],
            self.cm([0.0, 0.45, 0.15]),
            1.3 * self.u,
            &mask,
        )
    }

    /// Zygomaticus major: the corner drawn up and out at about 47° and back, the cheek
    /// beside the nose–mouth fold lifted with it.
    fn smile(&self, side: Side) -> Vec<[f32; 3]> {
        let mut f = self.corner(side, [0.55, 0.6, -0.3], 1.35);
        add_into(&mut f, &self.at(CHEEK, side, [0.05, 0.2, 0.15], 1.2));
        f
    }

    fn cheek_puff(&self) -> Vec<[f32; 3]> {
        let mut f = self.at(CHEEK, Side::Left, [0.6, 0.0, 0.65], 1.7);
        add_into(&mut f, &self.at(CHEEK, Side::Right, [0.6, 0.0, 0.65], 1.7));
        f
    }
}

/// Builds the procedural ARKit rig on `neutral`, whose regions are `regions` (the MediaPipe
/// topology). The result's blendshapes follow [`ARKIT_BLENDSHAPES`].
///
/// Each blendshape is a smooth displacement field over its region, built from the neutral's
/// own contours (lips, eyelids, brows), so that a rig made on a wide face moves a wide mouth.
/// Sizes are given in centimetres of the canonical face and scaled by the neutral's
/// interocular distance. The jaw is a rotation about a hinge in front of the ears, stored
/// as the linear displacement of that rotation at full opening, as ARKit stores it.
///
/// ARKit's eye-gaze shapes (`eyeLook*`) and `tongueOut` are left out: the topology has no
/// eyeballs and no tongue.
///
/// # Magnitudes
///
/// The expression shapes of the brows, eyes, cheeks, nose and mouth corners move as far at
/// weight 1 as a real face does at a strong, deliberate contraction (largest vertex
/// displacement on the canonical face; a test holds them to these ranges):
///
/// | shape | moves | real face |
/// | --- | --- | --- |
/// | `browInnerUp`, `browOuterUp*` | 10.1, 9.5 mm at the brow, up | brow raise 6.0–13.1 mm, mean 10.6 (a) |
/// | `browDown*` | 8.5 mm at the inner brow (8 down, 3 in), 2 mm down at the tail | chosen: 5–8 mm down, and in (AU4) |
/// | `eyeWide*` | 3.8 mm, upper lid up | chosen: 3–4 mm (AU5) |
/// | `eyeSquint*` | 2.7 mm, lower lid up (upper lid 1 mm down) | chosen: 2–3 mm (AU7) |
/// | `cheekSquint*` | 4.7 mm, cheek up and forward under the eye | chosen: 4–6 mm (AU6) |
/// | `noseSneer*` | 5.0 mm, nostril wing up | chosen: 4–6 mm (AU9) |
/// | `mouthSmile*` | 8.8 mm at the corner, up and out at 47° and back | corner 6.5–12.1 mm, mean 9.3 (a), up and out at about 47° (b) |
/// | `mouthFrown*` | 6.5 mm at the corner, down | chosen: 5–8 mm (AU15) |
/// | `mouthDimple*` | 4.7 mm at the corner, back and out | chosen: 3–6 mm (AU14) |
/// | `cheekPuff` | 8.9 mm, cheek out | chosen: 8–10 mm |
///
/// (a) reflective markers tracked by a Vicon system on 12 healthy adults, rest to maximal
/// contraction (Braz. J. Otorhinolaryngol., "Objective computorized evaluation of normal
/// patterns of facial muscles contraction"). (b) spontaneous smiles filmed frame by frame
/// (Am. J. Orthod. Dentofacial Orthop. 2005;128:8–15): the corners travel up and out at about
/// 47° and the mouth widens by 27 %. "Chosen" ranges are not measurements: they are the
/// sizes at which the action unit's appearance change, as the FACS manual describes it, is
/// plain on a face at conversational distance, and they keep each shape within its
/// neighbours' room (a lid never passes the other lid, the lips stay sealed). On a brow
/// raise the skin of the lower forehead rises and the upper forehead does not (Cotofana et
/// al., Plast. Reconstr. Surg., "The bidirectional movement of the frontalis muscle": the
/// two meet about 61 % of the way up the forehead), so the brow fields fade out within
/// about 3 cm above the brow.
///
/// The brows move the brow and the upper lid's skin above the fold, never the lid margins,
/// and the eye shapes move each lid vertex in proportion to the eye's opening there, so the
/// eye corners stay put. The mouth and jaw shapes speech uses (`jawOpen`, `mouthClose`,
/// `mouthFunnel`, `mouthPucker`, `mouthRoll*`, `mouthPress*`, `mouthStretch*`,
/// `mouthUpperUp*`, `mouthLowerDown*`) keep the sizes the lip-sync measurements were made
/// with.
pub fn arkit_rig(neutral: &FaceMesh, regions: &FaceRegions) -> Result<Rig> {
    neutral.check_vertex_count(
        "neutral for the ARKit rig (MediaPipe topology)",
        crate::regions::MEDIAPIPE_VERTEX_COUNT,
    )?;
    regions.check(neutral.num_vertices())?;
    let f = FaceFrame::new(neutral, regions);
    let (l, r) = (Side::Left, Side::Right);
    let jaw_open = f.jaw_open();
    let shapes: Vec<Vec<[f32; 3]>> = vec![
        jaw_open.clone(),
        f.jaw_shift([0.0, 0.0, 0.45]),
        f.jaw_side(l),
        f.jaw_side(r),
        f.mouth_close(&jaw_open),
        // Funnel: lips flare forward and part into a rounded opening.
        f.lips(
            |x| [-0.25 * x, 0.18, 0.45],
            |x| [-0.25 * x, -0.25, 0.45],
            1.0,
            None,
        ),
        // Pucker: lips pushed forward and together, corners drawn in.
        f.lips(
            |x| [-0.55 * x, -0.05, 0.6],
            |x| [-0.55 * x, 0.05, 0.6],
            1.1,
            None,
        ),
        f.mouth_side(l),
        f.mouth_side(r),
        f.smile(l),
        f.smile(r),
        f.corner(l, [0.05, -0.65, -0.05], 1.2),
        f.corner(r, [0.05, -0.65, -0.05], 1.2),
        f.corner(l, [0.25, 0.05, -0.4], 1.0),
        f.corner(r, [0.25, 0.05, -0.4], 1.0),
        f.corner(l, [0.45, -0.15, -0.1], 1.4),
        f.corner(r, [0.45, -0.15, -0.1], 1.4),
        // Roll: a lip turns in over the teeth (the labiodental f and v).
        f.lips(|_| [0.0; 3], |_| [0.0, 0.2, -0.3], 0.8, None),
        f.lips(|_| [0.0, -0.15, -0.3], |_| [0.0; 3], 0.8, None),
        f.lips(|_| [0.0; 3], |_| [0.0, 0.25, 0.1], 1.5, None),
        f.lips(|_| [0.0, 0.2, 0.1], |_| [0.0; 3], 1.0, None),
        f.outer_lips([0.0, -0.15, -0.05], [0.0, 0.15, -0.05], 0.5, l),
        f.outer_lips([0.0, -0.15, -0.05], [0.0, 0.15, -0.05], 0.5, r),
        f.lips(|_| [0.0; 3], |_| [0.0, -0.4, 0.05], 1.0, Some(l)),
        f.lips(|_| [0.0; 3], |_| [0.0, -0.4, 0.05], 1.0, Some(r)),
        f.lips(|_| [0.0, 0.4, 0.05], |_| [0.0; 3], 1.0, Some(l)),
        f.lips(|_| [0.0, 0.4, 0.05], |_| [0.0; 3], 1.0, Some(r)),
        f.brow_down(l),
        f.brow_down(r),
        f.brow_inner_up(),
        f.brow_outer_up(l),
        f.brow_outer_up(r),
        f.cheek_puff(),
        f.cheek_squint(l),
        f.cheek_squint(r),
        f.at(NOSE_WING, l, [0.05, 0.5, 0.05], 0.9),
        f.at(NOSE_WING, r, [0.05, 0.5, 0.05], 0.9),
        f.eye_blink(l),
        f.eye_blink(r),
        f.eye_lid_shift(l, [0.0, -0.1, 0.0], [0.0, 0.27, 0.03], 0.45),
        f.eye_lid_shift(r, [0.0, -0.1, 0.0], [0.0, 0.27, 0.03], 0.45),
        f.eye_lid_shift(l, [0.0, 0.38, 0.03], [0.0, -0.05, 0.0], 0.55),
        f.eye_lid_shift(r, [0.0, 0.38, 0.03], [0.0, -0.05, 0.0], 0.55),
    ];
    let names = ARKIT_BLENDSHAPES.iter().map(|s| s.to_string()).collect();
    Rig::new(neutral.clone(), names, shapes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::FaceTemplate;

    fn max_disp(field: &[[f32; 3]], idx: &[u32]) -> f32 {
        idx.iter()
            .map(|&i| dot(field[i as usize], field[i as usize]).sqrt())
            .fold(0.0, f32::max)
    }

    #[test]
    fn every_shape_moves_something_and_stays_local() {
        let t = FaceTemplate::mediapipe();
        let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
        for (k, name) in rig.names().iter().enumerate() {
            let d = rig.delta(k);
            let peak = d.iter().map(|p| dot(*p, *p).sqrt()).fold(0.0, f32::max);
            assert!(peak > 1e-3, "{name} moves at most {peak} m");
            assert!(peak < 0.04, "{name} moves {peak} m");
        }
        // Lower-face shapes leave the eyes alone and eye shapes leave the lips alone.
        let eyes: Vec<u32> = [t.regions.left_eye.clone(), t.regions.right_eye.clone()].concat();
        for name in [
            "jawOpen",
            "mouthFunnel",
            "mouthPucker",
            "mouthLowerDownLeft",
        ] {
            let k = rig.index_of(name).unwrap();
            assert!(
                max_disp(rig.delta(k), &eyes) < 2e-4,
                "{name} moves the eyes"
            );
        }
        for name in ["eyeBlinkLeft", "browInnerUp", "eyeWideRight"] {
            let k = rig.index_of(name).unwrap();
            assert!(
                max_disp(rig.delta(k), &t.regions.lips) < 2e-4,
                "{name} moves the lips"
            );
        }
    }

    #[test]
    fn lower_lip_shapes_leave_the_upper_lip() {
        let t = FaceTemplate::mediapipe();
        let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
        let upper: Vec<u32> =
            t.regions.upper_inner_lip[1..t.regions.upper_inner_lip.len() - 1].to_vec();
        for name in [
            "jawOpen",
            "mouthRollLower",
            "mouthLowerDownLeft",
            "mouthShrugLower",
        ] {
            let k = rig.index_of(name).unwrap();
            assert!(
                max_disp(rig.delta(k), &upper) < 3e-4,
                "{name} drags the upper inner lip"
            );
        }
    }

    #[test]
    fn jaw_open_with_mouth_close_keeps_the_lips_where_they_were() {
        let t = FaceTemplate::mediapipe();
        let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
        let mut w = vec![0.0; rig.num_blendshapes()];
        w[rig.index_of("jawOpen").unwrap()] = 0.5;
        let open = rig.apply(&w).unwrap();
        let gap0 = t.regions.inner_lip_gap(&t.mesh.vertices);
        let gap_open = t.regions.inner_lip_gap(&open);
        assert!(gap_open > gap0 + 0.008, "jawOpen 0.5 opens only {gap_open}");
        w[rig.index_of("mouthClose").unwrap()] = 0.5;
        let sealed = rig.apply(&w).unwrap();
        assert!((t.regions.inner_lip_gap(&sealed) - gap0).abs() < 5e-4);
    }

    /// Largest displacement (mm) of shape `name` at weight 1 over `idx`.
    fn peak_mm(rig: &Rig, name: &str, idx: &[u32]) -> f32 {
        1e3 * max_disp(rig.delta(rig.index_of(name).unwrap()), idx)
    }

    #[test]
    fn upper_face_and_cheek_shapes_move_as_far_as_a_real_face() {
        let t = FaceTemplate::mediapipe();
        let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
        let r = &t.regions;
        let lm = r.landmarks;
        let inner = |c: &[u32]| c[1..c.len() - 1].to_vec();
        let brows = [r.left_brow.clone(), r.right_brow.clone()].concat();
        let upper_lid = inner(&r.left_upper_eyelid);
        let lower_lid = inner(&r.left_lower_eyelid);
        let corners = [lm.mouth_corner_left, lm.mouth_corner_right];
        let all: Vec<u32> = (0..t.mesh.num_vertices() as u32).collect();
        // (shape, where it is read, range in mm at weight 1).
        let targets: [(&str, &[u32], f32, f32); 11] = [
            ("browInnerUp", &brows, 8.0, 12.0),
            ("browOuterUpLeft", &brows, 8.0, 12.0),
            ("browDownLeft", &brows, 5.0, 9.0),
            ("eyeWideLeft", &upper_lid, 3.0, 4.5),
            ("eyeSquintLeft", &lower_lid, 2.0, 3.2),
            ("cheekSquintLeft", &all, 4.0, 6.0),
            ("noseSneerLeft", &all, 4.0, 6.0),
            ("mouthSmileLeft", &corners, 8.0, 12.0),
            ("mouthFrownLeft", &corners, 5.0, 8.0),
            ("mouthDimpleLeft", &corners, 3.0, 6.0),
            ("cheekPuff", &all, 8.0, 10.0),
        ];
        for (name, idx, lo, hi) in targets {
            let mm = peak_mm(&rig, name, idx);
            assert!((lo..=hi).contains(&mm), "{name} moves {mm:.2} mm");
        }
        // The brows carry the forehead, not the eyes: the lid margins stay where they were.
        for name in ["browInnerUp", "browOuterUpLeft", "browDownLeft"] {
            let lids = [upper_lid.clone(), lower_lid.clone()].concat();
            let mm = peak_mm(&rig, name, &lids);
            assert!(mm < 0.2, "{name} moves the eyelids {mm:.2} mm");
        }
    }

    #[test]
    fn expression_shapes_keep_the_lids_apart_and_the_lips_sealed() {
        let t = FaceTemplate::mediapipe();
        let sealed = seal_lips(&t.mesh, &t.regions, 0.0003).unwrap();
        let rig = arkit_rig(&sealed, &t.regions).unwrap();
        let r = &t.regions;
        let rest = sealed.vertices.clone();
        let gaps = |v: &[[f32; 3]]| -> Vec<f32> {
            let n = r.upper_inner_lip.len();
            r.upper_inner_lip[1..n - 1]
                .iter()
                .zip(&r.lower_inner_lip[1..n - 1])
                .map(|(&a, &b)| {
                    let d = sub(v[a as usize], v[b as usize]);
                    dot(d, d).sqrt()
                })
                .collect()
        };
        let gaps0 = gaps(&rest);
        let open0 = t.regions.eyelid_openings(&rest);
        // Every shape that is not about the mouth opening, each side at weight 1, and the eye
        // narrowing ones together, as the emotions combine them.
        let face_shapes = [
            "mouthSmileLeft",
            "mouthFrownLeft",
            "mouthDimpleLeft",
            "mouthStretchLeft",
            "browDownLeft",
            "browInnerUp",
            "browOuterUpLeft",
            "cheekPuff",
            "cheekSquintLeft",
            "noseSneerLeft",
            "eyeSquintLeft",
            "eyeWideLeft",
        ];
        let mut combos: Vec<Vec<&str>> = face_shapes.iter().map(|s| vec![*s]).collect();
        combos.push(vec!["browDownLeft", "eyeSquintLeft", "cheekSquintLeft"]);
        combos.push(vec!["browInnerUp", "browOuterUpLeft", "eyeWideLeft"]);
        for combo in &combos {
            let mut w = vec![0.0; rig.num_blendshapes()];
            for name in combo {
                w[rig.index_of(name).unwrap()] = 1.0;
            }
            let v = rig.apply(&w).unwrap();
            for (g, g0) in gaps(&v).iter().zip(&gaps0) {
                assert!(
                    (g - g0).abs() < 2e-4,
                    "{combo:?} parts the lips: {g0} → {g} m"
                );
            }
            for (o, o0) in t.regions.eyelid_openings(&v).iter().zip(&open0) {
                assert!(*o > 0.25 * o0, "{combo:?} closes the eye: {o0} → {o} m");
            }
        }
    }

    #[test]
    fn blink_closes_the_eye() {
        let t = FaceTemplate::mediapipe();
        let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
        let mut w = vec![0.0; rig.num_blendshapes()];
        w[rig.index_of("eyeBlinkLeft").unwrap()] = 1.0;
        let v = rig.apply(&w).unwrap();
        let lm = t.regions.landmarks;
        let gap = |v: &[[f32; 3]]| {
            let d = sub(
                v[lm.left_upper_eyelid as usize],
                v[lm.left_lower_eyelid as usize],
            );
            dot(d, d).sqrt()
        };
        assert!(gap(&t.mesh.vertices) > 0.005);
        assert!(gap(&v) < 0.0006, "blinked eye still {} m open", gap(&v));
        // The other eye stays open.
        let d = sub(
            v[lm.right_upper_eyelid as usize],
            v[lm.right_lower_eyelid as usize],
        );
        assert!(dot(d, d).sqrt() > 0.005);
    }
}

/// Brings a neutral's lips together, leaving `rest_gap` metres between the inner lip centres
/// (the canonical MediaPipe face rests with its mouth ~5 mm open). Each inner-lip pair meets
/// half way; the lips around follow with the falloff of the rig's lip fields.
pub fn seal_lips(neutral: &FaceMesh, regions: &FaceRegions, rest_gap: f32) -> Result<FaceMesh> {
    neutral.check_vertex_count(
        "neutral to seal (MediaPipe topology)",
        crate::regions::MEDIAPIPE_VERTEX_COUNT,
    )?;
    regions.check(neutral.num_vertices())?;
    if !(rest_gap >= 0.0 && rest_gap.is_finite()) {
        return Err(crate::error::MeshError::invalid(
            "rest lip gap",
            format!("expected a finite gap ≥ 0 m, got {rest_gap}"),
        ));
    }
    let f = FaceFrame::new(neutral, regions);
    let v = &neutral.vertices;
    let centre_gap = regions.inner_lip_gap(v).max(1e-6);
    // Close each pair by the same fraction as the centre so the mouth keeps its shape.
    let fraction = ((centre_gap - rest_gap) / centre_gap).clamp(0.0, 1.0);
    let pair_moves = |from: &[u32], to: &[u32]| -> Vec<[f32; 3]> {
        from.iter()
            .zip(to)
            .map(|(&a, &b)| {
                let d = sub(v[b as usize], v[a as usize]);
                d.map(|c| 0.5 * fraction * c)
            })
            .collect()
    };
    let up = &regions.upper_inner_lip;
    let lo = &regions.lower_inner_lip;
    let mut field = contour_field(v, up, &pair_moves(up, lo), 0.6 * f.u, &f.upper());
    add_into(
        &mut field,
        &contour_field(v, lo, &pair_moves(lo, up), 0.6 * f.u, &f.lower),
    );
    let sealed = v
        .iter()
        .zip(&field)
        .map(|(p, d)| [p[0] + d[0], p[1] + d[1], p[2] + d[2]])
        .collect();
    neutral.with_vertices(sealed)
}

#[cfg(test)]
mod seal_tests {
    use super::*;
    use crate::template::FaceTemplate;

    #[test]
    fn sealed_lips_rest_at_the_requested_gap() {
        let t = FaceTemplate::mediapipe();
        let sealed = seal_lips(&t.mesh, &t.regions, 0.0003).unwrap();
        let gap = t.regions.inner_lip_gap(&sealed.vertices);
        assert!((gap - 0.0003).abs() < 1e-4, "gap {gap}");
        // The eyes and forehead do not move.
        let lm = t.regions.landmarks;
        assert_eq!(
            sealed.vertices[lm.forehead as usize],
            t.mesh.vertices[lm.forehead as usize]
        );
    }
}
