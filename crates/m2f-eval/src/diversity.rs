//! Diversity across seeds: how far apart the faces of several samples of the same audio and
//! prompt are (DiffPoseTalk and Media2Face report it; a deterministic model scores 0).

/// Mean over pairs of samples, frames and vertices of the distance between two samples'
/// vertices, mm. Each sample is a sequence of frames of the same length and topology;
/// `None` with fewer than two samples.
pub fn mean_pairwise_distance<F: AsRef<[[f32; 3]]>>(samples: &[Vec<F>]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            for (a, b) in samples[i].iter().zip(&samples[j]) {
                for (p, q) in a.as_ref().iter().zip(b.as_ref()) {
                    sum += crate::lip_vertex_error::squared_distance(*p, *q).sqrt();
                    count += 1;
                }
            }
        }
    }
    Some(sum / count.max(1) as f64 * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_no_diversity_and_shifted_ones_their_shift() {
        let a = vec![vec![[0.0f32; 3]; 5]; 3];
        let b = vec![vec![[0.0f32, 0.002, 0.0]; 5]; 3];
        assert_eq!(mean_pairwise_distance(&[a.clone(), a.clone()]), Some(0.0));
        let d = mean_pairwise_distance(&[a.clone(), b.clone()]).unwrap();
        assert!((d - 2.0).abs() < 1e-6, "{d}");
        // Three samples: pairs (a, a) 0, (a, b) 2, (a, b) 2.
        let d3 = mean_pairwise_distance(&[a.clone(), a.clone(), b]).unwrap();
        assert!((d3 - 4.0 / 3.0).abs() < 1e-6, "{d3}");
        assert_eq!(mean_pairwise_distance(&[a]), None);
    }
}
