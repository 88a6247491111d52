//! Identities: a smooth shape model that turns the canonical face into many distinct neutrals.

use m2f_mesh::{arkit_rig, seal_lips, FaceMesh, FaceTemplate, Rig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::SynthError;
use crate::voices::Split;
use crate::world::WorldConfig;

/// The parameters of one synthetic face, each a smooth deformation of the canonical face.
/// Values are factors (1 = canonical) or offsets in centimetres of the canonical face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdentityParams {
    /// Overall size.
    pub scale: f32,
    /// Horizontal stretch of the whole face.
    pub width: f32,
    /// Vertical stretch of the face below the eyes.
    pub lower_face_length: f32,
    /// Horizontal stretch of the jaw, growing toward the chin.
    pub jaw_width: f32,
    /// Chin forward (+) or back (−), cm.
    pub chin_protrusion: f32,
    /// Nose size around its base.
    pub nose_size: f32,
    /// Lip fullness: outer lip contours pushed away from the mouth line.
    pub lip_fullness: f32,
    /// Mouth width.
    pub mouth_width: f32,
    /// Brow height offset, cm.
    pub brow_height: f32,
    /// Left–right asymmetry: the subject's left side raised (+) or lowered (−), cm.
    pub asymmetry: f32,
    /// Depth of the face (nose and lips forward).
    pub depth: f32,
    /// Gap between the inner lips at rest, mm.
    pub rest_lip_gap_mm: f32,
}

impl IdentityParams {
    /// The canonical face itself: factors 1, offsets 0, lips 0.3 mm apart at rest.
    pub const CANONICAL: IdentityParams = IdentityParams {
        scale: 1.0,
        width: 1.0,
        lower_face_length: 1.0,
        jaw_width: 1.0,
        chin_protrusion: 0.0,
        nose_size: 1.0,
        lip_fullness: 1.0,
        mouth_width: 1.0,
        brow_height: 0.0,
        asymmetry: 0.0,
        depth: 1.0,
        rest_lip_gap_mm: 0.3,
    };

    /// A random identity; identity `id` under `seed` is always the same face.
    pub fn sample(seed: u64, id: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1de7_1717 ^ ((id as u64) << 20));
        let mut n = |spread: f32| -> f32 {
            // A bounded bell: the mean of three uniforms, so no freak faces.
            let s: f32 = (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum();
            spread * s / 3.0 * 1.7
        };
        Self {
            scale: 1.0 + n(0.08),
            width: 1.0 + n(0.08),
            lower_face_length: 1.0 + n(0.1),
            jaw_width: 1.0 + n(0.12),
            chin_protrusion: n(0.5),
            nose_size: 1.0 + n(0.15),
            lip_fullness: 1.0 + n(0.3),
            mouth_width: 1.0 + n(0.1),
            brow_height: n(0.3),
            asymmetry: n(0.15),
            depth: 1.0 + n(0.08),
            rest_lip_gap_mm: 0.15 + n(0.15).abs(),
        }
    }

    /// The neutral face of these parameters on `template`.
    pub fn neutral(&self, template: &FaceTemplate) -> Result<FaceMesh, SynthError> {
        let t = &template.mesh.vertices;
        let lm = template.regions.landmarks;
        let cm = 0.01f32;
        let nose = t[lm.nose_tip as usize];
        let mouth = {
            let a = t[lm.upper_inner_lip as usize];
            let b = t[lm.lower_inner_lip as usize];
            [0, 1, 2].map(|k| 0.5 * (a[k] + b[k]))
        };
        let eye_y = 0.5 * (t[lm.left_eye_outer as usize][1] + t[lm.right_eye_outer as usize][1]);
        let chin_y = t[lm.chin as usize][1];
        let brow_y = template
            .regions
            .left_brow
            .iter()
            .map(|&i| t[i as usize][1])
            .sum::<f32>()
            / template.regions.left_brow.len() as f32;
        let lips = &template.regions.lips;
        let gauss = |d2: f32, r: f32| (-d2 / (2.0 * r * r)).exp();
        let out: Vec<[f32; 3]> = t
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let [mut x, mut y, mut z] = p;
                // Below the eyes, stretch away from the eye line.
                if y < eye_y {
                    y = eye_y + (y - eye_y) * self.lower_face_length;
                }
                // The jaw widens toward the chin.
                let below_mouth = ((mouth[1] - p[1]) / (mouth[1] - chin_y)).clamp(0.0, 1.0);
                x *= 1.0 + (self.jaw_width - 1.0) * below_mouth;
                z += self.chin_protrusion * cm * below_mouth * below_mouth;
                // Nose grows around its tip.
                let dn = [p[0] - nose[0], p[1] - nose[1], p[2] - nose[2]];
                let wn = gauss(dn[0] * dn[0] + dn[1] * dn[1] + dn[2] * dn[2], 1.6 * cm);
                x += (self.nose_size - 1.0) * dn[0] * wn;
                y += (self.nose_size - 1.0) * dn[1] * wn;
                z += (self.nose_size - 1.0) * dn[2] * wn;
                // Mouth width and lip fullness act around the mouth.
                let dm = [p[0] - mouth[0], p[1] - mouth[1], p[2] - mouth[2]];
                let wm = gauss(
                    dm[0] * dm[0] * 0.35 + dm[1] * dm[1] + dm[2] * dm[2],
                    1.2 * cm,
                );
                x += (self.mouth_width - 1.0) * dm[0] * wm;
                if lips.contains(&(i as u32)) || wm > 0.3 {
                    y += (self.lip_fullness - 1.0) * 0.25 * dm[1] * wm;
                    z += (self.lip_fullness - 1.0) * 0.15 * cm * wm;
                }
                // Brows.
                let wb = gauss((p[1] - brow_y) * (p[1] - brow_y), 1.0 * cm);
                y += self.brow_height * cm * wb;
                // Asymmetry: one side a little higher, growing outward.
                y += self.asymmetry * cm * (p[0] / (7.0 * cm)).clamp(-1.0, 1.0);
                x *= self.width;
                z = nose[2] + (z - nose[2]) * self.depth;
                [x * self.scale, y * self.scale, z * self.scale]
            })
            .collect();
        let mesh = template.mesh.with_vertices(out)?;
        Ok(seal_lips(
            &mesh,
            &template.regions,
            self.rest_lip_gap_mm * 1e-3,
        )?)
    }
}

/// Identity `id` of the world seeded `seed`: its neutral on `template` and the procedural ARKit
/// rig built on it. Every trainer, test and benchmark that needs faces goes through here, so
/// they all see the same identities.
pub fn identity_rig(seed: u64, id: u32, template: &FaceTemplate) -> Result<Rig, SynthError> {
    let neutral = IdentityParams::sample(seed, id).neutral(template)?;
    Ok(arkit_rig(&neutral, &template.regions)?)
}

// Kept beside `identity_rig` rather than in `world.rs`: it is the identity pool seen through
// the world's split rule.
impl WorldConfig {
    /// The rigs of this world's identities that belong to `split`, in identity order.
    pub fn identity_rigs(
        &self,
        split: Split,
        template: &FaceTemplate,
    ) -> Result<Vec<Rig>, SynthError> {
        (0..self.identities)
            .filter(|&id| self.identity_split(id) == split)
            .map(|id| identity_rig(self.seed, id, template))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_differ_and_repeat() {
        let t = FaceTemplate::mediapipe();
        let a = IdentityParams::sample(1, 0).neutral(&t).unwrap();
        let b = IdentityParams::sample(1, 1).neutral(&t).unwrap();
        let a2 = IdentityParams::sample(1, 0).neutral(&t).unwrap();
        assert_eq!(a, a2);
        let diff = a
            .vertices
            .iter()
            .zip(&b.vertices)
            .map(|(p, q)| {
                ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
            })
            .sum::<f32>()
            / a.vertices.len() as f32;
        assert!(
            diff > 0.001,
            "two identities differ by only {diff} m on average"
        );
        let gap = t.regions.inner_lip_gap(&a.vertices);
        assert!(gap < 0.0012, "rest gap {gap}");
    }

    #[test]
    fn split_rigs_are_the_identities_of_that_split() {
        let t = FaceTemplate::mediapipe();
        let world = WorldConfig {
            seed: 3,
            identities: 40,
            ..WorldConfig::default()
        };
        let mut total = 0;
        for split in Split::ALL {
            let rigs = world.identity_rigs(split, &t).unwrap();
            let ids: Vec<u32> = (0..40)
                .filter(|&i| world.identity_split(i) == split)
                .collect();
            assert_eq!(rigs.len(), ids.len());
            if let (Some(rig), Some(&id)) = (rigs.first(), ids.first()) {
                assert_eq!(rig, &identity_rig(3, id, &t).unwrap());
            }
            total += rigs.len();
        }
        assert_eq!(total, 40);
    }
}
