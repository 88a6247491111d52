//! Sources without a video decoder: MediaPipe face landmark files (JSON lines, JSON, CSV) and
//! directories of frames plus an audio file. Every input is written here, in a temporary
//! directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use m2f_dataset::{
    read_frame_dir, read_landmark_file, DatasetError, FrameDir, LandmarkFileOptions,
    FACE_MESH_POINTS, FACE_MESH_POINTS_WITH_IRISES,
};
use serde_json::{json, Value};

const W: u32 = 1280;
const H: u32 = 720;

/// A face of `n` normalised points whose pixel coordinates at 1280×720 are exact in binary:
/// `x = i / 1024 + shift / 1024`, `y = (i % 100) / 256`, `z = −(i % 50) / 2048`.
fn face(n: usize, shift: f64) -> Vec<[f64; 3]> {
    (0..n)
        .map(|i| {
            [
                (i as f64 + shift) / 1024.0,
                (i % 100) as f64 / 256.0,
                -((i % 50) as f64) / 2048.0,
            ]
        })
        .collect()
}

/// [`face`] in pixels at 1280×720 (468 points).
fn face_px(shift: f64) -> Vec<[f32; 3]> {
    (0..FACE_MESH_POINTS)
        .map(|i| {
            [
                ((i as f64 + shift) * 1.25) as f32,
                ((i % 100) as f64 * 2.8125) as f32,
                -((i % 50) as f64 * 0.625) as f32,
            ]
        })
        .collect()
}

fn arrays(points: &[[f64; 3]]) -> Value {
    json!(points)
}

fn objects(points: &[[f64; 3]]) -> Value {
    Value::Array(
        points
            .iter()
            .map(|p| json!({"x": p[0], "y": p[1], "z": p[2], "visibility": null, "presence": null}))
            .collect(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// JSON lines from values.
fn jsonl(dir: &Path, name: &str, lines: &[Value]) -> PathBuf {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write(dir, name, &text)
}

fn at_30() -> LandmarkFileOptions {
    LandmarkFileOptions {
        source_fps: Some(30.0),
        ..LandmarkFileOptions::default()
    }
}

/// The error of reading `path`, as text, after checking it is a `LandmarkFile` error.
fn landmark_error(path: &Path, options: &LandmarkFileOptions) -> (Option<usize>, String) {
    match read_landmark_file(path, options) {
        Err(e @ DatasetError::LandmarkFile { line, .. }) => (line, e.to_string()),
        Err(e) => panic!("expected a landmark file error, got {e:?}"),
        Ok(t) => panic!("expected an error, read {} frames", t.frames.len()),
    }
}

#[test]
fn jsonl_normalised_coordinates_become_pixels_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = (0..3)
        .map(|f| {
            json!({"frame": f, "image_width": W, "image_height": H,
                   "landmarks": arrays(&face(468, f as f64)), "meta": {"score": 0.9}})
        })
        .collect();
    let path = jsonl(dir.path(), "clip.jsonl", &lines);
    let track = read_landmark_file(&path, &at_30()).unwrap();
    assert_eq!(track.frames.len(), 3);
    assert_eq!(track.image_size, Some((W, H)));
    assert_eq!(track.source_points, Some(FACE_MESH_POINTS));
    assert_eq!(track.source_frames, 3);
    for (f, frame) in track.frames.iter().enumerate() {
        assert_eq!(frame.as_deref(), Some(&face_px(f as f64)[..]), "frame {f}");
    }
    // z is scaled by the width, like x.
    assert_eq!(track.frames[0].as_ref().unwrap()[49][2], -49.0 * 0.625);
}

#[test]
fn point_objects_read_as_arrays_and_the_caller_gives_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let with = |points: fn(&[[f64; 3]]) -> Value| -> Vec<Value> {
        (0..2)
            .map(|f| json!({"frame": f, "landmarks": points(&face(468, f as f64))}))
            .collect()
    };
    let options = LandmarkFileOptions {
        image_size: Some((W, H)),
        ..at_30()
    };
    let a = read_landmark_file(&jsonl(dir.path(), "a.jsonl", &with(arrays)), &options).unwrap();
    let o = read_landmark_file(&jsonl(dir.path(), "o.jsonl", &with(objects)), &options).unwrap();
    assert_eq!(a, o);
    assert_eq!(a.frames[1].as_deref(), Some(&face_px(1.0)[..]));
    assert_eq!(a.image_size, Some((W, H)));

    // Without a size anywhere, normalised coordinates cannot be converted.
    let (line, message) = landmark_error(&jsonl(dir.path(), "o.jsonl", &with(objects)), &at_30());
    assert_eq!(line, Some(1), "{message}");
    assert!(message.contains("image size"), "{message}");
}

#[test]
fn iris_points_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [json!({"frame": 0, "image_width": W, "image_height": H,
                        "landmarks": objects(&face(FACE_MESH_POINTS_WITH_IRISES, 0.0))})];
    let track = read_landmark_file(&jsonl(dir.path(), "iris.jsonl", &lines), &at_30()).unwrap();
    assert_eq!(track.source_points, Some(FACE_MESH_POINTS_WITH_IRISES));
    let points = track.frames[0].as_ref().unwrap();
    assert_eq!(points.len(), FACE_MESH_POINTS);
    assert_eq!(points[..], face_px(0.0)[..]);
}

#[test]
fn several_faces_take_the_first_and_empty_lines_have_no_face() {
    let dir = tempfile::tempdir().unwrap();
    let size = json!({"image_width": W, "image_height": H});
    let mut lines = vec![
        json!({"faces": [arrays(&face(468, 0.0)), arrays(&face(468, 100.0))]}),
        json!({"faces": []}),
        json!({"landmarks": null}),
        json!({"landmarks": []}),
        json!({"faces": [[], arrays(&face(468, 7.0))]}),
        json!({"faces": null}),
        json!({"landmarks": arrays(&face(468, 6.0))}),
    ];
    for line in &mut lines {
        line.as_object_mut()
            .unwrap()
            .extend(size.as_object().unwrap().clone());
    }
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        // Blank lines are skipped; numbering still counts them.
        writeln!(text, "{line}").unwrap();
        if i == 2 {
            text.push_str("\n  \n");
        }
    }
    let path = write(dir.path(), "faces.jsonl", &text);
    let track = read_landmark_file(&path, &at_30()).unwrap();
    let expected: Vec<Option<Vec<[f32; 3]>>> = vec![
        Some(face_px(0.0)),
        None,
        None,
        None,
        None,
        None,
        Some(face_px(6.0)),
    ];
    assert_eq!(track.frames, expected);
    assert_eq!(track.faces(), 2);
}

#[test]
fn timestamps_at_25_fps_are_interpolated_to_30_fps() {
    let dir = tempfile::tempdir().unwrap();
    // A face moving at 250 px/s in x, in pixels; record 10 (t = 0.4 s) has no face. The clock
    // starts at the first timestamp (1000 ms).
    let x_at = |t: f64| 100.0 + 250.0 * t;
    let points = |t: f64| -> Vec<[f64; 3]> {
        (0..468)
            .map(|i| [x_at(t) + i as f64, 50.0 + i as f64, -(i as f64)])
            .collect()
    };
    let lines: Vec<Value> = (0..25)
        .map(|k| {
            let t = k as f64 / 25.0;
            let landmarks = if k == 10 {
                Value::Null
            } else {
                arrays(&points(t))
            };
            json!({"timestamp_ms": 1000.0 + 40.0 * k as f64, "normalized": false,
                   "landmarks": landmarks})
        })
        .collect();
    let path = jsonl(dir.path(), "t25.jsonl", &lines);
    let track = read_landmark_file(&path, &LandmarkFileOptions::default()).unwrap();
    // 25 records of 40 ms last 1 s.
    assert_eq!(track.frames.len(), 30);
    assert_eq!(track.image_size, None);
    for (i, frame) in track.frames.iter().enumerate() {
        let t = i as f64 / 30.0;
        // Frame 11 (0.367 s) lies between 0.36 s and the faceless 0.4 s: the nearer, 0.36 s.
        // Frame 12 is 0.4 s itself: no face. Frame 13 (0.433 s) is nearest 0.44 s.
        // Past the last record (0.96 s), frame 29 keeps it.
        let expected_t = match i {
            11 => Some(0.36),
            12 => None,
            13 => Some(0.44),
            29 => Some(0.96),
            _ => Some(t),
        };
        match (frame, expected_t) {
            (None, None) => {}
            (Some(p), Some(te)) => {
                for (j, q) in p.iter().enumerate() {
                    let want = [x_at(te) + j as f64, 50.0 + j as f64, -(j as f64)];
                    for k in 0..3 {
                        assert!(
                            (f64::from(q[k]) - want[k]).abs() < 1e-3,
                            "frame {i} point {j} axis {k}: {} vs {}",
                            q[k],
                            want[k]
                        );
                    }
                }
            }
            _ => panic!(
                "frame {i}: face {:?}, expected {expected_t:?}",
                frame.is_some()
            ),
        }
    }
}

#[test]
fn frames_without_timestamps_use_the_source_rate() {
    let dir = tempfile::tempdir().unwrap();
    // Frames 0..4 at 15 fps, pixels: x = frame number.
    let lines: Vec<Value> = (0..4)
        .map(|f| {
            let p: Vec<[f64; 3]> = (0..468).map(|_| [f as f64, 0.0, 0.0]).collect();
            json!({"frame": f + 10, "normalized": false, "landmarks": p})
        })
        .collect();
    let path = jsonl(dir.path(), "f15.jsonl", &lines);
    let options = LandmarkFileOptions {
        source_fps: Some(15.0),
        ..LandmarkFileOptions::default()
    };
    let track = read_landmark_file(&path, &options).unwrap();
    // 4 frames at 15 fps last 8 output frames; the odd ones halfway between two records.
    let xs: Vec<f32> = track
        .frames
        .iter()
        .map(|f| f.as_ref().unwrap()[0][0])
        .collect();
    assert_eq!(xs, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]);

    // Without timestamps and without a rate, the file cannot be timed.
    let (line, message) = landmark_error(&path, &LandmarkFileOptions::default());
    assert_eq!(line, None);
    assert!(message.contains("source_fps"), "{message}");
}

#[test]
fn json_array_files() {
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<Value> = (0..2)
        .map(|f| json!({"frame": f, "landmarks": objects(&face(468, f as f64))}))
        .collect();
    let path = write(
        dir.path(),
        "clip.json",
        &serde_json::to_string_pretty(&frames).unwrap(),
    );
    let options = LandmarkFileOptions {
        image_size: Some((W, H)),
        ..at_30()
    };
    let track = read_landmark_file(&path, &options).unwrap();
    assert_eq!(track.frames[1].as_deref(), Some(&face_px(1.0)[..]));

    // A bad point count is reported on the line where that frame's object starts.
    let bad = vec![
        json!({"frame": 0, "landmarks": arrays(&face(468, 0.0))}),
        json!({"frame": 1, "landmarks": arrays(&face(467, 0.0))}),
    ];
    let text = serde_json::to_string_pretty(&bad).unwrap();
    let start = text.lines().position(|l| l == "  {").unwrap();
    let second = text
        .lines()
        .enumerate()
        .skip(start + 1)
        .find(|(_, l)| *l == "  {")
        .unwrap()
        .0
        + 1;
    let path = write(dir.path(), "bad.json", &text);
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, Some(second), "{message}");
    assert!(message.contains("467 landmark points"), "{message}");
}

/// A CSV header for 468 points, `x0` or `x_0` style.
fn csv_header(underscore: bool, timestamps: bool) -> String {
    let sep = if underscore { "_" } else { "" };
    let mut header = String::from("frame");
    if timestamps {
        header.push_str(",timestamp_ms");
    }
    for i in 0..FACE_MESH_POINTS {
        write!(header, ",x{sep}{i},y{sep}{i},z{sep}{i}").unwrap();
    }
    header
}

fn csv_row(frame: usize, timestamp: Option<f64>, points: Option<&[[f64; 3]]>) -> String {
    let mut row = frame.to_string();
    if let Some(t) = timestamp {
        write!(row, ",{t}").unwrap();
    }
    for i in 0..FACE_MESH_POINTS {
        match points {
            Some(p) => write!(row, ",{},{},{}", p[i][0], p[i][1], p[i][2]).unwrap(),
            None => row.push_str(",,,"),
        }
    }
    row
}

#[test]
fn csv_in_both_header_styles() {
    let dir = tempfile::tempdir().unwrap();
    let options = LandmarkFileOptions {
        image_size: Some((W, H)),
        ..at_30()
    };
    for underscore in [false, true] {
        for timestamps in [false, true] {
            let ts = |f: usize| timestamps.then_some(f as f64 * 100.0 / 3.0);
            let text = [
                csv_header(underscore, timestamps),
                csv_row(0, ts(0), Some(&face(468, 0.0))),
                csv_row(1, ts(1), None),
                csv_row(2, ts(2), Some(&face(468, 2.0))),
            ]
            .join("\r\n");
            let path = write(dir.path(), "clip.csv", &text);
            let track = read_landmark_file(&path, &options).unwrap();
            assert_eq!(
                track.frames,
                vec![Some(face_px(0.0)), None, Some(face_px(2.0))],
                "underscore {underscore}, timestamps {timestamps}"
            );
            assert_eq!(track.source_points, Some(FACE_MESH_POINTS));
        }
    }
}

#[test]
fn csv_errors_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let options = LandmarkFileOptions {
        image_size: Some((W, H)),
        ..at_30()
    };
    let good = csv_row(0, None, Some(&face(468, 0.0)));

    // A non-numeric value.
    let bad = good.replacen(",0.00390625,", ",abc,", 1);
    assert_ne!(bad, good);
    let path = write(
        dir.path(),
        "nan.csv",
        &[csv_header(false, false), good.clone(), bad].join("\n"),
    );
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, Some(3), "{message}");
    assert!(
        message.contains("`y1`") && message.contains("`abc`"),
        "{message}"
    );

    // A header of 470 points.
    let mut header = csv_header(true, false);
    for i in 468..470 {
        write!(header, ",x_{i},y_{i},z_{i}").unwrap();
    }
    let path = write(dir.path(), "470.csv", &header);
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, Some(1), "{message}");
    assert!(message.contains("470 landmark points"), "{message}");

    // An unknown column, a mixed spelling.
    for (header, expected) in [
        (csv_header(false, false) + ",score", "`score`"),
        (csv_header(false, false).replace(",y7,", ",y_7,"), "`y_7`"),
    ] {
        let path = write(dir.path(), "cols.csv", &header);
        let (line, message) = landmark_error(&path, &options);
        assert_eq!(line, Some(1), "{message}");
        assert!(message.contains(expected), "{message}");
    }

    // Frames that go back.
    let path = write(
        dir.path(),
        "back.csv",
        &[
            csv_header(false, false),
            csv_row(5, None, None),
            csv_row(4, None, None),
        ]
        .join("\n"),
    );
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, Some(3), "{message}");
    assert!(message.contains("frame 4"), "{message}");

    // Header only, and nothing at all.
    for (text, expected) in [
        (csv_header(false, false), "no frame"),
        (String::new(), "empty"),
    ] {
        let path = write(dir.path(), "empty.csv", &text);
        let (line, message) = landmark_error(&path, &options);
        assert_eq!(line, None, "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn jsonl_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let options = LandmarkFileOptions {
        image_size: Some((W, H)),
        ..at_30()
    };
    let good = |f: u64| json!({"frame": f, "landmarks": arrays(&face(468, 0.0))});
    let check = |name: &str, lines: &[Value], line: usize, needles: &[&str]| {
        let path = jsonl(dir.path(), name, lines);
        let (got, message) = landmark_error(&path, &options);
        assert_eq!(got, Some(line), "{name}: {message}");
        assert!(message.contains(name), "{name}: {message}");
        for needle in needles {
            assert!(message.contains(needle), "{name}: {message}");
        }
    };

    // A wrong point count.
    let mut short = good(1);
    short["landmarks"] = arrays(&face(470, 0.0));
    check("count.jsonl", &[good(0), short], 2, &["line 2", "470"]);
    // An unknown field.
    let mut unknown = good(1);
    unknown["score"] = json!(0.5);
    check(
        "field.jsonl",
        &[good(0), unknown],
        2,
        &["line 2", "`score`"],
    );
    // Frames that go back, or repeat.
    check(
        "back.jsonl",
        &[good(3), good(2)],
        2,
        &["frame 2", "frame 3"],
    );
    check("repeat.jsonl", &[good(3), good(3)], 2, &["repeats"]);
    // A non-numeric coordinate.
    let mut text_value = good(1);
    text_value["landmarks"][5] = json!({"x": "abc", "y": 0.1, "z": 0.0});
    check(
        "value.jsonl",
        &[good(0), text_value],
        2,
        &["landmarks[5]", "\"abc\""],
    );
    // Pixel coordinates read as normalised.
    let mut pixels = good(0);
    pixels["landmarks"][0] = json!([640.0, 360.0, 0.0]);
    check("pixels.jsonl", &[pixels], 1, &["normalized"]);
    // Not JSON.
    let path = write(
        dir.path(),
        "broken.jsonl",
        "{\"frame\": 0, \"landmarks\": [\n",
    );
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, Some(1), "{message}");

    // An empty file, and no file.
    let path = write(dir.path(), "empty.jsonl", "\n");
    let (line, message) = landmark_error(&path, &options);
    assert_eq!(line, None, "{message}");
    assert!(message.contains("no frame"), "{message}");
    let missing = dir.path().join("missing.jsonl");
    match read_landmark_file(&missing, &options) {
        Err(DatasetError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // An unknown extension.
    let path = write(dir.path(), "clip.txt", "");
    let message = read_landmark_file(&path, &options).unwrap_err().to_string();
    assert!(message.contains(".jsonl"), "{message}");
}

/// Writes `frame_{k}.png` for k in 1..=n, frame k a flat colour encoding k − 1.
fn write_frames(dir: &Path, n: usize) {
    for k in 1..=n {
        let c = ((k - 1) * 20) as u8;
        RgbImage::from_pixel(8, 6, Rgb([c, 255 - c, 7]))
            .save(dir.join(format!("frame_{k}.png")))
            .unwrap();
    }
}

/// One second of a 440 Hz tone at 16 kHz, mono 16-bit.
fn write_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..16_000 {
        let v = (i as f32 / 16_000.0 * 440.0 * std::f32::consts::TAU).sin() * 8000.0;
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn frame_dir_at_15_fps_doubles_each_frame_in_natural_order() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    write_frames(&frames, 10);
    // Not frames: ignored.
    std::fs::write(frames.join("notes.txt"), "hello").unwrap();
    std::fs::write(frames.join("._frame_1.png"), "AppleDouble").unwrap();
    let wav = dir.path().join("speech.wav");
    write_wav(&wav);

    let clip = read_frame_dir(&frames, 15.0, &wav).unwrap();
    let names: Vec<String> = clip
        .source
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<String> = (1..=10).map(|k| format!("frame_{k}.png")).collect();
    assert_eq!(names, expected);
    assert_eq!(clip.frames.len(), 20);
    assert_eq!(clip.source.frame_count(), 20);
    for (i, frame) in clip.frames.iter().enumerate() {
        let c = (i / 2 * 20) as u8;
        assert_eq!(frame.dimensions(), (8, 6));
        assert_eq!(frame.get_pixel(3, 2), &Rgb([c, 255 - c, 7]), "frame {i}");
    }
    assert_eq!(clip.audio.len(), 16_000);
    assert!(clip.audio.iter().any(|&s| s.abs() > 0.2));

    // The streaming path gives the same frames.
    let source = FrameDir::open(&frames, 15.0).unwrap();
    let streamed: Vec<RgbImage> = source.frames().map(Result::unwrap).collect();
    assert_eq!(streamed, clip.frames);

    // At 25 fps: ffmpeg's fps filter picks 0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9.
    let source = FrameDir::open(&frames, 25.0).unwrap();
    assert_eq!(source.frame_count(), 12);
    let picked: Vec<usize> = (0..12).map(|i| source.source_index(i)).collect();
    assert_eq!(picked, [0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9]);
    let colours: Vec<u8> = source
        .frames()
        .map(|f| f.unwrap().get_pixel(0, 0)[0] / 20)
        .collect();
    assert_eq!(colours, [0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9]);
}

#[test]
fn gray_and_rgba_frames_become_rgb() {
    let dir = tempfile::tempdir().unwrap();
    GrayImage::from_pixel(4, 4, Luma([90]))
        .save(dir.path().join("f1.png"))
        .unwrap();
    RgbaImage::from_pixel(4, 4, Rgba([10, 20, 30, 40]))
        .save(dir.path().join("f2.png"))
        .unwrap();
    ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(4, 4, Rgb([0xffff, 0x8080, 0]))
        .save(dir.path().join("f3.png"))
        .unwrap();
    RgbImage::from_pixel(4, 4, Rgb([200, 100, 50]))
        .save(dir.path().join("f4.jpg"))
        .unwrap();
    let source = FrameDir::open(dir.path(), 30.0).unwrap();
    let frames: Vec<RgbImage> = source.frames().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].get_pixel(1, 1), &Rgb([90, 90, 90]));
    assert_eq!(frames[1].get_pixel(1, 1), &Rgb([10, 20, 30]));
    assert_eq!(frames[2].get_pixel(1, 1), &Rgb([255, 128, 0]));
    let jpeg = frames[3].get_pixel(1, 1);
    for (got, want) in jpeg.0.iter().zip([200u8, 100, 50]) {
        assert!(got.abs_diff(want) <= 3, "{jpeg:?}");
    }
}

#[test]
fn frame_dir_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    write_wav(&wav);
    let sub = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        d
    };

    // A frame of another size, named.
    let odd = sub("odd");
    write_frames(&odd, 3);
    RgbImage::new(9, 6).save(odd.join("frame_2.png")).unwrap();
    let message = read_frame_dir(&odd, 30.0, &wav).unwrap_err().to_string();
    assert!(
        message.contains("frame_2.png") && message.contains("9x6"),
        "{message}"
    );

    // An empty directory; one without images.
    let empty = sub("empty");
    let message = FrameDir::open(&empty, 30.0).unwrap_err().to_string();
    assert!(message.contains("empty"), "{message}");
    std::fs::write(empty.join("readme.txt"), "x").unwrap();
    let message = FrameDir::open(&empty, 30.0).unwrap_err().to_string();
    assert!(message.contains("readme.txt"), "{message}");

    // A file that is not an image, named.
    let broken = sub("broken");
    write_frames(&broken, 2);
    std::fs::write(broken.join("frame_3.png"), "not a picture").unwrap();
    match FrameDir::open(&broken, 30.0) {
        Err(DatasetError::UnreadableImage { path, .. }) => {
            assert_eq!(path, broken.join("frame_3.png"))
        }
        other => panic!("expected an unreadable image, got {other:?}"),
    }

    // Bad rates.
    let good = sub("good");
    write_frames(&good, 2);
    for fps in [0.0, -25.0, f64::NAN, f64::INFINITY] {
        let message = FrameDir::open(&good, fps).unwrap_err().to_string();
        assert!(message.contains("fps"), "{fps}: {message}");
    }

    // Missing audio, missing directory.
    let missing = dir.path().join("missing.wav");
    match read_frame_dir(&good, 30.0, &missing) {
        Err(DatasetError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(matches!(
        FrameDir::open(&dir.path().join("nowhere"), 30.0),
        Err(DatasetError::Io { .. })
    ));
}
