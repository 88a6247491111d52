//! A GNPFA checkpoint directory of any content (`config.json`, `model.safetensors`): loading
//! it returns a model or an error, never panics or aborts. A model that loads runs: its
//! template has the config's vertex count, and the encoder, decoder and bridge take inputs of
//! the config's sizes and give outputs of the config's sizes.
//!
//! Input: 2 parts (`parts.rs`): `config.json`, then `model.safetensors`.
#![no_main]

use candle_core::{DType, Device, Tensor};
use gnpfa::{Gnpfa, GnpfaConfig, ImageEncoderConfig, Provenance, CONFIG_FILE, WEIGHTS_FILE};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use m2f_mesh::{FaceMesh, FaceRegions, FaceTemplate};

#[path = "parts.rs"]
mod parts;

/// A four-vertex face: every region and landmark of the MediaPipe template, remapped onto it.
fn tiny_template() -> FaceTemplate {
    let vertices = vec![
        [0.0, 0.0, 0.0],
        [0.01, 0.0, 0.0],
        [0.0, 0.01, 0.0],
        [0.01, 0.01, 0.005],
    ];
    let uvs = vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
    let mesh = FaceMesh::new(vertices, vec![[0, 1, 2], [1, 3, 2]], Some(uvs)).unwrap();
    let mut regions = serde_json::to_value(FaceTemplate::mediapipe().regions).unwrap();
    for (name, v) in regions.as_object_mut().unwrap() {
        if name == "landmarks" {
            for (i, (_, id)) in v.as_object_mut().unwrap().iter_mut().enumerate() {
                *id = (i % 4).into();
            }
        } else {
            *v = serde_json::json!([0, 1, 3]);
        }
    }
    let regions: FaceRegions = serde_json::from_value(regions).unwrap();
    FaceTemplate { mesh, regions }
}

fn tiny_config(image: bool) -> GnpfaConfig {
    let template = tiny_template();
    GnpfaConfig {
        num_vertices: 4,
        latent_dim: 2,
        encoder_hidden: vec![3],
        decoder_hidden: vec![3],
        identity_dim: 2,
        bridge_hidden: vec![3],
        num_blendshapes: 2,
        blendshape_names: vec!["jawOpen".into(), "mouthClose".into()],
        image: image.then(|| ImageEncoderConfig {
            image_size: 8,
            patch_size: 4,
            stage_channels: vec![2, 2],
            head_hidden: 2,
            ..ImageEncoderConfig::tiny(&template.mesh.vertices)
        }),
        ..GnpfaConfig::default()
    }
}

/// A checkpoint saved by the crate, as one input.
fn seed(image: bool) -> Vec<u8> {
    let tmp = parts::scratch_dir("gnpfa_checkpoint-seed").join("ckpt");
    let (model, varmap) =
        Gnpfa::init(&tiny_config(image), tiny_template(), &Device::Cpu, 0).unwrap();
    let provenance = Provenance {
        created_by: "m2f-fuzz".into(),
        step: 1,
        total_steps: 1,
        ..Provenance::default()
    };
    gnpfa::save_checkpoint(&tmp, &model, &varmap, &provenance, None).unwrap();
    Gnpfa::load(&tmp).expect("the seed loads");
    let config = std::fs::read(tmp.join(CONFIG_FILE)).unwrap();
    let weights = std::fs::read(tmp.join(WEIGHTS_FILE)).unwrap();
    std::fs::remove_dir_all(tmp.parent().unwrap()).unwrap();
    parts::join(&[&config, &weights])
}

fn check(model: &Gnpfa) {
    let c = &model.config;
    assert_eq!(model.template.mesh.num_vertices(), c.num_vertices);
    let dev = Device::Cpu;
    let v3 = c.num_vertices * 3;
    let zeros = |n: usize| Tensor::zeros((1, n), DType::F32, &dev).unwrap();
    let (mu, logvar) = model.encode(&zeros(v3)).expect("a loaded model encodes");
    assert_eq!(mu.dims(), &[1, c.latent_dim]);
    assert_eq!(logvar.dims(), &[1, c.latent_dim]);
    let d = model
        .decode(&zeros(v3), &mu)
        .expect("a loaded model decodes");
    assert_eq!(d.dims(), &[1, v3]);
    let z = model
        .weights_to_latent(&zeros(c.num_blendshapes))
        .expect("a loaded bridge maps weights");
    assert_eq!(z.dims(), &[1, c.latent_dim]);
    let w = model
        .latent_to_weights(&z)
        .expect("a loaded bridge maps latents");
    assert_eq!(w.dims(), &[1, c.num_blendshapes]);
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(&out, &[("geometry", seed(false)), ("image", seed(true))]);
        }
    },
    |data: &[u8]| {
        let p = parts::split(data, 2);
        let dir = parts::scratch("gnpfa_checkpoint");
        parts::put(dir, CONFIG_FILE, p[0]);
        parts::put(dir, WEIGHTS_FILE, p[1]);
        if let Ok(model) = Gnpfa::load(dir) {
            check(&model);
        }
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    parts::mutate(data, size, max_size, seed, 2)
});
