//! Finds the faces in a photograph, runs the face mesh on each, and draws the 468 points, the
//! detector's box and keypoints and the mesh's crop over the picture.
//!
//! ```text
//! cargo run --release -p m2f-tracker --example mesh_on_photo -- MODELS_DIR PHOTO OUT.png
//! ```
//! MODELS_DIR holds MediaPipe's two model files (`python3 tools/fetch_mediapipe.py DIR`).

use std::path::PathBuf;

use anyhow::Context;
use image::{Rgb, RgbImage};
use m2f_tracker::{
    region_from_detection, FaceDetector, FaceLandmarker, RotatedRect, DETECTOR_FILE, LANDMARK_FILE,
    MIN_DETECTION_SCORE,
};

fn dot(image: &mut RgbImage, x: f32, y: f32, radius: i64, colour: Rgb<u8>) {
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (px, py) = (cx + dx, cy + dy);
            if dx * dx + dy * dy <= radius * radius
                && (0..image.width() as i64).contains(&px)
                && (0..image.height() as i64).contains(&py)
            {
                image.put_pixel(px as u32, py as u32, colour);
            }
        }
    }
}

fn line(image: &mut RgbImage, a: [f32; 2], b: [f32; 2], colour: Rgb<u8>) {
    let steps = ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        dot(
            image,
            a[0] + (b[0] - a[0]) * t,
            a[1] + (b[1] - a[1]) * t,
            0,
            colour,
        );
    }
}

fn outline(image: &mut RgbImage, rect: &RotatedRect, colour: Rgb<u8>) {
    let corners =
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].map(|(u, v)| rect.to_image(u, v));
    for i in 0..4 {
        line(image, corners[i], corners[(i + 1) % 4], colour);
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [models, photo, out] = args.as_slice() else {
        anyhow::bail!("usage: mesh_on_photo MODELS_DIR PHOTO OUT.png");
    };
    let mut image = image::open(photo)
        .with_context(|| format!("{}", photo.display()))?
        .to_rgb8();
    let detector = FaceDetector::load(&models.join(DETECTOR_FILE))?;
    let landmarker = FaceLandmarker::load(&models.join(LANDMARK_FILE))?;
    let faces = detector.detect(&image, MIN_DETECTION_SCORE)?;
    println!("{} face(s)", faces.len());
    let source = image.clone();
    for face in &faces {
        let region = region_from_detection(face);
        let mesh = landmarker.landmarks(&source, &region)?;
        println!(
            "score {:.3}, presence {:.3}, crop {region:?}",
            face.score, mesh.presence
        );
        outline(&mut image, &RotatedRect::face_box(face), Rgb([255, 200, 0]));
        outline(&mut image, &region, Rgb([0, 160, 255]));
        for p in &mesh.points {
            dot(&mut image, p[0], p[1], 1, Rgb([40, 255, 80]));
        }
        for k in face.keypoints {
            dot(&mut image, k[0], k[1], 3, Rgb([255, 40, 40]));
        }
    }
    image
        .save(out)
        .with_context(|| format!("{}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
