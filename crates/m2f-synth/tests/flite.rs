//! Tests against the real libflite and its voices (installed here and in CI by scripts/test.sh;
//! they fail, not skip, without them), and of the world speaking through both engines.

use m2f_mesh::FaceTemplate;
use m2f_synth::CLIP_FORMAT_VERSION;
use m2f_synth::FLITE_SHARE;
use m2f_synth::{engine_voices_of, Split};
use m2f_synth::{ipa_of_phone, FLITE_ENGINE_VOICES};
use m2f_synth::{visemes_of, Viseme};
use m2f_synth::{
    Clip, Engine, Espeak, Flite, FliteSettings, Speech, SpeechSettings, SynthError, Utterance,
    VoiceSettings, WorldConfig,
};

fn flite() -> &'static Flite {
    match Flite::load() {
        Ok(f) => f,
        Err(e) => panic!("these tests need libflite: {e}"),
    }
}

fn with(voice: &str) -> FliteSettings {
    FliteSettings {
        voice: voice.to_owned(),
        ..Default::default()
    }
}

fn say(text: &str, settings: &FliteSettings) -> Utterance {
    flite()
        .synthesize(text, settings)
        .unwrap_or_else(|e| panic!("synthesising {text:?} with {settings:?}: {e}"))
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Structural invariants every Flite utterance must satisfy.
fn check_invariants(u: &Utterance, voice: &str) {
    let info = FLITE_ENGINE_VOICES
        .iter()
        .find(|v| v.name == voice)
        .unwrap();
    assert_eq!(u.sample_rate, info.sample_rate, "{voice}");
    assert!(!u.phonemes.is_empty());
    assert!(u.samples.iter().all(|s| (-1.0..=1.0).contains(s)));
    assert_eq!(
        u.phonemes[0].start, 0,
        "Flite's first pause starts the audio"
    );
    for pair in u.phonemes.windows(2) {
        assert!(pair[0].start <= pair[0].end, "{:?}", pair[0]);
        assert_eq!(pair[0].end, pair[1].start, "phonemes must tile the audio");
    }
    assert_eq!(u.phonemes.last().map(|p| p.end), Some(u.samples.len()));
    for pair in u.words.windows(2) {
        assert!(pair[0].start <= pair[1].start);
    }
    let ipa: Vec<&str> = VOICES_IPA.to_vec();
    for p in &u.phonemes {
        assert!(
            ipa.contains(&p.ipa.as_str()),
            "{:?} is no mapped phone",
            p.ipa
        );
        if let Some(w) = p.word {
            assert!(w < u.words.len());
            assert!(!p.ipa.is_empty(), "pauses belong to no word");
        }
    }
}

/// Every IPA string the phone table maps to.
const VOICES_IPA: &[&str] = &[
    "ɑ", "æ", "ʌ", "ɔ", "aʊ", "ə", "ɚ", "aɪ", "b", "tʃ", "d", "ð", "ɾ", "ɛ", "əl", "əm", "ən", "ɝ",
    "eɪ", "f", "ɡ", "h", "ɪ", "i", "dʒ", "k", "l", "m", "n", "ŋ", "oʊ", "ɔɪ", "p", "ɹ", "s", "ʃ",
    "t", "θ", "ʊ", "u", "v", "w", "j", "z", "ʒ", "",
];

#[test]
fn every_voice_times_its_phones_across_the_audio() {
    let text = "The quick brown fox jumps over the lazy dog.";
    let expected: Vec<&str> = text.trim_end_matches('.').split(' ').collect();
    for v in FLITE_ENGINE_VOICES {
        let u = say(text, &with(v.name));
        check_invariants(&u, v.name);
        let secs = u.duration_s();
        assert!((1.0..6.0).contains(&secs), "{}: {secs} s", v.name);
        assert!(rms(&u.samples) > 0.01, "{}: audio is silent", v.name);
        let words: Vec<&str> = u.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, expected, "{}", v.name);
        let owners: Vec<usize> = u.phonemes.iter().filter_map(|p| p.word).collect();
        assert!(owners.windows(2).all(|w| w[0] <= w[1]));
        for i in 0..u.words.len() {
            assert!(owners.contains(&i), "{}: word {i} has no phones", v.name);
        }
        // Speech takes most of the audio; the pauses at either end are short.
        let speech: usize = u
            .phonemes
            .iter()
            .filter(|p| !p.ipa.is_empty())
            .map(|p| p.end - p.start)
            .sum();
        assert!(
            speech as f64 > 0.6 * u.samples.len() as f64,
            "{}: {speech} of {} samples are speech",
            v.name,
            u.samples.len()
        );
    }
}

#[test]
fn tokens_are_words_as_written() {
    // A token spoken as several words ("42nd", "It's") is one word, as espeak-ng has it.
    let u = say("It's Bob's 42nd map, isn't it?", &with("cmu_us_kal16"));
    check_invariants(&u, "cmu_us_kal16");
    let words: Vec<&str> = u.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, ["It's", "Bob's", "42nd", "map", "isn't", "it"]);
}

#[test]
fn every_phone_of_every_voice_is_mapped() {
    for v in FLITE_ENGINE_VOICES {
        let phones = flite().phones(v.name).unwrap();
        assert_eq!(phones.len(), 50, "{}: {phones:?}", v.name);
        for p in &phones {
            let ipa = ipa_of_phone(p).unwrap_or_else(|| panic!("{}: no IPA for {p:?}", v.name));
            assert!(!visemes_of(ipa).is_empty());
        }
    }
    // And what the voices actually say stays inside that table, over text that uses most of
    // the phone set.
    let text = "Joy and pleasure: the quick brown fox jumps over the lazy dog. Thirty \
                thousand, three hundred and sixty-six ships! Hush, a wrinkled church witch \
                judges bottles, buttons, the winner, the writer, garage and vision; \
                ahoy, cow, boy, book, bird, butter, rhythm, button, little.";
    let mut seen = std::collections::BTreeSet::new();
    for v in FLITE_ENGINE_VOICES {
        let u = say(text, &with(v.name));
        check_invariants(&u, v.name);
        seen.extend(u.phonemes.iter().map(|p| p.ipa.clone()));
    }
    assert!(
        seen.len() >= 38,
        "only {} distinct phones: {seen:?}",
        seen.len()
    );
}

#[test]
fn bob_closes_the_lips_during_both_bs() {
    let template = FaceTemplate::mediapipe();
    let world = WorldConfig::default();
    for v in FLITE_ENGINE_VOICES {
        let u = say("Bob.", &with(v.name));
        check_invariants(&u, v.name);
        let ipa: Vec<&str> = u.phonemes.iter().map(|p| p.ipa.as_str()).collect();
        assert_eq!(ipa, ["", "b", "ɑ", "b", ""], "{}", v.name);
        assert_eq!(visemes_of(ipa[1]), [Viseme::Bilabial]);
        // The closure is quiet and the vowel loud in the audio itself, where the phones say:
        // the timings match the sound. (Flite's clustergen voices let a vowel run on into a
        // final /b/, so the quietest 20 ms of each /b/ are compared, not its middle.)
        let vowel = {
            let p = &u.phonemes[2];
            let q = (p.end - p.start) / 4;
            rms(&u.samples[p.start + q..p.end - q])
        };
        let window = u.sample_rate as usize / 50;
        for b in [&u.phonemes[1], &u.phonemes[3]] {
            let closure = u.samples[b.start..b.end]
                .windows(window)
                .step_by(window / 4)
                .map(rms)
                .fold(f32::INFINITY, f32::min);
            assert!(
                closure < 0.25 * vowel,
                "{}: /b/ at {}..{} is never quieter than RMS {closure:.4}, the vowel {vowel:.4}",
                v.name,
                b.start,
                b.end
            );
        }
        // Animated, the lips meet in the middle of each /b/.
        let mut plan = world.plan(0).unwrap();
        plan.text = "Bob.".to_owned();
        plan.voice = SpeechSettings::Flite(with(v.name));
        let clip = world.animate(&plan, &u, &template).unwrap();
        let fps = clip.meta.fps;
        for b in clip.meta.phonemes.iter().filter(|p| p.ipa == "b") {
            let mid = 0.5 * (b.start + b.end);
            let frame = ((mid * fps).round() as usize).min(clip.num_frames() - 1);
            let gap = template.regions.inner_lip_gap(clip.frame(frame));
            assert!(
                gap < 0.001,
                "{}: lips {:.2} mm apart at {mid:.3} s",
                v.name,
                gap * 1e3
            );
        }
    }
}

#[test]
fn synthesis_is_deterministic() {
    let text = "Maybe the big apple, please. Bob bought a map!";
    for voice in ["cmu_us_slt", "cmu_us_kal"] {
        let settings = FliteSettings {
            voice: voice.to_owned(),
            rate: 1.2,
            pitch: 0.9,
            pitch_range: 1.4,
            volume: 0.8,
        };
        let a = say(text, &settings);
        // Other voices, texts and settings in between must leave no trace.
        say("Another sentence entirely.", &with("cmu_us_awb"));
        say(
            text,
            &FliteSettings {
                rate: 0.6,
                pitch: 1.8,
                ..with(voice)
            },
        );
        let b = say(text, &settings);
        say("Quiet, please.", &with("cmu_us_rms"));
        let c = say(text, &settings);
        assert_eq!(a, b, "{voice}");
        assert_eq!(a, c, "{voice}");
    }
}

#[test]
fn both_engines_in_parallel_match_sequential_runs() {
    // The clustergen voices and the breathy espeak-ng variants both draw on the C library's
    // rand(): only one lock for both engines keeps them from consuming each other's numbers.
    let speech = Speech::load_all().unwrap();
    let jobs: Vec<(&str, SpeechSettings)> = vec![
        (
            "Peter picked a peck of pickled peppers.",
            SpeechSettings::Flite(with("cmu_us_slt")),
        ),
        (
            "The rain in Spain stays mainly in the plain.",
            SpeechSettings::EspeakNg(VoiceSettings {
                voice: "en-us+f3".into(),
                ..Default::default()
            }),
        ),
        ("One two three.", SpeechSettings::Flite(with("cmu_us_awb"))),
        (
            "Quiet, please!",
            SpeechSettings::EspeakNg(VoiceSettings {
                voice: "en+f5".into(),
                ..Default::default()
            }),
        ),
    ];
    let sequential: Vec<Utterance> = jobs
        .iter()
        .map(|(t, s)| speech.synthesize(t, s).unwrap())
        .collect();
    let parallel: Vec<Utterance> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(t, s)| {
                let speech = &speech;
                scope.spawn(move || {
                    (0..3)
                        .map(|_| speech.synthesize(t, s).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("synthesis thread panicked"))
            .map(|mut runs| {
                let first = runs.remove(0);
                assert!(runs.iter().all(|r| *r == first));
                first
            })
            .collect()
    });
    assert!(sequential == parallel, "parallel synthesis differs");
}

#[test]
fn settings_change_the_audio() {
    let text = "Settings matter a great deal.";
    let base = say(text, &with("cmu_us_slt"));
    let slow = say(
        text,
        &FliteSettings {
            rate: 0.6,
            ..with("cmu_us_slt")
        },
    );
    check_invariants(&slow, "cmu_us_slt");
    assert!(
        slow.samples.len() > base.samples.len() * 3 / 2,
        "{} vs {}",
        slow.samples.len(),
        base.samples.len()
    );
    let high = say(
        text,
        &FliteSettings {
            pitch: 1.4,
            ..with("cmu_us_slt")
        },
    );
    // Same timing, other sound.
    assert_eq!(high.phonemes, base.phonemes);
    assert_ne!(high.samples, base.samples);
    let flat = say(
        text,
        &FliteSettings {
            pitch_range: 0.0,
            ..with("cmu_us_slt")
        },
    );
    assert_ne!(flat.samples, base.samples);
    let quiet = say(
        text,
        &FliteSettings {
            volume: 0.25,
            ..with("cmu_us_slt")
        },
    );
    assert!((rms(&quiet.samples) - 0.25 * rms(&base.samples)).abs() < 1e-3);
    // The diphone voice takes rate and pitch too.
    let kal = say(text, &with("cmu_us_kal"));
    let kal_fast = say(
        text,
        &FliteSettings {
            rate: 1.5,
            pitch: 1.3,
            ..with("cmu_us_kal")
        },
    );
    assert!(kal_fast.samples.len() < kal.samples.len() * 4 / 5);
}

#[test]
fn unknown_voice_and_bad_text_are_errors() {
    let err = flite()
        .synthesize("Hello.", &with("cmu_us_nobody"))
        .unwrap_err();
    match &err {
        SynthError::UnknownFliteVoice { voice, known } => {
            assert_eq!(voice, "cmu_us_nobody");
            assert_eq!(known.len(), FLITE_ENGINE_VOICES.len());
        }
        other => panic!("expected UnknownFliteVoice, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("cmu_us_nobody") && msg.contains("cmu_us_slt"),
        "{msg}"
    );
    assert!(matches!(
        flite().phones("kal"),
        Err(SynthError::UnknownFliteVoice { .. })
    ));
    for text in ["", "   ", "\n\t "] {
        let r = flite().synthesize(text, &FliteSettings::default());
        assert!(matches!(r, Err(SynthError::EmptyText)), "{text:?}: {r:?}");
    }
    let r = flite().synthesize("a\0b", &FliteSettings::default());
    assert!(matches!(r, Err(SynthError::Invalid { .. })), "{r:?}");
    // Punctuation alone is a pause, not a crash; and the library stays usable.
    let dots = say("...", &FliteSettings::default());
    assert!(dots.words.is_empty());
    assert!(dots.phonemes.iter().all(|p| p.ipa.is_empty()));
    check_invariants(&say("Still fine.", &FliteSettings::default()), "cmu_us_slt");
}

#[test]
fn plans_use_both_engines_in_every_split() {
    let world = WorldConfig {
        seed: 3,
        ..WorldConfig::default()
    };
    let n = 600;
    let plans: Vec<_> = (0..n).map(|i| world.plan(i).unwrap()).collect();
    let flite = plans
        .iter()
        .filter(|p| p.voice.engine() == Engine::Flite)
        .count();
    let share = flite as f64 / n as f64;
    assert!(
        (share - FLITE_SHARE).abs() < 0.06,
        "{flite} of {n} plans use flite"
    );
    // The first 200 already have both.
    assert!(plans[..200]
        .iter()
        .any(|p| p.voice.engine() == Engine::Flite));
    assert!(plans[..200]
        .iter()
        .any(|p| p.voice.engine() == Engine::EspeakNg));
    for split in Split::ALL {
        for engine in Engine::ALL {
            let count = plans
                .iter()
                .filter(|p| p.split == split && p.voice.engine() == engine)
                .count();
            assert!(count > 0, "no {engine} clip in {}", split.name());
        }
    }
    let mut flite_voices = std::collections::BTreeSet::new();
    for p in &plans {
        // A voice is only ever heard in its own split, and the settings name the voice.
        assert_eq!(p.voice_id.split(), p.split, "{:?}", p.voice_id);
        assert_eq!(p.voice.voice_id(), p.voice_id);
        assert!(engine_voices_of(p.voice_id.engine, p.split).contains(&p.voice_id));
        if let SpeechSettings::Flite(f) = &p.voice {
            f.validate().unwrap();
            flite_voices.insert(f.voice.clone());
        }
    }
    assert_eq!(
        flite_voices.len(),
        FLITE_ENGINE_VOICES.len(),
        "{flite_voices:?}"
    );
    // Flite clips vary in rate and pitch as espeak-ng clips do.
    let rates: std::collections::BTreeSet<String> = plans
        .iter()
        .filter_map(|p| match &p.voice {
            SpeechSettings::Flite(f) => Some(format!("{:.3}/{:.3}", f.rate, f.pitch)),
            SpeechSettings::EspeakNg(_) => None,
        })
        .collect();
    assert!(rates.len() > flite / 2, "{rates:?}");
}

#[test]
fn an_espeak_only_world_plans_what_it_always_did() {
    let both = WorldConfig::default();
    let espeak = WorldConfig {
        engines: vec![Engine::EspeakNg],
        ..WorldConfig::default()
    };
    let only_flite = WorldConfig {
        engines: vec![Engine::Flite],
        ..WorldConfig::default()
    };
    for i in 0..100 {
        let a = both.plan(i).unwrap();
        let b = espeak.plan(i).unwrap();
        let c = only_flite.plan(i).unwrap();
        assert_eq!(b.voice.engine(), Engine::EspeakNg);
        assert_eq!(c.voice.engine(), Engine::Flite);
        // The engine is drawn apart from everything else.
        assert_eq!(
            (&a.text, a.identity, a.emotion),
            (&b.text, b.identity, b.emotion)
        );
        assert_eq!(
            (&a.text, a.identity, a.split),
            (&c.text, c.identity, c.split)
        );
        if a.voice.engine() == Engine::EspeakNg {
            assert_eq!(a, b);
        }
    }
    let none = WorldConfig {
        engines: vec![],
        ..WorldConfig::default()
    };
    assert!(matches!(none.plan(0), Err(SynthError::Invalid { .. })));
    // Without flite loaded, a flite clip says so instead of falling back to espeak-ng.
    let speech = Speech::load(&[Engine::EspeakNg]).unwrap();
    let i = (0..100)
        .find(|&i| both.engine_of(i) == Engine::Flite)
        .unwrap();
    let err = both
        .generate(i, &FaceTemplate::mediapipe(), &speech)
        .unwrap_err();
    assert!(matches!(err, SynthError::EngineNotLoaded { .. }), "{err:?}");
    assert!(err.to_string().contains("flite"), "{err}");
}

#[test]
fn flite_clips_are_written_read_and_lip_synced() {
    let speech = Speech::load_all().unwrap();
    let template = FaceTemplate::mediapipe();
    let world = WorldConfig {
        seed: 21,
        ..WorldConfig::default()
    };
    let flite_clips: Vec<u64> = (0..200)
        .filter(|&i| world.engine_of(i) == Engine::Flite)
        .take(8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut bilabials = 0;
    for &i in &flite_clips {
        let clip = world.generate(i, &template, &speech).unwrap();
        assert_eq!(clip.meta.format_version, CLIP_FORMAT_VERSION);
        assert_eq!(clip.meta.spoken_with.engine(), Engine::Flite);
        let fps = clip.meta.fps;
        let audio_s = clip.audio.len() as f32 / clip.meta.sample_rate as f32;
        let anim_s = clip.num_frames() as f32 / fps;
        assert!((audio_s - anim_s).abs() <= 1.0 / fps);
        for p in &clip.meta.phonemes {
            if p.visemes == [Viseme::Bilabial] {
                bilabials += 1;
                let mid = 0.5 * (p.start + p.end);
                let f = ((mid * fps).round() as usize).min(clip.num_frames() - 1);
                let gap = template.regions.inner_lip_gap(clip.frame(f));
                assert!(
                    gap < 0.001,
                    "{} ({}): /{}/ at {mid:.3} s has the lips {:.2} mm apart",
                    clip.meta.id,
                    clip.meta.spoken_with.voice_name(),
                    p.ipa,
                    gap * 1e3
                );
            }
        }
        let path = clip.write(dir.path()).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("meta.json")).unwrap()).unwrap();
        assert_eq!(json["spoken_with"]["engine"], "flite");
        assert_eq!(json["format_version"], 2);
        let back = Clip::read(&path).unwrap();
        assert_eq!(back.meta, clip.meta);
    }
    assert!(bilabials >= 8, "only {bilabials} bilabials");
    // The manifest names engine and voice.
    let root = tempfile::tempdir().unwrap();
    let manifest = m2f_synth::write_dataset(root.path(), &world, 6, &speech, |_| {}).unwrap();
    for e in &manifest.clips {
        assert!(
            e.voice.starts_with("espeak-ng:") || e.voice.starts_with("flite:cmu_us_"),
            "{}",
            e.voice
        );
    }
    assert_eq!(manifest.config.engines, Engine::ALL);
}

#[test]
fn version_1_clips_are_still_read() {
    let espeak_world = WorldConfig {
        engines: vec![Engine::EspeakNg],
        ..WorldConfig::default()
    };
    let speech = Speech::load(&[Engine::EspeakNg]).unwrap();
    let clip = espeak_world
        .generate(0, &FaceTemplate::mediapipe(), &speech)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = clip.write(dir.path()).unwrap();
    // Rewrite meta.json as format version 1 had it: no engine, the voice as accent+variant.
    let SpeechSettings::EspeakNg(v) = &clip.meta.spoken_with else {
        panic!("an espeak-ng world spoke with {:?}", clip.meta.spoken_with)
    };
    let (accent, variant) = v.voice.split_once('+').unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("meta.json")).unwrap()).unwrap();
    json["format_version"] = 1.into();
    json["spoken_with"] = serde_json::json!({
        "voice": {"accent": accent, "variant": variant},
        "rate_wpm": v.rate_wpm,
        "pitch": v.pitch,
        "pitch_range": v.pitch_range,
        "volume": v.volume,
    });
    std::fs::write(path.join("meta.json"), serde_json::to_vec(&json).unwrap()).unwrap();
    let old = Clip::read(&path).unwrap();
    assert_eq!(old.meta.format_version, 1);
    assert_eq!(old.meta.spoken_with.engine(), Engine::EspeakNg);
    assert_eq!(
        old.meta.spoken_with,
        SpeechSettings::EspeakNg(VoiceSettings {
            word_gap_10ms: 0,
            ..v.clone()
        })
    );
    assert_eq!(old.vertices, clip.vertices);
    // A version this code does not know is refused by number.
    json["format_version"] = 3.into();
    std::fs::write(path.join("meta.json"), serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Clip::read(&path).unwrap_err().to_string();
    assert!(err.contains("version 3"), "{err}");
    // Loading espeak-ng alone works where flite is not wanted.
    assert!(Espeak::load().is_ok());
}

#[test]
fn resuming_with_other_engines_is_an_error() {
    let speech = Speech::load_all().unwrap();
    let espeak_only = WorldConfig {
        seed: 9,
        engines: vec![Engine::EspeakNg],
        ..WorldConfig::default()
    };
    let both = WorldConfig {
        seed: 9,
        ..WorldConfig::default()
    };
    // A count that makes at least one clip a Flite clip in the world of both engines.
    let count = (0..50)
        .find(|&i| both.engine_of(i) == Engine::Flite)
        .unwrap()
        + 1;
    let dir = tempfile::tempdir().unwrap();
    m2f_synth::write_dataset(dir.path(), &espeak_only, count, &speech, |_| {}).unwrap();
    // An interrupted run leaves no manifest: the clips' voices tell the engines apart.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let err = m2f_synth::write_dataset(dir.path(), &both, count, &speech, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("voice espeak-ng:") && err.contains("flite:"),
        "{err}"
    );
}
