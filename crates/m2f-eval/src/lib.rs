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
//! an emotion classifier trained on true latents. Where there is no truth (a real video),
//! `PathComparison` sets the two ways of extracting a face from video against each other.
//!
//! ```
//! use m2f_eval::LipVertexError;
//!
//! // Two frames of a three-vertex "face" whose lip vertex (index 2) is 2 mm off in one frame.
//! let truth = vec![[[0.0f32, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, -0.02, 0.0]]; 2];
//! let mut generated = truth.clone();
//! generated[1][2][1] -= 0.002;
//! let lve = LipVertexError::of_sequence(&generated, &truth, &[2]);
//! assert!((lve.mm() - 1.0).abs() < 1e-6); // mean over frames of the worst lip vertex, mm
//! ```

mod beat_alignment;
mod candidate;
mod diversity;
mod emotion_classifier;
mod error;
mod evaluate;
mod extraction_paths;
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
pub use extraction_paths::{PathAgreement, PathComparison};
pub use face_dynamics::{face_dynamics_deviation, upper_face_dynamics};
pub use lip_sync::{inner_lip_gaps, pearson, LipSync, PhoneSpan, CLOSED_GAP_MM};
pub use lip_vertex_error::LipVertexError;
pub use recordings::{
    evaluate_recordings, read_recordings, AlignedPhone, Recording, RecordingsReport, SpeechScores,
};
