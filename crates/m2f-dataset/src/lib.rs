//! Training data for media2face (Media2Face's M2F-D): sources → GNPFA latents + head pose +
//! labels → records on a store, audio-augmented variants, and the window reader trainers use.
//!
//! The flow: a source ([`SyntheticSource`], an `m2f synth` dataset whose clips carry the true
//! face of every frame) → GNPFA's `E_geo` over every frame ([`encode_clip`]) → a [`Record`]
//! per clip and augmented variant on a [`ShardStore`] (local directory, memory or cloud
//! bucket), listed in JSON-lines manifests ([`extract_synthetic`], one `--shard i/n` part at a
//! time) → a [`Dataset`] that checks every record came from one GNPFA checkpoint, keeps
//! normalisation statistics ([`NormStats`]) and serves seeded [`WindowBatch`]es
//! ([`WindowSampler`]). The format is in `docs/dataset-format.md`.
//!
//! ```no_run
//! use m2f_dataset::{Dataset, LoadOptions, ShardStore, WindowConfig, WindowSampler};
//! use m2f_synth::Split;
//!
//! # fn main() -> Result<(), m2f_dataset::DatasetError> {
//! let dataset = Dataset::open(ShardStore::open_read("out/shards")?, None)?;
//! let options = LoadOptions { audio: true, ..LoadOptions::default() };
//! let train = dataset.load(Split::Train, &options)?;
//! let config = WindowConfig { len: 200, stride: 50, batch: 32, with_audio: true };
//! let mut sampler = WindowSampler::new(&train, dataset.stats(), config, 0)?;
//! let batch = sampler.next_batch();
//! assert_eq!(batch.motion.len(), 32 * 200 * train.motion_dim);
//! # Ok(())
//! # }
//! ```

mod diffusion_windows;
mod error;
mod extract;
mod features;
mod fingerprint;
mod frame_dir;
mod gnpfa_data;
mod image_path;
mod joint_log_mel;
mod landmark_file;
mod manifest;
mod reader;
mod record;
mod record_preview;
mod shard_spec;
mod stats;
mod store;
mod synthetic;
mod tracked_motion;
mod video;
mod video_extract;

pub use error::{DatasetError, Result};
// Making records.
pub use extract::{extract_synthetic, ClipOutcome, ExtractOptions, ExtractReport};
pub use features::{ensure_features, features_key, AudioFeatures, FeatureInfo, StoredFeatures};
pub use fingerprint::{gnpfa_fingerprint, load_gnpfa, sha256_hex};
pub use shard_spec::ShardSpec;
pub use synthetic::{encode_clip, SourceClip, SyntheticSource};
// Talking-head videos (a manifest of video files, frame folders or landmark files) → records.
pub use video_extract::{
    extract_videos, FacePath, VideoExtractOptions, VideoManifest, VideoManifestEntry,
};
// A video record rendered beside its source frames, with its audio.
pub use record_preview::{record_preview_frames, write_record_previews, PreviewReport};
// GNPFA's image path on tracked frames (E_exp, E_pose on encoder crops).
pub use image_path::{encoder_crop, image_estimates, image_rotations};
// Tracked faces → latents, head poses and the clip's neutral.
pub use tracked_motion::{motion_from_points, MotionOptions, TrackedMotion};
// Video files in: frames at 30 fps and 16 kHz audio on one clock, through ffmpeg.
pub use video::{
    probe_video, read_video, read_video_audio, VideoClip, VideoFrames, VideoInfo, VideoReadOptions,
    AUDIO_RATE, VIDEO_FPS,
};
// Folders of frames (PNG/JPEG) plus an audio file in: frames at 30 fps and 16 kHz audio.
pub use frame_dir::{read_frame_dir, FrameDir, FrameDirClip, FrameDirFrames};
// MediaPipe face landmark files (JSON lines, JSON, CSV) in: 468 points per frame at 30 fps.
pub use landmark_file::{
    read_landmark_file, LandmarkFileOptions, LandmarkTrack, FACE_MESH_POINTS,
    FACE_MESH_POINTS_WITH_IRISES,
};
// The format.
pub use manifest::{read_manifests, Failure, ManifestLine, FAILURE_DIR, MANIFEST_DIR};
pub use record::{
    meta_key, tensors_key, Labels, Record, RecordMeta, SourceInfo, EXTRACTOR_REVISION,
    RECORD_FORMAT, SHARD_FORMAT_VERSION,
};
pub use stats::{NormStats, MIN_STD, STATS_KEY};
pub use store::ShardStore;
// GNPFA's training data.
pub use gnpfa_data::{test_frames, WorldData, WorldSource};
// Reading for training.
pub use diffusion_windows::{DiffusionWindows, WindowAudio};
pub use joint_log_mel::{JointLogMel, LOG_MEL_FEATURES};
pub use reader::{
    ClipData, Dataset, LoadOptions, SplitData, Variants, WindowBatch, WindowConfig, WindowSampler,
    WindowSource,
};
