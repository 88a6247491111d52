//! Bytes of any content as an audio file: decoding returns finite 16 kHz samples or an error
//! naming the origin, never panics or aborts. The first byte picks the extension hint, so
//! every container's probe path is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;

const HINTS: [Option<&str>; 8] = [
    None,
    Some("wav"),
    Some("mp3"),
    Some("flac"),
    Some("ogg"),
    Some("m4a"),
    Some("mp4"),
    Some("aac"),
];

#[path = "parts.rs"]
mod parts;

fuzz_target!(|data: &[u8]| {
    // `read_audio_bytes` catches a panic inside symphonia and returns it as an error.
    parts::allow_caught_panics_from(&["symphonia"]);
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let hint = HINTS[first as usize % HINTS.len()];
    match conditioning::read_audio_bytes(bytes, hint) {
        Ok(audio) => {
            assert!(!audio.samples.is_empty());
            assert!(audio.samples.iter().all(|s| s.is_finite()));
            assert!(audio.concealed_seconds >= 0.0);
        }
        Err(e) => assert!(e.to_string().contains("<memory>"), "{e}"),
    }
});
