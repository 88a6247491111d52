//! Reads rendered face crops of held-out identities with `E_exp` / `E_pose` and draws each
//! crop beside the estimate (the decoded expression, posed by the estimated pose, rendered in
//! the same light): a picture of what the image encoders get right and wrong.
//!
//! `cargo run --release -p gnpfa --example image_roundtrip -- weights/gnpfa out/roundtrip.png`

use std::path::PathBuf;

use gnpfa::Gnpfa;
use gnpfa::{flat_neutral, mirror_partners, rig_rows};
use gnpfa::{render_crop, RenderRanges};
use m2f_mesh::write_png;
use m2f_synth::Split;
use m2f_synth::WorldConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "weights/gnpfa".into()));
    let out = PathBuf::from(args.next().unwrap_or_else(|| "out/roundtrip.png".into()));
    let model = Gnpfa::load(&dir)?;
    let enc = model
        .image
        .as_ref()
        .ok_or("the checkpoint has no image encoders")?;
    let template = &model.template;
    let world = WorldConfig {
        seed: 1,
        ..WorldConfig::default()
    };
    let mut rigs = world.identity_rigs(Split::Test, template)?;
    rigs.truncate(8);
    let neutrals: Vec<Vec<f32>> = rigs.iter().map(flat_neutral).collect();
    let partners = mirror_partners(&model.config.blendshape_names);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let rows = rig_rows(&rigs, &neutrals, 8, &partners, &mut rng)?;
    let ranges = RenderRanges::default();
    let v3 = template.mesh.num_vertices() * 3;
    let s = enc.config.image_size as u32;
    let mut grid = image::RgbImage::new(4 * s, 4 * s);
    for i in 0..rows.len {
        let neutral = &rows.neutral[i * v3..(i + 1) * v3];
        let pose = ranges.sample_pose(&mut rng);
        let look = ranges.sample_appearance(&mut rng, template);
        let crop = render_crop(
            template,
            &enc.config,
            neutral,
            &rows.displacement[i * v3..(i + 1) * v3],
            &pose,
            &look,
        )?;
        let est = &model.encode_images(&[&crop])?[0];
        let n: Vec<[f32; 3]> = neutral
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        let mesh = &model.decode_frames(&n, std::slice::from_ref(&est.latent))?[0];
        let d: Vec<f32> = mesh
            .iter()
            .zip(&n)
            .flat_map(|(v, n)| [v[0] - n[0], v[1] - n[1], v[2] - n[2]])
            .collect();
        let back = render_crop(template, &enc.config, neutral, &d, &est.pose, &look)?;
        let (x, y) = ((i as u32 % 2) * 2 * s, (i as u32 / 2) * s);
        image::imageops::replace(&mut grid, &crop, x as i64, y as i64);
        image::imageops::replace(&mut grid, &back, (x + s) as i64, y as i64);
        println!(
            "crop {i}: rotation error {:.2}°",
            pose.rotation_distance(&est.pose).to_degrees()
        );
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_png(&out, &grid)?;
    println!("wrote {} (each pair: crop, then estimate)", out.display());
    Ok(())
}
