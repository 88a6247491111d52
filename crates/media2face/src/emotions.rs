//! The emotion prompts a model knows without a sentence encoder: for each emotion label and
//! intensity, the mean sentence embedding of the style sentences it was trained with.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Device;

use crate::error::{Media2FaceError, Result};
use crate::request::Intensity;

/// Embeddings by (emotion, intensity).
#[derive(Debug, Clone)]
pub struct EmotionTable {
    embeddings: BTreeMap<(String, &'static str), Vec<f32>>,
}

impl EmotionTable {
    /// Reads a safetensors file of `EMOTION/INTENSITY` → [dim] tensors.
    ///
    /// # Errors
    /// A missing or malformed file, a name not of that form, or tensors of unequal widths.
    pub fn read(path: &Path) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| Media2FaceError::invalid(path.display().to_string(), e.to_string()))?;
        let mut embeddings = BTreeMap::new();
        for (name, t) in tensors {
            let bad = |why: &str| {
                Media2FaceError::invalid(format!("{} tensor {name:?}", path.display()), why)
            };
            let (emotion, level) = name
                .split_once('/')
                .ok_or_else(|| bad("expected EMOTION/INTENSITY"))?;
            let intensity = Intensity::parse(level)
                .ok_or_else(|| bad("intensity must be low, medium or high"))?;
            let v = t
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            if !v.iter().all(|x| x.is_finite()) {
                return Err(bad("holds NaN or infinite values"));
            }
            embeddings.insert((emotion.to_ascii_lowercase(), intensity.name()), v);
        }
        let widths: std::collections::BTreeSet<usize> = embeddings.values().map(Vec::len).collect();
        if embeddings.is_empty() || widths.len() != 1 {
            return Err(Media2FaceError::invalid(
                path.display().to_string(),
                format!("expected embeddings of one width, got widths {widths:?}"),
            ));
        }
        let table = Self { embeddings };
        for name in table.names() {
            for i in [Intensity::Low, Intensity::Medium, Intensity::High] {
                if !table.embeddings.contains_key(&(name.clone(), i.name())) {
                    return Err(Media2FaceError::invalid(
                        path.display().to_string(),
                        format!("emotion {name:?} has no {name}/{} tensor", i.name()),
                    ));
                }
            }
        }
        Ok(table)
    }

    /// The width of every embedding.
    pub fn width(&self) -> usize {
        self.embeddings.values().next().map_or(0, Vec::len)
    }

    /// The emotion labels, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.embeddings.keys().map(|(e, _)| e.clone()).collect();
        names.dedup();
        names
    }

    /// The embedding of `emotion` at `intensity`.
    ///
    /// # Errors
    /// An emotion the model does not know (the message lists those it does).
    pub fn embedding(&self, emotion: &str, intensity: Intensity) -> Result<&[f32]> {
        self.embeddings
            .get(&(emotion.to_ascii_lowercase(), intensity.name()))
            .map(Vec::as_slice)
            .ok_or_else(|| {
                Media2FaceError::invalid(
                    format!("emotion {emotion:?} at {} intensity", intensity.name()),
                    format!("this model knows {}", self.names().join(", ")),
                )
            })
    }
}
