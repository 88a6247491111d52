//! Smooth displacement fields over a face, the building blocks of the procedural rig:
//! falloffs around points and contours, and soft masks that keep the upper lip out of the
//! lower lip's motion (they lie millimetres apart but must move independently).

use crate::face_mesh::{dot, sub};

/// Closest point on a polyline: (distance, segment index, parameter in [0, 1] along it).
pub(crate) fn closest_on_polyline(p: [f32; 3], line: &[[f32; 3]]) -> (f32, usize, f32) {
    let mut best = (f32::INFINITY, 0usize, 0.0f32);
    if line.len() == 1 {
        let d = sub(p, line[0]);
        return (dot(d, d).sqrt(), 0, 0.0);
    }
    for s in 0..line.len() - 1 {
        let a = line[s];
        let ab = sub(line[s + 1], a);
        let len2 = dot(ab, ab);
        let t = if len2 > 0.0 {
            (dot(sub(p, a), ab) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = [a[0] + t * ab[0], a[1] + t * ab[1], a[2] + t * ab[2]];
        let d = sub(p, q);
        let dist = dot(d, d).sqrt();
        if dist < best.0 {
            best = (dist, s, t);
        }
    }
    best
}

/// Gaussian falloff exp(−d² / 2r²).
pub(crate) fn gauss(d: f32, r: f32) -> f32 {
    (-(d * d) / (2.0 * r * r)).exp()
}

/// Smooth step from 0 at `a` to 1 at `b`.
pub(crate) fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Piecewise-linear y(x) of a contour, extended flat beyond its ends.
pub(crate) fn contour_y_at(contour: &[[f32; 3]], x: f32) -> f32 {
    let mut pts: Vec<(f32, f32)> = contour.iter().map(|p| (p[0], p[1])).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if x <= pts[0].0 {
        return pts[0].1;
    }
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
            return y0 + t * (y1 - y0);
        }
    }
    pts[pts.len() - 1].1
}

/// A field that moves the vertices of `contour` by `displacement` (one per contour vertex)
/// and every other vertex by the displacement at its closest contour point, fading with
/// distance `radius`, times `mask`.
pub(crate) fn contour_field(
    vertices: &[[f32; 3]],
    contour: &[u32],
    displacement: &[[f32; 3]],
    radius: f32,
    mask: &[f32],
) -> Vec<[f32; 3]> {
    let line: Vec<[f32; 3]> = contour.iter().map(|&i| vertices[i as usize]).collect();
    vertices
        .iter()
        .zip(mask)
        .map(|(&p, &m)| {
            let (d, s, t) = closest_on_polyline(p, &line);
            let s1 = (s + 1).min(line.len() - 1);
            let w = gauss(d, radius) * m;
            let a = displacement[s];
            let b = displacement[s1];
            [0, 1, 2].map(|k| w * (a[k] + t * (b[k] - a[k])))
        })
        .collect()
}

/// A field that moves vertices near `centre` by `displacement`, Gaussian falloff `radius`.
pub(crate) fn point_field(
    vertices: &[[f32; 3]],
    centre: [f32; 3],
    displacement: [f32; 3],
    radius: f32,
    mask: &[f32],
) -> Vec<[f32; 3]> {
    vertices
        .iter()
        .zip(mask)
        .map(|(&p, &m)| {
            let d = sub(p, centre);
            let w = gauss(dot(d, d).sqrt(), radius) * m;
            displacement.map(|c| w * c)
        })
        .collect()
}

pub(crate) fn add_into(acc: &mut [[f32; 3]], field: &[[f32; 3]]) {
    for (a, f) in acc.iter_mut().zip(field) {
        for k in 0..3 {
            a[k] += f[k];
        }
    }
}
