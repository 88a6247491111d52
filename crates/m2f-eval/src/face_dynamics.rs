//! Upper-face dynamics deviation (FDD), as CodeTalker defines it: for each upper-face vertex
//! the standard deviation over time of its squared motion magnitude (motion = frame −
//! neutral); the true sequence's minus the generated one's, averaged over the vertices. It
//! asks whether brows and eyes move as much as the truth's, not whether they move in step.

/// Per-vertex standard deviation over frames of |frame − neutral|², mm², for the vertices
/// `region`.
pub fn upper_face_dynamics<F: AsRef<[[f32; 3]]>>(
    frames: &[F],
    neutral: &[[f32; 3]],
    region: &[u32],
) -> Vec<f64> {
    let n = frames.len().max(1) as f64;
    region
        .iter()
        .map(|&v| {
            let v = v as usize;
            let magnitudes: Vec<f64> = frames
                .iter()
                .map(|f| crate::lip_vertex_error::squared_distance(f.as_ref()[v], neutral[v]) * 1e6)
                .collect();
            let mean = magnitudes.iter().sum::<f64>() / n;
            (magnitudes.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect()
}

/// FDD of one sequence, mm²: mean over `region` of the true dynamics minus the generated
/// ones (positive: the generated upper face moves less than the truth).
pub fn face_dynamics_deviation<G, T>(
    generated: &[G],
    truth: &[T],
    neutral: &[[f32; 3]],
    region: &[u32],
) -> f64
where
    G: AsRef<[[f32; 3]]>,
    T: AsRef<[[f32; 3]]>,
{
    let g = upper_face_dynamics(generated, neutral, region);
    let t = upper_face_dynamics(truth, neutral, region);
    g.iter().zip(&t).map(|(g, t)| t - g).sum::<f64>() / region.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_face_has_the_truths_whole_dynamics_as_its_deviation() {
        let neutral = vec![[0.0f32; 3]; 2];
        // Vertex 0 moves 0 / 2 mm on alternate frames: |m|² is 0 or 4 mm², std 2 mm².
        let truth: Vec<Vec<[f32; 3]>> = (0..10)
            .map(|t| vec![[0.0, if t % 2 == 0 { 0.0 } else { 0.002 }, 0.0], [0.0; 3]])
            .collect();
        let still = vec![neutral.clone(); 10];
        let d = face_dynamics_deviation(&still, &truth, &neutral, &[0]);
        assert!((d - 2.0).abs() < 1e-6, "{d}");
        assert!(face_dynamics_deviation(&truth, &truth, &neutral, &[0, 1]).abs() < 1e-12);
        // Vertex 1 never moves: averaging it in halves the deviation.
        let d2 = face_dynamics_deviation(&still, &truth, &neutral, &[0, 1]);
        assert!((d2 - 1.0).abs() < 1e-6, "{d2}");
    }
}
