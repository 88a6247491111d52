//! CTranslate2 Whisper (`WhisperSpec` `model.bin`, as faster-whisper ships) → the encoder of
//! an HF `WhisperModel` checkpoint: `config.json`, `preprocessor_config.json` and
//! `model.safetensors` holding `encoder.*` only, in the stored float type (f16 stays f16).
//!
//! CTranslate2 fuses the query, key and value projections of each self-attention into one
//! `linear_0` ([3d, d] weight, [3d] bias with zeros for the bias-free key); they are split back.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

use super::model::Config;
use crate::ctranslate2::{Ct2Model, Ct2Variable};
use crate::error::{ConditioningError, Result};
use crate::log_mel::{HOP, N_FFT};

/// An encoder converted to HF names, ready to save or load.
#[derive(Debug, Clone)]
pub struct ConvertedEncoder {
    /// The HF encoder config, inferred from the CTranslate2 tensor shapes and attributes.
    pub config: Config,
    /// HF name (`encoder.layers.0.fc1.weight`, …) → tensor in the stored float type.
    pub tensors: HashMap<String, Tensor>,
}

/// The one-to-one part of the name mapping for a `layers`-layer encoder: (CTranslate2 name,
/// HF name). The fused `self_attention/linear_0` of each layer is not in it: it becomes
/// `self_attn.{q,k,v}_proj` (see the module documentation).
pub fn ct2_encoder_names(layers: usize) -> Vec<(String, String)> {
    let mut map = vec![
        ("conv1/weight", "conv1.weight"),
        ("conv1/bias", "conv1.bias"),
        ("conv2/weight", "conv2.weight"),
        ("conv2/bias", "conv2.bias"),
        ("position_encodings/encodings", "embed_positions.weight"),
        ("layer_norm/gamma", "layer_norm.weight"),
        ("layer_norm/beta", "layer_norm.bias"),
    ]
    .into_iter()
    .map(|(c, h)| (format!("encoder/{c}"), format!("encoder.{h}")))
    .collect::<Vec<_>>();
    let per_layer = [
        (
            "self_attention/layer_norm/gamma",
            "self_attn_layer_norm.weight",
        ),
        (
            "self_attention/layer_norm/beta",
            "self_attn_layer_norm.bias",
        ),
        (
            "self_attention/linear_1/weight",
            "self_attn.out_proj.weight",
        ),
        ("self_attention/linear_1/bias", "self_attn.out_proj.bias"),
        ("ffn/layer_norm/gamma", "final_layer_norm.weight"),
        ("ffn/layer_norm/beta", "final_layer_norm.bias"),
        ("ffn/linear_0/weight", "fc1.weight"),
        ("ffn/linear_0/bias", "fc1.bias"),
        ("ffn/linear_1/weight", "fc2.weight"),
        ("ffn/linear_1/bias", "fc2.bias"),
    ];
    for i in 0..layers {
        for (c, h) in per_layer {
            map.push((
                format!("encoder/layer_{i}/{c}"),
                format!("encoder.layers.{i}.{h}"),
            ));
        }
    }
    map
}

/// Converts the encoder of a CTranslate2 Whisper model; `origin` names it in errors.
///
/// # Errors
/// [`ConditioningError::Weights`] naming `origin` and the variable for a spec that is not
/// `WhisperSpec`, a missing or mis-shaped variable, or a key projection with a bias.
pub fn convert_ct2_encoder(model: &Ct2Model, origin: &str) -> Result<ConvertedEncoder> {
    let bad = |what: &str, message: String| ConditioningError::Weights {
        tensor: format!("{origin}: {what}"),
        message,
    };
    if model.spec != "WhisperSpec" {
        return Err(bad(
            "spec",
            format!(
                "the model is a CTranslate2 {}, not a WhisperSpec",
                model.spec
            ),
        ));
    }
    let var = |name: &str| -> Result<&Ct2Variable> {
        model
            .get(name)
            .ok_or_else(|| bad(name, "missing from the model".into()))
    };
    let conv1 = var("encoder/conv1/weight")?;
    let [d_model, num_mel_bins, 3] = conv1.shape[..] else {
        return Err(bad(
            &conv1.name,
            format!("shape {:?}, expected [d_model, mels, 3]", conv1.shape),
        ));
    };
    let heads = var("encoder/num_heads")?
        .as_int()
        .ok_or_else(|| bad("encoder/num_heads", "not an integer scalar".into()))?;
    let layers = (0..)
        .take_while(|i| {
            model
                .get(&format!("encoder/layer_{i}/ffn/linear_0/weight"))
                .is_some()
        })
        .count();
    let rows = |name: &str| -> Result<usize> {
        let v = var(name)?;
        match v.shape[..] {
            [rows, d] if d == d_model => Ok(rows),
            _ => Err(bad(
                name,
                format!("shape {:?}, expected [rows, {d_model}]", v.shape),
            )),
        }
    };
    let ffn = rows("encoder/layer_0/ffn/linear_0/weight")?;
    let positions = rows("encoder/position_encodings/encodings")?;
    let config = Config {
        num_mel_bins,
        d_model,
        encoder_layers: layers,
        encoder_attention_heads: usize::try_from(heads).unwrap_or(0),
        encoder_ffn_dim: ffn,
        max_source_positions: positions,
        ..Config::tiny()
    };
    config.validate().map_err(|why| bad("encoder", why))?;

    let dev = Device::Cpu;
    let load = |name: &str| -> Result<Tensor> {
        var(name)?.to_tensor(&dev).map_err(|e| match e {
            ConditioningError::Weights { tensor, message } => bad(&tensor, message),
            e => e,
        })
    };
    let mut tensors = HashMap::new();
    for (c, h) in ct2_encoder_names(layers) {
        tensors.insert(h, load(&c)?);
    }
    for i in 0..layers {
        let base = format!("encoder/layer_{i}/self_attention/linear_0");
        let w = load(&format!("{base}/weight"))?;
        let b = load(&format!("{base}/bias"))?;
        if w.dims() != [3 * d_model, d_model] || b.dims() != [3 * d_model] {
            return Err(bad(
                &base,
                format!(
                    "fused QKV of shape {:?} / {:?}, expected [{}, {d_model}] / [{}]",
                    w.dims(),
                    b.dims(),
                    3 * d_model,
                    3 * d_model
                ),
            ));
        }
        let k_bias_max = b
            .narrow(0, d_model, d_model)?
            .abs()?
            .max(0)?
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?;
        if k_bias_max != 0.0 {
            return Err(bad(
                &format!("{base}/bias"),
                format!("the key projection has a bias (max |b| {k_bias_max}); Whisper's has none"),
            ));
        }
        let hf = format!("encoder.layers.{i}.self_attn");
        for (j, proj) in ["q_proj", "k_proj", "v_proj"].into_iter().enumerate() {
            let part = w.narrow(0, j * d_model, d_model)?.contiguous()?;
            tensors.insert(format!("{hf}.{proj}.weight"), part);
            if proj != "k_proj" {
                let part = b.narrow(0, j * d_model, d_model)?.contiguous()?;
                tensors.insert(format!("{hf}.{proj}.bias"), part);
            }
        }
    }
    Ok(ConvertedEncoder { config, tensors })
}

impl ConvertedEncoder {
    /// The HF `config.json` of this encoder (`WhisperModel`; decoder fields take HF's
    /// defaults, as its weights are not included).
    pub fn config_json(&self) -> serde_json::Value {
        let c = &self.config;
        json!({
            "architectures": ["WhisperModel"],
            "model_type": "whisper",
            "num_mel_bins": c.num_mel_bins,
            "d_model": c.d_model,
            "encoder_layers": c.encoder_layers,
            "encoder_attention_heads": c.encoder_attention_heads,
            "encoder_ffn_dim": c.encoder_ffn_dim,
            "max_source_positions": c.max_source_positions,
            "activation_function": "gelu",
        })
    }

    /// The HF `preprocessor_config.json` of Whisper's feature extractor for this encoder.
    pub fn preprocessor_json(&self) -> serde_json::Value {
        let window = self.config.window_mel_frames() * HOP;
        json!({
            "feature_extractor_type": "WhisperFeatureExtractor",
            "feature_size": self.config.num_mel_bins,
            "sampling_rate": crate::audio::SAMPLE_RATE,
            "hop_length": HOP,
            "n_fft": N_FFT,
            "chunk_length": window / crate::audio::SAMPLE_RATE as usize,
            "n_samples": window,
            "nb_max_frames": self.config.window_mel_frames(),
            "padding_side": "right",
            "padding_value": 0.0,
            "return_attention_mask": false,
        })
    }

    /// The safetensors bytes of the encoder tensors.
    ///
    /// # Errors
    /// Candle errors from serialisation.
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let views: Vec<(&String, &Tensor)> =
            names.iter().map(|n| (*n, &self.tensors[*n])).collect();
        Ok(safetensors::serialize(views, None).map_err(candle_core::Error::from)?)
    }

    /// Writes `config.json`, `preprocessor_config.json` and `model.safetensors` into `dir`
    /// (created if needed), each through a temporary file renamed into place.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ConditioningError::io(dir, e))?;
        let pretty = |v: serde_json::Value| -> Result<Vec<u8>> {
            let mut s = serde_json::to_string_pretty(&v)
                .map_err(|e| ConditioningError::invalid("converted config", e.to_string()))?;
            s.push('\n');
            Ok(s.into_bytes())
        };
        write_replacing(&dir.join("model.safetensors"), &self.safetensors_bytes()?)?;
        write_replacing(
            &dir.join("preprocessor_config.json"),
            &pretty(self.preprocessor_json())?,
        )?;
        // Written last: a directory with a config has all its files.
        write_replacing(&dir.join("config.json"), &pretty(self.config_json())?)
    }
}

fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| ConditioningError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ConditioningError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctranslate2::tests::write_model;
    use crate::whisper::{WhisperEncoder, WindowPolicy};

    /// A 2-layer, width-8, 2-head CTranslate2 Whisper with 4 mel bands, every value distinct,
    /// stored as float16 like the shipped model.
    fn tiny_ct2(spec: &str, k_bias: f32) -> Vec<u8> {
        let (d, mels, ffn, pos) = (8usize, 4usize, 16usize, 6usize);
        let mut counter = 0u32;
        let mut f16 = |shape: Vec<usize>| -> (Vec<usize>, u8, Vec<u8>) {
            let n: usize = shape.iter().product();
            let data = (0..n)
                .flat_map(|_| {
                    counter += 1;
                    let v = ((counter % 97) as f32 - 48.0) / 64.0;
                    half::f16::from_f32(v).to_le_bytes()
                })
                .collect();
            (shape, 4, data)
        };
        let mut vars: Vec<(String, Vec<usize>, u8, Vec<u8>)> = Vec::new();
        let mut add = |name: String, v: (Vec<usize>, u8, Vec<u8>)| vars.push((name, v.0, v.1, v.2));
        add("encoder/conv1/weight".into(), f16(vec![d, mels, 3]));
        add("encoder/conv1/bias".into(), f16(vec![d]));
        add("encoder/conv2/weight".into(), f16(vec![d, d, 3]));
        add("encoder/conv2/bias".into(), f16(vec![d]));
        add(
            "encoder/position_encodings/encodings".into(),
            f16(vec![pos, d]),
        );
        add("encoder/layer_norm/gamma".into(), f16(vec![d]));
        add("encoder/layer_norm/beta".into(), f16(vec![d]));
        add(
            "encoder/num_heads".into(),
            (vec![], 2, 2i16.to_le_bytes().to_vec()),
        );
        for i in 0..2 {
            let p = format!("encoder/layer_{i}");
            for ln in ["self_attention/layer_norm", "ffn/layer_norm"] {
                add(format!("{p}/{ln}/gamma"), f16(vec![d]));
                add(format!("{p}/{ln}/beta"), f16(vec![d]));
            }
            add(
                format!("{p}/self_attention/linear_0/weight"),
                f16(vec![3 * d, d]),
            );
            let mut bias = f16(vec![3 * d]);
            for j in d..2 * d {
                bias.2[2 * j..2 * j + 2]
                    .copy_from_slice(&half::f16::from_f32(k_bias).to_le_bytes());
            }
            add(format!("{p}/self_attention/linear_0/bias"), bias);
            add(
                format!("{p}/self_attention/linear_1/weight"),
                f16(vec![d, d]),
            );
            add(format!("{p}/self_attention/linear_1/bias"), f16(vec![d]));
            add(format!("{p}/ffn/linear_0/weight"), f16(vec![ffn, d]));
            add(format!("{p}/ffn/linear_0/bias"), f16(vec![ffn]));
            add(format!("{p}/ffn/linear_1/weight"), f16(vec![d, ffn]));
            add(format!("{p}/ffn/linear_1/bias"), f16(vec![d]));
        }
        add("decoder/embeddings/weight".into(), f16(vec![10, d]));
        let refs: Vec<(&str, Vec<usize>, u8, Vec<u8>)> = vars
            .iter()
            .map(|(n, s, t, b)| (n.as_str(), s.clone(), *t, b.clone()))
            .collect();
        write_model(
            spec,
            &refs,
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        )
    }

    #[test]
    fn names_map_one_to_one_and_qkv_is_split() {
        let m = Ct2Model::parse(&tiny_ct2("WhisperSpec", 0.0), "tiny").unwrap();
        let conv = convert_ct2_encoder(&m, "tiny").unwrap();
        assert_eq!(conv.config.encoder_layers, 2);
        assert_eq!(conv.config.encoder_attention_heads, 2);
        assert_eq!(conv.config.num_mel_bins, 4);
        // Every encoder variable but num_heads is used, each once; nothing of the decoder.
        let mapped = ct2_encoder_names(2);
        let used: std::collections::HashSet<&str> = mapped
            .iter()
            .map(|(c, _)| c.as_str())
            .chain(["encoder/layer_0/self_attention/linear_0/weight"])
            .collect();
        for v in &m.variables {
            let fused = v.name.contains("self_attention/linear_0/");
            if v.name.starts_with("encoder/") && v.name != "encoder/num_heads" && !fused {
                assert!(used.contains(v.name.as_str()), "{} not mapped", v.name);
            }
        }
        assert_eq!(conv.tensors.len(), mapped.len() + 2 * 5);
        assert!(conv.tensors.keys().all(|k| k.starts_with("encoder.")));
        for (c, h) in &mapped {
            let want = m.get(c).unwrap().to_tensor(&Device::Cpu).unwrap();
            let got = &conv.tensors[h];
            assert_eq!(got.dtype(), candle_core::DType::F16, "{h}");
            let diff = (want.to_dtype(candle_core::DType::F32).unwrap()
                - got.to_dtype(candle_core::DType::F32).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
            assert_eq!(diff, 0.0, "{c} -> {h}");
        }
        // q, k, v are the thirds of the fused weight, in that order.
        let fused = m
            .get("encoder/layer_1/self_attention/linear_0/weight")
            .unwrap()
            .to_tensor(&Device::Cpu)
            .unwrap();
        for (j, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
            let want: Vec<half::f16> = fused
                .narrow(0, j * 8, 8)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let got: Vec<half::f16> = conv.tensors
                [&format!("encoder.layers.1.self_attn.{p}.weight")]
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(want, got, "{p}");
        }
        assert!(!conv
            .tensors
            .contains_key("encoder.layers.0.self_attn.k_proj.bias"));
    }

    #[test]
    fn converted_directory_loads_and_runs() {
        let m = Ct2Model::parse(&tiny_ct2("WhisperSpec", 0.0), "tiny").unwrap();
        let dir = tempfile::tempdir().unwrap();
        convert_ct2_encoder(&m, "tiny")
            .unwrap()
            .write(dir.path())
            .unwrap();
        let enc = WhisperEncoder::load(dir.path(), &Device::Cpu).unwrap();
        let x: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin()).collect();
        let y = enc.encode_window(&x, WindowPolicy::Exact).unwrap();
        assert_eq!(y.dims(), &[5, 8]);
        // No temporary files are left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn generation_checkpoints_and_mismatched_front_ends() {
        let m = Ct2Model::parse(&tiny_ct2("WhisperSpec", 0.0), "tiny").unwrap();
        let conv = convert_ct2_encoder(&m, "tiny").unwrap();
        // A WhisperForConditionalGeneration checkpoint: everything under `model.`.
        let prefixed: HashMap<String, Tensor> = conv
            .tensors
            .iter()
            .map(|(k, v)| (format!("model.{k}"), v.clone()))
            .collect();
        let bytes = safetensors::serialize(prefixed.iter(), None).unwrap();
        let enc =
            WhisperEncoder::from_safetensors(conv.config.clone(), &bytes, "gen", &Device::Cpu)
                .unwrap();
        assert_eq!(enc.model().config().num_mel_bins, 4);

        // A front end for another number of bands than the weights: named in the error.
        let dir = tempfile::tempdir().unwrap();
        conv.write(dir.path()).unwrap();
        let pre = dir.path().join("preprocessor_config.json");
        let text = std::fs::read_to_string(&pre)
            .unwrap()
            .replace("\"feature_size\": 4", "\"feature_size\": 80");
        std::fs::write(&pre, text).unwrap();
        let err = WhisperEncoder::load(dir.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("preprocessor_config.json") && err.contains("feature_size is 80"),
            "{err}"
        );
        // A config for 128 bands over 4-band weights: the tensor is named.
        std::fs::remove_file(&pre).unwrap();
        let cfg = dir.path().join("config.json");
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("\"num_mel_bins\": 4", "\"num_mel_bins\": 128");
        std::fs::write(&cfg, text).unwrap();
        let err = WhisperEncoder::load(dir.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("conv1"),
            "{err}"
        );
        // And a wav2vec2 config is another architecture.
        std::fs::write(
            &cfg,
            r#"{"model_type": "wav2vec2", "d_model": 8, "encoder_layers": 2,
            "encoder_attention_heads": 2, "encoder_ffn_dim": 16}"#,
        )
        .unwrap();
        let err = WhisperEncoder::load(dir.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json") && err.contains("another architecture"),
            "{err}"
        );
    }

    #[test]
    fn other_specs_and_key_bias_are_refused() {
        let m = Ct2Model::parse(&tiny_ct2("TransformerSpec", 0.0), "model.bin").unwrap();
        let err = convert_ct2_encoder(&m, "model.bin")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.bin") && err.contains("TransformerSpec"),
            "{err}"
        );
        let m = Ct2Model::parse(&tiny_ct2("WhisperSpec", 0.5), "model.bin").unwrap();
        let err = convert_ct2_encoder(&m, "model.bin")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linear_0/bias") && err.contains("key projection"),
            "{err}"
        );
        // A weight stored as integers (found by fuzzing: the error named the variable but
        // not the file).
        let mut m = Ct2Model::parse(&tiny_ct2("WhisperSpec", 0.0), "model.bin").unwrap();
        let v = (m.variables.iter_mut())
            .find(|v| v.name == "encoder/conv1/bias")
            .unwrap();
        v.dtype = crate::ctranslate2::Ct2Type::I16;
        let err = convert_ct2_encoder(&m, "model.bin")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.bin") && err.contains("encoder/conv1/bias"),
            "{err}"
        );
    }
}
