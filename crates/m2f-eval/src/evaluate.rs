//! The evaluation run: every candidate on every test clip, decoded through the same GNPFA
//! decoder on the clip's neutral face, scored against the truth by each metric, by the
//! speech engine that spoke the clip and over all clips.

use std::collections::BTreeMap;

use gnpfa::Gnpfa;
use m2f_synth::{Emotion, Intensity};
use serde::{Deserialize, Serialize};

use crate::beat_alignment::{audio_onsets, head_beats, BeatAlignment};
use crate::candidate::Candidate;
use crate::diversity::{mean_pairwise_distance, mean_sample, pairwise_lip_vertex_error};
use crate::emotion_classifier::{clip_description, EmotionClassifier};
use crate::error::{EvalError, Result};
use crate::face_dynamics::face_dynamics_deviation;
use crate::lip_sync::{inner_lip_gaps, LipSync};
use crate::lip_vertex_error::LipVertexError;
use crate::test_set::EvalClip;

/// The subset of all test clips.
pub const ALL_SPEECH: &str = "all";

/// How the evaluation samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Samples per clip of a stochastic candidate (seeds 0..seeds); seed 0 is the one
    /// scored, all of them give the diversity.
    pub seeds: usize,
    /// Clips (the first ones) generated once per emotion prompt for prompt following.
    pub prompt_clips: usize,
    /// The intensity of those emotion prompts.
    pub prompt_intensity: Intensity,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seeds: 3,
            prompt_clips: 12,
            prompt_intensity: Intensity::High,
        }
    }
}

/// One candidate's sums over a subset of clips.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Clips.
    pub clips: usize,
    /// Lip vertex error.
    pub lve: LipVertexError,
    /// Σ over clips of the upper-face dynamics deviation, mm².
    pub sum_fdd_mm2: f64,
    /// Lip sync against phone timings.
    pub lip_sync: LipSync,
    /// Beat alignment of head motion.
    pub beats: BeatAlignment,
    /// Σ over clips of the diversity across seeds, mm.
    pub sum_diversity_mm: f64,
    /// Clips with a diversity.
    pub diversity_clips: usize,
    /// LVE between the seeds' samples, over every pair (on the clips with a diversity).
    pub lip_spread: LipVertexError,
    /// LVE of the vertex-wise mean of the seeds' samples against the truth.
    pub seed_mean_lve: LipVertexError,
    /// Emotion prompts whose result the classifier named as prompted, of `prompts`.
    pub prompts_followed: usize,
    /// Emotion prompts given.
    pub prompts: usize,
}

impl Scores {
    /// Mean FDD, mm².
    pub fn fdd_mm2(&self) -> f64 {
        self.sum_fdd_mm2 / self.clips.max(1) as f64
    }

    /// Mean diversity, mm (`None`: not measured).
    pub fn diversity_mm(&self) -> Option<f64> {
        (self.diversity_clips > 0).then(|| self.sum_diversity_mm / self.diversity_clips as f64)
    }

    /// Prompt-following accuracy (`None`: not measured).
    pub fn prompt_following(&self) -> Option<f64> {
        (self.prompts > 0).then(|| self.prompts_followed as f64 / self.prompts as f64)
    }

    fn add(&mut self, o: &Scores) {
        self.clips += o.clips;
        self.lve.add(&o.lve);
        self.sum_fdd_mm2 += o.sum_fdd_mm2;
        self.lip_sync.add(&o.lip_sync);
        self.beats.add(&o.beats);
        self.sum_diversity_mm += o.sum_diversity_mm;
        self.diversity_clips += o.diversity_clips;
        self.lip_spread.add(&o.lip_spread);
        self.seed_mean_lve.add(&o.seed_mean_lve);
        self.prompts_followed += o.prompts_followed;
        self.prompts += o.prompts;
    }
}

/// The metrics of one candidate on one subset, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The candidate.
    pub candidate: String,
    /// The clips: [`ALL_SPEECH`] or an engine's name.
    pub speech: String,
    /// Clips.
    pub clips: usize,
    /// LVE, mm.
    pub lve_mm: f64,
    /// LVE in CodeTalker's squared form, mm².
    pub lve_squared_mm2: f64,
    /// Mean |generated − true| inner-lip gap, mm.
    pub lip_gap_error_mm: f64,
    /// Mean correlation of the generated and true inner-lip gaps.
    pub lip_gap_correlation: f64,
    /// Bilabials with the lips closed (truth: 1).
    pub bilabial_closure: f64,
    /// Peak gap at open vowels against the truth's (1: as wide).
    pub open_vowel_opening: f64,
    /// Upper-face dynamics deviation, mm² (true − generated).
    pub fdd_mm2: f64,
    /// Beat alignment of head motion to audio onsets (`None`: the head never moves).
    pub beat_alignment: Option<f64>,
    /// Diversity across seeds, mm (`None`: deterministic).
    pub diversity_mm: Option<f64>,
    /// LVE between samples of different seeds, mm (`None`: deterministic).
    #[serde(default)]
    pub lip_spread_mm: Option<f64>,
    /// LVE of the mean of the seeds' samples, mm (`None`: deterministic).
    #[serde(default)]
    pub seed_mean_lve_mm: Option<f64>,
    /// Prompt-following accuracy over the emotion prompts (`None`: takes no prompts, or not
    /// measured on this subset).
    pub prompt_following: Option<f64>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Every candidate on every subset.
    pub rows: Vec<Row>,
    /// The emotion classifier's accuracy on the judged clips' true latents: how far its
    /// verdicts on generated motion can be trusted.
    pub classifier_accuracy: f64,
    /// The chance level of beat alignment: each clip's true head motion against the audio
    /// onsets of another clip.
    pub beat_alignment_chance: Option<f64>,
    /// Clips judged.
    pub clips: usize,
    /// The sampling settings.
    pub options: EvalOptions,
}

/// Runs every candidate on `clips`: the scored sample under the clip's own emotion label,
/// the extra seeds for diversity, and the emotion prompts, all through `gnpfa`'s decoder.
/// `style` gives the text-style embedding of an emotion at an intensity; `classifier`
/// judges the emotion prompts. `progress(done, total)` is called after each clip.
///
/// # Errors
/// No clips or candidates, a candidate that fails on a clip (named), or a decoder failure.
pub fn evaluate(
    candidates: &[&dyn Candidate],
    clips: &[EvalClip],
    gnpfa: &Gnpfa,
    style: &dyn Fn(Emotion, Intensity) -> Result<Vec<f32>>,
    classifier: &EmotionClassifier,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    if clips.is_empty() || candidates.is_empty() {
        return Err(EvalError::invalid(
            "evaluation",
            format!("{} clips and {} candidates", clips.len(), candidates.len()),
        ));
    }
    let regions = &gnpfa.template.regions;
    let class_of = |e: Emotion| classifier.classes.iter().position(|c| c == e.name());
    let mut sums: Vec<BTreeMap<String, Scores>> = vec![BTreeMap::new(); candidates.len()];
    let (mut judged, mut judged_right) = (0usize, 0usize);
    let mut chance = BeatAlignment::default();
    for (ci, clip) in clips.iter().enumerate() {
        let n = clip.num_frames();
        gnpfa.check_vertices(&format!("clip {} neutral face", clip.id), &clip.neutral)?;
        if let Some((i, f)) = clip
            .frames
            .iter()
            .enumerate()
            .find(|(_, f)| f.len() != clip.neutral.len())
        {
            return Err(EvalError::invalid(
                format!("clip {} frame {i}", clip.id),
                format!(
                    "{} vertices, its neutral face {}",
                    f.len(),
                    clip.neutral.len()
                ),
            ));
        }
        let true_gaps = inner_lip_gaps(&clip.frames, regions);
        let onsets = audio_onsets(&clip.audio, conditioning::SAMPLE_RATE, clip.fps, n);
        // Chance: the true head beats of this clip against the onsets of another clip.
        let other = &clips[(ci + 1) % clips.len()];
        chance.add(&BeatAlignment::of_clip(
            &head_beats(&clip.head_pose),
            &audio_onsets(
                &other.audio,
                conditioning::SAMPLE_RATE,
                other.fps,
                other.num_frames(),
            ),
        ));
        let own_style = style(clip.emotion, clip.intensity)?;
        let true_latents = {
            let frames: Vec<&[[f32; 3]]> = clip.frames.iter().map(Vec::as_slice).collect();
            gnpfa.encode_frames(&clip.neutral, &frames)?
        };
        judged += 1;
        judged_right += (Some(classifier.predict(&clip_description(&true_latents))?)
            == class_of(clip.emotion)) as usize;
        for (k, candidate) in candidates.iter().enumerate() {
            let named = |e: EvalError| {
                EvalError::invalid(
                    format!("{} on clip {}", candidate.name(), clip.id),
                    e.to_string(),
                )
            };
            let generator = candidate.prepare(clip).map_err(named)?;
            let main = generator.generate(&own_style, 0).map_err(named)?;
            let faces = gnpfa.decode_frames(&clip.neutral, &main.latents)?;
            let gaps = inner_lip_gaps(&faces, regions);
            let mut s = Scores {
                clips: 1,
                lve: LipVertexError::of_sequence(&faces, &clip.frames, &regions.lips),
                sum_fdd_mm2: face_dynamics_deviation(
                    &faces,
                    &clip.frames,
                    &clip.neutral,
                    &regions.upper_face,
                ),
                lip_sync: LipSync::of_clip(&gaps, &true_gaps, &clip.phones, clip.fps),
                beats: BeatAlignment::of_clip(&head_beats(&main.poses), &onsets),
                ..Scores::default()
            };
            if candidate.stochastic() && options.seeds > 1 {
                let mut samples = vec![faces];
                for seed in 1..options.seeds as u64 {
                    let g = generator.generate(&own_style, seed).map_err(named)?;
                    samples.push(gnpfa.decode_frames(&clip.neutral, &g.latents)?);
                }
                if let Some(d) = mean_pairwise_distance(&samples) {
                    s.sum_diversity_mm = d;
                    s.diversity_clips = 1;
                }
                if let Some(l) = pairwise_lip_vertex_error(&samples, &regions.lips) {
                    s.lip_spread = l;
                }
                if let Some(mean) = mean_sample(&samples) {
                    s.seed_mean_lve =
                        LipVertexError::of_sequence(&mean, &clip.frames, &regions.lips);
                }
            }
            if candidate.takes_prompts() && ci < options.prompt_clips {
                for emotion in Emotion::ALL {
                    let g = generator
                        .generate(&style(emotion, options.prompt_intensity)?, 0)
                        .map_err(named)?;
                    let verdict = classifier.predict(&clip_description(&g.latents))?;
                    s.prompts += 1;
                    s.prompts_followed += (Some(verdict) == class_of(emotion)) as usize;
                }
            }
            for subset in [ALL_SPEECH, clip.engine.as_str()] {
                sums[k].entry(subset.to_string()).or_default().add(&s);
            }
        }
        progress(ci + 1, clips.len());
    }
    let mut rows = Vec::new();
    for (candidate, by_subset) in candidates.iter().zip(&sums) {
        // All speech first, then each engine.
        let mut subsets: Vec<&String> = by_subset.keys().collect();
        subsets.sort_by_key(|s| (s.as_str() != ALL_SPEECH, s.to_string()));
        for subset in subsets {
            let s = &by_subset[subset];
            rows.push(Row {
                candidate: candidate.name().to_string(),
                speech: subset.clone(),
                clips: s.clips,
                lve_mm: s.lve.mm(),
                lve_squared_mm2: s.lve.squared_mm2(),
                lip_gap_error_mm: s.lip_sync.gap_error_mm(),
                lip_gap_correlation: s.lip_sync.gap_correlation(),
                bilabial_closure: s.lip_sync.closure(),
                open_vowel_opening: s.lip_sync.opening(),
                fdd_mm2: s.fdd_mm2(),
                beat_alignment: s.beats.score(),
                diversity_mm: s.diversity_mm(),
                lip_spread_mm: (s.lip_spread.frames > 0).then(|| s.lip_spread.mm()),
                seed_mean_lve_mm: (s.seed_mean_lve.frames > 0).then(|| s.seed_mean_lve.mm()),
                prompt_following: s.prompt_following(),
            });
        }
    }
    Ok(EvalReport {
        rows,
        classifier_accuracy: judged_right as f64 / judged.max(1) as f64,
        beat_alignment_chance: chance.score(),
        clips: clips.len(),
        options: *options,
    })
}
