//! A detected face and MediaPipe's weighted non-maximum suppression, which merges the boxes of
//! overlapping anchors into one, each weighted by its score (`NonMaxSuppressionCalculator` with
//! `algorithm: WEIGHTED`, IoU threshold 0.3).

/// The six face keypoints of the short-range detector, in its output order.
pub const KEYPOINTS: [&str; 6] = [
    "right eye",
    "left eye",
    "nose tip",
    "mouth",
    "right ear",
    "left ear",
];

/// One face found by the detector, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Face probability (sigmoid of the classifier's logit).
    pub score: f32,
    /// Top-left corner of the box.
    pub min: [f32; 2],
    /// Bottom-right corner of the box.
    pub max: [f32; 2],
    /// Keypoints in [`KEYPOINTS`] order (the subject's right eye appears on the image's left).
    pub keypoints: [[f32; 2]; 6],
}

impl Detection {
    fn area(&self) -> f32 {
        (self.max[0] - self.min[0]).max(0.0) * (self.max[1] - self.min[1]).max(0.0)
    }

    /// Intersection over union of two boxes (0 when either is empty).
    pub fn iou(&self, other: &Detection) -> f32 {
        let w = self.max[0].min(other.max[0]) - self.min[0].max(other.min[0]);
        let h = self.max[1].min(other.max[1]) - self.min[1].max(other.min[1]);
        if w <= 0.0 || h <= 0.0 {
            return 0.0;
        }
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// The IoU above which two detections are one face.
pub const NMS_IOU: f32 = 0.3;

/// Weighted non-maximum suppression: repeatedly takes the best remaining detection, merges it
/// with every remaining one overlapping it by more than [`NMS_IOU`] (box and keypoints averaged
/// with the scores as weights, the best score kept), and drops those. Best first.
pub fn weighted_nms(mut detections: Vec<Detection>) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = Vec::new();
    while let Some(best) = detections.first().cloned() {
        let (group, rest): (Vec<_>, Vec<_>) =
            detections.into_iter().partition(|d| best.iou(d) > NMS_IOU);
        detections = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        if group.is_empty() || total <= 0.0 {
            // A degenerate best box (no area) overlaps nothing, not even itself: keep it alone
            // (partition keeps order, so it is still first).
            detections.remove(0);
            kept.push(best);
            continue;
        }
        let mean = |f: &dyn Fn(&Detection) -> f32| {
            group.iter().map(|d| d.score * f(d)).sum::<f32>() / total
        };
        let mut merged = best.clone();
        for k in 0..2 {
            merged.min[k] = mean(&|d| d.min[k]);
            merged.max[k] = mean(&|d| d.max[k]);
            for p in 0..6 {
                merged.keypoints[p][k] = mean(&|d| d.keypoints[p][k]);
            }
        }
        kept.push(merged);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(score: f32, x: f32) -> Detection {
        Detection {
            score,
            min: [x, 0.0],
            max: [x + 10.0, 10.0],
            keypoints: [[x, 0.0]; 6],
        }
    }

    #[test]
    fn overlapping_boxes_merge_by_score_and_separate_ones_stay() {
        let out = weighted_nms(vec![boxed(0.5, 2.0), boxed(0.9, 0.0), boxed(0.8, 50.0)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        // Weighted mean of x = 0 (0.9) and x = 2 (0.5).
        assert!((out[0].min[0] - 2.0 * 0.5 / 1.4).abs() < 1e-6);
        assert_eq!(out[1].min[0], 50.0);
    }

    #[test]
    fn degenerate_boxes_do_not_loop() {
        let flat = Detection {
            score: 0.7,
            min: [1.0, 1.0],
            max: [1.0, 1.0],
            keypoints: [[1.0; 2]; 6],
        };
        assert_eq!(weighted_nms(vec![flat.clone(), flat]).len(), 2);
    }
}
