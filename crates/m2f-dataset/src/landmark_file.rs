//! Face landmark files, as MediaPipe's face landmarker is commonly dumped (JSON lines, JSON or
//! CSV) → the 468 face mesh points of every frame at 30 fps, in image pixels.
//!
//! **The output** is what `m2f-tracker`'s `FaceLandmarks::points` holds: per frame
//! `Some(points)` with exactly [`FACE_MESH_POINTS`] (468) `[x, y, z]` in MediaPipe's face mesh
//! order, `x` and `y` in image pixels, `z` in the same pixel scale (MediaPipe's normalised `z`
//! is scaled by the image *width*, like `x`); `None` for a frame without a face. Input with
//! [`FACE_MESH_POINTS_WITH_IRISES`] (478) points, the face landmarker's output with irises,
//! keeps the first 468: the 10 iris points (468..478) are dropped. Every face of a file must
//! have the same count; any other count is an error.
//!
//! **Coordinates** are MediaPipe's normalised ones unless said otherwise: `x` and `y` in
//! `[0, 1]` of the image width and height (a face at the border strays a little outside; `x`
//! or `y` outside `[-1, 2]` is refused as a sign of pixel coordinates), `z` relative depth.
//! Converting them needs the image size: from the line (JSON) or
//! [`LandmarkFileOptions::image_size`]. A JSON line's `"normalized": false`, or
//! [`LandmarkFileOptions::normalized`] `= Some(false)`, says they are already pixels (then
//! they are kept as they are and no image size is needed).
//!
//! The format is chosen by the extension (case-insensitive); lines count from 1; blank lines
//! are skipped.
//!
//! # JSON lines (`.jsonl`)
//!
//! One JSON object per line, one line per frame:
//!
//! ```text
//! {"frame": 0, "timestamp_ms": 0.0, "image_width": 1280, "image_height": 720, "landmarks": [[0.51, 0.42, -0.031], [0.52, 0.47, -0.052], ...]}
//! {"frame": 1, "timestamp_ms": 33.3, "image_width": 1280, "image_height": 720, "landmarks": [{"x": 0.51, "y": 0.42, "z": -0.030}, ...]}
//! {"frame": 2, "timestamp_ms": 66.7, "image_width": 1280, "image_height": 720, "landmarks": null}
//! {"frame": 3, "timestamp_ms": 100.0, "faces": [[[0.5, 0.4, -0.03], ...], [[0.1, 0.2, 0.0], ...]], "meta": {"score": 0.97}}
//! ```
//!
//! The fields, all optional except that a line gives exactly one of `landmarks` and `faces`:
//! - `frame`: the source frame number, a non-negative integer. Given on every line or none;
//!   strictly increasing. Without it, line order numbers the frames 0, 1, 2, …
//! - `timestamp_ms`: the frame's time in milliseconds, a number. Given on every line or none;
//!   strictly increasing.
//! - `landmarks`: one face, a list of points, each `[x, y, z]` or an object
//!   `{"x": .., "y": .., "z": ..}` (MediaPipe Python's `NormalizedLandmark` as a dict; its
//!   `visibility` and `presence` keys, numbers or null, are ignored). `null` or `[]`: no face.
//! - `faces`: several faces, a list of such lists (MediaPipe's `result.face_landmarks`); the
//!   **first face is taken** and the others are ignored. `null`, `[]` or a first face `[]`: no
//!   face.
//! - `image_width`, `image_height`: the image size in pixels, positive integers, both or
//!   neither. Every line that gives it must give the same size (and the same as
//!   [`LandmarkFileOptions::image_size`], if that is set).
//! - `normalized`: `true` (the default) or `false` (the coordinates are pixels). Where both
//!   the line and [`LandmarkFileOptions::normalized`] say, they must agree.
//! - `extra`, `meta`: anything; ignored (room for a writer's own data).
//!
//! Any other field is an error naming it and the line.
//!
//! # JSON (`.json`)
//!
//! Either a JSON array of the objects above (one per frame, in order, laid out in any way:
//! `[{"frame": 0, "landmarks": [...]}, {"frame": 1, ...}]`), errors naming the line where the
//! frame's object starts; or, if the file does not start with `[`, JSON lines as above. An
//! array is read whole into memory; prefer `.jsonl` for long clips.
//!
//! # CSV (`.csv`)
//!
//! A header line, then one row per frame, fields separated by `,`:
//!
//! ```text
//! frame,timestamp_ms,x0,y0,z0,x1,y1,z1,...,x467,y467,z467
//! 0,0.0,0.51,0.42,-0.031,0.52,0.47,-0.052,...
//! 1,33.3,,,,,,,...
//! ```
//!
//! - Columns: `frame` (optional, as in JSON), `timestamp_ms` (optional, as in JSON) and the
//!   coordinates of every point `i` of 0..468 or 0..478: `x<i>`, `y<i>`, `z<i>`, or all spelled
//!   `x_<i>`, `y_<i>`, `z_<i>` (one spelling per file). Names are lower-case; columns may come
//!   in any order; no column may be missing, repeated or unknown.
//! - A row has as many fields as the header; fields are trimmed of spaces and of one pair of
//!   surrounding double quotes (no field may contain a comma). `frame` and `timestamp_ms` must
//!   hold a value on every row.
//! - A row whose coordinates are all empty (or all `nan`, as numpy writes them) is a frame
//!   without a face; otherwise every coordinate must be a finite number.
//! - The image size and whether coordinates are normalised come from [`LandmarkFileOptions`]
//!   (normalised by default).
//!
//! # Timing
//!
//! The output is at 30 fps on the clip's clock: time 0 is the first record's time; output frame
//! `i` is at `i / 30` s. A record's time is its `timestamp_ms` (minus the first one's) if the
//! file has timestamps; otherwise `(frame − first frame) / source_fps` (line order standing in
//! for `frame` where it is absent), which needs [`LandmarkFileOptions::source_fps`]. The
//! input-frame interval `T` is `1 / source_fps` without timestamps, and the median spacing of the
//! timestamps with them (`source_fps` is then not used, except as `T` for a file of one frame).
//!
//! For output frame `i` at `t = i / 30`:
//! - a record within 0.5 ms of `t` is taken as it is (MediaPipe's video timestamps are whole
//!   milliseconds; a 30 fps file without timestamps comes out frame for frame);
//! - otherwise, with `a` the last record before `t` and `b` the next one: if both hold a face
//!   and `b − a ≤ 2 T`, the points are linearly interpolated between them at `t`;
//! - otherwise the nearer of `a` and `b` (the earlier on a tie; `a` past the last record) is
//!   taken: its face, or `None` if it has none.
//!
//! The track lasts as long as the records cover, `last time + T`: `round(30 (last + T))`
//! frames (halves rounded up, at least one), the rule `read_video` and `read_frame_dir` use
//! for frame counts.
//!
//! ```no_run
//! use std::path::Path;
//! use m2f_dataset::{read_landmark_file, LandmarkFileOptions};
//!
//! # fn main() -> Result<(), m2f_dataset::DatasetError> {
//! let options = LandmarkFileOptions { image_size: Some((1280, 720)), ..Default::default() };
//! let track = read_landmark_file(Path::new("clip.landmarks.jsonl"), &options)?;
//! for (i, face) in track.frames.iter().enumerate() {
//!     if let Some(points) = face {
//!         println!("frame {i}: nose tip at {:?} px", points[1]);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::error::{DatasetError, Result};
use crate::video::VIDEO_FPS;

/// Points of MediaPipe's face mesh: the points of every face in a [`LandmarkTrack`].
pub const FACE_MESH_POINTS: usize = 468;

/// Points of MediaPipe's face landmarker with irises: the face mesh's 468, then 5 per iris
/// (dropped on reading).
pub const FACE_MESH_POINTS_WITH_IRISES: usize = 478;

/// A record this close to an output frame's time is taken as it is, seconds.
const SNAP_S: f64 = 0.5e-3;

/// Normalised `x`, `y` outside this range are refused as a sign of pixel coordinates.
const NORMALIZED_RANGE: (f64, f64) = (-1.0, 2.0);

/// The fields a JSON frame object may have.
const JSON_FIELDS: &str = "frame, timestamp_ms, landmarks, faces, image_width, image_height, \
                           normalized, extra, meta";

/// What a landmark file does not say itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LandmarkFileOptions {
    /// Frame rate of the source video, frames per second: needed when the file has no
    /// timestamps (then record `frame` is at `frame / source_fps` s); not used when it has.
    pub source_fps: Option<f64>,
    /// Image size in pixels, `(width, height)`, for lines that do not give theirs (every CSV
    /// row); needed to convert normalised coordinates. Lines that give one must agree.
    pub image_size: Option<(u32, u32)>,
    /// Whether the coordinates are MediaPipe's normalised ones (`Some(true)`) or pixels
    /// (`Some(false)`); `None` leaves it to the file, normalised where it does not say.
    pub normalized: Option<bool>,
}

/// The faces of a landmark file at 30 fps (see the module docs for the clock).
#[derive(Debug, Clone, PartialEq)]
pub struct LandmarkTrack {
    /// Frame `i` at `i / 30` s: [`FACE_MESH_POINTS`] `[x, y, z]` in image pixels (`z` in the
    /// scale of `x`), in MediaPipe's face mesh order; `None` where there is no face.
    pub frames: Vec<Option<Vec<[f32; 3]>>>,
    /// The image size in pixels, `(width, height)`, from the file or the options; `None` when
    /// neither says (pixel coordinates need none).
    pub image_size: Option<(u32, u32)>,
    /// Points per face in the file: [`FACE_MESH_POINTS`], or [`FACE_MESH_POINTS_WITH_IRISES`]
    /// (the iris points were dropped); `None` when no frame of a JSON file holds a face.
    pub source_points: Option<usize>,
    /// Frame records read from the file (lines or rows), before resampling to 30 fps.
    pub source_frames: usize,
}

impl LandmarkTrack {
    /// Output frames that hold a face.
    pub fn faces(&self) -> usize {
        self.frames.iter().filter(|f| f.is_some()).count()
    }
}

/// Reads a face landmark file: JSON lines (`.jsonl`), JSON (`.json`) or CSV (`.csv`), in the
/// formats of the module docs, resampled to 30 fps.
///
/// # Errors
/// [`DatasetError::Io`] for a file that cannot be read; [`DatasetError::Invalid`] for an
/// unknown extension or invalid options; [`DatasetError::LandmarkFile`], naming the line, for
/// anything in the file that breaks the format: invalid JSON or CSV, an unknown field or column,
/// a non-numeric value, a point count other than 468 or 478, frames or timestamps that do not
/// increase, normalised coordinates without an image size, an empty file, or no timestamps
/// and no `source_fps`.
pub fn read_landmark_file(path: &Path, options: &LandmarkFileOptions) -> Result<LandmarkTrack> {
    check_options(options)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let kind =
        match ext.as_deref() {
            Some("jsonl") => Kind::JsonLines,
            Some("json") => Kind::Json,
            Some("csv") => Kind::Csv,
            _ => return Err(DatasetError::invalid(
                path.display().to_string(),
                "unknown landmark file type: expected a .jsonl (JSON lines), .json or .csv file",
            )),
        };
    let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut builder = Builder::new(path, options);
    match kind {
        Kind::JsonLines => read_json_lines(&mut reader, &mut builder)?,
        Kind::Json => {
            // An array, or JSON lines under another name: the first byte that is not
            // whitespace decides.
            let first = loop {
                let buf = reader.fill_buf().map_err(|e| DatasetError::io(path, e))?;
                match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                    Some(i) => break Some(buf[i]),
                    None if buf.is_empty() => break None,
                    None => {
                        let n = buf.len();
                        reader.consume(n);
                    }
                }
            };
            if first == Some(b'[') {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut reader, &mut text).map_err(|e| {
                    builder.error(None, format!("not UTF-8 text ({e}); expected JSON"))
                })?;
                read_json_array(&text, &mut builder)?;
            } else {
                read_json_lines(&mut reader, &mut builder)?;
            }
        }
        Kind::Csv => read_csv(&mut reader, &mut builder)?,
    }
    builder.finish()
}

/// The file formats, by extension.
#[derive(Debug, Clone, Copy)]
enum Kind {
    JsonLines,
    Json,
    Csv,
}

fn check_options(options: &LandmarkFileOptions) -> Result<()> {
    if let Some(fps) = options.source_fps {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(DatasetError::invalid(
                "source_fps",
                format!("{fps}: expected the source's frame rate, a positive number"),
            ));
        }
    }
    if let Some((w, h)) = options.image_size {
        if w == 0 || h == 0 {
            return Err(DatasetError::invalid(
                "image_size",
                format!("{w}x{h}: expected a width and height of at least 1 pixel"),
            ));
        }
    }
    Ok(())
}

/// One frame record as a file states it.
#[derive(Debug, Default)]
struct RawRecord {
    line: usize,
    frame: Option<u64>,
    timestamp_ms: Option<f64>,
    image_size: Option<(u32, u32)>,
    normalized: Option<bool>,
    /// `None`: no face.
    points: Option<Vec<[f64; 3]>>,
}

/// One frame record, checked, in pixels.
#[derive(Debug)]
struct Record {
    line: usize,
    frame: Option<u64>,
    timestamp_ms: Option<f64>,
    points: Option<Vec<[f32; 3]>>,
}

/// Checks records as they come and resamples them at the end.
struct Builder<'a> {
    path: &'a Path,
    options: &'a LandmarkFileOptions,
    records: Vec<Record>,
    /// The first line that gave an image size, and the size.
    size: Option<(usize, (u32, u32))>,
    /// The first line that held a face, and its point count.
    points: Option<(usize, usize)>,
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, options: &'a LandmarkFileOptions) -> Self {
        Self {
            path,
            options,
            records: Vec::new(),
            size: None,
            points: None,
        }
    }

    fn error(&self, line: Option<usize>, message: impl Into<String>) -> DatasetError {
        file_error(self.path, line, message)
    }

    fn push(&mut self, raw: RawRecord) -> Result<()> {
        let line = raw.line;
        let path = self.path;
        let err = |message: String| file_error(path, Some(line), message);
        if let Some(first) = self.records.first() {
            for (name, has, first_has) in [
                ("frame", raw.frame.is_some(), first.frame.is_some()),
                (
                    "timestamp_ms",
                    raw.timestamp_ms.is_some(),
                    first.timestamp_ms.is_some(),
                ),
            ] {
                if has != first_has {
                    let (this, that) = if has {
                        ("has", "has none")
                    } else {
                        ("has no", "has one")
                    };
                    return Err(err(format!(
                        "this frame {this} `{name}` but the first (line {}) {that}; give it \
                         for every frame or for none",
                        first.line
                    )));
                }
            }
        }
        if let Some(prev) = self.records.last() {
            if let (Some(p), Some(f)) = (prev.frame, raw.frame) {
                if f <= p {
                    let what = if f == p { "repeats" } else { "comes after" };
                    return Err(err(format!(
                        "frame {f} {what} frame {p} (line {}); frames must strictly increase",
                        prev.line
                    )));
                }
            }
            if let (Some(p), Some(t)) = (prev.timestamp_ms, raw.timestamp_ms) {
                if t <= p {
                    let what = if t == p { "repeats" } else { "comes after" };
                    return Err(err(format!(
                        "timestamp_ms {t} {what} timestamp_ms {p} (line {}); timestamps must \
                         strictly increase",
                        prev.line
                    )));
                }
            }
        }

        // The image size: the line's, else the caller's; all must agree.
        if let (Some(s), Some(o)) = (raw.image_size, self.options.image_size) {
            if s != o {
                return Err(err(format!(
                    "image {}x{}, but the image_size option says {}x{}",
                    s.0, s.1, o.0, o.1
                )));
            }
        }
        if let Some(s) = raw.image_size {
            match self.size {
                Some((l0, s0)) if s0 != s => {
                    return Err(err(format!(
                        "image {}x{}, but line {l0} says {}x{}; one file is one video of one size",
                        s.0, s.1, s0.0, s0.1
                    )))
                }
                Some(_) => {}
                None => self.size = Some((line, s)),
            }
        }
        let size = raw.image_size.or(self.options.image_size);
        let normalized = match (raw.normalized, self.options.normalized) {
            (Some(a), Some(b)) if a != b => {
                return Err(err(format!(
                    "\"normalized\": {a}, but the normalized option says {b}"
                )))
            }
            (a, b) => a.or(b).unwrap_or(true),
        };

        let points = match raw.points {
            None => None,
            Some(points) => {
                let n = points.len();
                if n != FACE_MESH_POINTS && n != FACE_MESH_POINTS_WITH_IRISES {
                    return Err(err(format!(
                        "{n} landmark points; expected {FACE_MESH_POINTS} (MediaPipe face \
                         mesh) or {FACE_MESH_POINTS_WITH_IRISES} (face landmarker with irises)"
                    )));
                }
                match self.points {
                    Some((l0, n0)) if n0 != n => {
                        return Err(err(format!(
                            "{n} landmark points, but line {l0} has {n0}; every face of a \
                             file must have the same points"
                        )))
                    }
                    Some(_) => {}
                    None => self.points = Some((line, n)),
                }
                Some(to_pixels(&points, normalized, size).map_err(err)?)
            }
        };
        self.records.push(Record {
            line,
            frame: raw.frame,
            timestamp_ms: raw.timestamp_ms,
            points,
        });
        Ok(())
    }

    /// Times the records and resamples them to 30 fps.
    fn finish(self) -> Result<LandmarkTrack> {
        let Some(first) = self.records.first() else {
            return Err(self.error(
                None,
                "no frames: the file holds no frame record (expected one per line, or per row \
                 after the CSV header)",
            ));
        };
        let last_line = self.records.last().map_or(first.line, |r| r.line);
        let (times, interval) = if let Some(t0) = first.timestamp_ms {
            let times: Vec<f64> = self
                .records
                .iter()
                .map(|r| (r.timestamp_ms.unwrap_or(t0) - t0) / 1000.0)
                .collect();
            let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.sort_by(f64::total_cmp);
            let interval = match gaps.get(gaps.len() / 2) {
                Some(&median) => median,
                None => 1.0 / self.options.source_fps.unwrap_or(f64::from(VIDEO_FPS)),
            };
            (times, interval)
        } else {
            let Some(fps) = self.options.source_fps else {
                return Err(self.error(
                    None,
                    format!(
                        "the file has no `timestamp_ms` (lines {}..={last_line}), so the source \
                         frame rate is needed: give source_fps",
                        first.line
                    ),
                ));
            };
            let f0 = first.frame.unwrap_or(0);
            let times = self
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| (r.frame.unwrap_or(i as u64) - f0) as f64 / fps)
                .collect();
            (times, 1.0 / fps)
        };
        let last = times.last().copied().unwrap_or(0.0);
        let fps = f64::from(VIDEO_FPS);
        let count = ((last + interval) * fps + 0.5 + 1e-6).floor().max(1.0);
        if count > 1e8 {
            return Err(self.error(
                None,
                format!("the records span {last} s; expected a clip shorter than a month"),
            ));
        }
        let frames = resample(&self.records, &times, interval, count as usize);
        Ok(LandmarkTrack {
            frames,
            image_size: self.size.map(|(_, s)| s).or(self.options.image_size),
            source_points: self.points.map(|(_, n)| n),
            source_frames: self.records.len(),
        })
    }
}

/// A [`DatasetError::LandmarkFile`].
fn file_error(path: &Path, line: Option<usize>, message: impl Into<String>) -> DatasetError {
    DatasetError::LandmarkFile {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The first 468 of `points` in pixels.
fn to_pixels(
    points: &[[f64; 3]],
    normalized: bool,
    size: Option<(u32, u32)>,
) -> std::result::Result<Vec<[f32; 3]>, String> {
    let (sx, sy) = if normalized {
        let Some((w, h)) = size else {
            return Err(
                "normalised coordinates need the image size: give image_width and \
                        image_height, or the image_size option (or say the coordinates are \
                        pixels with \"normalized\": false)"
                    .into(),
            );
        };
        (f64::from(w), f64::from(h))
    } else {
        (1.0, 1.0)
    };
    points[..FACE_MESH_POINTS]
        .iter()
        .enumerate()
        .map(|(i, &[x, y, z])| {
            if normalized {
                let (lo, hi) = NORMALIZED_RANGE;
                if let Some((axis, v)) = [("x", x), ("y", y)]
                    .into_iter()
                    .find(|(_, v)| !(lo..=hi).contains(v))
                {
                    return Err(format!(
                        "point {i} has {axis} = {v}, outside [{lo}, {hi}] for normalised \
                         coordinates; if the coordinates are pixels, say \"normalized\": false \
                         (or the normalized option)"
                    ));
                }
            }
            let p = [(x * sx) as f32, (y * sy) as f32, (z * sx) as f32];
            if p.iter().all(|v| v.is_finite()) {
                Ok(p)
            } else {
                Err(format!(
                    "point {i} is [{x}, {y}, {z}], out of the range of 32-bit floats"
                ))
            }
        })
        .collect()
}

/// Resamples `records` at `times` (seconds from the first) to `count` frames at 30 fps (the
/// rule is in the module docs).
fn resample(
    records: &[Record],
    times: &[f64],
    interval: f64,
    count: usize,
) -> Vec<Option<Vec<[f32; 3]>>> {
    let mut out = Vec::with_capacity(count);
    // The last record at or before the output time.
    let mut a = 0;
    for i in 0..count {
        let t = i as f64 / f64::from(VIDEO_FPS);
        while a + 1 < times.len() && times[a + 1] <= t + SNAP_S {
            a += 1;
        }
        // The record nearest within SNAP_S: `a`, or the next one just after `t`.
        let snapped = [a, a + 1]
            .into_iter()
            .filter(|&j| j < times.len() && (times[j] - t).abs() <= SNAP_S)
            .min_by(|&j, &k| (times[j] - t).abs().total_cmp(&(times[k] - t).abs()));
        let face = match (snapped, records.get(a + 1)) {
            (Some(j), _) => records[j].points.clone(),
            (None, None) => records[a].points.clone(),
            (None, Some(next)) => {
                let (ta, tb) = (times[a], times[a + 1]);
                match (&records[a].points, &next.points) {
                    (Some(pa), Some(pb)) if tb - ta <= 2.0 * interval + SNAP_S => {
                        let w = (t - ta) / (tb - ta);
                        Some(
                            pa.iter()
                                .zip(pb)
                                .map(|(p, q)| {
                                    std::array::from_fn(|k| {
                                        let (p, q) = (f64::from(p[k]), f64::from(q[k]));
                                        (p + (q - p) * w) as f32
                                    })
                                })
                                .collect(),
                        )
                    }
                    (pa, pb) => {
                        if t - ta <= tb - t {
                            pa.clone()
                        } else {
                            pb.clone()
                        }
                    }
                }
            }
        };
        out.push(face);
    }
    out
}

/// Reads JSON lines into `builder`.
fn read_json_lines(reader: &mut impl BufRead, builder: &mut Builder<'_>) -> Result<()> {
    let mut text = String::new();
    let mut line = 0;
    loop {
        text.clear();
        line += 1;
        let n = reader.read_line(&mut text).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                builder.error(Some(line), "not UTF-8 text; expected a JSON object")
            } else {
                DatasetError::io(builder.path, e)
            }
        })?;
        if n == 0 {
            return Ok(());
        }
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| {
            builder.error(
                Some(line),
                format!(
                    "not valid JSON at column {}: {}; expected one JSON object per line",
                    e.column(),
                    json_message(&e)
                ),
            )
        })?;
        let raw = json_record(line, value).map_err(|m| builder.error(Some(line), m))?;
        builder.push(raw)?;
    }
}

/// Reads a JSON array of frame objects into `builder`, naming the line each object starts on.
fn read_json_array(text: &str, builder: &mut Builder<'_>) -> Result<()> {
    let bytes = text.as_bytes();
    let skip_ws = |mut pos: usize| {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        pos
    };
    // Lines up to a position, counted as the reading moves on.
    let mut counted = (0, 1);
    let mut line_at = |pos: usize| {
        counted.1 += bytes[counted.0..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted.0 = pos;
        counted.1
    };
    let mut pos = skip_ws(0);
    // The caller saw the '['.
    pos += 1;
    let mut first = true;
    loop {
        pos = skip_ws(pos);
        if first && bytes.get(pos) == Some(&b']') {
            pos += 1;
            break;
        }
        first = false;
        let line = line_at(pos);
        let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(builder.error(
                    Some(line + e.line().saturating_sub(1)),
                    format!("not valid JSON: {}", json_message(&e)),
                ))
            }
            None => {
                return Err(builder.error(
                    Some(line),
                    "the array ends without `]`; expected a JSON array of frame objects",
                ))
            }
        };
        pos += stream.byte_offset();
        let raw = json_record(line, value).map_err(|m| builder.error(Some(line), m))?;
        builder.push(raw)?;
        pos = skip_ws(pos);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => {
                pos += 1;
                break;
            }
            _ => {
                let line = line_at(pos);
                return Err(builder.error(
                    Some(line),
                    "expected `,` or `]` after a frame object in the JSON array",
                ));
            }
        }
    }
    let end = skip_ws(pos);
    if end < bytes.len() {
        let line = line_at(end);
        return Err(builder.error(
            Some(line),
            "text after the JSON array; expected one array of frame objects",
        ));
    }
    Ok(())
}

/// serde_json's message without its own "at line L column C" (our lines are the file's).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

/// A JSON frame object → a record; the error is a message for the line.
fn json_record(line: usize, value: Value) -> std::result::Result<RawRecord, String> {
    let Value::Object(fields) = value else {
        return Err(format!(
            "expected a JSON object for a frame, found {}",
            json_kind(&value)
        ));
    };
    let mut raw = RawRecord {
        line,
        ..RawRecord::default()
    };
    let (mut width, mut height) = (None, None);
    // `Some(points)` once `landmarks` or `faces` is seen.
    let mut face: Option<(&str, Option<Vec<[f64; 3]>>)> = None;
    for (name, value) in &fields {
        match name.as_str() {
            "frame" => {
                raw.frame = Some(value.as_u64().ok_or_else(|| {
                    format!("`frame` is {value}; expected the frame number, a non-negative integer")
                })?)
            }
            "timestamp_ms" => {
                raw.timestamp_ms = Some(value.as_f64().ok_or_else(|| {
                    format!("`timestamp_ms` is {value}; expected milliseconds, a number")
                })?)
            }
            "image_width" => width = Some(pixels(name, value)?),
            "image_height" => height = Some(pixels(name, value)?),
            "normalized" => {
                raw.normalized =
                    Some(value.as_bool().ok_or_else(|| {
                        format!("`normalized` is {value}; expected true or false")
                    })?)
            }
            "extra" | "meta" => {}
            "landmarks" | "faces" => {
                if let Some((other, _)) = face {
                    return Err(format!(
                        "both `{other}` and `{name}`; give one face as `landmarks` or several \
                         as `faces`"
                    ));
                }
                let points = if name == "landmarks" {
                    face_points("landmarks", value)?
                } else {
                    match value {
                        Value::Null => None,
                        Value::Array(faces) => match faces.first() {
                            None => None,
                            Some(first) => face_points("faces[0]", first)?,
                        },
                        other => {
                            return Err(format!(
                                "`faces` is {}; expected a list of faces, each a list of points",
                                json_kind(other)
                            ))
                        }
                    }
                };
                face = Some((name.as_str(), points));
            }
            other => {
                return Err(format!(
                    "unknown field `{other}`; a frame object has the fields {JSON_FIELDS}"
                ))
            }
        }
    }
    raw.image_size = match (width, height) {
        (Some(w), Some(h)) => Some((w, h)),
        (None, None) => None,
        _ => return Err("give both image_width and image_height, or neither".into()),
    };
    match face {
        Some((_, points)) => raw.points = points,
        None => {
            return Err(
                "no `landmarks` or `faces`; a frame without a face says \"landmarks\": null".into(),
            )
        }
    }
    Ok(raw)
}

/// A positive pixel count.
fn pixels(name: &str, value: &Value) -> std::result::Result<u32, String> {
    value
        .as_u64()
        .filter(|&v| v > 0)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("`{name}` is {value}; expected pixels, a positive integer"))
}

/// A face, `null` or a list of points (`[]` = no face).
fn face_points(what: &str, value: &Value) -> std::result::Result<Option<Vec<[f64; 3]>>, String> {
    let points = match value {
        Value::Null => return Ok(None),
        Value::Array(points) => points,
        other => {
            return Err(format!(
                "`{what}` is {}; expected a list of points [x, y, z] or {{\"x\", \"y\", \"z\"}}",
                json_kind(other)
            ))
        }
    };
    if points.is_empty() {
        return Ok(None);
    }
    points
        .iter()
        .enumerate()
        .map(|(i, p)| point(p).map_err(|m| format!("`{what}[{i}]`: {m}")))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// `[x, y, z]` or `{"x": .., "y": .., "z": ..}` (with `visibility`, `presence` ignored).
fn point(value: &Value) -> std::result::Result<[f64; 3], String> {
    const EXPECTED: &str = "expected a point [x, y, z] or {\"x\": .., \"y\": .., \"z\": ..}";
    let number = |axis: &str, v: Option<&Value>| match v {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("{axis} is {v}; expected a number")),
        None => Err(format!("no `{axis}`; {EXPECTED}")),
    };
    match value {
        Value::Array(items) if items.first().is_some_and(Value::is_array) => Err(format!(
            "a list of points where a point was expected; {EXPECTED} (several faces go in \
             `faces`)"
        )),
        Value::Array(items) if items.len() == 3 => Ok([
            number("x", items.first())?,
            number("y", items.get(1))?,
            number("z", items.get(2))?,
        ]),
        Value::Array(items) => Err(format!("{} values; {EXPECTED}", items.len())),
        Value::Object(fields) => {
            if let Some(key) = fields
                .keys()
                .find(|k| !matches!(k.as_str(), "x" | "y" | "z" | "visibility" | "presence"))
            {
                return Err(format!(
                    "unknown key `{key}`; {EXPECTED} (visibility and presence are ignored)"
                ));
            }
            Ok([
                number("x", fields.get("x"))?,
                number("y", fields.get("y"))?,
                number("z", fields.get("z"))?,
            ])
        }
        other => Err(format!("{}; {EXPECTED}", json_kind(other))),
    }
}

/// A JSON value's kind, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A CSV column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Frame,
    Timestamp,
    /// Point, axis (0 = x, 1 = y, 2 = z).
    Coord(usize, usize),
}

/// `x12` → `(12, 0, false)`, `z_3` → `(3, 2, true)` (point, axis, underscore).
fn coord_column(name: &str) -> Option<(usize, usize, bool)> {
    let axis = match name.as_bytes().first()? {
        b'x' => 0,
        b'y' => 1,
        b'z' => 2,
        _ => return None,
    };
    let (underscore, digits) = match name[1..].strip_prefix('_') {
        Some(d) => (true, d),
        None => (false, &name[1..]),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, axis, underscore))
}

/// A CSV field, trimmed of spaces and one pair of double quotes.
fn csv_field(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .map_or(field, str::trim)
}

/// Reads a CSV file into `builder`.
fn read_csv(reader: &mut impl BufRead, builder: &mut Builder<'_>) -> Result<()> {
    let mut text = String::new();
    let mut line = 0;
    let path = builder.path;
    let mut read_line = |text: &mut String, line: &mut usize| -> Result<bool> {
        text.clear();
        *line += 1;
        let n = reader.read_line(text).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                file_error(path, Some(*line), "not UTF-8 text; expected CSV")
            } else {
                DatasetError::io(path, e)
            }
        })?;
        Ok(n > 0)
    };

    // The header: the first line that is not blank.
    let columns = loop {
        if !read_line(&mut text, &mut line)? {
            return Err(builder.error(
                None,
                "the file is empty; expected a CSV header (frame,timestamp_ms,x0,y0,z0,…) and \
                 a row per frame",
            ));
        }
        let header = text.trim_start_matches('\u{feff}').trim();
        if !header.is_empty() {
            break csv_header(header).map_err(|m| builder.error(Some(line), m))?;
        }
    };
    let points = columns
        .iter()
        .filter(|c| matches!(c.0, Column::Coord(..)))
        .count()
        / 3;
    let names: Vec<String> = columns.iter().map(|c| c.1.clone()).collect();

    loop {
        if !read_line(&mut text, &mut line)? {
            return Ok(());
        }
        let row = text.trim();
        if row.is_empty() {
            continue;
        }
        let fields: Vec<&str> = row.split(',').map(csv_field).collect();
        if fields.len() != columns.len() {
            return Err(builder.error(
                Some(line),
                format!(
                    "{} fields, but the header has {} columns",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        let mut raw = RawRecord {
            line,
            ..RawRecord::default()
        };
        let mut coords = vec![[0.0f64; 3]; points];
        let coordinate_fields = || {
            fields
                .iter()
                .zip(&columns)
                .filter(|(_, c)| matches!(c.0, Column::Coord(..)))
        };
        let no_face =
            coordinate_fields().all(|(f, _)| f.is_empty() || f.eq_ignore_ascii_case("nan"));
        for (i, (field, (column, _))) in fields.iter().zip(&columns).enumerate() {
            let err = |expected: &str| {
                file_error(
                    path,
                    Some(line),
                    if field.is_empty() {
                        format!("column `{}` is empty; expected {expected}", names[i])
                    } else {
                        format!("column `{}` holds `{field}`; expected {expected}", names[i])
                    },
                )
            };
            match *column {
                Column::Frame => {
                    raw.frame = Some(
                        field
                            .parse()
                            .map_err(|_| err("the frame number, a non-negative integer"))?,
                    )
                }
                Column::Timestamp => {
                    raw.timestamp_ms = Some(
                        field
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| err("milliseconds, a finite number"))?,
                    )
                }
                Column::Coord(p, axis) if !no_face => {
                    coords[p][axis] = field
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            err("a finite number (or every coordinate empty for no face)")
                        })?
                }
                Column::Coord(..) => {}
            }
        }
        raw.points = (!no_face).then_some(coords);
        builder.push(raw)?;
    }
}

/// The columns a CSV header names, with their names; the error is a message for line 1.
fn csv_header(header: &str) -> std::result::Result<Vec<(Column, String)>, String> {
    const EXPECTED: &str = "expected frame, timestamp_ms, and x<i>,y<i>,z<i> or \
                            x_<i>,y_<i>,z_<i> for every point i";
    let mut columns = Vec::new();
    let mut underscore = None;
    let mut seen = std::collections::HashMap::new();
    for (i, name) in header.split(',').map(csv_field).enumerate() {
        let column = match name {
            "frame" => Column::Frame,
            "timestamp_ms" => Column::Timestamp,
            _ => match coord_column(name) {
                Some((point, axis, under)) => {
                    match underscore {
                        Some(u) if u != under => {
                            return Err(format!(
                                "column `{name}` mixes the spellings x<i> and x_<i>; use one"
                            ))
                        }
                        _ => underscore = Some(under),
                    }
                    Column::Coord(point, axis)
                }
                None => return Err(format!("unknown column `{name}`; {EXPECTED}")),
            },
        };
        if let Some(j) = seen.insert(column_key(column), i) {
            return Err(format!(
                "column `{name}` appears twice (columns {} and {})",
                j + 1,
                i + 1
            ));
        }
        columns.push((column, name.to_string()));
    }
    let n = columns
        .iter()
        .filter_map(|c| match c.0 {
            Column::Coord(p, _) => Some(p + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if n == 0 {
        return Err(format!("no coordinate columns; {EXPECTED}"));
    }
    let sep = if underscore == Some(true) { "_" } else { "" };
    for p in 0..n {
        for (axis, a) in ["x", "y", "z"].into_iter().enumerate() {
            if !seen.contains_key(&column_key(Column::Coord(p, axis))) {
                return Err(format!(
                    "no column `{a}{sep}{p}` (the header has points up to {})",
                    n - 1
                ));
            }
        }
    }
    if n != FACE_MESH_POINTS && n != FACE_MESH_POINTS_WITH_IRISES {
        return Err(format!(
            "the header has {n} landmark points (x{sep}0 … z{sep}{}); expected \
             {FACE_MESH_POINTS} (MediaPipe face mesh) or {FACE_MESH_POINTS_WITH_IRISES} \
             (face landmarker with irises)",
            n - 1
        ));
    }
    Ok(columns)
}

/// A hashable key per column.
fn column_key(column: Column) -> (usize, usize) {
    match column {
        Column::Frame => (usize::MAX, 0),
        Column::Timestamp => (usize::MAX, 1),
        Column::Coord(p, axis) => (p, axis),
    }
}
