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
use crate::record::Record;
use crate::shard_spec::ShardSpec;
use crate::store::ShardStore;
use crate::video_extract::VideoManifest;

/// Frames of a record's preview: the decoded, posed face rendered `size` × `size`, to the right
/// of the source frame scaled to the same height when `source` is given (its first
/// `num_frames` frames; a shorter source shows its last frame to the end).
///
/// # Errors
/// A record whose arrays do not match its metadata or GNPFA's latent size; the renderer's
/// errors.
pub fn record_preview_frames(
    gnpfa: &Gnpfa,
    record: &Record,
    source: Option<&[RgbImage]>,
    size: u32,
) -> Result<Vec<RgbImage>> {
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
                .map_err(|e| {
                    DatasetError::invalid(format!("preview of {}", record.meta.id), e.to_string())
                })?;
            let t = out.len();
            let frame = match source.filter(|s| !s.is_empty()) {
                Some(frames) => {
                    let src = &frames[t.min(frames.len() - 1)];
                    let width =
                        (src.width() as f32 * size as f32 / src.height() as f32).round() as u32;
                    let scaled =
                        imageops::resize(src, width.max(1), size, imageops::FilterType::Triangle);
                    let mut both = RgbImage::new(scaled.width() + size, size);
                    imageops::replace(&mut both, &scaled, 0, 0);
                    imageops::replace(&mut both, &rendered, scaled.width() as i64, 0);
                    both
                }
                None => rendered,
            };
            out.push(frame);
        }
    }
    Ok(out)
}

/// Writes `DIR/<clip id>.mp4` for every clip of part `shard` of `manifest` that has a record in
/// `store` ([`record_preview_frames`] at `size` pixels, beside the clip's frames when it has a
/// video or a frame folder, with the record's audio); returns how many were written. Each file
/// appears only when complete.
///
/// # Errors
/// A store or record that cannot be read, frames that cannot be decoded, a directory that
/// cannot be written, ffmpeg's failures; each names the clip.
pub fn write_record_previews(
    gnpfa: &Gnpfa,
    manifest: &VideoManifest,
    store: &ShardStore,
    shard: ShardSpec,
    dir: &Path,
    size: u32,
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut written = 0;
    for (position, entry) in manifest.entries.iter().enumerate() {
        if !shard.contains(position) {
            continue;
        }
        let id = manifest.record_id(entry);
        if Record::read_meta(store, &id)?.is_none() {
            continue; // the clip failed: it is in the failure list
        }
        let at = |e: DatasetError| {
            DatasetError::invalid(format!("preview of clip {}", entry.id), e.to_string())
        };
        let record = Record::read(store, &id).map_err(at)?;
        let source = match manifest.source_frames(entry).map_err(at)? {
            Some(frames) => Some(
                frames
                    .take(record.meta.num_frames)
                    .collect::<Result<Vec<RgbImage>>>()
                    .map_err(at)?,
            ),
            None => None,
        };
        let frames = record_preview_frames(gnpfa, &record, source.as_deref(), size).map_err(at)?;
        let wav = dir.join(format!(".{}.preview.wav", entry.id));
        write_wav(&wav, &record.audio)?;
        let mp4 = dir.join(format!("{}.mp4", entry.id));
        let result = write_mp4(&mp4, &frames, record.meta.fps, Some(&wav));
        let _ = std::fs::remove_file(&wav);
        result.map_err(|e| {
            DatasetError::invalid(format!("preview of clip {}", entry.id), e.to_string())
        })?;
        written += 1;
    }
    Ok(written)
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
