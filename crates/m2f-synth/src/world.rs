//! The synthetic world: from a seed and a clip index to a finished clip.
//!
//! Every random choice of clip `i` comes from a generator seeded by (dataset seed, i), so
//! clips can be made in any order, on any number of threads or machines, and come out
//! byte-identical.
//!
//! A share of the clips ([`FLITE_SHARE`]) is spoken by Flite, the rest by espeak-ng. Which
//! engine speaks clip `i` is drawn from a stream of its own, after every other choice, so a
//! clip spoken by Flite keeps the sentence, face, emotion and prosody it would have had with
//! espeak-ng, and a world with espeak-ng alone plans the clips it always planned.

use m2f_mesh::{arkit_rig, FaceTemplate, HeadPose};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::blink::blink_track;
use crate::clip::{Clip, ClipMeta, PhonemeTiming, WordTiming, CLIP_FORMAT_VERSION, SAMPLE_RATE};
use crate::coarticulation::{Coarticulation, VisemeSegment};
use crate::emotion::{style_sentence, Emotion, Intensity};
use crate::error::SynthError;
use crate::espeak::VoiceSettings;
use crate::face::FaceAnimator;
use crate::flite::{voice_info, FliteSettings};
use crate::head_motion::{head_motion, WordBeat};
use crate::identity::IdentityParams;
use crate::speech::{Engine, Speech, SpeechSettings, Utterance};
use crate::text::sentence;
use crate::viseme::visemes_of;
use crate::voices::{engine_voices_of, stable_hash, Split, Voice};
use m2f_audio::resample;

/// Share of clips spoken by Flite when both engines are in the world; the rest are spoken by
/// espeak-ng. Flite has five voices to espeak-ng's 448, but they are recordings of real
/// speakers, unlike any espeak-ng voice: a third of the clips keeps the model from learning
/// espeak-ng's formant sound as "speech".
pub const FLITE_SHARE: f64 = 0.35;

/// Gain on each Flite voice's output that brings its loudness near espeak-ng's at the same
/// volume, so loudness does not give the engine away: measured as the RMS over four sentences,
/// espeak-ng's voices give 0.075..0.13 (about 0.09 typical), Flite's kal 0.094, kal16 0.041,
/// awb 0.10, rms 0.093, slt 0.17.
const FLITE_LEVELS: &[(&str, f32)] = &[
    ("cmu_us_kal", 1.0),
    ("cmu_us_kal16", 2.2),
    ("cmu_us_awb", 0.9),
    ("cmu_us_rms", 1.0),
    ("cmu_us_slt", 0.55),
];

/// Settings of a synthetic dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Dataset seed: every random choice of every clip derives from it.
    pub seed: u64,
    /// Animation frame rate.
    pub fps: f32,
    /// Size of the identity pool the splits are cut from.
    pub identities: u32,
    /// The speech engines clips are spoken with: both ([`Engine::ALL`], the default; Flite
    /// speaks [`FLITE_SHARE`] of the clips) or one of them. A manifest written before engines
    /// were recorded reads as espeak-ng alone, the only engine there was.
    #[serde(default = "espeak_only")]
    pub engines: Vec<Engine>,
}

fn espeak_only() -> Vec<Engine> {
    vec![Engine::EspeakNg]
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            fps: 30.0,
            identities: 400,
            engines: Engine::ALL.to_vec(),
        }
    }
}

/// What clip `index` will be: every random choice except the ones made while animating.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlan {
    /// The clip's index in the dataset.
    pub index: u64,
    /// The split of the clip, its voice and its identity.
    pub split: Split,
    /// The sentence spoken.
    pub text: String,
    /// The engine, voice and its settings.
    pub voice: SpeechSettings,
    /// The voice as the catalogue names it.
    pub voice_id: Voice,
    /// The emotion acted.
    pub emotion: Emotion,
    /// Its intensity.
    pub intensity: Intensity,
    /// A sentence describing the speaking style.
    pub style: String,
    /// The identity (index in the pool).
    pub identity: u32,
}

impl WorldConfig {
    /// The generator of one stream of clip `index`: 0 plans, 1 animates, 2 picks the engine,
    /// 3 picks the Flite voice.
    fn rng(&self, index: u64, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index.wrapping_mul(8).wrapping_add(stream));
        rng
    }

    /// The split of an identity under this dataset's seed.
    pub fn identity_split(&self, identity: u32) -> Split {
        let mut key = self.seed.to_le_bytes().to_vec();
        key.extend_from_slice(b"identity");
        key.extend_from_slice(&identity.to_le_bytes());
        Split::of_hash(stable_hash(&key))
    }

    /// Plans clip `index`.
    ///
    /// # Errors
    /// [`SynthError::Invalid`] if [`WorldConfig::engines`] is empty or the identity pool has no
    /// identity in the clip's split.
    pub fn plan(&self, index: u64) -> Result<ClipPlan, SynthError> {
        if self.engines.is_empty() {
            return Err(SynthError::invalid(
                "engines",
                "the world needs at least one speech engine (espeak-ng, flite)",
            ));
        }
        let mut rng = self.rng(index, 0);
        let split = Split::of_hash(rng.random::<u64>());
        // Drawn whatever the engine, so that the choices after it do not depend on the engine.
        let espeak_voice = engine_voices_of(Engine::EspeakNg, split)
            .choose(&mut rng)
            .cloned()
            .ok_or_else(|| SynthError::invalid("voice catalogue", "a split has no voices"))?;
        let identities: Vec<u32> = (0..self.identities)
            .filter(|&i| self.identity_split(i) == split)
            .collect();
        let identity = *identities.choose(&mut rng).ok_or_else(|| {
            SynthError::invalid(
                "identities",
                format!(
                    "the pool of {} identities has none in the {} split; use more",
                    self.identities,
                    split.name()
                ),
            )
        })?;
        let emotion = *Emotion::ALL.choose(&mut rng).unwrap_or(&Emotion::Neutral);
        let intensity = if emotion == Emotion::Neutral {
            Intensity::Medium
        } else {
            *Intensity::ALL
                .choose(&mut rng)
                .unwrap_or(&Intensity::Medium)
        };
        let dynamics = emotion.dynamics().scaled(intensity.scale());
        let text = sentence(&mut rng);
        let style = style_sentence(emotion, intensity, &mut rng);
        // Prosody on espeak-ng's scales (rate in words per minute, pitch and range 0..100 with
        // 50 the voice's own, volume in percent); Flite takes the same choices as factors.
        let rate = 175.0 * dynamics.rate_factor * rng.random_range(0.8f32..1.25);
        let pitch = 50.0 + dynamics.pitch_offset + rng.random_range(-18.0f32..18.0);
        let range = 50.0 + dynamics.pitch_range_offset + rng.random_range(-20.0f32..20.0);
        let volume = 100.0 * dynamics.volume_factor * rng.random_range(0.75f32..1.2);
        let word_gap_10ms = rng.random_range(0..3);

        let (voice, voice_id) = match self.engine_of(index) {
            Engine::EspeakNg => (
                SpeechSettings::EspeakNg(VoiceSettings {
                    voice: espeak_voice.name.clone(),
                    rate_wpm: rate.round().clamp(80.0, 450.0) as u32,
                    pitch: pitch.round().clamp(0.0, 100.0) as u32,
                    pitch_range: range.round().clamp(0.0, 100.0) as u32,
                    volume: volume.round().clamp(10.0, 200.0) as u32,
                    word_gap_10ms,
                }),
                espeak_voice,
            ),
            Engine::Flite => {
                let mut rng = self.rng(index, 3);
                let voice_id = engine_voices_of(Engine::Flite, split)
                    .choose(&mut rng)
                    .cloned()
                    .ok_or_else(|| {
                        SynthError::invalid(
                            "voice catalogue",
                            format!("the {} split has no flite voice", split.name()),
                        )
                    })?;
                let settings = flite_settings(&voice_id.name, rate, pitch, range, volume)?;
                (SpeechSettings::Flite(settings), voice_id)
            }
        };
        Ok(ClipPlan {
            index,
            split,
            text,
            voice,
            voice_id,
            emotion,
            intensity,
            style,
            identity,
        })
    }

    /// The engine that speaks clip `index`: with both engines in the world, Flite with
    /// probability [`FLITE_SHARE`], drawn from a stream of its own.
    pub fn engine_of(&self, index: u64) -> Engine {
        let flite = self.engines.contains(&Engine::Flite);
        let espeak = self.engines.contains(&Engine::EspeakNg);
        match (espeak, flite) {
            (true, true) => {
                if self.rng(index, 2).random::<f64>() < FLITE_SHARE {
                    Engine::Flite
                } else {
                    Engine::EspeakNg
                }
            }
            (false, true) => Engine::Flite,
            _ => Engine::EspeakNg,
        }
    }

    /// Speaks and animates clip `index`.
    ///
    /// # Errors
    /// [`SynthError::EngineNotLoaded`] if `speech` lacks the engine the clip is planned for,
    /// the engine's own errors, and those of [`WorldConfig::plan`] and
    /// [`WorldConfig::animate`].
    pub fn generate(
        &self,
        index: u64,
        template: &FaceTemplate,
        speech: &Speech,
    ) -> Result<Clip, SynthError> {
        let plan = self.plan(index)?;
        let utterance = speech.synthesize(&plan.text, &plan.voice)?;
        self.animate(&plan, &utterance, template)
    }

    /// Animates a planned clip from its spoken utterance.
    pub fn animate(
        &self,
        plan: &ClipPlan,
        utterance: &Utterance,
        template: &FaceTemplate,
    ) -> Result<Clip, SynthError> {
        let mut rng = self.rng(plan.index, 1);
        let audio = resample(&utterance.samples, utterance.sample_rate, SAMPLE_RATE)?;
        let sr_in = utterance.sample_rate as f32;
        let duration = audio.len() as f32 / SAMPLE_RATE as f32;
        let num_frames = (duration * self.fps).round() as usize;
        if num_frames == 0 {
            return Err(SynthError::invalid(
                format!("clip {}", plan.index),
                "the utterance is shorter than one frame",
            ));
        }

        let words = word_timings(utterance, &audio, duration);
        let dynamics = plan.emotion.dynamics().scaled(plan.intensity.scale());

        let mut phonemes = Vec::new();
        let mut segments = Vec::new();
        let mut pauses = Vec::new();
        for p in &utterance.phonemes {
            let start = p.start as f32 / sr_in;
            let end = p.end as f32 / sr_in;
            let visemes = visemes_of(&p.ipa);
            if p.ipa.is_empty() && end - start > 0.12 {
                pauses.push(end);
            }
            let loudness = p
                .word
                .and_then(|w| words.get(w))
                .map(|w| w.loudness)
                .unwrap_or(1.0);
            let emphasis = dynamics.articulation * (0.8 + 0.25 * loudness.clamp(0.4, 1.6));
            let n = visemes.len() as f32;
            for (j, &viseme) in visemes.iter().enumerate() {
                segments.push(VisemeSegment {
                    viseme,
                    start: start + (end - start) * j as f32 / n,
                    end: start + (end - start) * (j + 1) as f32 / n,
                    emphasis,
                });
            }
            phonemes.push(PhonemeTiming {
                ipa: p.ipa.clone(),
                start,
                end,
                visemes,
            });
        }

        let times: Vec<f32> = (0..num_frames).map(|f| f as f32 / self.fps).collect();
        let articulation = Coarticulation::default().track(&segments, &times);
        let blinks = blink_track(num_frames, self.fps, dynamics.blink_rate, &mut rng);
        let beats: Vec<WordBeat> = words
            .iter()
            .map(|w| WordBeat {
                start: w.start,
                end: w.end,
                loudness: w.loudness,
                stressed: w.stressed,
            })
            .collect();
        let poses = head_motion(
            &beats,
            &pauses,
            num_frames,
            self.fps,
            dynamics.head_motion,
            &mut rng,
        );

        let identity = IdentityParams::sample(self.seed, plan.identity);
        let neutral = identity.neutral(template)?;
        let rig = arkit_rig(&neutral, &template.regions)?;
        let animator = FaceAnimator::new(&rig, plan.emotion, plan.intensity)?;
        let mut rig_weights = Vec::with_capacity(num_frames * rig.num_blendshapes());
        let mut vertices = Vec::with_capacity(num_frames * neutral.num_vertices());
        for (f, a) in articulation.iter().enumerate() {
            let t = times[f];
            let brow = beats
                .iter()
                .filter(|b| b.stressed)
                .map(|b| {
                    let x = (t - b.start) / 0.15;
                    if x > 0.0 {
                        x * (1.0 - x).exp()
                    } else {
                        0.0
                    }
                })
                .fold(0.0f32, f32::max)
                * (dynamics.head_motion - 0.3).max(0.0);
            let w = animator.weights(a, blinks[f], brow);
            vertices.extend(rig.apply(&w)?);
            rig_weights.extend(w);
        }

        let meta = ClipMeta {
            format_version: CLIP_FORMAT_VERSION,
            id: format!("clip_{:07}", plan.index),
            split: plan.split,
            seed: self.seed,
            index: plan.index,
            text: plan.text.clone(),
            spoken_with: plan.voice.clone(),
            emotion: plan.emotion,
            intensity: plan.intensity,
            style: plan.style.clone(),
            identity: plan.identity,
            identity_params: identity,
            fps: self.fps,
            sample_rate: SAMPLE_RATE,
            num_frames,
            num_samples: audio.len(),
            blendshapes: rig.names().to_vec(),
            phonemes,
            words,
        };
        Ok(Clip {
            meta,
            audio,
            neutral: neutral.vertices.clone(),
            vertices,
            rig_weights,
            head_pose: poses.iter().map(|p: &HeadPose| p.to_array()).collect(),
            articulation: articulation.iter().map(|a| a.to_array()).collect(),
        })
    }
}

/// Flite settings for prosody drawn on espeak-ng's scales: rate as a factor of espeak-ng's
/// 175 words per minute, pitch as 2^((pitch - 50) / 100) (the 0..100 scale spanning about an
/// octave), range as a factor of 50 (0 a monotone), volume in percent times the voice's level
/// gain ([`FLITE_LEVELS`]). Voices without pitch control keep their own pitch. Factors are
/// rounded to 1/1000 so `meta.json` shows what the engine was given.
fn flite_settings(
    voice: &str,
    rate_wpm: f32,
    pitch: f32,
    range: f32,
    volume: f32,
) -> Result<FliteSettings, SynthError> {
    let info = voice_info(voice)?;
    let level = FLITE_LEVELS
        .iter()
        .find(|(name, _)| *name == voice)
        .map_or(1.0, |(_, level)| *level);
    let r3 = |x: f32| (x * 1000.0).round() / 1000.0;
    let (pitch, pitch_range) = if info.pitch_control {
        (
            r3(2f32.powf((pitch - 50.0) / 100.0).clamp(0.5, 2.0)),
            r3((range / 50.0).clamp(0.0, 3.0)),
        )
    } else {
        (1.0, 1.0)
    };
    Ok(FliteSettings {
        voice: voice.to_owned(),
        rate: r3((rate_wpm / 175.0).clamp(0.5, 2.0)),
        pitch,
        pitch_range,
        volume: r3((volume / 100.0 * level).clamp(0.0, 4.0)),
    })
}

/// Word spans with loudness (RMS over the word, relative to the clip's mean word RMS).
fn word_timings(u: &Utterance, audio16k: &[f32], duration: f32) -> Vec<WordTiming> {
    let sr_in = u.sample_rate as f32;
    let mut spans: Vec<(String, f32, f32)> = Vec::new();
    for (i, w) in u.words.iter().enumerate() {
        let start = w.start as f32 / sr_in;
        // A word ends where its last phoneme ends (pauses are not part of it).
        let end = u
            .phonemes
            .iter()
            .filter(|p| p.word == Some(i) && !p.ipa.is_empty())
            .map(|p| p.end as f32 / sr_in)
            .fold(start, f32::max)
            .min(duration);
        spans.push((w.text.clone(), start, end.max(start)));
    }
    let rms: Vec<f32> = spans
        .iter()
        .map(|(_, s, e)| {
            let a = ((s * SAMPLE_RATE as f32) as usize).min(audio16k.len());
            let b = ((e * SAMPLE_RATE as f32) as usize).clamp(a, audio16k.len());
            if b > a {
                (audio16k[a..b].iter().map(|x| x * x).sum::<f32>() / (b - a) as f32).sqrt()
            } else {
                0.0
            }
        })
        .collect();
    let mean = (rms.iter().sum::<f32>() / rms.len().max(1) as f32).max(1e-6);
    spans
        .into_iter()
        .zip(rms)
        .map(|((text, start, end), r)| {
            let loudness = r / mean;
            let long = end - start > 0.28;
            WordTiming {
                stressed: loudness > 1.05 || (long && loudness > 0.8),
                text,
                start,
                end,
                loudness,
            }
        })
        .collect()
}
