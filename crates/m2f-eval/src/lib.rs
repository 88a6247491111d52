//! # m2f-eval
//!
//! How good a media2face model is, measured on test clips whose truth is known (the
//! synthetic world's held-out voices, sentences and identities), beside the baselines every
//! talking-face paper compares with: the mean face, a deterministic regression model of the
//! same size, and the truth re-encoded through GNPFA (the ceiling). `m2f eval` runs it.
//!
//! The metrics, each in its own module: lip vertex error (MeshTalk; CodeTalker's
//! squared form beside it), upper-face dynamics deviation (CodeTalker), lip closure at
//! bilabials and opening at open vowels against phone timings, beat alignment of head
//! motion (AI Choreographer's BeatAlign), diversity across seeds, and prompt following judged by
//! an emotion classifier trained on true latents.

#![warn(missing_docs)]

mod beat_alignment;
mod candidate;
mod diversity;
mod emotion_classifier;
mod error;
mod evaluate;
mod face_dynamics;
mod lip_sync;
mod lip_vertex_error;
mod recordings;
mod report;
mod test_set;

pub use error::{EvalError, Result};

pub use candidate::{Candidate, ClipGenerator, DenoiserCandidate, Generated, GnpfaTruth, MeanFace};
pub use evaluate::{evaluate, EvalOptions, EvalReport, Row, Scores, ALL_SPEECH};
pub use test_set::{read_split, EvalClip};

pub use beat_alignment::{audio_onsets, head_beats, BeatAlignment, BEAT_SIGMA_FRAMES};
pub use diversity::mean_pairwise_distance;
pub use emotion_classifier::{clip_description, fit_on_training_split, EmotionClassifier};
pub use face_dynamics::{face_dynamics_deviation, upper_face_dynamics};
pub use lip_sync::{inner_lip_gaps, pearson, LipSync, PhoneSpan, CLOSED_GAP_MM};
pub use lip_vertex_error::LipVertexError;
pub use recordings::{
    evaluate_recordings, read_recordings, AlignedPhone, Recording, RecordingsReport, SpeechScores,
};
