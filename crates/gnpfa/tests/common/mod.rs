//! Fixtures shared by the gnpfa tests.

use m2f_mesh::{FaceTemplate, Rig};
use m2f_synth::identity_rig;

/// The first `n` identities of synthetic world 1, each with its own ARKit rig.
pub fn rigs(n: u32) -> Vec<Rig> {
    let template = FaceTemplate::mediapipe();
    (0..n)
        .map(|id| identity_rig(1, id, &template).unwrap())
        .collect()
}
