//! Geometry hot paths: rig evaluation, the ARKit solver, rendering, GLB export.

use criterion::{criterion_group, criterion_main, Criterion};
use m2f_mesh::{
    arkit_rig, glb_bytes, render, Animation, Camera, FaceTemplate, RenderOptions, RigSolver,
};

fn mesh(c: &mut Criterion) {
    let t = FaceTemplate::mediapipe();
    let rig = arkit_rig(&t.mesh, &t.regions).expect("rig");
    let mut w = vec![0.0f32; rig.num_blendshapes()];
    for (k, x) in w.iter_mut().enumerate() {
        *x = ((k * 37 % 11) as f32 / 10.0).min(1.0) * 0.5;
    }
    let v = rig.apply(&w).expect("apply");
    c.bench_function("arkit_rig build (468 vertices, 43 shapes)", |b| {
        b.iter(|| arkit_rig(&t.mesh, &t.regions).expect("rig"))
    });
    c.bench_function("rig apply (one frame)", |b| {
        b.iter(|| rig.apply(&w).expect("apply"))
    });
    let solver = RigSolver::new(&rig, 0.0).expect("solver");
    c.bench_function("rig solve (one frame)", |b| {
        b.iter(|| solver.solve(&v).expect("solve"))
    });
    let camera = Camera::framing_sized(&t.mesh.vertices, 256, 256);
    let opts = RenderOptions::default().with_face_fills(&t.regions);
    c.bench_function("render 256x256", |b| {
        b.iter(|| render(&v, &t.mesh.triangles, &camera, &opts).expect("render"))
    });
    let weights: Vec<Vec<f32>> = (0..300).map(|_| w.clone()).collect();
    let anim = Animation {
        rig: &rig,
        weights: &weights,
        poses: None,
        fps: 30.0,
    };
    c.bench_function("glb bytes (10 s at 30 fps)", |b| {
        b.iter(|| glb_bytes(&anim).expect("glb"))
    });
}

criterion_group!(benches, mesh);
criterion_main!(benches);
