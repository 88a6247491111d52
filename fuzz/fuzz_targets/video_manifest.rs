//! A video manifest (`m2f extract video --manifest`) of any content: `VideoManifest::read`
//! returns a manifest or an error naming the file, never panics or aborts. A manifest that
//! reads lists at least one clip, its ids are unique, every clip has one face source, and
//! every `neutral_clip` names another clip of the same speaker that takes no neutral itself,
//! on a line without `neutral_frame`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use m2f_dataset::VideoManifest;

#[path = "parts.rs"]
mod parts;

const FILE: &str = "videos.jsonl";

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "sources",
            br#"{"id": "alice_001", "video": "v/alice_001.mp4", "split": "train", "emotion": "happy", "intensity": "medium", "speaker": "alice", "style": "Cheerful.", "tags": ["studio"]}
{"id": "bob_007", "landmarks": "t/bob_007.jsonl", "video": "v/bob_007.mp4", "fps": 25}
{"id": "carol_3", "frames": "f/carol_3", "fps": 25, "audio": "a/carol_3.wav", "neutral_frame": 4}
"#
            .to_vec(),
        ),
        (
            "neutral_clip",
            br#"{"id": "rest", "video": "rest.mp4", "speaker": "dan"}
{"id": "surprised", "video": "s.mp4", "speaker": "dan", "emotion": "surprised", "intensity": "high", "neutral_clip": "rest"}
"#
            .to_vec(),
        ),
    ]
}

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = parts::scratch_dir("video_manifest");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(FILE)
    })
}

fuzz_target!(
    init: {
        if let Some(out) = parts::seed_dir() {
            parts::write_seeds_and_exit(&out, &seeds());
        }
    },
    |data: &[u8]| {
        let path = path();
        std::fs::write(path, data).unwrap();
        match VideoManifest::read(path) {
            Ok(m) => {
                assert!(!m.entries.is_empty());
                for (i, e) in m.entries.iter().enumerate() {
                    assert!(m.entries[..i].iter().all(|o| o.id != e.id), "{} twice", e.id);
                    let sources = [&e.video, &e.landmarks, &e.frames]
                        .iter()
                        .filter(|s| s.is_some())
                        .count();
                    assert!(sources >= 1, "{} has no face source", e.id);
                    if let Some(n) = &e.neutral_clip {
                        let other = m.entries.iter().find(|o| &o.id == n).expect("listed");
                        assert!(other.id != e.id && other.neutral_clip.is_none());
                        assert!(e.neutral_frame.is_none(), "{} has both neutrals", e.id);
                        let speaker = |o: &m2f_dataset::VideoManifestEntry| {
                            o.speaker.clone().unwrap_or_else(|| o.id.clone())
                        };
                        assert_eq!(speaker(other), speaker(e));
                    }
                }
            }
            Err(e) => assert!(e.to_string().contains(FILE), "{e}"),
        }
    }
);
