//! Just enough of ISO-BMFF (MP4/M4A) to find the audio track's edit list, which is where encoders
//! record AAC priming (ffmpeg: 1024 samples, Apple: 2112) and the valid duration. symphonia 0.6
//! does not apply edit lists, so without this the decoded audio starts ~23 ms late at 44.1 kHz.

/// The part of the decoded stream to keep, in seconds-free units: a start offset in media
/// timescale units and a duration in movie timescale units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edit {
    media_time: u64,
    media_timescale: u32,
    duration: u64,
    movie_timescale: u32,
}

impl Edit {
    /// Cuts interleaved `samples` at `rate` Hz to the edit.
    pub(crate) fn apply(&self, mut samples: Vec<f32>, rate: u32, channels: usize) -> Vec<f32> {
        let to_frames = |t: u64, scale: u32| -> usize {
            if scale == 0 {
                return 0;
            }
            ((t as u128 * rate as u128 + scale as u128 / 2) / scale as u128) as usize
        };
        let frames = samples.len() / channels.max(1);
        let start = to_frames(self.media_time, self.media_timescale).min(frames);
        let keep = if self.duration == 0 {
            frames - start
        } else {
            to_frames(self.duration, self.movie_timescale).min(frames - start)
        };
        samples.truncate((start + keep) * channels);
        samples.drain(..start * channels);
        samples
    }
}

/// Iterates over the boxes in `data`: (type, payload).
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = data.get(pos..pos + 8)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let kind = [header[4], header[5], header[6], header[7]];
        let (size, hdr) = match size32 {
            0 => ((data.len() - pos) as u64, 8),
            1 => {
                let ext = data.get(pos + 8..pos + 16)?;
                (u64::from_be_bytes(ext.try_into().ok()?), 16)
            }
            s => (s, 8),
        };
        let end = pos.checked_add(usize::try_from(size).ok()?)?;
        if size < hdr as u64 || end > data.len() {
            return None;
        }
        let payload = &data[pos + hdr..end];
        pos = end;
        Some((kind, payload))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, p)| p)
}

fn be_u32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Timescale of an `mvhd` or `mdhd` full box.
fn header_timescale(payload: &[u8]) -> Option<u32> {
    match payload.first()? {
        0 => be_u32(payload, 12),
        1 => be_u32(payload, 20),
        _ => None,
    }
}

/// The edit of the first sound track in an MP4 file, if the file is MP4 and has one.
pub(crate) fn audio_edit(data: &[u8]) -> Option<Edit> {
    if data.get(4..8)? != b"ftyp" {
        return None;
    }
    let moov = child(data, b"moov")?;
    let movie_timescale = header_timescale(child(moov, b"mvhd")?)?;
    for (kind, trak) in boxes(moov) {
        if &kind != b"trak" {
            continue;
        }
        let Some(mdia) = child(trak, b"mdia") else {
            continue;
        };
        let is_sound = child(mdia, b"hdlr").and_then(|h| h.get(8..12)) == Some(b"soun");
        if !is_sound {
            continue;
        }
        let media_timescale = header_timescale(child(mdia, b"mdhd")?)?;
        let elst = child(child(trak, b"edts")?, b"elst")?;
        let version = *elst.first()?;
        let count = be_u32(elst, 4)? as usize;
        let entry_len = if version == 1 { 20 } else { 12 };
        // Skip empty edits (media_time = -1, a presentation delay); the first real edit says
        // where the audio starts.
        for i in 0..count {
            let at = 8 + i * entry_len;
            let (duration, media_time) = if version == 1 {
                (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
            } else {
                (
                    be_u32(elst, at)? as u64,
                    be_u32(elst, at + 4)? as i32 as i64,
                )
            };
            if media_time >= 0 {
                return Some(Edit {
                    media_time: media_time as u64,
                    media_timescale,
                    duration,
                    movie_timescale,
                });
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_trims_start_and_end() {
        let e = Edit {
            media_time: 1024,
            media_timescale: 44_100,
            duration: 1000,
            movie_timescale: 1000,
        };
        let x: Vec<f32> = (0..50_000 * 2).map(|i| i as f32).collect();
        let y = e.apply(x, 44_100, 2);
        assert_eq!(y.len(), 44_100 * 2);
        assert_eq!(y[0], 2048.0);
    }

    #[test]
    fn garbage_is_not_mp4() {
        assert_eq!(audio_edit(b""), None);
        assert_eq!(audio_edit(b"\0\0\0\x08ftyp\xff\xff\xff\xffmoov"), None);
    }
}
