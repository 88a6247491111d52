//! Whisper features through the dataset's encoder specs (`--audio-features whisper:...`),
//! from the CTranslate2 tiny.en that `scripts/test.sh` fetches (`M2F_WHISPER_CT2_DIR`).

mod common;

use candle_core::Device;
use m2f_dataset::AudioFeatures;

#[test]
fn whisper_spec_from_a_ctranslate2_directory() {
    let dir = common::ct2_dir();
    let padded = AudioFeatures::load(&format!("whisper:{}", dir.display()), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{e} (run scripts/test.sh, which fetches Whisper tiny.en)"));
    let exact =
        AudioFeatures::load(&format!("whisper:{}#exact", dir.display()), &Device::Cpu).unwrap();
    assert_eq!(padded.info().kind, "whisper");
    assert_eq!(padded.info().dim, 384);
    // The policy is part of the key: features of one are never read as the other's.
    assert_ne!(padded.info().key(), exact.info().key());
    let audio: Vec<f32> = (0..16_000).map(|i| 0.2 * (i as f32 * 0.07).sin()).collect();
    assert_eq!(padded.compute(&audio, 30.0).unwrap().len(), 30 * 384);

    let err = AudioFeatures::load(&format!("whisper:{}#sideways", dir.display()), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--audio-features") && err.contains("#exact"),
        "{err}"
    );
}
