//! How far the procedural ARKit rig moves the face, in millimetres: for every blendshape at
//! weight 1, and for every emotion's static face at high intensity (as the world animates it,
//! with the mouth at rest and no blink). These are the numbers the rig's shapes are calibrated
//! against (real faces: see the documentation of `m2f_mesh::arkit_rig`).
//!
//! `cargo run --release -p m2f-synth --example rig_magnitudes [-- WORLD_SEED ID ID …]`
//! (by default the canonical face and identities 0 and 1 of world 1).
//!
//! Per blendshape it prints the largest vertex displacement, the mean over the shape's region
//! (the vertices that move at least 10 % of that largest displacement) and the region's size,
//! then the largest displacement within each named part of the face. The parts are fixed
//! vertex sets of the MediaPipe topology:
//!
//! - brows: MediaPipe's eyebrow contours;
//! - upper / lower lid: the eyelid contours without the eye corners;
//! - cheek: vertices within 1.5 cm of the cheek's apple below the eye (119 / 348) or of the
//!   cheek beside the nose–mouth fold (205 / 425);
//! - corners: the two mouth corners (61 / 291);
//! - nose: vertices within 1 cm of the nostril wings (235 / 455), the lips excluded.

use m2f_mesh::{arkit_rig, FaceRegions, FaceTemplate, Rig};
use m2f_synth::identity_rig;
use m2f_synth::Articulation;
use m2f_synth::FaceAnimator;
use m2f_synth::{Emotion, Intensity};

/// A named set of vertices the displacements are read on.
struct Part {
    name: &'static str,
    vertices: Vec<u32>,
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Vertices within `radius` metres of any of `centres` (vertex indices), minus `exclude`.
fn near(v: &[[f32; 3]], centres: &[u32], radius: f32, exclude: &[u32]) -> Vec<u32> {
    (0..v.len() as u32)
        .filter(|i| !exclude.contains(i))
        .filter(|&i| {
            centres
                .iter()
                .any(|&c| dist(v[i as usize], v[c as usize]) <= radius)
        })
        .collect()
}

fn parts(template: &FaceTemplate) -> Vec<Part> {
    let r: &FaceRegions = &template.regions;
    let v = &template.mesh.vertices;
    let inner = |c: &[u32]| c[1..c.len() - 1].to_vec();
    vec![
        Part {
            name: "brows",
            vertices: [r.left_brow.clone(), r.right_brow.clone()].concat(),
        },
        Part {
            name: "upper lid",
            vertices: [inner(&r.left_upper_eyelid), inner(&r.right_upper_eyelid)].concat(),
        },
        Part {
            name: "lower lid",
            vertices: [inner(&r.left_lower_eyelid), inner(&r.right_lower_eyelid)].concat(),
        },
        Part {
            name: "cheek",
            vertices: near(v, &[119, 348, 205, 425], 0.015, &r.lips),
        },
        Part {
            name: "corners",
            vertices: vec![
                r.landmarks.mouth_corner_left,
                r.landmarks.mouth_corner_right,
            ],
        },
        Part {
            name: "nose",
            vertices: near(v, &[235, 455], 0.01, &r.lips),
        },
    ]
}

fn norm(d: [f32; 3]) -> f32 {
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Largest displacement over `idx`, mm.
fn max_over(d: &[[f32; 3]], idx: &[u32]) -> f32 {
    1e3 * idx.iter().map(|&i| norm(d[i as usize])).fold(0.0, f32::max)
}

fn header(parts: &[Part]) {
    print!("{:<20} {:>7} {:>7} {:>5} |", "", "max mm", "mean mm", "n");
    for p in parts {
        print!(" {:>9}", p.name);
    }
    println!();
}

/// One row: largest, region mean and region size, then the largest per part.
fn row(name: &str, d: &[[f32; 3]], parts: &[Part]) {
    let mags: Vec<f32> = d.iter().map(|p| norm(*p)).collect();
    let peak = mags.iter().copied().fold(0.0, f32::max);
    let region: Vec<f32> = mags.iter().copied().filter(|m| *m >= 0.1 * peak).collect();
    let mean = region.iter().sum::<f32>() / region.len().max(1) as f32;
    print!(
        "{:<20} {:>7.2} {:>7.2} {:>5} |",
        name,
        1e3 * peak,
        1e3 * mean,
        region.len()
    );
    for p in parts {
        print!(" {:>9.2}", max_over(d, &p.vertices));
    }
    println!();
}

fn report(title: &str, rig: &Rig, parts: &[Part]) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n## {title}: blendshapes at weight 1\n");
    header(parts);
    for (k, name) in rig.names().iter().enumerate() {
        row(name, rig.delta(k), parts);
    }
    println!("\n## {title}: emotions at high intensity (mouth at rest, no blink)\n");
    header(parts);
    let neutral = &rig.neutral().vertices;
    for e in Emotion::ALL {
        let animator = FaceAnimator::new(rig, e, Intensity::High)?;
        let w = animator.weights(&Articulation::default(), 0.0, 0.0);
        let v = rig.apply(&w)?;
        let d: Vec<[f32; 3]> = v
            .iter()
            .zip(neutral)
            .map(|(a, b)| [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
            .collect();
        row(e.name(), &d, parts);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = match args.first() {
        Some(s) => s.parse()?,
        None => 1,
    };
    let ids: Vec<u32> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![0, 1]
    };
    let template = FaceTemplate::mediapipe();
    let parts = parts(&template);
    let canonical = arkit_rig(&template.mesh, &template.regions)?;
    report("canonical face", &canonical, &parts)?;
    for id in ids {
        let rig = identity_rig(seed, id, &template)?;
        report(&format!("world {seed}, identity {id}"), &rig, &parts)?;
    }
    Ok(())
}
