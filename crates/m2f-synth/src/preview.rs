//! Watching a clip: render its frames (head pose applied, camera fixed on the neutral) and
//! write a GIF, or an MP4 with the clip's audio.

use std::path::Path;

use image::RgbImage;
use m2f_mesh::render::{render, Camera, RenderOptions};
use m2f_mesh::{preview, FaceTemplate, HeadPose};

use crate::clip::Clip;
use crate::error::SynthError;

/// Renders every frame of `clip` at `size`×`size` pixels.
pub fn clip_frames(
    clip: &Clip,
    template: &FaceTemplate,
    size: u32,
) -> Result<Vec<RgbImage>, SynthError> {
    template
        .mesh
        .check_vertex_count("clip neutral", clip.num_vertices())?;
    let mut camera = Camera::framing_sized(&clip.neutral, size, size);
    // Step back a little so that head turns stay in the picture.
    for k in 0..3 {
        camera.eye[k] = camera.target[k] + 1.2 * (camera.eye[k] - camera.target[k]);
    }
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    (0..clip.num_frames())
        .map(|t| {
            let posed = HeadPose::from_array(clip.head_pose[t]).apply(clip.frame(t));
            Ok(render(&posed, &template.mesh.triangles, &camera, &opts)?)
        })
        .collect()
}

/// Writes a preview of the clip in directory `clip_dir` to `out` (.gif, .mp4 with audio,
/// or .png for the first frame).
pub fn write_clip_preview(clip_dir: &Path, out: &Path, size: u32) -> Result<(), SynthError> {
    let clip = Clip::read(clip_dir)?;
    let frames = clip_frames(&clip, &FaceTemplate::mediapipe(), size)?;
    let audio = clip_dir.join("audio.wav");
    preview::write_preview(out, &frames, clip.meta.fps, Some(&audio))?;
    Ok(())
}
