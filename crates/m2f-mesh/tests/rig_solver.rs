//! The ARKit solver recovers the weights that made a frame.

use m2f_mesh::{arkit_rig, FaceTemplate, RigSolver};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_weights(rng: &mut ChaCha8Rng, k: usize) -> Vec<f32> {
    // Expressions are sparse: most weights sit at exactly 0, some at the upper bound.
    (0..k)
        .map(|_| match rng.random_range(0..10) {
            0..=4 => 0.0,
            5 => 1.0,
            _ => rng.random_range(0.0..1.0),
        })
        .collect()
}

#[test]
fn round_trip_recovers_random_weights() {
    let t = FaceTemplate::mediapipe();
    let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
    let solver = RigSolver::new(&rig, 0.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut worst, mut sum, mut n) = (0.0f32, 0.0f32, 0usize);
    let mut worst_vertex = 0.0f32;
    for _ in 0..200 {
        let w = random_weights(&mut rng, rig.num_blendshapes());
        let v = rig.apply(&w).unwrap();
        let back = solver.solve(&v).unwrap();
        for (a, b) in w.iter().zip(&back) {
            let e = (a - b).abs();
            worst = worst.max(e);
            sum += e;
            n += 1;
        }
        let v2 = rig.apply(&back).unwrap();
        for (p, q) in v.iter().zip(&v2) {
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            worst_vertex = worst_vertex.max(d);
        }
    }
    println!(
        "rig round trip over 200 random frames: mean |Δw| {:.2e}, max |Δw| {:.2e}, max vertex error {:.2e} m",
        sum / n as f32,
        worst,
        worst_vertex
    );
    assert!(worst < 5e-3, "max weight error {worst}");
    assert!(worst_vertex < 1e-6, "max vertex error {worst_vertex}");
}

#[test]
fn weights_stay_in_bounds_for_out_of_rig_targets() {
    let t = FaceTemplate::mediapipe();
    let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
    let solver = RigSolver::new(&rig, 0.0).unwrap();
    let mut w = vec![0.0; rig.num_blendshapes()];
    w[rig.index_of("jawOpen").unwrap()] = 1.8;
    w[rig.index_of("mouthSmileLeft").unwrap()] = -0.5;
    let v = rig.apply(&w).unwrap();
    let back = solver.solve(&v).unwrap();
    assert!(back.iter().all(|&x| (0.0..=1.0).contains(&x)));
    assert!((back[rig.index_of("jawOpen").unwrap()] - 1.0).abs() < 1e-6);
}

#[test]
fn wrong_vertex_count_is_a_clear_error() {
    let t = FaceTemplate::mediapipe();
    let rig = arkit_rig(&t.mesh, &t.regions).unwrap();
    let solver = RigSolver::new(&rig, 0.0).unwrap();
    let err = solver.solve(&[[0.0; 3]; 10]).unwrap_err().to_string();
    assert!(
        err.contains("expected 468") && err.contains("got 10"),
        "{err}"
    );
}
