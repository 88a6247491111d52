//! A directory of video frames (PNG or JPEG files) plus an audio file → frames at 30 fps and
//! 16 kHz mono audio on one clock, the way [`read_video`](crate::read_video) reads a video file.
//!
//! **The frames** are the directory's files ending in `.png`, `.jpg` or `.jpeg` (any case),
//! in natural order of their names: digit runs compare as numbers, so `frame_2.png` comes
//! before `frame_10.png` (`frame_002.png` and `frame_10.png` sort as 2 and 10 too). Other
//! files, subdirectories and hidden files (names starting with `.`, such as macOS's `._*`)
//! are ignored. The content decides the format, the extension only selects the files. Every
//! frame must have the same size after its EXIF orientation is applied (a JPEG from a phone);
//! grayscale, gray-alpha, RGBA and 16-bit frames become 8-bit RGB (alpha is dropped, not
//! blended).
//!
//! **The clock.** Source frame `k` is at `k / fps` s; time 0 is the first file. Output frame
//! `i` at `i / 30` s shows the source frame on screen then, by the rule of ffmpeg's `fps`
//! filter that `read_video` uses: each source frame is placed at the output slot nearest its
//! time, `round(k · 30 / fps)` with halves rounded up, and slot `i` shows the last source
//! frame placed at or before it. In closed form, output frame `i` shows source frame
//! `min(ceil((2i + 1) · fps / 60) − 1, n − 1)`; at 15 fps that is 0, 0, 1, 1, 2, 2, …, at 25
//! fps 0, 1, 2, 2, 3, 4, 5, 6, 7, 7, …, at 60 fps every other frame. A directory of `n` frames
//! lasts `n / fps` s and gives `round(n · 30 / fps)` frames (halves rounded up, at least one),
//! so the frames of a constant-frame-rate video extracted with
//! `ffmpeg -i clip.mp4 frame_%d.png` come out as `read_video` gives them.
//!
//! **The audio** is decoded by `conditioning::read_audio` (WAV, FLAC, MP3, Ogg/Vorbis, AAC in
//! MP4/M4A; channels averaged, resampled to 16 kHz); its sample 0 is at time 0. Its length is
//! the file's: it may differ from the frames' duration.
//!
//! **Memory.** Frames are decoded one at a time by [`FrameDir::frames`], the way to go through
//! a long clip: ten minutes of 720p at 30 fps are 50 GB as RGB. [`read_frame_dir`] collects them
//! all, for short clips.
//!
//! ```no_run
//! use std::path::Path;
//! use m2f_dataset::FrameDir;
//!
//! # fn main() -> Result<(), m2f_dataset::DatasetError> {
//! let frames = FrameDir::open(Path::new("clip_frames"), 25.0)?;
//! println!("{} frames of {}x{} at 30 fps", frames.frame_count(), frames.width(), frames.height());
//! let audio = conditioning::load_audio("clip.wav")?;
//! for frame in frames.frames() {
//!     let frame = frame?; // an RgbImage
//!     # let _ = (frame, &audio);
//! }
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{DatasetError, Result};
use crate::video::VIDEO_FPS;

/// Most output frames a directory may give (a frame rate near zero would repeat frames
/// without end): about nine days at 30 fps.
const MAX_FRAMES: f64 = 1e8;

/// A directory of frames, listed and checked (names, sizes), ready to be read at 30 fps.
#[derive(Debug, Clone)]
pub struct FrameDir {
    dir: PathBuf,
    files: Arc<[PathBuf]>,
    source_fps: f64,
    width: u32,
    height: u32,
    frame_count: usize,
}

impl FrameDir {
    /// Lists the PNG and JPEG files of `dir` (in natural order) shown at `fps` frames per
    /// second, and checks that every one is an image of the first one's size (reading the
    /// headers only; pixels are decoded by [`FrameDir::frames`]).
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] for an `fps` that is not a positive finite number, an empty
    /// directory, one without PNG or JPEG files, or a frame whose size differs from the first
    /// one's (naming the file); [`DatasetError::Io`] for a directory or file that cannot be
    /// read; [`DatasetError::UnreadableImage`] for a file that is not an image.
    pub fn open(dir: &Path, fps: f64) -> Result<Self> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(DatasetError::invalid(
                "fps",
                format!(
                    "{fps}: expected the frame rate of the frames in {}, a positive number of \
                     frames per second",
                    dir.display()
                ),
            ));
        }
        let files = list_frames(dir)?;
        let count = (files.len() as f64 * f64::from(VIDEO_FPS) / fps + 0.5)
            .floor()
            .max(1.0);
        if count > MAX_FRAMES {
            return Err(DatasetError::invalid(
                "fps",
                format!(
                    "{fps}: {} frames at this rate last {} s; expected a real frame rate",
                    files.len(),
                    files.len() as f64 / fps
                ),
            ));
        }
        let (width, height) = dimensions(&files[0])?;
        for file in &files[1..] {
            let (w, h) = dimensions(file)?;
            if (w, h) != (width, height) {
                return Err(DatasetError::invalid(
                    file.display().to_string(),
                    format!(
                        "a frame of {w}x{h} pixels, but the first frame ({}) is \
                         {width}x{height}; every frame of a directory must have one size",
                        files[0].display()
                    ),
                ));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files: files.into(),
            source_fps: fps,
            width,
            height,
            frame_count: count as usize,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The frame files, in the order they are shown (natural order of their names).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The frame rate of the files, as given to [`FrameDir::open`].
    pub fn source_fps(&self) -> f64 {
        self.source_fps
    }

    /// Width of every frame in pixels (after EXIF orientation).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of every frame in pixels (after EXIF orientation).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Frames at 30 fps: `round(n · 30 / fps)` for `n` files, at least one.
    pub fn frame_count(&self) -> usize {
        self.frame_count
    }

    /// The index in [`FrameDir::files`] of the file output frame `i` shows (the rule is in the
    /// module docs); the last file past the end.
    pub fn source_index(&self, i: usize) -> usize {
        source_index(i, self.source_fps, self.files.len())
    }

    /// The frames at 30 fps, decoded one at a time (a file shown by several output frames is
    /// decoded once).
    pub fn frames(&self) -> FrameDirFrames {
        FrameDirFrames {
            dir: self.clone(),
            next: 0,
            last: None,
            failed: false,
        }
    }
}

/// The frames of a [`FrameDir`] at 30 fps, decoded as they are asked for.
///
/// Yields `Err` once for a file that cannot be decoded (or whose size changed since
/// [`FrameDir::open`]), then ends.
#[derive(Debug, Clone)]
pub struct FrameDirFrames {
    dir: FrameDir,
    next: usize,
    /// The last file decoded and its frame, repeated while the output needs it.
    last: Option<(usize, RgbImage)>,
    failed: bool,
}

impl FrameDirFrames {
    /// The directory being read.
    pub fn frame_dir(&self) -> &FrameDir {
        &self.dir
    }
}

impl Iterator for FrameDirFrames {
    type Item = Result<RgbImage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.dir.frame_count {
            return None;
        }
        let k = self.dir.source_index(self.next);
        self.next += 1;
        if let Some((last, frame)) = &self.last {
            if *last == k {
                return Some(Ok(frame.clone()));
            }
        }
        let path = &self.dir.files[k];
        let frame = decode(path).and_then(|frame| {
            if frame.dimensions() == (self.dir.width, self.dir.height) {
                Ok(frame)
            } else {
                Err(DatasetError::invalid(
                    path.display().to_string(),
                    format!(
                        "decoded to {}x{} pixels, but the directory's frames are {}x{}",
                        frame.width(),
                        frame.height(),
                        self.dir.width,
                        self.dir.height
                    ),
                ))
            }
        });
        match frame {
            Ok(frame) => {
                self.last = Some((k, frame.clone()));
                Some(Ok(frame))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.failed {
            0
        } else {
            self.dir.frame_count - self.next
        };
        (0, Some(left))
    }
}

/// A frame directory and its audio read whole: frames at 30 fps and mono audio at 16 kHz on
/// one clock (see the module docs).
#[derive(Debug, Clone)]
pub struct FrameDirClip {
    /// The directory: files, frame rate, size.
    pub source: FrameDir,
    /// Frame `i` shows the source at `i / 30` s.
    pub frames: Vec<RgbImage>,
    /// Sample `i` is at `i / 16000` s.
    pub audio: Vec<f32>,
}

/// Reads a directory of frames at `fps` frames per second and its audio file whole: the frames
/// at 30 fps and the audio as 16 kHz mono (decoded at once, on two threads). For long clips use
/// [`FrameDir::frames`], which holds one frame at a time.
///
/// # Errors
/// Those of [`FrameDir::open`] and [`FrameDirFrames`]; [`DatasetError::Io`] for a missing
/// audio file; [`DatasetError::Conditioning`] for one that cannot be decoded.
pub fn read_frame_dir(dir: &Path, fps: f64, audio: &Path) -> Result<FrameDirClip> {
    let source = FrameDir::open(dir, fps)?;
    std::fs::metadata(audio).map_err(|e| DatasetError::io(audio, e))?;
    let (frames, audio) = std::thread::scope(|scope| {
        let audio = scope.spawn(|| conditioning::read_audio(audio));
        let frames: Result<Vec<RgbImage>> = source.frames().collect();
        let audio = audio
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (frames, audio)
    });
    Ok(FrameDirClip {
        source,
        frames: frames?,
        audio: audio?.samples,
    })
}

/// The file output frame `i` shows: the last source frame `k` with `round(k · 30 / fps) ≤ i`
/// (halves up), i.e. `k · 30 / fps < i + ½`, i.e. `ceil((2i + 1) · fps / 60) − 1`.
fn source_index(i: usize, fps: f64, files: usize) -> usize {
    let k = ((2 * i + 1) as f64 * fps / (2.0 * f64::from(VIDEO_FPS))).ceil() as usize;
    k.saturating_sub(1).min(files.saturating_sub(1))
}

/// The PNG and JPEG files of `dir` in natural order.
fn list_frames(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut frames = Vec::new();
    let mut others = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DatasetError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let image = !name.starts_with('.')
            && path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["png", "jpg", "jpeg"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x))
            });
        // Through symlinks: a linked frame counts.
        if image && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            frames.push((name, path));
        } else {
            others.push(name);
        }
    }
    if frames.is_empty() {
        let message = if others.is_empty() {
            "the directory is empty; expected video frames as PNG or JPEG files \
             (frame_1.png, frame_2.png, …)"
                .to_string()
        } else {
            others.sort();
            let shown: Vec<&str> = others.iter().take(5).map(String::as_str).collect();
            format!(
                "no PNG or JPEG files (it holds: {}{}); expected video frames named *.png, \
                 *.jpg or *.jpeg",
                shown.join(", "),
                if others.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            )
        };
        return Err(DatasetError::invalid(dir.display().to_string(), message));
    }
    frames.sort_by(|a, b| natural_cmp(&a.0, &b.0).then_with(|| a.0.cmp(&b.0)));
    Ok(frames.into_iter().map(|(_, path)| path).collect())
}

/// Natural order: runs of ASCII digits compare as numbers (then the shorter, less zero-padded
/// run first), everything else byte by byte.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (la, lb) = (run(a), run(b));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|&&c| c == b'0').count();
                    s[zeros..].to_vec()
                };
                let (da, db) = (trim(&a[..la]), trim(&b[..lb]));
                let order = da
                    .len()
                    .cmp(&db.len())
                    .then_with(|| da.cmp(&db))
                    .then_with(|| la.cmp(&lb));
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[la..];
                b = &b[lb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// A decoder for `path`, its format guessed from the content.
fn decoder(path: &Path) -> Result<impl ImageDecoder> {
    ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|e| DatasetError::io(path, e))?
        .into_decoder()
        .map_err(|e| unreadable(path, e))
}

/// A [`DatasetError::UnreadableImage`] for `path`.
fn unreadable(path: &Path, e: image::ImageError) -> DatasetError {
    DatasetError::UnreadableImage {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The size of the image in `path` after its EXIF orientation, from its header.
fn dimensions(path: &Path) -> Result<(u32, u32)> {
    let mut decoder = decoder(path)?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().map_err(|e| unreadable(path, e))?;
    Ok(if quarter_turn(orientation) {
        (h, w)
    } else {
        (w, h)
    })
}

/// Decodes `path` to 8-bit RGB, EXIF orientation applied.
fn decode(path: &Path) -> Result<RgbImage> {
    let mut decoder = decoder(path)?;
    let orientation = decoder.orientation().map_err(|e| unreadable(path, e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| unreadable(path, e))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Whether `orientation` turns the picture a quarter turn (swapping width and height).
fn quarter_turn(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec![
            "frame_10.png",
            "frame_2.png",
            "frame_1.png",
            "frame_002.png",
            "a.png",
            "frame_1b.png",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "a.png",
                "frame_1.png",
                "frame_1b.png",
                "frame_2.png",
                "frame_002.png",
                "frame_10.png"
            ]
        );
    }

    /// The frames ffmpeg's `fps=30` filter picks from sources at other rates (measured with
    /// FFmpeg 5.1 on FFV1 in NUT, whose timestamps are exact).
    #[test]
    fn source_index_matches_ffmpeg() {
        let cases: [(f64, &[usize]); 5] = [
            (15.0, &[0, 0, 1, 1, 2, 2, 3, 3, 4, 4]),
            (20.0, &[0, 0, 1, 2, 2, 3, 4, 4, 5, 6]),
            (12.0, &[0, 0, 0, 1, 1, 2, 2, 2, 3, 3]),
            (18.0, &[0, 0, 1, 2, 2, 3, 3, 4, 5, 5]),
            (25.0, &[0, 1, 2, 2, 3, 4, 5, 6, 7, 7]),
        ];
        for (fps, expected) in cases {
            let got: Vec<usize> = (0..expected.len())
                .map(|i| source_index(i, fps, 1000))
                .collect();
            assert_eq!(got, expected, "{fps} fps");
        }
    }
}
