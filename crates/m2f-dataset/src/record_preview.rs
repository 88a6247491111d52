//! What an extracted video record holds, to look at: each frame's latent decoded through GNPFA
//! on the record's neutral, turned and moved by its head pose, rendered beside the source frame
//! it came from, with the record's audio, as an MP4 (`m2f extract video --preview DIR`). A
//! tracking failure, a mouth that lags the sound or a head that turns the wrong way shows at a
//! glance, before a model is trained on the records.

use std::path::Path;

use gnpfa::Gnpfa;
use image::{imageops, RgbImage};
use m2f_mesh::{render, write_mp4, Camera, HeadPose, RenderOptions};
use m2f_synth::SAMPLE_RATE;

use crate::error::{DatasetError, Result};
use crate::extract::ExtractReport;
use crate::manifest::Failure;
use crate::record::Record;
use crate::store::ShardStore;
use crate::video_extract::VideoManifest;

/// `frame` scaled to `height` pixels high, its aspect kept.
fn to_height(frame: &RgbImage, height: u32) -> Result<RgbImage> {
    if frame.width() == 0 || frame.height() == 0 {
        return Err(DatasetError::invalid(
            "preview",
            format!("a source frame of {} x {}", frame.width(), frame.height()),
        ));
    }
    let width = (frame.width() as f64 * height as f64 / frame.height() as f64).round() as u32;
    Ok(imageops::resize(
        frame,
        width.max(1),
        height,
        imageops::FilterType::Triangle,
    ))
}

/// Frames of a record's preview: the decoded, posed face rendered `size` × `size`, to the right
/// of the source frame when `source` is given (frames already `size` high, as many as the
/// record's; a shorter source shows its last frame to the end).
///
/// # Errors
/// A `size` of 0; a record whose arrays do not match its metadata or GNPFA's latent size; the
/// renderer's errors.
pub fn record_preview_frames(
    gnpfa: &Gnpfa,
    record: &Record,
    source: Option<&[RgbImage]>,
    size: u32,
) -> Result<Vec<RgbImage>> {
    let what = || format!("preview of {}", record.meta.id);
    if size == 0 {
        return Err(DatasetError::invalid(what(), "a size of 0 pixels"));
    }
    record.validate()?;
    let neutral: Vec<[f32; 3]> = record
        .neutral
        .chunks_exact(3)
        .map(|v| [v[0], v[1], v[2]])
        .collect();
    let latents: Vec<Vec<f32>> = record
        .latents
        .chunks_exact(record.meta.latent_dim.max(1))
        .map(<[f32]>::to_vec)
        .collect();
    let template = &gnpfa.template;
    let camera = Camera::framing_sized(&neutral, size, size);
    let opts = RenderOptions::default().with_face_fills(&template.regions);
    let mut out = Vec::with_capacity(latents.len());
    for (chunk, poses) in latents.chunks(256).zip(record.head_pose.chunks(256 * 6)) {
        let faces = gnpfa.decode_frames(&neutral, chunk)?;
        for (face, pose) in faces.iter().zip(poses.chunks_exact(6)) {
            let pose = HeadPose::from_array(std::array::from_fn(|k| pose[k]));
            let rendered = render(&pose.apply(face), &template.mesh.triangles, &camera, &opts)
                .map_err(|e| DatasetError::invalid(what(), e.to_string()))?;
            let frame = match source.filter(|s| !s.is_empty()) {
                Some(frames) => {
                    let src = &frames[out.len().min(frames.len() - 1)];
                    let mut both = RgbImage::new(src.width() + size, size);
                    imageops::replace(&mut both, src, 0, 0);
                    imageops::replace(&mut both, &rendered, src.width() as i64, 0);
                    both
                }
                None => rendered,
            };
            out.push(frame);
        }
    }
    Ok(out)
}

/// Writes `DIR/<clip id>.mp4` for every clip of `report`'s part that it extracted or kept
/// ([`record_preview_frames`] at `size` pixels, beside the clip's frames when it has a video
/// or a frame folder, with the record's audio). A clip that failed is left out, even where an
/// older record of it is on the store (it may be from other inputs). Each file appears only
/// when complete; a clip whose preview fails is listed, and the others are written.
///
/// # Errors
/// Only a directory that cannot be made.
pub fn write_record_previews(
    gnpfa: &Gnpfa,
    manifest: &VideoManifest,
    store: &ShardStore,
    report: &ExtractReport,
    dir: &Path,
    size: u32,
) -> Result<PreviewReport> {
    std::fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut done = PreviewReport::default();
    for entry in &manifest.entries {
        let id = manifest.record_id(entry);
        let failed = report.failures.iter().any(|f| f.clip == entry.id);
        if failed || !report.lines.iter().any(|l| l.id == id) {
            continue;
        }
        match write_one(gnpfa, manifest, store, entry, &id, dir, size) {
            Ok(()) => done.written += 1,
            Err(e) => done.failures.push(Failure {
                clip: entry.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    Ok(done)
}

/// What [`write_record_previews`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviewReport {
    /// Previews written.
    pub written: usize,
    /// Clips whose preview could not be made, with the reason.
    pub failures: Vec<Failure>,
}

fn write_one(
    gnpfa: &Gnpfa,
    manifest: &VideoManifest,
    store: &ShardStore,
    entry: &crate::video_extract::VideoManifestEntry,
    id: &str,
    dir: &Path,
    size: u32,
) -> Result<()> {
    let record = Record::read(store, id)?;
    // Scaled as they are decoded: a long clip's full-size frames would not fit in memory.
    let source = match manifest.source_frames(entry)? {
        Some(frames) => Some(
            frames
                .take(record.meta.num_frames)
                .map(|f| f.and_then(|f| to_height(&f, size)))
                .collect::<Result<Vec<RgbImage>>>()?,
        ),
        None => None,
    };
    let frames = record_preview_frames(gnpfa, &record, source.as_deref(), size)?;
    let wav = tempfile::Builder::new()
        .prefix(".preview-")
        .suffix(".wav")
        .tempfile_in(dir)
        .map_err(|e| DatasetError::io(dir, e))?;
    write_wav(wav.path(), &record.audio)?;
    write_mp4(
        &dir.join(format!("{}.mp4", entry.id)),
        &frames,
        record.meta.fps,
        Some(wav.path()),
    )
    .map_err(|e| DatasetError::invalid(format!("preview of clip {}", entry.id), e.to_string()))
}

fn write_wav(path: &Path, samples: &[i16]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| DatasetError::invalid(path.display().to_string(), e.to_string());
    let mut writer = hound::WavWriter::create(path, spec).map_err(io)?;
    for &s in samples {
        writer.write_sample(s).map_err(io)?;
    }
    writer.finalize().map_err(io)
}
