//! Bytes of any content as an audio file: decoding returns finite 16 kHz samples or an error
//! naming the origin, never panics or aborts. The first byte picks the extension hint, so
//! every container's probe path is reached.
#![no_main]

use std::sync::Once;

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

static QUIET_DECODER_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // `read_audio_bytes` catches a panic inside symphonia and returns it as an error, which
    // is the behaviour under test; libFuzzer's hook would abort on it first. Any other panic
    // still reaches that hook.
    QUIET_DECODER_PANICS.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info
                .location()
                .is_some_and(|l| l.file().contains("symphonia"))
            {
                fuzzer_hook(info);
            }
        }));
    });
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
