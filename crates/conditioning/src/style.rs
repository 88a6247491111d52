//! The style encoder interface: a text or image prompt in, one L2-normalised embedding out.
//!
//! The denoiser's style slot takes one vector per clip; which encoder fills it (CLIP text, CLIP
//! image, sentence-BERT) is the checkpoint's choice (`docs/conditioning.md`).

use candle_core::Tensor;

use crate::Result;

/// What the user describes the style with.
#[derive(Debug, Clone, Copy)]
pub enum StylePrompt<'a> {
    /// A free-text description, e.g. "happy, laughing".
    Text(&'a str),
    /// A reference picture (any size: the encoder resizes and crops it).
    Image(&'a image::RgbImage),
}

impl StylePrompt<'_> {
    /// "text" or "image", for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Image(_) => "image",
        }
    }
}

/// Turns a style prompt into an embedding.
pub trait StyleEncoder {
    /// Length `D` of the embeddings [`embed`](Self::embed) returns.
    fn dim(&self) -> usize;

    /// Embeds one prompt: returns a `[D]` f32 tensor with unit L2 norm.
    ///
    /// Fails with [`ConditioningError::UnsupportedPrompt`](crate::ConditioningError) when the
    /// encoder has no tower for this kind of prompt.
    fn embed(&self, prompt: StylePrompt<'_>) -> Result<Tensor>;
}

/// Divides each row of `[.., D]` by its L2 norm.
pub(crate) fn l2_normalize(xs: &Tensor) -> candle_core::Result<Tensor> {
    let norm = xs.sqr()?.sum_keepdim(candle_core::D::Minus1)?.sqrt()?;
    // Guard against an all-zero row (it stays zero instead of turning into NaN).
    xs.broadcast_div(&norm.clamp(1e-12, f64::INFINITY)?)
}
