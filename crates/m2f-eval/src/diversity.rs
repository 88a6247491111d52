//! Diversity across seeds: how far apart the faces of several samples of the same audio and
//! prompt are (DiffPoseTalk and Media2Face report it; a deterministic model scores 0), on
//! the whole face and, in LVE's form, on the lips; and the mean of the samples.

use crate::lip_vertex_error::LipVertexError;

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

/// LVE between the samples themselves, over every pair: the lip error two samples of a
/// model that drew them from the truth's own distribution would show against the truth.
/// `None` with fewer than two samples.
pub fn pairwise_lip_vertex_error<F: AsRef<[[f32; 3]]>>(
    samples: &[Vec<F>],
    lips: &[u32],
) -> Option<LipVertexError> {
    if samples.len() < 2 {
        return None;
    }
    let mut out = LipVertexError::default();
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            out.add(&LipVertexError::of_sequence(&samples[i], &samples[j], lips));
        }
    }
    Some(out)
}

/// The vertex-wise mean of the samples, frame by frame (frames past the shortest sample are
/// left out): the point estimate a user gets by averaging seeds. `None` without samples.
pub fn mean_sample<F: AsRef<[[f32; 3]]>>(samples: &[Vec<F>]) -> Option<Vec<Vec<[f32; 3]>>> {
    let frames = samples.iter().map(Vec::len).min()?;
    let scale = 1.0 / samples.len() as f64;
    Some(
        (0..frames)
            .map(|f| {
                let n = samples[0][f].as_ref().len();
                (0..n)
                    .map(|v| {
                        let mut acc = [0f64; 3];
                        for s in samples {
                            let p = s[f].as_ref()[v];
                            for k in 0..3 {
                                acc[k] += p[k] as f64;
                            }
                        }
                        acc.map(|a| (a * scale) as f32)
                    })
                    .collect()
            })
            .collect(),
    )
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

    #[test]
    fn lip_spread_and_the_mean_sample_are_those_of_shifted_samples() {
        let face = |dx: f32| vec![vec![[dx, 0.0, 0.0], [1.0 + dx, 0.0, 0.0]]; 4];
        let samples = vec![face(0.0), face(0.002), face(0.004)];
        // Pairs 2, 4 and 2 mm apart.
        let lve = pairwise_lip_vertex_error(&samples, &[0, 1]).unwrap();
        assert!((lve.mm() - 8.0 / 3.0).abs() < 1e-3, "{}", lve.mm());
        assert!(pairwise_lip_vertex_error(&samples[..1], &[0]).is_none());
        let mean = mean_sample(&samples).unwrap();
        assert_eq!(mean.len(), 4);
        assert!((mean[3][1][0] - 1.002).abs() < 1e-6);
        assert!(mean_sample::<Vec<[f32; 3]>>(&[]).is_none());
    }
}
