//! A bundle's `media2face.json` of any content: `BundleManifest::read` returns a manifest or an
//! error naming the file, never panics or aborts. A manifest that reads is of this format and
//! version, and writes back to the same manifest.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use media2face::{BundleManifest, Guidance, BUNDLE_FORMAT, MANIFEST_FILE};

#[path = "parts.rs"]
mod parts;

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let plain = BundleManifest {
        format: BUNDLE_FORMAT.into(),
        format_version: 1,
        gnpfa: "gnpfa".into(),
        denoiser: "diffusion".into(),
        audio_encoder: "whisper-tiny.en".into(),
        emotions: "emotions.safetensors".into(),
        text_encoder: "sentence-transformers/all-MiniLM-L6-v2".into(),
        guidance: None,
    };
    let guided = BundleManifest {
        guidance: Some(Guidance::default()),
        ..plain.clone()
    };
    vec![
        // The default bundle's manifest, as shipped.
        (
            "weights",
            include_bytes!("../../weights/media2face.json").to_vec(),
        ),
        ("plain", serde_json::to_vec(&plain).unwrap()),
        ("guided", serde_json::to_vec_pretty(&guided).unwrap()),
    ]
}

fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = parts::scratch_dir("bundle_manifest");
        let (read, written) = (base.join("read"), base.join("written"));
        std::fs::create_dir_all(&read).unwrap();
        std::fs::create_dir_all(&written).unwrap();
        (read, written)
    })
}

fn round_trip(manifest: &BundleManifest, dir: &Path) {
    manifest.write(dir).expect("a manifest that reads writes");
    assert_eq!(
        &BundleManifest::read(dir).expect("a written manifest reads"),
        manifest
    );
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(&out, &seeds());
        }
    },
    |data: &[u8]| {
        let (read, written) = dirs();
        parts::put(read, MANIFEST_FILE, data);
        match BundleManifest::read(read) {
            Ok(manifest) => {
                assert_eq!(manifest.format, BUNDLE_FORMAT);
                assert_eq!(manifest.format_version, 1);
                round_trip(&manifest, written);
            }
            Err(e) => assert!(e.to_string().contains(MANIFEST_FILE), "{e}"),
        }
    }
);
