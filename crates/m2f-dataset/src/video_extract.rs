//! `m2f extract video`: one part (`--shard i/n`) of a manifest of talking-head videos → records.
//!
//! Each clip: its frames (a video file, a frame folder, or a MediaPipe landmark file) → the
//! face tracker's 468 points per frame (`m2f_tracker::FaceTracker`, or the file's points) →
//! latents, head poses and the clip's neutral ([`motion_from_points`]) → a record with the
//! clip's 16 kHz audio and the manifest's labels. As `extract_synthetic`: re-running skips
//! records made from the same inputs (the source files' bytes, the manifest line, the GNPFA
//! and tracker models, the options, the extractor revision), refuses records made from other
//! inputs, and a failing clip goes to the failure list while the others are extracted.
//!
//! # The manifest
//! JSON lines, one clip per line; paths are relative to the manifest's folder. A line with an
//! unknown field, a missing face source or a repeated id makes the whole manifest an error
//! naming the line, before any clip is touched:
//!
//! ```json
//! {"id": "alice_001", "video": "videos/alice_001.mp4", "split": "train", "emotion": "happy",
//!  "intensity": "medium", "speaker": "alice", "style": "Cheerful and quick.", "tags": ["studio"]}
//! {"id": "bob_007", "landmarks": "tracks/bob_007.jsonl", "video": "videos/bob_007.mp4"}
//! {"id": "carol_3", "frames": "frames/carol_3", "fps": 25, "audio": "audio/carol_3.wav"}
//! ```
//!
//! Exactly one face source: `video` (tracked), `landmarks` (a MediaPipe landmark file, with
//! `video` or `audio` for the sound, and `fps` when it has no timestamps) or `frames` (a frame
//! folder with `fps` and `audio`). Labels: `split` (default train), `emotion` (default
//! neutral), `intensity` (default medium), `speaker` (default the id; speakers are numbered in
//! order of first appearance in the manifest, as the record's identity), `style`, `text`,
//! `tags`; `neutral_frame`, a frame (at 30 fps) showing the face at rest; `neutral_clip`, the
//! id of another clip of the same speaker at rest, whose estimated neutral this clip takes
//! (for a clip that holds one expression throughout, whose own estimate would absorb it; a
//! change to that clip's faces, its face source, `fps` or `neutral_frame`, makes this clip's
//! record one of other inputs too; its sound and labels do not count). A clip's neutral is
//! estimated once per run however many clips take it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use gnpfa::Gnpfa;
use m2f_synth::{Emotion, Intensity, Split, SAMPLE_RATE};
use m2f_tracker::{FaceTracker, TrackerOptions, DETECTOR_FILE, LANDMARK_FILE};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};
use crate::extract::{check_part_count, finish_part, ClipOutcome, ExtractReport};
use crate::features::{ensure_record_features, AudioFeatures};
use crate::fingerprint::sha256_parts;
use crate::frame_dir::FrameDir;
use crate::image_path::{image_estimates, image_rotations, IMAGE_PATH_REVISION};
use crate::landmark_file::{read_landmark_file, LandmarkFileOptions};
use crate::manifest::ManifestLine;
use crate::record::{
    meta_key, Labels, Record, RecordMeta, SourceInfo, EXTRACTOR_REVISION, RECORD_FORMAT,
    SHARD_FORMAT_VERSION,
};
use crate::shard_spec::ShardSpec;
use crate::store::ShardStore;
use crate::synthetic::check_clip_id;
use crate::tracked_motion::{
    motion_from_points, MotionOptions, TrackedMotion, TRACKED_MOTION_REVISION,
};
use crate::video::{probe_video, read_video_audio, VideoFrames, VideoInfo, VIDEO_FPS};

/// One line of a video manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoManifestEntry {
    /// The clip's name: one plain path component, unique in the manifest.
    pub id: String,
    /// A video file (MP4, MKV, MOV, WebM): the faces when no other source is given, and the
    /// sound when no `audio` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    /// A MediaPipe landmark file (JSON lines, JSON or CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<String>,
    /// A folder of frames (PNG or JPEG, in natural order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<String>,
    /// The frame rate of `frames`, or of a landmark file without timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// An audio file (WAV, FLAC, MP3, Ogg, M4A) with the speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
    /// train / val / test.
    #[serde(default = "default_split")]
    pub split: Split,
    /// One of the 8 MEAD emotions.
    #[serde(default = "default_emotion")]
    pub emotion: Emotion,
    /// low / medium / high.
    #[serde(default = "default_intensity")]
    pub intensity: Intensity,
    /// Who speaks (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// A sentence describing the speaking style (the text prompt).
    #[serde(default)]
    pub style: String,
    /// What is said, if known.
    #[serde(default)]
    pub text: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A frame (at 30 fps) showing the face at rest, used as the neutral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral_frame: Option<usize>,
    /// Another clip of the manifest, of the same speaker at rest (a neutral-emotion clip): its
    /// estimated neutral is this clip's. Without it a clip's neutral is estimated from the clip
    /// itself, which absorbs an expression held through the whole clip (raised brows of a
    /// surprised take).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral_clip: Option<String>,
}

fn default_split() -> Split {
    Split::Train
}
fn default_emotion() -> Emotion {
    Emotion::Neutral
}
fn default_intensity() -> Intensity {
    Intensity::Medium
}

/// Where a clip's faces come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaceSource {
    Video,
    Landmarks,
    Frames,
}

impl FaceSource {
    fn kind(self) -> &'static str {
        match self {
            FaceSource::Video => "video",
            FaceSource::Landmarks => "landmarks",
            FaceSource::Frames => "frames",
        }
    }
}

impl VideoManifestEntry {
    fn face_source(&self) -> std::result::Result<FaceSource, String> {
        match (&self.video, &self.landmarks, &self.frames) {
            (_, Some(_), Some(_)) => Err("give `landmarks` or `frames`, not both".into()),
            (_, Some(_), None) => {
                if self.video.is_none() && self.audio.is_none() {
                    Err("a `landmarks` clip needs `video` or `audio` for its sound".into())
                } else {
                    Ok(FaceSource::Landmarks)
                }
            }
            (_, None, Some(_)) => {
                if self.fps.is_none() || self.audio.is_none() {
                    Err("a `frames` clip needs `fps` and `audio`".into())
                } else {
                    Ok(FaceSource::Frames)
                }
            }
            (Some(_), None, None) => Ok(FaceSource::Video),
            (None, None, None) => {
                Err("no face source: give `video`, `landmarks` or `frames`".into())
            }
        }
    }
}

/// A video manifest, read and checked.
#[derive(Debug, Clone)]
pub struct VideoManifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its name in record ids (the file name without extension).
    pub tag: String,
    /// Its clips in file order.
    pub entries: Vec<VideoManifestEntry>,
    /// Speakers in order of first appearance: a record's identity is its speaker's index here.
    pub speakers: Vec<String>,
}

impl VideoManifest {
    /// Reads and checks a manifest.
    ///
    /// # Errors
    /// [`DatasetError::Io`] for an unreadable file; [`DatasetError::Invalid`] naming the line
    /// for malformed JSON, an unknown field, an id that is not one plain name or is repeated,
    /// a line without a face source or with two, a non-positive `fps`, or a `neutral_clip`
    /// that is not another clip of the manifest of the same speaker taking no neutral itself,
    /// or is given with `neutral_frame`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        let tag = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("videos")
            .to_string();
        let mut entries = Vec::new();
        let mut seen = HashMap::new();
        let mut speakers: Vec<String> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |message: String| {
                DatasetError::invalid(format!("{} line {}", path.display(), n + 1), message)
            };
            let entry: VideoManifestEntry =
                serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            check_clip_id(&entry.id).map_err(|e| at(e.to_string()))?;
            entry.face_source().map_err(at)?;
            if let Some(fps) = entry.fps {
                if !(fps.is_finite() && fps > 0.0) {
                    return Err(at(format!("fps {fps} is not a positive frame rate")));
                }
            }
            if let Some(first) = seen.insert(entry.id.clone(), n + 1) {
                return Err(at(format!("id {:?} is already on line {first}", entry.id)));
            }
            let speaker = entry.speaker.clone().unwrap_or_else(|| entry.id.clone());
            if !speakers.contains(&speaker) {
                speakers.push(speaker);
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(DatasetError::invalid(
                path.display().to_string(),
                "the manifest lists no clip",
            ));
        }
        for entry in &entries {
            let Some(other) = &entry.neutral_clip else {
                continue;
            };
            let at = |message: String| {
                DatasetError::invalid(
                    format!("{} line {}", path.display(), seen[&entry.id]),
                    message,
                )
            };
            let Some(neutral) = entries.iter().find(|e| &e.id == other) else {
                return Err(at(format!(
                    "neutral_clip {other:?} is not a clip of this manifest"
                )));
            };
            if neutral.id == entry.id {
                return Err(at("neutral_clip names the clip itself".into()));
            }
            if entry.neutral_frame.is_some() {
                return Err(at(
                    "give `neutral_frame` or `neutral_clip`, not both: each sets the neutral"
                        .into(),
                ));
            }
            if neutral.neutral_clip.is_some() {
                return Err(at(format!(
                    "neutral_clip {other:?} takes its own neutral from another clip: name that one"
                )));
            }
            let speaker =
                |e: &VideoManifestEntry| e.speaker.clone().unwrap_or_else(|| e.id.clone());
            if speaker(neutral) != speaker(entry) {
                return Err(at(format!(
                    "neutral_clip {other:?} is of speaker {:?}, this clip of {:?}: a neutral is one \
                     speaker's (give both clips the same `speaker`)",
                    speaker(neutral),
                    speaker(entry)
                )));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            tag,
            entries,
            speakers,
        })
    }

    /// The id of the record made from `entry`: `<tag>/<clip id>/v0`.
    pub fn record_id(&self, entry: &VideoManifestEntry) -> String {
        format!("{}/{}/v0", self.tag, entry.id)
    }

    /// The clip's frames at 30 fps, decoded one at a time: from its frame folder, else its
    /// video; `None` for a clip that has neither (a landmark file alone).
    ///
    /// # Errors
    /// A video that cannot be probed or opened, a frame folder that cannot be listed.
    pub fn source_frames(
        &self,
        entry: &VideoManifestEntry,
    ) -> Result<Option<Box<dyn Iterator<Item = Result<image::RgbImage>>>>> {
        Ok(match (&entry.frames, &entry.video) {
            (Some(dir), _) => Some(Box::new(
                FrameDir::open(&self.resolve(dir), entry.fps.unwrap_or(30.0))?.frames(),
            )),
            (None, Some(video)) => {
                let path = self.resolve(video);
                let info = probe_video(&path)?;
                Some(Box::new(VideoFrames::open(&path, &info, None)?))
            }
            (None, None) => None,
        })
    }

    fn resolve(&self, relative: &str) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(relative)
    }
}

/// How a frame's face becomes a latent and a head pose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FacePath {
    /// The tracked points through `E_geo` ([`motion_from_points`]): MediaPipe's model, trained
    /// on photographs, reads the face.
    #[default]
    Landmarks,
    /// A crop of each frame through GNPFA's image encoders (`E_exp` for the latent, `E_pose` for
    /// the rotation, smoothed over 13 frames by [`image_rotations`](crate::image_rotations);
    /// the translation and the neutral still come from the tracked points): the
    /// encoders read the face, as trained on the synthetic world's renders. Needs frames (a
    /// landmark file only with its video).
    Image,
}

/// What to extract from a video manifest.
#[derive(Debug, Clone)]
pub struct VideoExtractOptions {
    /// Which part of the manifest.
    pub shard: ShardSpec,
    /// The folder holding MediaPipe's `face_detection_short_range.tflite` and
    /// `face_landmark.tflite`.
    pub models: PathBuf,
    /// How tracked points become motion.
    pub motion: MotionOptions,
    /// Which model reads each frame's expression and rotation.
    pub path: FacePath,
}

fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Extracts part `opts.shard` of `manifest` onto `store`, calling `on_clip` after each clip;
/// with `features`, also stores each record's audio features (as `extract_synthetic`). Writes
/// `manifests/<part>.jsonl` and, if any clip failed, `failures/<part>.jsonl`.
///
/// # Errors
/// Only for the whole part: `opts.motion` out of range ([`MotionOptions::validate`]), the
/// tracker's models cannot be loaded, GNPFA is not on the 468-point face, the store cannot be
/// written. Per-clip errors go to the failure list.
pub fn extract_videos(
    manifest: &VideoManifest,
    gnpfa: &Gnpfa,
    gnpfa_fingerprint: &str,
    features: Option<&AudioFeatures>,
    store: &ShardStore,
    opts: &VideoExtractOptions,
    on_clip: impl Fn(&ClipOutcome) + Sync,
) -> Result<ExtractReport> {
    opts.motion.validate()?;
    let tracker_error =
        |e: m2f_tracker::TrackerError| DatasetError::invalid("face tracker models", e.to_string());
    // Loaded once here so that missing models fail the part, not every clip.
    FaceTracker::load(&opts.models, TrackerOptions::default()).map_err(tracker_error)?;
    if gnpfa.template.mesh.vertices.len() != m2f_tracker::MESH_POINTS {
        return Err(DatasetError::invalid(
            "GNPFA checkpoint",
            format!(
                "its face has {} vertices; tracked faces have MediaPipe's {}",
                gnpfa.template.mesh.vertices.len(),
                m2f_tracker::MESH_POINTS
            ),
        ));
    }
    check_part_count(store, opts.shard)?;
    let models_hash = sha256_parts([
        file_sha256(&opts.models.join(DETECTOR_FILE))?.as_bytes(),
        file_sha256(&opts.models.join(LANDMARK_FILE))?.as_bytes(),
    ]);
    let job = VideoJob {
        manifest,
        gnpfa,
        fingerprint: gnpfa_fingerprint,
        features,
        store,
        opts,
        models_hash,
        neutrals: Default::default(),
    };
    let part: Vec<&VideoManifestEntry> = manifest
        .entries
        .iter()
        .enumerate()
        .filter(|(p, _)| opts.shard.contains(*p))
        .map(|(_, e)| e)
        .collect();
    let results: Vec<(ClipOutcome, Vec<ManifestLine>)> = part
        .par_iter()
        .map(|entry| {
            let (outcome, line) = m2f_kernels::serial_products(|| job.clip(entry));
            on_clip(&outcome);
            (outcome, line.into_iter().collect())
        })
        .collect();
    finish_part(store, opts.shard, part.len(), results)
}

struct VideoJob<'a> {
    manifest: &'a VideoManifest,
    gnpfa: &'a Gnpfa,
    fingerprint: &'a str,
    features: Option<&'a AudioFeatures>,
    store: &'a ShardStore,
    opts: &'a VideoExtractOptions,
    models_hash: String,
    /// Neutrals estimated from `neutral_clip`s in this run, by clip id: many clips of a
    /// speaker share one neutral take, which is tracked once.
    neutrals: std::sync::Mutex<HashMap<String, std::sync::Arc<Vec<[f32; 3]>>>>,
}

/// A clip's tracked points per frame (`None` where no face was found) and its frame size.
type Track = (Vec<Option<Vec<[f32; 3]>>>, (u32, u32));

/// A clip's faces and sound, before motion.
struct ClipInput {
    track: Vec<Option<Vec<[f32; 3]>>>,
    image_size: (u32, u32),
    audio: Vec<f32>,
}

impl VideoJob<'_> {
    fn clip(&self, entry: &VideoManifestEntry) -> (ClipOutcome, Option<ManifestLine>) {
        let mut outcome = ClipOutcome::new(&entry.id);
        let id = self.manifest.record_id(entry);
        let existing = Record::read_meta(self.store, &id).ok().flatten();
        let made = self
            .make_or_keep(entry, &id, &existing, &mut outcome)
            .and_then(|record| {
                if let Some(features) = self.features {
                    if ensure_record_features(self.store, features, &record)? {
                        outcome.features_written += 1;
                    }
                }
                Ok(record.meta)
            });
        match made {
            Ok(meta) => {
                outcome.frames = meta.num_frames;
                (outcome, Some(ManifestLine::of(&meta)))
            }
            Err(e) => {
                outcome.failure = Some(e.to_string());
                // A record made before stays listed.
                (outcome, existing.as_ref().map(ManifestLine::of))
            }
        }
    }

    /// The clip whose neutral `entry` takes (checked when the manifest was read).
    fn neutral_entry(&self, entry: &VideoManifestEntry) -> Option<&VideoManifestEntry> {
        let id = entry.neutral_clip.as_ref()?;
        self.manifest.entries.iter().find(|e| &e.id == id)
    }

    /// The neutral estimated from `other`'s faces (its sound is not read), once per run.
    fn neutral_of(
        &self,
        entry: &VideoManifestEntry,
        other: &VideoManifestEntry,
    ) -> Result<std::sync::Arc<Vec<[f32; 3]>>> {
        let cached = |neutrals: &HashMap<_, std::sync::Arc<_>>| neutrals.get(&other.id).cloned();
        if let Some(n) = cached(&self.neutrals.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(n);
        }
        let at = |e: DatasetError| {
            DatasetError::invalid(
                format!("clip {}: its neutral_clip {}", entry.id, other.id),
                e.to_string(),
            )
        };
        let rest = self.read_faces(other).map_err(at)?;
        let options = MotionOptions {
            neutral_frame: other.neutral_frame,
            ..self.opts.motion.clone()
        };
        let motion = motion_from_points(self.gnpfa, &rest.0, rest.1, None, &options).map_err(at)?;
        let neutral = std::sync::Arc::new(motion.neutral);
        self.neutrals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(other.id.clone(), neutral.clone());
        Ok(neutral)
    }

    /// SHA-256 of each of the clip's source files: video, landmarks, audio (when `with_audio`)
    /// and every frame.
    fn file_hashes(&self, entry: &VideoManifestEntry, with_audio: bool) -> Result<Vec<String>> {
        let mut hashes = Vec::new();
        let audio = if with_audio { &entry.audio } else { &None };
        for path in [&entry.video, &entry.landmarks, audio]
            .into_iter()
            .flatten()
        {
            hashes.push(file_sha256(&self.manifest.resolve(path))?);
        }
        if let Some(dir) = &entry.frames {
            let frames = FrameDir::open(&self.manifest.resolve(dir), entry.fps.unwrap_or(30.0))?;
            for file in frames.files() {
                hashes.push(file_sha256(file)?);
            }
        }
        Ok(hashes)
    }

    /// What a neutral taken from `other` depends on: its faces' source files, frame rate and
    /// neutral frame (not its sound or its labels).
    fn neutral_inputs(
        &self,
        entry: &VideoManifestEntry,
        other: &VideoManifestEntry,
    ) -> Result<String> {
        let mut parts = self.file_hashes(other, false).map_err(|e| {
            DatasetError::invalid(
                format!("clip {}: its neutral_clip {}", entry.id, other.id),
                e.to_string(),
            )
        })?;
        parts.push(format!("{:?} {:?}", other.fps, other.neutral_frame));
        Ok(sha256_parts(parts.iter().map(|p| p.as_bytes())))
    }

    fn inputs(&self, entry: &VideoManifestEntry) -> Result<(String, String)> {
        let hashes = self.file_hashes(entry, true)?;
        let source_hash = sha256_parts(hashes.iter().map(|h| h.as_bytes()));
        let line = serde_json::to_vec(entry)
            .map_err(|e| DatasetError::invalid("manifest line", e.to_string()))?;
        let mut motion = format!(
            "{:?} {:?} tracked motion revision {TRACKED_MOTION_REVISION}",
            self.opts.motion, self.opts.path
        );
        if self.opts.path == FacePath::Image {
            motion.push_str(&format!(" image path revision {IMAGE_PATH_REVISION}"));
        }
        let revision = EXTRACTOR_REVISION.to_le_bytes();
        // A neutral taken from another clip depends on that clip's faces too.
        let neutral = match self.neutral_entry(entry) {
            Some(other) => self.neutral_inputs(entry, other)?,
            None => String::new(),
        };
        let mut parts = vec![
            revision.as_slice(),
            source_hash.as_bytes(),
            self.fingerprint.as_bytes(),
            self.models_hash.as_bytes(),
            &line,
            motion.as_bytes(),
        ];
        if !neutral.is_empty() {
            parts.push(neutral.as_bytes());
        }
        let inputs = sha256_parts(parts);
        Ok((source_hash, inputs))
    }

    fn make_or_keep(
        &self,
        entry: &VideoManifestEntry,
        id: &str,
        existing: &Option<RecordMeta>,
        outcome: &mut ClipOutcome,
    ) -> Result<Record> {
        let (source_hash, inputs) = self.inputs(entry)?;
        if let Some(old) = existing {
            if old.inputs == inputs {
                if let Ok(record) = Record::read(self.store, id) {
                    outcome.skipped += 1;
                    return Ok(record);
                }
            } else {
                return Err(DatasetError::OtherInputs {
                    location: format!("{}: {}", self.store.name(), meta_key(id)),
                    message: "made from other inputs (the source files, the manifest line, the \
                              GNPFA or tracker models, or the options differ)"
                        .into(),
                });
            }
        }
        let input = self.read_clip(entry)?;
        let neutral = match self.neutral_entry(entry) {
            Some(other) => Some(self.neutral_of(entry, other)?),
            None => None,
        };
        let motion_opts = MotionOptions {
            neutral_frame: entry.neutral_frame,
            ..self.opts.motion.clone()
        };
        let mut motion = motion_from_points(
            self.gnpfa,
            &input.track,
            input.image_size,
            neutral.as_deref().map(Vec::as_slice),
            &motion_opts,
        )?;
        if self.opts.path == FacePath::Image {
            self.read_images(entry, &mut motion, input.image_size)?;
        }
        let mut record = self.build(entry, id, source_hash, inputs, motion, input.audio)?;
        record.write(self.store)?;
        outcome.written += 1;
        Ok(record)
    }

    fn read_clip(&self, entry: &VideoManifestEntry) -> Result<ClipInput> {
        // Probed once: each probe runs ffprobe and decodes the first packets of both tracks.
        let video = self.probe(entry)?;
        let audio = match (&entry.audio, &video) {
            (Some(a), _) => {
                let path = self.manifest.resolve(a);
                conditioning::read_audio(&path)
                    .map_err(|e| DatasetError::invalid(path.display().to_string(), e.to_string()))?
                    .samples
            }
            (None, Some((path, info))) => read_video_audio(path, info, None)?,
            (None, None) => unreachable!("checked when the manifest was read"),
        };
        let (track, image_size) = self.track_faces(entry, video.as_ref())?;
        Ok(ClipInput {
            track,
            image_size,
            audio,
        })
    }

    /// A clip's tracked faces and frame size, without its sound.
    fn read_faces(&self, entry: &VideoManifestEntry) -> Result<Track> {
        let video = self.probe(entry)?;
        self.track_faces(entry, video.as_ref())
    }

    fn probe(&self, entry: &VideoManifestEntry) -> Result<Option<(PathBuf, VideoInfo)>> {
        entry
            .video
            .as_ref()
            .map(|v| {
                let path = self.manifest.resolve(v);
                let info = probe_video(&path)?;
                Ok((path, info))
            })
            .transpose()
    }

    fn track_faces(
        &self,
        entry: &VideoManifestEntry,
        video: Option<&(PathBuf, VideoInfo)>,
    ) -> Result<Track> {
        let source = entry
            .face_source()
            .map_err(|e| DatasetError::invalid(format!("clip {}", entry.id), e))?;
        let track_frames = |frames: &mut dyn Iterator<Item = Result<image::RgbImage>>| -> Result<(Vec<_>, (u32, u32))> {
            let mut tracker = FaceTracker::load(&self.opts.models, TrackerOptions::default())
                .map_err(|e| DatasetError::invalid("face tracker models", e.to_string()))?;
            let mut track = Vec::new();
            let mut size = (0, 0);
            for frame in frames {
                let frame = frame?;
                size = frame.dimensions();
                let face = tracker
                    .track(&frame)
                    .map_err(|e| DatasetError::invalid(format!("frame {}", track.len()), e.to_string()))?;
                track.push(face.map(|f| f.landmarks.points));
            }
            Ok((track, size))
        };
        Ok(match source {
            FaceSource::Video => {
                let (path, info) = video.expect("a video source has a video");
                track_frames(&mut VideoFrames::open(path, info, None)?)?
            }
            FaceSource::Frames => {
                let dir = self
                    .manifest
                    .resolve(entry.frames.as_deref().expect("a frames source"));
                let frames = FrameDir::open(&dir, entry.fps.expect("checked"))?;
                track_frames(&mut frames.frames())?
            }
            FaceSource::Landmarks => {
                let path = self
                    .manifest
                    .resolve(entry.landmarks.as_deref().expect("a landmarks source"));
                let image_size = video.map(|(_, i)| (i.width, i.height));
                let file = read_landmark_file(
                    &path,
                    &LandmarkFileOptions {
                        source_fps: entry.fps,
                        image_size,
                        normalized: None,
                    },
                )?;
                let size = file.image_size.unwrap_or_else(|| centre_size(&file.frames));
                (file.frames, size)
            }
        })
    }

    /// Replaces the latents and rotations with the image encoders' readings of the frames
    /// (read again: the crops need every frame's fit, which needs the whole clip's points).
    fn read_images(
        &self,
        entry: &VideoManifestEntry,
        motion: &mut TrackedMotion,
        size: (u32, u32),
    ) -> Result<()> {
        let at = |message: String| DatasetError::invalid(format!("clip {}", entry.id), message);
        let Some(mut frames) = self.manifest.source_frames(entry)? else {
            return Err(at(
                "the image path needs the clip's frames: give its `video`".into(),
            ));
        };
        let mut estimates = Vec::with_capacity(motion.geometry.len());
        let mut batch = Vec::new();
        for fits in motion.geometry.chunks(64) {
            batch.clear();
            for _ in fits {
                let frame = frames
                    .next()
                    .ok_or_else(|| at("fewer frames than on the first reading".into()))??;
                batch.push(frame);
            }
            estimates.extend(image_estimates(self.gnpfa, &batch, fits, size)?);
        }
        let rotations = image_rotations(&estimates);
        for ((pose, latent), (estimate, r)) in motion
            .head_pose
            .iter_mut()
            .zip(motion.latents.iter_mut())
            .zip(estimates.into_iter().zip(&rotations))
        {
            *latent = estimate.latent;
            pose.rotation = *r;
        }
        Ok(())
    }

    fn build(
        &self,
        entry: &VideoManifestEntry,
        id: &str,
        source_hash: String,
        inputs: String,
        motion: TrackedMotion,
        audio: Vec<f32>,
    ) -> Result<Record> {
        // Frames and sound cover the same time: the shorter one decides.
        let fps = VIDEO_FPS as f64;
        let frames_of_audio = (audio.len() as f64 / SAMPLE_RATE as f64 * fps).round() as usize;
        let num_frames = motion.latents.len().min(frames_of_audio);
        if num_frames == 0 {
            return Err(DatasetError::invalid(
                format!("clip {}", entry.id),
                format!(
                    "{} frames and {} audio samples: nothing to extract",
                    motion.latents.len(),
                    audio.len()
                ),
            ));
        }
        let samples = audio
            .len()
            .min((num_frames as f64 / fps * SAMPLE_RATE as f64).ceil() as usize);
        let pcm: Vec<i16> = audio[..samples]
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect();
        let speaker = entry.speaker.clone().unwrap_or_else(|| entry.id.clone());
        let identity = self
            .manifest
            .speakers
            .iter()
            .position(|s| *s == speaker)
            .unwrap_or(0) as u32;
        let source = entry
            .face_source()
            .map_err(|e| DatasetError::invalid(format!("clip {}", entry.id), e))?;
        Ok(Record {
            meta: RecordMeta {
                format: RECORD_FORMAT.to_string(),
                format_version: SHARD_FORMAT_VERSION,
                id: id.to_string(),
                source: SourceInfo {
                    kind: source.kind().to_string(),
                    dataset: self.manifest.tag.clone(),
                    clip: entry.id.clone(),
                },
                variant: 0,
                augmentation: None,
                babble: Vec::new(),
                speed: 1.0,
                split: entry.split,
                labels: Labels {
                    emotion: entry.emotion,
                    intensity: entry.intensity,
                    style: entry.style.clone(),
                    text: entry.text.clone(),
                    voice: speaker,
                    identity,
                    tags: entry.tags.clone(),
                },
                fps: VIDEO_FPS as f32,
                num_frames,
                sample_rate: SAMPLE_RATE,
                num_samples: pcm.len(),
                latent_dim: self.gnpfa.config.latent_dim,
                gnpfa: self.fingerprint.to_string(),
                source_hash,
                extractor_revision: EXTRACTOR_REVISION,
                inputs,
                tensors_sha256: String::new(),
                phonemes: Vec::new(),
                words: Vec::new(),
                extractor: format!("m2f-dataset {}", env!("CARGO_PKG_VERSION")),
            },
            latents: motion.latents[..num_frames]
                .iter()
                .flatten()
                .copied()
                .collect(),
            head_pose: motion.head_pose[..num_frames]
                .iter()
                .flat_map(|p| p.to_array())
                .collect(),
            audio: pcm,
            neutral: motion.neutral.iter().flatten().copied().collect(),
        })
    }
}

/// A stand-in image size for points given without one: twice the points' median position, so
/// that the "image centre" head translations are measured from is where the face mostly is
/// (translations are made relative to the clip's mean anyway).
fn centre_size(track: &[Option<Vec<[f32; 3]>>]) -> (u32, u32) {
    let mut xs: Vec<f32> = track
        .iter()
        .flatten()
        .flat_map(|p| p.iter().map(|q| q[0]))
        .collect();
    let mut ys: Vec<f32> = track
        .iter()
        .flatten()
        .flat_map(|p| p.iter().map(|q| q[1]))
        .collect();
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0).max(0.0)
    };
    (
        (2.0 * median(&mut xs)) as u32,
        (2.0 * median(&mut ys)) as u32,
    )
}
