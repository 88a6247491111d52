//! Fixtures shared by the gnpfa tests.

use m2f_mesh::{arkit_rig, FaceTemplate, Rig};
use m2f_synth::identity::IdentityParams;

/// The first `n` identities of synthetic world 1, each with its own ARKit rig.
pub fn rigs(n: u32) -> Vec<Rig> {
    let template = FaceTemplate::mediapipe();
    (0..n)
        .map(|id| {
            let neutral = IdentityParams::sample(1, id).neutral(&template).unwrap();
            arkit_rig(&neutral, &template.regions).unwrap()
        })
        .collect()
}
