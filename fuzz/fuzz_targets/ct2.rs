//! Bytes of any content as a CTranslate2 `model.bin`: `Ct2Model::parse` returns a model or an
//! error naming the origin, never panics or aborts. A model that parses is usable: every
//! variable holds the bytes its shape and type need, names and aliases resolve, float
//! variables become tensors of their shape and integer scalars read. `convert_ct2_encoder`
//! turns it into an HF Whisper encoder or an error naming the origin; an encoder it converts
//! serialises, and when it loads it gives `[25, d_model]` features for 0.5 s of a sine.
#![no_main]

use candle_core::Device;
use conditioning::{convert_ct2_encoder, Ct2Model, WhisperEncoder, WindowPolicy};
use libfuzzer_sys::fuzz_target;

#[path = "parts.rs"]
mod parts;

/// A `model.bin` as CTranslate2's Python converter writes it (as the parser's own tests do).
fn write_model(
    spec: &str,
    vars: &[(&str, Vec<u32>, u8, Vec<u8>)],
    aliases: &[(&str, &str)],
) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&conditioning::CT2_BINARY_VERSION.to_le_bytes());
    string(&mut out, spec);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for (name, shape, id, data) in vars {
        string(&mut out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(*id);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
    for (a, t) in aliases {
        string(&mut out, a);
        string(&mut out, t);
    }
    out
}

/// A one-layer Whisper encoder of width 4 (80 mels, 25 positions, 2 heads, ffn 8) in f16, as
/// faster-whisper's converter lays it out (fused QKV with a zero key bias), plus a decoder
/// variable the conversion skips.
fn tiny_whisper() -> Vec<u8> {
    let (d, mels, pos, ffn) = (4u32, 80u32, 25u32, 8u32);
    let mut counter = 0u32;
    let mut f16 = |shape: Vec<u32>| -> (Vec<u32>, u8, Vec<u8>) {
        let n: u32 = shape.iter().product();
        let data = (0..n)
            .flat_map(|_| {
                counter += 1;
                let v = ((counter % 97) as f32 - 48.0) / 64.0;
                half::f16::from_f32(v).to_bits().to_le_bytes()
            })
            .collect();
        (shape, 4, data)
    };
    let mut vars: Vec<(String, Vec<u32>, u8, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, v: (Vec<u32>, u8, Vec<u8>)| vars.push((name.into(), v.0, v.1, v.2));
    add("encoder/conv1/weight", f16(vec![d, mels, 3]));
    add("encoder/conv1/bias", f16(vec![d]));
    add("encoder/conv2/weight", f16(vec![d, d, 3]));
    add("encoder/conv2/bias", f16(vec![d]));
    add("encoder/position_encodings/encodings", f16(vec![pos, d]));
    add("encoder/layer_norm/gamma", f16(vec![d]));
    add("encoder/layer_norm/beta", f16(vec![d]));
    add(
        "encoder/num_heads",
        (vec![], 2, 2i16.to_le_bytes().to_vec()),
    );
    let p = "encoder/layer_0";
    for ln in ["self_attention/layer_norm", "ffn/layer_norm"] {
        add(&format!("{p}/{ln}/gamma"), f16(vec![d]));
        add(&format!("{p}/{ln}/beta"), f16(vec![d]));
    }
    add(
        &format!("{p}/self_attention/linear_0/weight"),
        f16(vec![3 * d, d]),
    );
    let mut bias = f16(vec![3 * d]);
    bias.2[2 * d as usize..4 * d as usize].fill(0);
    add(&format!("{p}/self_attention/linear_0/bias"), bias);
    add(
        &format!("{p}/self_attention/linear_1/weight"),
        f16(vec![d, d]),
    );
    add(&format!("{p}/self_attention/linear_1/bias"), f16(vec![d]));
    add(&format!("{p}/ffn/linear_0/weight"), f16(vec![ffn, d]));
    add(&format!("{p}/ffn/linear_0/bias"), f16(vec![ffn]));
    add(&format!("{p}/ffn/linear_1/weight"), f16(vec![d, ffn]));
    add(&format!("{p}/ffn/linear_1/bias"), f16(vec![d]));
    add("decoder/embeddings/weight", f16(vec![10, d]));
    let refs: Vec<(&str, Vec<u32>, u8, Vec<u8>)> = vars
        .iter()
        .map(|(n, s, t, b)| (n.as_str(), s.clone(), *t, b.clone()))
        .collect();
    write_model(
        "WhisperSpec",
        &refs,
        &[("decoder/projection/weight", "decoder/embeddings/weight")],
    )
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    vec![
        (
            "whisper",
            write_model(
                "WhisperSpec",
                &[
                    (
                        "encoder/conv1/weight",
                        vec![2, 1, 3],
                        0,
                        f32s(&[0.1, -0.2, 0.3, 0.4, 0.5, -0.6]),
                    ),
                    ("encoder/conv1/bias", vec![2], 4, vec![0, 0x3c, 0, 0xbc]),
                    ("encoder/ln/gamma", vec![2], 5, vec![0x80, 0x3f, 0x80, 0x3f]),
                    ("encoder/num_heads", vec![], 2, 6i16.to_le_bytes().to_vec()),
                    ("encoder/pre_norm", vec![], 1, vec![1]),
                    (
                        "decoder/ids",
                        vec![2],
                        3,
                        [7i32, -1].iter().flat_map(|x| x.to_le_bytes()).collect(),
                    ),
                ],
                &[("decoder/conv1/weight", "encoder/conv1/weight")],
            ),
        ),
        ("empty", write_model("X", &[], &[])),
        ("whisper_tiny", tiny_whisper()),
    ]
}

fuzz_target!(
    init: {
        if let Some(dir) = parts::seed_dir() {
            parts::write_seeds_and_exit(&dir, &seeds());
        }
    },
    |data: &[u8]| {
        match Ct2Model::parse(data, "fuzz.bin") {
            Ok(model) => {
                for v in &model.variables {
                    let elems = v.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                    assert_eq!(elems.and_then(|n| n.checked_mul(v.dtype.size())), Some(v.data.len()));
                    assert!(model.get(&v.name).is_some());
                    let _ = v.as_int();
                    if let Ok(t) = v.to_tensor(&Device::Cpu) {
                        assert_eq!(t.dims(), v.shape.as_slice());
                    }
                }
                for (alias, _) in &model.aliases {
                    assert!(model.get(alias).is_some());
                }
                match convert_ct2_encoder(&model, "fuzz.bin") {
                    Ok(converted) => check_converted(converted),
                    Err(e) => assert!(e.to_string().contains("fuzz.bin"), "{e}"),
                }
            }
            Err(e) => assert!(e.to_string().contains("fuzz.bin"), "{e}"),
        }
    }
);

fn check_converted(converted: conditioning::ConvertedEncoder) {
    let bytes = converted
        .safetensors_bytes()
        .expect("a converted encoder serialises");
    let d = converted.config.d_model;
    let Ok(enc) =
        WhisperEncoder::from_safetensors(converted.config, &bytes, "converted", &Device::Cpu)
    else {
        return;
    };
    let sine: Vec<f32> = (0..8000).map(|i| 0.3 * (i as f32 * 0.0864).sin()).collect();
    let enc = enc.with_policy(WindowPolicy::Exact);
    let y = enc
        .native_features(&sine)
        .expect("a converted encoder that loads runs");
    assert_eq!(y.dims(), &[25, d]);
}
