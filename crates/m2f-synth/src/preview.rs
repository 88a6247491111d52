//! Watching a clip: render its frames (head pose applied, camera fixed on the neutral) and
//! write a GIF, or an MP4 with the clip's audio.

use std::path::Path;

use image::RgbImage;
use m2f_mesh::{arkit_rig, write_glb, write_preview, Animation, FaceTemplate, HeadPose};
use m2f_mesh::{render, Camera, RenderOptions};

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

/// Writes a preview of the clip in directory `clip_dir` to `out`: .gif, .mp4 with audio,
/// .png for the first frame, or .glb for the animation itself (the identity's neutral with
/// its ARKit rig as morph targets, the clip's weights and head pose at the clip's fps).
pub fn write_clip_preview(clip_dir: &Path, out: &Path, size: u32) -> Result<(), SynthError> {
    let clip = Clip::read(clip_dir)?;
    let is_glb = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("glb"));
    if is_glb {
        return write_clip_glb(&clip, out);
    }
    let frames = clip_frames(&clip, &FaceTemplate::mediapipe(), size)?;
    let audio = clip_dir.join("audio.wav");
    write_preview(out, &frames, clip.meta.fps, Some(&audio))?;
    Ok(())
}

/// Writes the clip as a GLB animation that Blender and three.js play back exactly: the rig is
/// linear, so morph-target weights reproduce the clip's vertices.
pub fn write_clip_glb(clip: &Clip, out: &Path) -> Result<(), SynthError> {
    let template = FaceTemplate::mediapipe();
    let neutral = template.mesh.with_vertices(clip.neutral.clone())?;
    let rig = arkit_rig(&neutral, &template.regions)?;
    if rig.names() != clip.meta.blendshapes.as_slice() {
        return Err(SynthError::invalid(
            "clip blendshapes",
            "the clip was made with another rig than this version's ARKit rig",
        ));
    }
    let weights: Vec<Vec<f32>> = (0..clip.num_frames())
        .map(|t| clip.weights(t).to_vec())
        .collect();
    let poses: Vec<HeadPose> = clip
        .head_pose
        .iter()
        .map(|p| HeadPose::from_array(*p))
        .collect();
    let animation = Animation {
        rig: &rig,
        weights: &weights,
        poses: Some(&poses),
        fps: clip.meta.fps,
    };
    write_glb(out, &animation)?;
    Ok(())
}
