//! A real video through both extraction paths side by side (`m2f_eval::PathComparison`): prints
//! how they agree and writes a contact sheet of five frames (at the tracker's narrowest,
//! widest and three between mouth openings, in time order) with the 468 points drawn, and under each frame the face the
//! landmark path and then the image path made of it, turned by their own head rotations.
//!
//! ```text
//! python3 tools/fetch_sample_video.py ~/.cache/media2face/videos
//! cargo run --release -p m2f-eval --example track_video -- \
//!     MEDIAPIPE_DIR ~/.cache/media2face/videos/carphone.mp4 weights/gnpfa sheet.jpg
//! ```
//! MEDIAPIPE_DIR holds MediaPipe's two model files (`python3 tools/fetch_mediapipe.py DIR`).
//! The sheet's format follows its extension (PNG or JPEG).

use std::path::PathBuf;

use anyhow::Context;
use gnpfa::Gnpfa;
use image::{imageops, Rgb, RgbImage};
use m2f_dataset::{read_video, VideoReadOptions};
use m2f_eval::PathComparison;
use m2f_mesh::{render, Camera, HeadPose, RenderOptions};
use m2f_tracker::{FaceTracker, TrackerOptions};

/// How much the video frames are enlarged on the sheet.
const ZOOM: u32 = 2;

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [models, video_path, gnpfa_dir, out] = args.as_slice() else {
        anyhow::bail!("usage: track_video MEDIAPIPE_DIR VIDEO GNPFA_DIR SHEET.png|.jpg");
    };
    // Real talking-head clips often come without sound; the face is all this needs.
    let options = VideoReadOptions {
        require_audio: false,
        ..VideoReadOptions::default()
    };
    let video = read_video(video_path, &options)?;
    let gnpfa = Gnpfa::load(gnpfa_dir)?;
    let mut tracker = FaceTracker::load(models, TrackerOptions::default())?;
    let paths = PathComparison::run(&gnpfa, &mut tracker, &video.frames)?;
    let a = paths.agreement(&gnpfa);
    println!(
        "{}: {} x {}, {} frames at 30 fps, a face in {}",
        video_path.display(),
        video.info.width,
        video.info.height,
        a.frames,
        a.tracked
    );
    println!(
        "inner-lip gap, mm: tracked {:.1}..{:.1}, landmark path {:.1}..{:.1}, image path {:.1}..{:.1}",
        a.tracked_gap_mm.0,
        a.tracked_gap_mm.1,
        a.landmark_gap_mm.0,
        a.landmark_gap_mm.1,
        a.image_gap_mm.0,
        a.image_gap_mm.1
    );
    println!(
        "gap correlation with the tracked gap: landmark path {:.2}, image path {:.2}",
        a.landmark_gap_correlation, a.image_gap_correlation
    );
    println!(
        "the paths' faces are {:.2} mm apart per vertex; head rotation correlation (pitch, yaw, roll) \
         {:.2}, {:.2}, {:.2}; rotation change per frame (RMS) {:.2}° landmark path, {:.2}° image path",
        a.face_distance_mm,
        a.rotation_correlation[0],
        a.rotation_correlation[1],
        a.rotation_correlation[2],
        a.rotation_step_deg.0,
        a.rotation_step_deg.1
    );

    let seen = paths.tracked_gaps_mm(&gnpfa);
    let mut order: Vec<usize> = (0..seen.len()).collect();
    order.sort_by(|&x, &y| seen[x].total_cmp(&seen[y]));
    let mut picks: Vec<usize> = (0..5).map(|i| order[i * (order.len() - 1) / 4]).collect();
    picks.sort_unstable();
    let gaps: Vec<String> = picks.iter().map(|&t| format!("{:.1}", seen[t])).collect();
    println!(
        "sheet: frames {picks:?}, tracked gaps {} mm",
        gaps.join(", ")
    );

    let (cell_w, cell_h) = (video.info.width * ZOOM, video.info.height * ZOOM);
    let mut sheet = RgbImage::new(cell_w * picks.len() as u32, cell_h * 3);
    let template = &gnpfa.template;
    let camera = Camera::framing_sized(&paths.motion.neutral, cell_w, cell_h);
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    // Rotation only: the translation is about the clip's mean position and would move the face
    // out of a camera framed on the neutral.
    let turned = |face: &[[f32; 3]], pose: &HeadPose| -> anyhow::Result<RgbImage> {
        let rotation = HeadPose {
            translation: [0.0; 3],
            ..*pose
        };
        Ok(render(
            &rotation.apply(face),
            &template.mesh.triangles,
            &camera,
            &opts,
        )?)
    };
    for (column, &t) in picks.iter().enumerate() {
        let x = (column as u32 * cell_w) as i64;
        let mut frame = imageops::resize(
            &video.frames[t],
            cell_w,
            cell_h,
            imageops::FilterType::Triangle,
        );
        for p in paths.track[t].iter().flatten() {
            let (px, py) = (p[0] * ZOOM as f32, p[1] * ZOOM as f32);
            if px >= 0.0 && py >= 0.0 && (px as u32) < cell_w && (py as u32) < cell_h {
                frame.put_pixel(px as u32, py as u32, Rgb([40, 255, 80]));
            }
        }
        imageops::replace(&mut sheet, &frame, x, 0);
        let by_landmarks = turned(&paths.landmark_faces[t], &paths.motion.head_pose[t])?;
        imageops::replace(&mut sheet, &by_landmarks, x, cell_h as i64);
        let by_image = turned(&paths.image_faces[t], &paths.image_poses[t])?;
        imageops::replace(&mut sheet, &by_image, x, 2 * cell_h as i64);
    }
    sheet
        .save(out)
        .with_context(|| format!("{}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
