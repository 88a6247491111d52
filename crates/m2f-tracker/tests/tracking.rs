//! Tracking through frames: a "video" made by moving, turning and hiding the astronaut.

mod common;

use image::{Rgb, RgbImage};
use m2f_tracker::{FaceTracker, FoundBy, TrackerOptions};

/// The photograph shifted by `(dx, dy)` and turned by `angle` radians about its centre (nearest
/// pixel, grey outside).
fn moved(photo: &RgbImage, dx: f32, dy: f32, angle: f32) -> RgbImage {
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    let (s, c) = angle.sin_cos();
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let (px, py) = (x as f32 - w / 2.0 - dx, y as f32 - h / 2.0 - dy);
        let (sx, sy) = (c * px + s * py + w / 2.0, -s * px + c * py + h / 2.0);
        if sx >= 0.0 && sy >= 0.0 && sx < w && sy < h {
            *photo.get_pixel(sx as u32, sy as u32)
        } else {
            Rgb([128, 128, 128])
        }
    })
}

#[test]
fn follows_a_moving_face_detects_once_and_again_after_it_is_gone() {
    let photo = image::open(common::fixtures().join("astronaut.jpg"))
        .unwrap()
        .to_rgb8();
    let mut tracker = FaceTracker::load(&common::models_dir(), TrackerOptions::default()).unwrap();
    let nose = |dx: f32, dy: f32, angle: f32| {
        // Where the nose tip (about (224, 131) in the photograph) moves to.
        let (px, py) = (224.0 - 256.0, 131.0 - 256.0);
        let (s, c) = angle.sin_cos();
        [c * px - s * py + 256.0 + dx, s * px + c * py + 256.0 + dy]
    };
    let mut found = Vec::new();
    for t in 0..12 {
        let (dx, dy, angle) = (4.0 * t as f32, 2.0 * t as f32, 0.02 * t as f32);
        let face = tracker
            .track(&moved(&photo, dx, dy, angle))
            .unwrap()
            .expect("a face in every frame");
        let want = nose(dx, dy, angle);
        let got = face.landmarks.points[1];
        let d = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
        assert!(
            d < 6.0,
            "frame {t}: nose at {got:?}, expected near {want:?}"
        );
        found.push(face.found_by);
    }
    assert_eq!(found[0], FoundBy::Detection);
    assert!(
        found[1..].iter().all(|&f| f == FoundBy::Tracking),
        "{found:?}"
    );

    // The face leaves (a blank frame), then comes back: no face, then a fresh detection.
    assert!(tracker
        .track(&RgbImage::from_pixel(512, 512, Rgb([128, 128, 128])))
        .unwrap()
        .is_none());
    let back = tracker.track(&photo).unwrap().expect("the face again");
    assert_eq!(back.found_by, FoundBy::Detection);
}

#[test]
fn tiny_grey_and_odd_images_give_no_face_not_a_panic() {
    let mut tracker = FaceTracker::load(&common::models_dir(), TrackerOptions::default()).unwrap();
    for (w, h) in [(1, 1), (3, 200), (200, 3)] {
        assert!(
            tracker.track(&RgbImage::new(w, h)).unwrap().is_none(),
            "{w}×{h}"
        );
    }
    assert!(tracker.track(&RgbImage::new(0, 0)).is_err());
    // A grayscale or RGBA picture of the face, converted the usual way, still has it.
    let photo = image::open(common::fixtures().join("astronaut.jpg")).unwrap();
    for image in [
        photo.grayscale().to_rgb8(),
        image::DynamicImage::ImageRgba8(photo.to_rgba8()).to_rgb8(),
    ] {
        tracker.reset();
        assert!(tracker.track(&image).unwrap().is_some());
    }
}
