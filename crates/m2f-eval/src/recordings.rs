//! Real human speech, where no true face exists: lip sync judged against phone timings
//! from a forced aligner. Bilabials must close the lips; vowels show how often the mouth
//! closes anyway (the chance level of the closure score); open vowels must open it.
//!
//! A recording set is a directory of `NAME.wav` files, each with `NAME.phones` beside it:
//! one phone per line, `START<TAB>END<TAB>PHONE`, seconds and ARPAbet (stress digits
//! allowed), as `tools/fetch_real_speech.py` writes them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::candidate::DenoiserCandidate;
use crate::error::{EvalError, Result};
use crate::lip_sync::{inner_lip_gaps, PhoneSpan, CLOSED_GAP_MM};

/// ARPAbet bilabials.
const BILABIALS: [&str; 3] = ["P", "B", "M"];
/// ARPAbet open vowels (the jaw drops).
const OPEN_VOWELS: [&str; 6] = ["AA", "AE", "AH", "AO", "AW", "AY"];
/// The other ARPAbet vowels.
const OTHER_VOWELS: [&str; 9] = ["EH", "IY", "IH", "EY", "OW", "UW", "UH", "ER", "OY"];

/// One aligned phone.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedPhone {
    /// Start, seconds.
    pub start: f32,
    /// End, seconds.
    pub end: f32,
    /// ARPAbet, upper case, without stress digits.
    pub phone: String,
}

/// A recording and its phones.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The file name without extension.
    pub name: String,
    /// 16 kHz mono speech.
    pub audio: Vec<f32>,
    /// Its aligned phones.
    pub phones: Vec<AlignedPhone>,
}

/// The recordings of `dir` (every `NAME.wav` with a `NAME.phones`), by name.
///
/// # Errors
/// An unreadable directory, audio or phone file, a malformed line (file and line named),
/// or a directory without recordings.
pub fn read_recordings(dir: &Path) -> Result<Vec<Recording>> {
    let entries = std::fs::read_dir(dir).map_err(|e| EvalError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut wavs: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    let mut out = Vec::new();
    for wav in wavs {
        let phones_path = wav.with_extension("phones");
        if !phones_path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&phones_path).map_err(|e| EvalError::Io {
            path: phones_path.clone(),
            source: e,
        })?;
        let mut phones = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = || {
                EvalError::invalid(
                    format!("{} line {}", phones_path.display(), i + 1),
                    format!("{line:?}; expected START<TAB>END<TAB>PHONE"),
                )
            };
            let mut fields = line.split('\t');
            let (Some(a), Some(b), Some(p)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(bad());
            };
            let (start, end): (f32, f32) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if !(start.is_finite() && end.is_finite() && end >= start) {
                return Err(bad());
            }
            phones.push(AlignedPhone {
                start,
                end,
                phone: p
                    .trim()
                    .trim_end_matches(|c: char| c.is_ascii_digit())
                    .to_ascii_uppercase(),
            });
        }
        out.push(Recording {
            name: wav
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
            audio: conditioning::load_audio(&wav)?,
            phones,
        });
    }
    if out.is_empty() {
        return Err(EvalError::invalid(
            format!("recordings {}", dir.display()),
            "no NAME.wav with a NAME.phones beside it",
        ));
    }
    Ok(out)
}

/// Lip-sync sums over recordings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeechScores {
    /// Recordings.
    pub recordings: usize,
    /// Bilabials, and those during which the lips closed.
    pub bilabials: usize,
    /// Bilabials with the lips closed.
    pub bilabials_closed: usize,
    /// Vowels, and those during which the lips closed anyway.
    pub vowels: usize,
    /// Vowels with the lips closed.
    pub vowels_closed: usize,
    /// Open vowels.
    pub open_vowels: usize,
    /// Σ over open vowels of the peak inner-lip gap, mm.
    pub sum_open_peak_mm: f64,
}

impl SpeechScores {
    /// Scores one recording's per-frame inner-lip gaps (mm) at `fps` against its phones.
    pub fn of_recording(gaps: &[f32], phones: &[AlignedPhone], fps: f32) -> Self {
        let mut s = Self {
            recordings: 1,
            ..Self::default()
        };
        let n = gaps.len();
        if n == 0 {
            return s;
        }
        for p in phones {
            let span = PhoneSpan {
                start: p.start,
                end: p.end,
                bilabial: false,
                open_vowel: false,
            };
            let Some(r) = span.frames(fps, n) else {
                continue;
            };
            let (a, b) = (r.start, r.end);
            let closed = gaps[a..b].iter().any(|&g| g < CLOSED_GAP_MM) as usize;
            let phone = p.phone.as_str();
            if BILABIALS.contains(&phone) {
                s.bilabials += 1;
                s.bilabials_closed += closed;
            }
            let open = OPEN_VOWELS.contains(&phone);
            if open || OTHER_VOWELS.contains(&phone) {
                s.vowels += 1;
                s.vowels_closed += closed;
            }
            if open {
                s.open_vowels += 1;
                s.sum_open_peak_mm += gaps[a..b].iter().copied().fold(0f32, f32::max) as f64;
            }
        }
        s
    }

    fn add(&mut self, o: &Self) {
        self.recordings += o.recordings;
        self.bilabials += o.bilabials;
        self.bilabials_closed += o.bilabials_closed;
        self.vowels += o.vowels;
        self.vowels_closed += o.vowels_closed;
        self.open_vowels += o.open_vowels;
        self.sum_open_peak_mm += o.sum_open_peak_mm;
    }

    /// Fraction of bilabials with the lips closed.
    pub fn bilabial_closure(&self) -> f64 {
        self.bilabials_closed as f64 / self.bilabials.max(1) as f64
    }

    /// Fraction of vowels with the lips closed (the chance level of the closure score).
    pub fn vowel_closure(&self) -> f64 {
        self.vowels_closed as f64 / self.vowels.max(1) as f64
    }

    /// Mean peak gap at open vowels, mm.
    pub fn open_vowel_peak_mm(&self) -> f64 {
        self.sum_open_peak_mm / self.open_vowels.max(1) as f64
    }
}

/// Each candidate's scores on recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingsReport {
    /// (candidate, scores), in the order given.
    pub rows: Vec<(String, SpeechScores)>,
    /// (candidate, recording, scores).
    pub per_recording: Vec<(String, String, SpeechScores)>,
}

/// Runs `candidates` on `recordings` under the text-style embedding `style` (seed 0) and
/// decodes their latents on the face `neutral` through `gnpfa`.
///
/// # Errors
/// A candidate or decoder failure, named with the recording.
pub fn evaluate_recordings(
    candidates: &[(&str, &DenoiserCandidate)],
    recordings: &[Recording],
    gnpfa: &gnpfa::Gnpfa,
    neutral: &[[f32; 3]],
    style: &[f32],
) -> Result<RecordingsReport> {
    let mut rows = Vec::new();
    let mut per_recording = Vec::new();
    for (name, candidate) in candidates {
        let mut sum = SpeechScores::default();
        for r in recordings {
            let fps = candidate.fps();
            let frames = conditioning::frames_for(r.audio.len(), fps as f64);
            let what = format!("recording {}", r.name);
            let features = candidate.features_for(&r.audio, fps, frames, &what)?;
            let motion = candidate.sample(&features, style, 0)?;
            let faces = gnpfa.decode_frames(neutral, &motion.latents)?;
            let gaps = inner_lip_gaps(&faces, &gnpfa.template.regions);
            let scores = SpeechScores::of_recording(&gaps, &r.phones, fps);
            sum.add(&scores);
            per_recording.push((name.to_string(), r.name.clone(), scores));
        }
        rows.push((name.to_string(), sum));
    }
    Ok(RecordingsReport {
        rows,
        per_recording,
    })
}

impl RecordingsReport {
    /// One Markdown row per candidate.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| model | recordings | bilabials closed | vowels closed | open-vowel peak gap (mm) |\n| --- | --- | --- | --- | --- |\n",
        );
        for (name, r) in &self.rows {
            s.push_str(&format!(
                "| {name} | {} | {}/{} ({:.2}) | {:.2} | {:.1} |\n",
                r.recordings,
                r.bilabials_closed,
                r.bilabials,
                r.bilabial_closure(),
                r.vowel_closure(),
                r.open_vowel_peak_mm()
            ));
        }
        s.push_str(
            "\n| model | recording | bilabials closed | vowels closed | open-vowel peak gap (mm) |\n| --- | --- | --- | --- | --- |\n",
        );
        for (name, recording, r) in &self.per_recording {
            s.push_str(&format!(
                "| {name} | {recording} | {}/{} | {:.2} | {:.1} |\n",
                r.bilabials_closed,
                r.bilabials,
                r.vowel_closure(),
                r.open_vowel_peak_mm()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_files_are_read_and_scored_and_bad_lines_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("a.wav"), spec).unwrap();
        for _ in 0..16_000 {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        std::fs::write(
            dir.path().join("a.phones"),
            "0.0\t0.2\tSIL\n0.2\t0.4\tM\n0.4\t0.7\tAA1\n",
        )
        .unwrap();
        let r = read_recordings(dir.path()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].phones[2].phone, "AA");
        // 10 fps: closed at frames 2–3, open 9 mm at 5.
        let gaps = [5.0, 5.0, 1.0, 5.0, 5.0, 9.0, 5.0, 5.0, 5.0, 5.0];
        let s = SpeechScores::of_recording(&gaps, &r[0].phones, 10.0);
        assert_eq!(
            (s.bilabials, s.bilabials_closed, s.vowels, s.open_vowels),
            (1, 1, 1, 1)
        );
        assert_eq!(s.vowel_closure(), 0.0);
        assert_eq!(s.open_vowel_peak_mm(), 9.0);
        std::fs::write(dir.path().join("a.phones"), "0.0 0.2 SIL\n").unwrap();
        let e = read_recordings(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a.phones line 1"), "{e}");
    }
}
