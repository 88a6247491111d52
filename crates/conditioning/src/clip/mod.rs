//! CLIP text and image style encoders (openai/clip-vit-base-patch32 and compatible HF
//! checkpoints): [`HfClipConfig`] reads HF's `config.json`, the towers run this crate's
//! transformers (`transformer`), and the text pooling follows HF. What the layers do not
//! compute (another activation or layer-norm epsilon than OpenAI's) is refused when the config
//! is read, never silently computed differently.

mod transformer;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use image::{imageops::FilterType, RgbImage};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::model_files::{encode, load_tokenizer, mmap_safetensors, read_json_config};
use crate::style::{l2_normalize, StyleEncoder, StylePrompt};
use crate::weights::ModelSource;
use crate::{ConditioningError, Result};
use transformer::{TextTransformer, VisionTransformer};

/// The checkpoint the docs suggest.
pub const CLIP_VIT_B32_REPO: &str = "openai/clip-vit-base-patch32";

/// CLIP's per-channel RGB mean, applied after scaling pixels to [0, 1].
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel RGB standard deviation.
// Written as CLIPImageProcessor publishes them, so they can be checked digit by digit.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The largest width, depth or vocabulary a CLIP config may name.
const MAX_CLIP_SIZE: usize = 1 << 20;
/// The longest prompt a CLIP config may name, in tokens.
const MAX_CLIP_POSITIONS: usize = 1 << 16;
/// The largest image side a CLIP config may name, in pixels.
const MAX_CLIP_IMAGE_SIDE: usize = 1 << 11;
/// The most patches a side a CLIP config may cut its image into.
const MAX_CLIP_PATCH_GRID: usize = 64;

/// An HF `CLIPModel` `config.json` (the fields the forward pass depends on).
#[derive(Debug, Clone, Deserialize)]
pub struct HfClipConfig {
    /// The text tower's settings (HF `text_config`).
    pub text_config: HfClipTextConfig,
    /// The image tower's settings (HF `vision_config`).
    pub vision_config: HfClipVisionConfig,
    /// Width of the shared embedding space. Only the top-level value counts: HF also writes a
    /// (stale) `projection_dim` into the sub-configs.
    #[serde(default = "default_projection_dim")]
    pub projection_dim: usize,
}

/// The activation of CLIP's feed-forward layers (HF `hidden_act`). Only `quick_gelu`, the one
/// OpenAI's checkpoints use, is implemented, so any other value is refused when the config is
/// read, naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipActivation {
    /// `x * sigmoid(1.702 x)`.
    #[default]
    QuickGelu,
}

/// `text_config` of an HF CLIP `config.json`; defaults are HF's `CLIPTextConfig` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct HfClipTextConfig {
    /// Number of tokens in the vocabulary (HF `vocab_size`).
    #[serde(default = "default_text_vocab")]
    pub vocab_size: usize,
    /// Width of the hidden states (HF `hidden_size`).
    #[serde(default = "default_text_hidden")]
    pub hidden_size: usize,
    /// Width of the feed-forward layer inside each block (HF `intermediate_size`).
    #[serde(default = "default_text_intermediate")]
    pub intermediate_size: usize,
    /// Number of transformer blocks (HF `num_hidden_layers`).
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    /// Number of attention heads per block; must divide `hidden_size` (HF
    /// `num_attention_heads`).
    #[serde(default = "default_text_heads")]
    pub num_attention_heads: usize,
    /// Longest prompt, in tokens, the position embeddings cover (HF `max_position_embeddings`).
    #[serde(default = "default_text_positions")]
    pub max_position_embeddings: usize,
    /// Activation of the feed-forward layers (HF `hidden_act`).
    #[serde(default)]
    pub hidden_act: ClipActivation,
    /// Layer-norm epsilon; only 1e-5 is accepted (HF `layer_norm_eps`).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Pooling picks the first position holding this id; the legacy value 2 (old openai
    /// configs) means "the position of the largest id", which is where EOT sits in CLIP's vocab.
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

/// `vision_config` of an HF CLIP `config.json`; defaults are HF's `CLIPVisionConfig` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct HfClipVisionConfig {
    /// Width of the hidden states (HF `hidden_size`).
    #[serde(default = "default_vision_hidden")]
    pub hidden_size: usize,
    /// Width of the feed-forward layer inside each block (HF `intermediate_size`).
    #[serde(default = "default_vision_intermediate")]
    pub intermediate_size: usize,
    /// Number of transformer blocks (HF `num_hidden_layers`).
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    /// Number of attention heads per block; must divide `hidden_size` (HF
    /// `num_attention_heads`).
    #[serde(default = "default_vision_heads")]
    pub num_attention_heads: usize,
    /// Number of colour channels of the input image (HF `num_channels`).
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    /// Side of the square input image, in pixels (HF `image_size`).
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Side of each square patch, in pixels; must divide `image_size` (HF `patch_size`).
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// Activation of the feed-forward layers (HF `hidden_act`).
    #[serde(default)]
    pub hidden_act: ClipActivation,
    /// Layer-norm epsilon; only 1e-5 is accepted (HF `layer_norm_eps`).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_projection_dim() -> usize {
    512
}
fn default_text_vocab() -> usize {
    49408
}
fn default_text_hidden() -> usize {
    512
}
fn default_text_intermediate() -> usize {
    2048
}
fn default_layers() -> usize {
    12
}
fn default_text_heads() -> usize {
    8
}
fn default_text_positions() -> usize {
    77
}
fn default_eps() -> f64 {
    1e-5
}
fn default_eos() -> u32 {
    49407
}
fn default_vision_hidden() -> usize {
    768
}
fn default_vision_intermediate() -> usize {
    3072
}
fn default_vision_heads() -> usize {
    12
}
fn default_channels() -> usize {
    3
}
fn default_image_size() -> usize {
    224
}
fn default_patch_size() -> usize {
    32
}

impl HfClipConfig {
    /// Reads and checks an HF `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let cfg: Self = read_json_config(path)?;
        cfg.check(&path.display().to_string())?;
        Ok(cfg)
    }

    /// Rejects what the CLIP layers do not compute (another activation or epsilon) and sizes
    /// that do not fit together or are absurd.
    pub fn check(&self, origin: &str) -> Result<()> {
        let t = &self.text_config;
        let v = &self.vision_config;
        for (tower, eps, hidden, heads) in [
            (
                "text_config",
                t.layer_norm_eps,
                t.hidden_size,
                t.num_attention_heads,
            ),
            (
                "vision_config",
                v.layer_norm_eps,
                v.hidden_size,
                v.num_attention_heads,
            ),
        ] {
            let bad = |field: &str, message: String| {
                Err(ConditioningError::invalid(
                    format!("{origin}: {tower}.{field}"),
                    message,
                ))
            };
            if (eps - 1e-5).abs() > 1e-12 {
                return bad("layer_norm_eps", format!("expected 1e-5, found {eps}"));
            }
            if heads == 0 || hidden % heads != 0 {
                return bad(
                    "num_attention_heads",
                    format!("{heads} does not divide hidden_size {hidden}"),
                );
            }
        }
        if v.patch_size == 0 || v.image_size % v.patch_size != 0 {
            return Err(ConditioningError::invalid(
                format!("{origin}: vision_config.patch_size"),
                format!(
                    "{} does not divide image_size {}",
                    v.patch_size, v.image_size
                ),
            ));
        }
        // The towers size position tables and activations by these before any weight is
        // compared (a zero width lets weights of zero bytes claim any other size).
        let sizes = [
            ("projection_dim", self.projection_dim, MAX_CLIP_SIZE),
            ("text_config.vocab_size", t.vocab_size, MAX_CLIP_SIZE),
            ("text_config.hidden_size", t.hidden_size, MAX_CLIP_SIZE),
            (
                "text_config.intermediate_size",
                t.intermediate_size,
                MAX_CLIP_SIZE,
            ),
            (
                "text_config.num_hidden_layers",
                t.num_hidden_layers,
                MAX_CLIP_SIZE,
            ),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
                MAX_CLIP_POSITIONS,
            ),
            ("vision_config.hidden_size", v.hidden_size, MAX_CLIP_SIZE),
            (
                "vision_config.intermediate_size",
                v.intermediate_size,
                MAX_CLIP_SIZE,
            ),
            (
                "vision_config.num_hidden_layers",
                v.num_hidden_layers,
                MAX_CLIP_SIZE,
            ),
            (
                "vision_config.image_size",
                v.image_size,
                MAX_CLIP_IMAGE_SIDE,
            ),
        ];
        if let Some((field, value, max)) = sizes.iter().find(|(_, v, max)| *v == 0 || v > max) {
            return Err(ConditioningError::invalid(
                format!("{origin}: {field}"),
                format!("{value} is not in 1..={max}"),
            ));
        }
        // Attention is over every patch: ViT-L/14 at 336 px has a grid of 24 a side.
        if v.image_size / v.patch_size > MAX_CLIP_PATCH_GRID {
            return Err(ConditioningError::invalid(
                format!("{origin}: vision_config.patch_size"),
                format!(
                    "{} cuts image_size {} into more than {MAX_CLIP_PATCH_GRID} patches a side",
                    v.patch_size, v.image_size
                ),
            ));
        }
        if v.num_channels != 3 {
            return Err(ConditioningError::invalid(
                format!("{origin}: vision_config.num_channels"),
                format!("{} (images are RGB: 3)", v.num_channels),
            ));
        }
        Ok(())
    }
}

/// CLIP's text transformer and `text_projection`.
#[derive(Debug, Clone)]
pub struct ClipTextTower {
    transformer: TextTransformer,
    projection: Linear,
    eos_token_id: u32,
    max_len: usize,
}

impl ClipTextTower {
    /// `vb` is the `CLIPModel` root: reads `text_model.*` and `text_projection.weight`.
    pub fn new(cfg: &HfClipConfig, vb: VarBuilder) -> Result<Self> {
        let transformer = TextTransformer::new(&cfg.text_config, vb.pp("text_model"))?;
        let projection = candle_nn::linear_no_bias(
            cfg.text_config.hidden_size,
            cfg.projection_dim,
            vb.pp("text_projection"),
        )?;
        Ok(Self {
            transformer,
            projection,
            eos_token_id: cfg.text_config.eos_token_id,
            max_len: cfg.text_config.max_position_embeddings,
        })
    }

    /// Longest token sequence the position table covers.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `input_ids`: `[B, T]` u32 (T ≤ max_len) → `[B, projection_dim]`, L2-normalised.
    ///
    /// Pools the final-layer-normed state at the EOT token, chosen as HF does: the first
    /// `eos_token_id`, or the largest id when `eos_token_id` is the legacy 2.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (_, seq_len) = input_ids.dims2()?;
        if seq_len == 0 || seq_len > self.max_len {
            return Err(ConditioningError::invalid(
                "CLIP input_ids",
                format!("expected 1..={} tokens, got {seq_len}", self.max_len),
            ));
        }
        let input_ids = input_ids.to_dtype(DType::U32)?;
        let hidden = self.transformer.forward(&input_ids)?;
        let mut pooled = Vec::new();
        for (b, row) in input_ids.to_vec2::<u32>()?.iter().enumerate() {
            let pos = if self.eos_token_id == 2 {
                // First maximum, as torch's argmax.
                let max = row.iter().copied().max().unwrap_or(0);
                row.iter().position(|&t| t == max).unwrap_or(0)
            } else {
                // HF's argmax over (ids == eos) gives 0 when there is none.
                row.iter()
                    .position(|&t| t == self.eos_token_id)
                    .unwrap_or(0)
            };
            pooled.push(hidden.i((b, pos))?);
        }
        let pooled = Tensor::stack(&pooled, 0)?;
        Ok(l2_normalize(&self.projection.forward(&pooled)?)?)
    }
}

/// CLIP's vision transformer and `visual_projection`.
#[derive(Debug, Clone)]
pub struct ClipVisionTower {
    transformer: VisionTransformer,
    projection: Linear,
    image_size: usize,
}

impl ClipVisionTower {
    /// `vb` is the `CLIPModel` root: reads `vision_model.*` and `visual_projection.weight`.
    pub fn new(cfg: &HfClipConfig, vb: VarBuilder) -> Result<Self> {
        let transformer = VisionTransformer::new(&cfg.vision_config, vb.pp("vision_model"))?;
        let projection = candle_nn::linear_no_bias(
            cfg.vision_config.hidden_size,
            cfg.projection_dim,
            vb.pp("visual_projection"),
        )?;
        Ok(Self {
            transformer,
            projection,
            image_size: cfg.vision_config.image_size,
        })
    }

    /// Side of the square input images.
    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// `pixel_values`: `[B, C, S, S]` f32, CLIP-normalised → `[B, projection_dim]`,
    /// L2-normalised.
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = pixel_values.dims4()?;
        if h != self.image_size || w != self.image_size {
            return Err(ConditioningError::invalid(
                "CLIP pixel_values",
                format!("expected {0}x{0} images, got {h}x{w}", self.image_size),
            ));
        }
        let pooled = self.transformer.forward(pixel_values)?;
        Ok(l2_normalize(&self.projection.forward(&pooled)?)?)
    }
}

/// CLIPImageProcessor's steps: shortest side to `size` (bicubic), centre crop `size`×`size`,
/// scale to [0, 1], normalise with [`CLIP_MEAN`]/[`CLIP_STD`]. Returns `[3, size, size]` f32.
pub fn preprocess_image(img: &RgbImage, size: usize, device: &Device) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(ConditioningError::invalid("style image", "image is empty"));
    }
    let size_u32 = size as u32;
    // HF keeps the aspect ratio with int() truncation of the long side.
    let (nw, nh) = if w <= h {
        (
            size_u32,
            ((h as u64 * size as u64) / w as u64).max(size as u64) as u32,
        )
    } else {
        (
            ((w as u64 * size as u64) / h as u64).max(size as u64) as u32,
            size_u32,
        )
    };
    let resized = image::imageops::resize(img, nw, nh, FilterType::CatmullRom);
    let left = (nw - size_u32) / 2;
    let top = (nh - size_u32) / 2;
    let mut data = vec![0f32; 3 * size * size];
    for y in 0..size {
        for x in 0..size {
            let p = resized.get_pixel(left + x as u32, top + y as u32);
            for c in 0..3 {
                data[c * size * size + y * size + x] =
                    (p[c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
            }
        }
    }
    Ok(Tensor::from_vec(data, (3, size, size), device)?)
}

/// Both CLIP towers and the tokenizer: text and image prompts in one embedding space.
#[derive(Debug, Clone)]
pub struct ClipStyleEncoder {
    text: ClipTextTower,
    vision: ClipVisionTower,
    tokenizer: Tokenizer,
    tokenizer_path: PathBuf,
    dim: usize,
    device: Device,
}

impl ClipStyleEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `source`.
    pub fn load(source: &ModelSource, device: &Device) -> Result<Self> {
        let config = source.file("config.json")?;
        let weights = source.file("model.safetensors")?;
        let tokenizer = source.file("tokenizer.json")?;
        Self::from_files(&config, &weights, &tokenizer, device)
    }

    /// Loads from explicit file paths.
    pub fn from_files(
        config: &Path,
        weights: &Path,
        tokenizer_json: &Path,
        device: &Device,
    ) -> Result<Self> {
        let cfg = HfClipConfig::from_file(config)?;
        let vb = mmap_safetensors(weights, device)?;
        let text = ClipTextTower::new(&cfg, vb.clone())?;
        let vision = ClipVisionTower::new(&cfg, vb)?;
        let tokenizer = load_tokenizer(tokenizer_json, text.max_len())?;
        Ok(Self {
            text,
            vision,
            tokenizer,
            tokenizer_path: tokenizer_json.to_path_buf(),
            dim: cfg.projection_dim,
            device: device.clone(),
        })
    }

    /// The text tower.
    pub fn text_tower(&self) -> &ClipTextTower {
        &self.text
    }

    /// The vision tower.
    pub fn vision_tower(&self) -> &ClipVisionTower {
        &self.vision
    }

    /// Token ids of `text`, with BOS/EOT, truncated to the position table.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        encode(&self.tokenizer, &self.tokenizer_path, text)
    }
}

impl StyleEncoder for ClipStyleEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, prompt: StylePrompt<'_>) -> Result<Tensor> {
        let emb = match prompt {
            StylePrompt::Text(text) => {
                let ids = self.tokenize(text)?;
                let ids = Tensor::new(ids.as_slice(), &self.device)?.unsqueeze(0)?;
                self.text.forward(&ids)?
            }
            StylePrompt::Image(img) => {
                let pixels = preprocess_image(img, self.vision.image_size(), &self.device)?;
                self.vision.forward(&pixels.unsqueeze(0)?)?
            }
        };
        Ok(emb.squeeze(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_crops_centre_and_normalises() {
        // 40x20: resized to 448x224, crop keeps the middle; left half red, right half blue, so
        // the crop (x in 112..336 of 448) straddles the border at its centre.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let t = preprocess_image(&img, 224, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[3, 224, 224]);
        let v = t.to_vec3::<f32>().unwrap();
        let red = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let zero_b = (0.0 - CLIP_MEAN[2]) / CLIP_STD[2];
        assert!((v[0][100][0] - red).abs() < 1e-5);
        assert!((v[2][100][0] - zero_b).abs() < 1e-5);
        assert!((v[2][100][223] - (1.0 - CLIP_MEAN[2]) / CLIP_STD[2]).abs() < 1e-5);
    }

    /// Sizes the towers would allocate by (a position table of 2^40 entries, a grid of
    /// 2^20 patches) or cannot feed (a fourth colour channel) are refused by the config
    /// check, naming the field, before any weight is read.
    #[test]
    fn absurd_sizes_are_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let cases = [
            (
                r#"{"text_config": {"max_position_embeddings": 1099511627776}, "vision_config": {}}"#,
                "text_config.max_position_embeddings",
            ),
            (
                r#"{"text_config": {"hidden_size": 0, "num_attention_heads": 1}, "vision_config": {}}"#,
                "text_config.hidden_size",
            ),
            (
                r#"{"text_config": {}, "vision_config": {"image_size": 2048, "patch_size": 1}}"#,
                "vision_config.patch_size",
            ),
            (
                r#"{"text_config": {}, "vision_config": {"num_channels": 4}}"#,
                "vision_config.num_channels",
            ),
        ];
        for (json, field) in cases {
            std::fs::write(&path, json).unwrap();
            let err = HfClipConfig::from_file(&path).unwrap_err().to_string();
            assert!(err.contains("config.json") && err.contains(field), "{err}");
        }
    }

    #[test]
    fn rejects_gelu_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"text_config": {"hidden_act": "gelu"}, "vision_config": {}}"#,
        )
        .unwrap();
        let err = HfClipConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(err.contains("text_config.hidden_act"), "{err}");
        assert!(err.contains("quick_gelu"), "{err}");
    }
}
