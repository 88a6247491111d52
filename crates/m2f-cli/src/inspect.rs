//! `m2f inspect DIR`: what a checkpoint holds.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::Device;
use gnpfa::read_checkpoint;
use gnpfa::Gnpfa;

pub fn run(dir: &Path) -> Result<()> {
    let (config, tensors, path) = read_checkpoint(dir, &Device::Cpu)
        .with_context(|| format!("reading the checkpoint {}", dir.display()))?;
    println!("checkpoint {}", dir.display());
    println!(
        "format {} v{}, architecture {}",
        config.format, config.format_version, config.architecture
    );
    println!(
        "model config:\n{}",
        serde_json::to_string_pretty(&config.model)?
    );
    let t = &config.template;
    println!(
        "template: fingerprint {}, {} vertices, {} triangles, {} regions ({}), {} landmarks",
        t.fingerprint,
        t.num_vertices,
        t.num_triangles,
        t.regions.len(),
        t.regions.join(", "),
        t.landmarks.len()
    );
    println!(
        "provenance:\n{}",
        serde_json::to_string_pretty(&config.provenance)?
    );
    if let Some(image) = &config.image_provenance {
        println!(
            "image encoders provenance:\n{}",
            serde_json::to_string_pretty(image)?
        );
    }
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut params = 0usize;
    println!("tensors ({} in {}):", names.len(), path.display());
    for name in names {
        let x = &tensors[name];
        if !name.starts_with("template.") {
            params += x.elem_count();
        }
        println!("  {name:<40} {:?} {:?}", x.dtype(), x.dims());
    }
    println!("trainable parameters: {params}");
    let model = Gnpfa::load(dir).with_context(|| format!("loading {}", dir.display()))?;
    println!(
        "loads: yes ({} vertices, latent {}, {} blendshapes, image encoders: {})",
        model.config.num_vertices,
        model.config.latent_dim,
        model.config.num_blendshapes,
        match &model.image {
            Some(enc) => format!("{0}×{0} crops", enc.config.image_size),
            None => "none".into(),
        }
    );
    for name in ["eval.json", "eval_images.json"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            println!("{name}:\n{}", text.trim_end());
        }
    }
    Ok(())
}
