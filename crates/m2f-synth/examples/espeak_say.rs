//! Synthesises a text with espeak-ng and prints its timing, e.g.
//! `cargo run --release -p m2f-synth --example espeak_say -- "Hello there."`
//!
//! Prints the wall-clock time of the synthesis (after a warm-up call that loads the library and
//! voice data), the words and the phonemes with their spans in milliseconds.

use m2f_synth::{Espeak, VoiceSettings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::env::args().nth(1).unwrap_or_else(|| {
        "The quick brown fox jumps over the lazy dog, and then it naps in the warm afternoon sun."
            .to_owned()
    });
    let voice = VoiceSettings::default();
    let espeak = Espeak::load()?;
    espeak.synthesize("Warm up.", &voice)?;
    let runs = 10;
    let t0 = std::time::Instant::now();
    let mut utt = None;
    for _ in 0..runs {
        utt = Some(espeak.synthesize(&text, &voice)?);
    }
    let per_run = t0.elapsed() / runs;
    let Some(utt) = utt else { return Ok(()) };
    let ms = |s: usize| s as f64 * 1000.0 / f64::from(utt.sample_rate);
    println!(
        "{:.2} s of audio at {} Hz synthesised in {:.1} ms ({:.0}x real time)",
        utt.duration_s(),
        utt.sample_rate,
        per_run.as_secs_f64() * 1000.0,
        utt.duration_s() / per_run.as_secs_f64()
    );
    for (i, w) in utt.words.iter().enumerate() {
        println!("word {i}: {:?} at {:.0} ms", w.text, ms(w.start));
    }
    for p in &utt.phonemes {
        println!(
            "{:>8.1} {:>8.1}  {:<6} {:?}",
            ms(p.start),
            ms(p.end),
            format!("{:?}", p.ipa),
            p.word
        );
    }
    Ok(())
}
