//! A contact sheet of the eight MEAD emotions as the synthetic world animates them (the
//! emotion's static face, mouth at rest, eyes open), on one identity: one column per emotion
//! (neutral, happy, sad, angry, surprised, disgusted, fearful, contempt), rows at high
//! intensity seen frontally, at high intensity with the head turned 25° to its left and
//! tilted down a little, and at low intensity frontally. Each column and row is labelled.
//!
//! `cargo run --release -p m2f-synth --example emotion_sheet -- docs/emotions.png [CELL_PX]
//! [WORLD_SEED] [IDENTITY]` (defaults: 200-pixel-high cells, identity 2 of world 1).

use std::path::PathBuf;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::ImageEncoder;
use image::{Rgb, RgbImage};
use m2f_mesh::{render, Camera, HoleFill, RenderOptions, EYE_COLOR, MOUTH_COLOR};
use m2f_mesh::{write_atomic, FaceRegions, FaceTemplate};
use m2f_synth::identity_rig;
use m2f_synth::Articulation;
use m2f_synth::FaceAnimator;
use m2f_synth::{Emotion, Intensity};

/// Height of the label strips, pixels.
const LABEL_H: u32 = 18;
/// Width of the row-label column, pixels.
const ROW_LABEL_W: u32 = 18;
const BACKGROUND: [u8; 3] = [52, 56, 64];
const INK: [u8; 3] = [230, 230, 230];
/// Brow hair and lip colours. The renderer draws untextured skin, on which a brow that
/// slides up the forehead barely changes the shading: painting the brows and lips is what
/// makes brow and mouth-corner motion visible, as on a real face.
const BROW_COLOR: [u8; 3] = [70, 52, 44];
const LIP_COLOR: [u8; 3] = [150, 88, 84];

/// The lips' vertices: those on or inside the outer lip outline, seen from the front on the
/// neutral (the region lists hold only the outer and inner contours, not the rings between).
fn lip_vertices(neutral: &[[f32; 3]], regions: &FaceRegions) -> Vec<u32> {
    let mut outline: Vec<[f32; 2]> = regions
        .upper_outer_lip
        .iter()
        .chain(regions.lower_outer_lip.iter().rev())
        .map(|&i| {
            let p = neutral[i as usize];
            [p[0], p[1]]
        })
        .collect();
    outline.dedup();
    let inside = |p: [f32; 3]| {
        // Even–odd rule on a horizontal ray.
        let mut hit = false;
        for k in 0..outline.len() {
            let a = outline[k];
            let b = outline[(k + 1) % outline.len()];
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                if p[0] < x {
                    hit = !hit;
                }
            }
        }
        hit
    };
    (0..neutral.len() as u32)
        .filter(|&i| regions.lips.contains(&i) || inside(neutral[i as usize]))
        .collect()
}

/// Render options that paint the lips, mouth, eyes and brows flat. A fill paints the mesh's
/// triangles whose three corners all lie on its outline; later fills win, so the mouth
/// opening (inside the lips) comes after the lips. The lip and brow outlines are given as
/// vertex sets, not loops: their fallback polygon (painted only where no surface is drawn)
/// then lies within the feature's hull, inside the face.
fn painted(neutral: &[[f32; 3]], regions: &FaceRegions) -> RenderOptions {
    let mut opts = RenderOptions::default();
    opts.hole_fills.push(HoleFill {
        contour: lip_vertices(neutral, regions),
        color: LIP_COLOR,
    });
    opts.hole_fills.push(HoleFill::mouth(regions, MOUTH_COLOR));
    opts.hole_fills.extend(HoleFill::eyes(regions, EYE_COLOR));
    for brow in [&regions.left_brow, &regions.right_brow] {
        opts.hole_fills.push(HoleFill {
            contour: brow.clone(),
            color: BROW_COLOR,
        });
    }
    opts
}

/// A 5×7 bitmap font for the labels: lower-case letters, digits and a few signs, one row
/// of five bits (most significant bit leftmost) per line.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'a' => [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e],
        'c' => [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e],
        'd' => [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f],
        'e' => [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e],
        'f' => [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'm' => [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e],
        'p' => [0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e],
        't' => [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a],
        'x' => [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'z' => [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f],
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        _ => [0; 7],
    }
}

/// Draws `text` with its top-left corner at (x, y), `scale` pixels per font pixel, clipped to
/// the image; rotated 90° counter-clockwise (reading bottom to top) when `vertical`.
fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, scale: u32, vertical: bool) {
    for (k, c) in text.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        // Along the text, then across it.
                        let along = (k as u32 * 6 + col) * scale + dx;
                        let across = row as u32 * scale + dy;
                        let (px, py) = if vertical {
                            (
                                x + across,
                                (y + 6 * scale * text.len() as u32).checked_sub(along),
                            )
                        } else {
                            (x + along, Some(y + across))
                        };
                        if let Some(py) = py {
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, Rgb(INK));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Pixel width of `text` at `scale`.
fn text_width(text: &str, scale: u32) -> u32 {
    (6 * text.chars().count() as u32).saturating_sub(1) * scale
}

/// The camera `frontal` turned about its target by `yaw` (to the subject's left) and `pitch`
/// (looking down on the face) radians.
fn turned(frontal: &Camera, yaw: f32, pitch: f32) -> Camera {
    let t = frontal.target;
    let d = [0, 1, 2].map(|k| frontal.eye[k] - t[k]);
    // Pitch about x, then yaw about y.
    let (sp, cp) = pitch.sin_cos();
    let d = [d[0], cp * d[1] + sp * d[2], -sp * d[1] + cp * d[2]];
    let (sy, cy) = yaw.sin_cos();
    let d = [cy * d[0] + sy * d[2], d[1], -sy * d[0] + cy * d[2]];
    Camera {
        eye: [t[0] + d[0], t[1] + d[1], t[2] + d[2]],
        ..*frontal
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "docs/emotions.png".into()),
    );
    let arg = |i: usize, default: u64| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(match args.get(i) {
            Some(s) => s.parse()?,
            None => default,
        })
    };
    let cell = arg(1, 200)?.clamp(64, 1024) as u32;
    let seed = arg(2, 1)?;
    let identity = u32::try_from(arg(3, 2)?)?;

    let template = FaceTemplate::mediapipe();
    let rig = identity_rig(seed, identity, &template)?;
    let neutral = &rig.neutral().vertices;
    let cell_w = cell * 4 / 5;
    let frontal = Camera::framing_sized(neutral, cell_w, cell);
    let side = turned(&frontal, 25f32.to_radians(), 8f32.to_radians());
    let opts = painted(neutral, &template.regions);
    let rows: [(&str, Intensity, &Camera); 3] = [
        ("high", Intensity::High, &frontal),
        ("high, turned", Intensity::High, &side),
        ("low", Intensity::Low, &frontal),
    ];

    let width = ROW_LABEL_W + cell_w * Emotion::ALL.len() as u32;
    let height = LABEL_H + (cell + 2) * rows.len() as u32;
    let mut sheet = RgbImage::from_pixel(width, height, Rgb(BACKGROUND));
    for (c, e) in Emotion::ALL.iter().enumerate() {
        let x0 = ROW_LABEL_W + c as u32 * cell_w;
        let name = e.name();
        let scale = if text_width(name, 2) + 4 <= cell_w {
            2
        } else {
            1
        };
        let tx = x0 + cell_w.saturating_sub(text_width(name, scale)) / 2;
        draw_text(&mut sheet, name, tx, 2, scale, false);
        for (r, (_, intensity, camera)) in rows.iter().enumerate() {
            let animator = FaceAnimator::new(&rig, *e, *intensity)?;
            let w = animator.weights(&Articulation::default(), 0.0, 0.0);
            let v = rig.apply(&w)?;
            let img = render(&v, &template.mesh.triangles, camera, &opts)?;
            let y0 = LABEL_H + r as u32 * (cell + 2);
            image::imageops::replace(&mut sheet, &img, x0 as i64, y0 as i64);
        }
    }
    for (r, (label, _, _)) in rows.iter().enumerate() {
        let y0 = LABEL_H + r as u32 * (cell + 2);
        let y = y0 + cell.saturating_sub(text_width(label, 2)) / 2;
        draw_text(&mut sheet, label, 2, y, 2, true);
    }
    // The sheet is committed to the repository: compress hard, which the default writer does
    // not (it favours speed for animation frames).
    write_atomic(&out, |w| {
        PngEncoder::new_with_quality(w, CompressionType::Best, FilterType::Adaptive)
            .write_image(
                sheet.as_raw(),
                sheet.width(),
                sheet.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)
    })?;
    println!(
        "wrote {} ({}×{}): world {seed}, identity {identity}",
        out.display(),
        width,
        height
    );
    Ok(())
}
