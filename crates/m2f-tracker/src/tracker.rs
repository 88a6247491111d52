//! Tracking a face through the frames of a video, as MediaPipe's face mesh does in video mode:
//! the face mesh runs on the crop that the previous frame's points give, and the detector runs
//! only when there is no face yet or the mesh says the face is gone. Unlike MediaPipe, a lost
//! track is re-detected in the same frame rather than the next one, so no frame with a face is
//! skipped.

use std::path::Path;

use image::RgbImage;

use crate::detector::{FaceDetector, DETECTOR_FILE, MIN_DETECTION_SCORE};
use crate::landmarker::{region_from_detection, FaceLandmarker, FaceLandmarks, LANDMARK_FILE};
use crate::region::RotatedRect;
use crate::Result;

/// Thresholds of a [`FaceTracker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerOptions {
    /// Detector score a new face needs (MediaPipe's `min_detection_confidence`, 0.5).
    pub min_detection_score: f32,
    /// Face-presence probability below which the mesh's face counts as lost (MediaPipe's
    /// `min_tracking_confidence`, 0.5).
    pub min_presence: f32,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            min_detection_score: MIN_DETECTION_SCORE,
            min_presence: 0.5,
        }
    }
}

/// How a frame's face was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// From the previous frame's points.
    Tracking,
    /// By the detector (first frame, or after the track was lost).
    Detection,
}

/// One frame's face.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFace {
    /// The mesh points, in the frame's pixels.
    pub landmarks: FaceLandmarks,
    /// How the crop was found.
    pub found_by: FoundBy,
}

/// The detector and face mesh, with the crop carried from frame to frame.
#[derive(Debug)]
pub struct FaceTracker {
    detector: FaceDetector,
    landmarker: FaceLandmarker,
    options: TrackerOptions,
    /// The crop the previous frame's points give; `None` before the first face or after a loss.
    region: Option<RotatedRect>,
}

impl FaceTracker {
    /// Loads both models from a directory holding MediaPipe's `face_detection_short_range.tflite`
    /// and `face_landmark.tflite`.
    ///
    /// # Errors
    /// Those of [`FaceDetector::load`] and [`FaceLandmarker::load`].
    pub fn load(models: &Path, options: TrackerOptions) -> Result<Self> {
        Ok(Self::new(
            FaceDetector::load(&models.join(DETECTOR_FILE))?,
            FaceLandmarker::load(&models.join(LANDMARK_FILE))?,
            options,
        ))
    }

    /// A tracker over loaded models.
    pub fn new(
        detector: FaceDetector,
        landmarker: FaceLandmarker,
        options: TrackerOptions,
    ) -> Self {
        Self {
            detector,
            landmarker,
            options,
            region: None,
        }
    }

    /// Forgets the current face (for the first frame of another video).
    pub fn reset(&mut self) {
        self.region = None;
    }

    /// The face in the next frame of the video, or `None` when there is none.
    ///
    /// # Errors
    /// [`crate::TrackerError::Invalid`] for an empty frame; model failures.
    pub fn track(&mut self, frame: &RgbImage) -> Result<Option<TrackedFace>> {
        if let Some(region) = self.region.take() {
            let landmarks = self.landmarker.landmarks(frame, &region)?;
            if landmarks.presence >= self.options.min_presence {
                self.region = Some(landmarks.next_region());
                return Ok(Some(TrackedFace {
                    landmarks,
                    found_by: FoundBy::Tracking,
                }));
            }
        }
        let Some(best) = self
            .detector
            .detect(frame, self.options.min_detection_score)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let landmarks = self
            .landmarker
            .landmarks(frame, &region_from_detection(&best))?;
        if landmarks.presence < self.options.min_presence {
            return Ok(None);
        }
        self.region = Some(landmarks.next_region());
        Ok(Some(TrackedFace {
            landmarks,
            found_by: FoundBy::Detection,
        }))
    }

    /// The detector, for single images.
    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// The face mesh model, for single images.
    pub fn landmarker(&self) -> &FaceLandmarker {
        &self.landmarker
    }
}
