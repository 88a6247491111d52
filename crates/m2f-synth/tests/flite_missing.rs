//! Without libflite, asking for Flite is an error that says how to install it, never a quiet
//! fall-back to espeak-ng. A test binary of its own: the library is looked for once per
//! process, and here it must be looked for where it is not.

use m2f_synth::{Engine, Flite, Speech, SynthError};

#[test]
fn a_missing_libflite_names_the_package_to_install() {
    let empty = tempfile::tempdir().unwrap();
    // Set before anything in this process loads Flite (this is the binary's only test).
    std::env::set_var(m2f_synth::FLITE_LIB_DIR_ENV, empty.path());
    let err = Flite::load().unwrap_err();
    assert!(matches!(err, SynthError::FliteMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("apt-get install libflite1"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
    let err = Speech::load(&Engine::ALL).unwrap_err();
    assert!(matches!(err, SynthError::FliteMissing { .. }), "{err:?}");
    // espeak-ng alone still works when that is what is asked for.
    let speech = Speech::load(&[Engine::EspeakNg]).unwrap();
    assert_eq!(speech.engines(), [Engine::EspeakNg]);
}
