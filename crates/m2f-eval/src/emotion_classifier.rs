//! The prompt-following judge: an emotion classifier trained on true latents (GNPFA's
//! encoding of the true faces), applied to generated ones. A clip is described by the mean
//! and the standard deviation over its frames of each latent dimension (the static offset
//! of an emotion and how strongly it moves); the classifier is a softmax regression on the
//! standardised description, fitted by full-batch gradient descent (deterministic).

use crate::error::{EvalError, Result};

/// Gradient-descent steps of the fit.
const STEPS: usize = 800;
/// Learning rate of the fit.
const LEARNING_RATE: f64 = 0.5;
/// L2 penalty on the weights.
const WEIGHT_DECAY: f64 = 1e-3;

/// A clip's description: per latent dimension the mean over frames, then the standard
/// deviation.
pub fn clip_description(latents: &[Vec<f32>]) -> Vec<f32> {
    let n = latents.len().max(1) as f64;
    let z = latents.first().map_or(0, Vec::len);
    let mut out = vec![0f32; 2 * z];
    for d in 0..z {
        let mean = latents.iter().map(|l| l[d] as f64).sum::<f64>() / n;
        let var = latents
            .iter()
            .map(|l| (l[d] as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        out[d] = mean as f32;
        out[z + d] = var.sqrt() as f32;
    }
    out
}

/// A fitted emotion classifier over clip descriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct EmotionClassifier {
    /// The class names, in label order.
    pub classes: Vec<String>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// [classes][features + 1]: weights then the bias.
    weights: Vec<Vec<f64>>,
}

impl EmotionClassifier {
    /// Fits the classifier on `descriptions` (one per clip, [`clip_description`]) with labels
    /// indexing `classes`.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] for no examples, descriptions of different widths or a label
    /// out of range.
    pub fn fit(descriptions: &[Vec<f32>], labels: &[usize], classes: Vec<String>) -> Result<Self> {
        let n = descriptions.len();
        let dim = descriptions.first().map_or(0, Vec::len);
        if n == 0 || dim == 0 || labels.len() != n {
            return Err(EvalError::invalid(
                "emotion classifier data",
                format!("{n} descriptions, {} labels, width {dim}", labels.len()),
            ));
        }
        if descriptions.iter().any(|d| d.len() != dim) {
            return Err(EvalError::invalid(
                "emotion classifier data",
                "descriptions of different widths",
            ));
        }
        if let Some(l) = labels.iter().find(|&&l| l >= classes.len()) {
            return Err(EvalError::invalid(
                "emotion classifier labels",
                format!("label {l} of {} classes", classes.len()),
            ));
        }
        let mean: Vec<f64> = (0..dim)
            .map(|j| descriptions.iter().map(|d| d[j] as f64).sum::<f64>() / n as f64)
            .collect();
        let scale: Vec<f64> = (0..dim)
            .map(|j| {
                let v = descriptions
                    .iter()
                    .map(|d| (d[j] as f64 - mean[j]).powi(2))
                    .sum::<f64>()
                    / n as f64;
                v.sqrt().max(1e-9)
            })
            .collect();
        let mut model = Self {
            classes,
            mean,
            scale,
            weights: Vec::new(),
        };
        let k = model.classes.len();
        model.weights = vec![vec![0.0; dim + 1]; k];
        let x: Vec<Vec<f64>> = descriptions.iter().map(|d| model.standardise(d)).collect();
        for _ in 0..STEPS {
            let mut grad = vec![vec![0.0; dim + 1]; k];
            for (xi, &yi) in x.iter().zip(labels) {
                let p = model.probabilities_of(xi);
                for (c, g) in grad.iter_mut().enumerate() {
                    let err = p[c] - if c == yi { 1.0 } else { 0.0 };
                    for (gj, xj) in g.iter_mut().zip(xi) {
                        *gj += err * xj;
                    }
                    g[dim] += err;
                }
            }
            for (w, g) in model.weights.iter_mut().zip(&grad) {
                for j in 0..=dim {
                    let decay = if j < dim { WEIGHT_DECAY * w[j] } else { 0.0 };
                    w[j] -= LEARNING_RATE * (g[j] / n as f64 + decay);
                }
            }
        }
        Ok(model)
    }

    fn standardise(&self, d: &[f32]) -> Vec<f64> {
        d.iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(&x, (m, s))| (x as f64 - m) / s)
            .collect()
    }

    fn probabilities_of(&self, x: &[f64]) -> Vec<f64> {
        let logits: Vec<f64> = self
            .weights
            .iter()
            .map(|w| w[..x.len()].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + w[x.len()])
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    /// The most probable class of a clip's description.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] for a description of another width than the training data's.
    pub fn predict(&self, description: &[f32]) -> Result<usize> {
        if description.len() != self.mean.len() {
            return Err(EvalError::invalid(
                "clip description",
                format!(
                    "width {}, the classifier takes {}",
                    description.len(),
                    self.mean.len()
                ),
            ));
        }
        let p = self.probabilities_of(&self.standardise(description));
        Ok(p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i))
    }
}

/// Fits the classifier on the true latents (GNPFA's `E_geo` of the true faces) of the
/// first `clips` clips of the dataset's training split, labelled by their emotion.
///
/// # Errors
/// An unreadable dataset, an encoder failure, or no training clips.
pub fn fit_on_training_split(
    root: &std::path::Path,
    gnpfa: &gnpfa::Gnpfa,
    clips: usize,
) -> Result<EmotionClassifier> {
    use m2f_synth::Emotion;
    let train = crate::test_set::read_split(root, m2f_synth::Split::Train, Some(clips), &[])?;
    let mut descriptions = Vec::with_capacity(train.len());
    let mut labels = Vec::with_capacity(train.len());
    for clip in &train {
        let frames: Vec<&[[f32; 3]]> = clip.frames.iter().map(Vec::as_slice).collect();
        let latents = gnpfa.encode_frames(&clip.neutral, &frames)?;
        descriptions.push(clip_description(&latents));
        labels.push(
            Emotion::ALL
                .iter()
                .position(|&e| e == clip.emotion)
                .unwrap_or(0),
        );
    }
    EmotionClassifier::fit(
        &descriptions,
        &labels,
        Emotion::ALL.iter().map(|e| e.name().to_string()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_emotions_are_learned_and_bad_data_is_refused() {
        // Class c offsets latent dimension c; two dimensions of noise-free jitter.
        let mut descriptions = Vec::new();
        let mut labels = Vec::new();
        for c in 0..3usize {
            for i in 0..10 {
                let latents: Vec<Vec<f32>> = (0..8)
                    .map(|t| {
                        let mut z = vec![0.01 * ((t + i) % 3) as f32; 3];
                        z[c] += 1.0;
                        z
                    })
                    .collect();
                descriptions.push(clip_description(&latents));
                labels.push(c);
            }
        }
        let names = vec!["a".to_string(), "b".into(), "c".into()];
        let clf = EmotionClassifier::fit(&descriptions, &labels, names.clone()).unwrap();
        for (d, &l) in descriptions.iter().zip(&labels) {
            assert_eq!(clf.predict(d).unwrap(), l);
        }
        assert!(clf.predict(&[0.0; 2]).is_err());
        assert!(EmotionClassifier::fit(&descriptions, &labels[1..], names.clone()).is_err());
        assert!(EmotionClassifier::fit(&descriptions, &vec![5; 30], names).is_err());
    }
}
