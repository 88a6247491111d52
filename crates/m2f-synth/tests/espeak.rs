//! Tests against the real libespeak-ng (installed here and in CI; they fail, not skip, without it).

use m2f_audio::resample;
use m2f_synth::{Espeak, SynthError, Utterance, VoiceSettings};

fn espeak() -> &'static Espeak {
    match Espeak::load() {
        Ok(e) => e,
        Err(e) => panic!("these tests need libespeak-ng: {e}"),
    }
}

fn say(text: &str) -> Utterance {
    espeak()
        .synthesize(text, &VoiceSettings::default())
        .unwrap_or_else(|e| panic!("synthesising {text:?}: {e}"))
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Structural invariants every utterance must satisfy.
fn check_invariants(u: &Utterance) {
    assert_eq!(u.sample_rate, 22_050);
    assert!(!u.phonemes.is_empty());
    assert!(u.samples.iter().all(|s| (-1.0..=1.0).contains(s)));
    for pair in u.phonemes.windows(2) {
        assert!(pair[0].start <= pair[0].end, "{:?}", pair[0]);
        assert_eq!(pair[0].end, pair[1].start, "phonemes must tile the audio");
    }
    let last = u.phonemes.last().map(|p| p.end);
    assert_eq!(last, Some(u.samples.len()));
    for pair in u.words.windows(2) {
        assert!(pair[0].start <= pair[1].start);
    }
    for p in &u.phonemes {
        if let Some(w) = p.word {
            assert!(w < u.words.len());
            assert!(!p.ipa.is_empty(), "pauses belong to no word");
        }
    }
}

#[test]
fn sentence_has_audio_phonemes_and_words() {
    let text = "The quick brown fox jumps over the lazy dog.";
    let u = say(text);
    check_invariants(&u);
    let secs = u.duration_s();
    assert!((1.0..6.0).contains(&secs), "{secs} s");
    assert!(rms(&u.samples) > 0.01, "audio is silent");
    let words: Vec<&str> = u.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(
        words,
        text.trim_end_matches('.').split(' ').collect::<Vec<_>>()
    );
    // Every word owns at least one phoneme, and they come in order.
    let owners: Vec<usize> = u.phonemes.iter().filter_map(|p| p.word).collect();
    assert!(owners.windows(2).all(|w| w[0] <= w[1]));
    for i in 0..u.words.len() {
        assert!(owners.contains(&i), "word {i} has no phonemes");
    }
    // Speech starts with a word; its first phoneme follows within a few milliseconds.
    assert!(u.phonemes[0].start >= u.words[0].start);
    assert!(u.phonemes[0].start - u.words[0].start < 22_050 / 20);
}

#[test]
fn bilabials_appear_for_map() {
    let u = say("Please bring the map.");
    check_invariants(&u);
    let ipa: Vec<&str> = u.phonemes.iter().map(|p| p.ipa.as_str()).collect();
    for b in ["m", "p", "b"] {
        assert!(ipa.contains(&b), "no {b:?} in {ipa:?}");
    }
    let map = u.words.iter().position(|w| w.text == "map");
    let map_phonemes: Vec<&str> = u
        .phonemes
        .iter()
        .filter(|p| p.word == map)
        .map(|p| p.ipa.as_str())
        .collect();
    assert_eq!(map_phonemes.first(), Some(&"m"), "{map_phonemes:?}");
    assert_eq!(map_phonemes.last(), Some(&"p"), "{map_phonemes:?}");
}

#[test]
fn words_use_character_positions() {
    // Multi-byte characters before a word shift byte offsets but not character positions.
    let u = say("Zoë orders crème brûlée, naïvely.");
    check_invariants(&u);
    let words: Vec<&str> = u.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, ["Zoë", "orders", "crème", "brûlée", "naïvely"]);
}

#[test]
fn multiple_sentences_have_increasing_times() {
    let u = say("Hello there. How are you today? Fine, thanks!");
    check_invariants(&u);
    assert_eq!(u.words.len(), 8);
    assert!(
        u.phonemes.iter().any(|p| p.ipa.is_empty()),
        "no pause between sentences"
    );
}

#[test]
fn voice_settings_change_the_audio() {
    let text = "Settings matter.";
    let base = say(text);
    let e = espeak();
    let slow = e
        .synthesize(
            text,
            &VoiceSettings {
                rate_wpm: 100,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(slow.samples.len() > base.samples.len() * 5 / 4);
    let female = e
        .synthesize(
            text,
            &VoiceSettings {
                voice: "en+f3".into(),
                ..Default::default()
            },
        )
        .unwrap();
    check_invariants(&female);
    assert_ne!(female.samples, base.samples);
    let quiet = e
        .synthesize(
            text,
            &VoiceSettings {
                volume: 20,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(rms(&quiet.samples) < rms(&base.samples) * 0.5);
}

#[test]
fn unknown_voice_is_named() {
    let err = espeak()
        .synthesize(
            "Hello.",
            &VoiceSettings {
                voice: "xx-nonexist".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    match &err {
        SynthError::UnknownVoice { voice } => assert_eq!(voice, "xx-nonexist"),
        other => panic!("expected UnknownVoice, got {other:?}"),
    }
    assert!(err.to_string().contains("xx-nonexist"));
    // The library stays usable afterwards.
    check_invariants(&say("Still fine."));
}

#[test]
fn empty_text_is_rejected() {
    for text in ["", "   ", "\n\t "] {
        let r = espeak().synthesize(text, &VoiceSettings::default());
        assert!(matches!(r, Err(SynthError::EmptyText)), "{text:?}: {r:?}");
    }
    let r = espeak().synthesize("a\0b", &VoiceSettings::default());
    assert!(matches!(r, Err(SynthError::Invalid { .. })), "{r:?}");
}

#[test]
fn synthesis_is_deterministic() {
    // Interleave other texts: libespeak-ng carries hidden state between utterances, which the
    // per-call reload must erase.
    let text = "Maybe the big apple, please. Café au lait?";
    let a = say(text);
    say("It's 3.5 km to Dr. Smith's — on 42nd St.");
    let b = say(text);
    say("Another one.");
    let c = say(text);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn concurrent_calls_match_sequential_ones() {
    let texts = [
        "One two three.",
        "The rain in Spain stays mainly in the plain.",
        "Peter picked a peck of pickled peppers.",
        "Quiet, please!",
    ];
    let sequential: Vec<Utterance> = texts.iter().map(|t| say(t)).collect();
    let concurrent: Vec<Utterance> = std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .iter()
            .map(|t| s.spawn(move || (0..3).map(|_| say(t)).collect::<Vec<_>>()))
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
    assert_eq!(sequential, concurrent);
}

#[test]
fn utterance_resamples_to_16k() {
    let u = say("Resample me.");
    let y = resample(&u.samples, u.sample_rate, 16_000).unwrap();
    let expected = (u.samples.len() as f64 * 16_000.0 / 22_050.0).round() as usize;
    assert_eq!(y.len(), expected);
    assert!((rms(&y) - rms(&u.samples)).abs() < 0.1 * rms(&u.samples));
}
