//! Bytes of any content as a CTranslate2 `model.bin`: `Ct2Model::parse` returns a model or an
//! error naming the origin, never panics or aborts. A model that parses is usable: every
//! variable holds the bytes its shape and type need, names and aliases resolve, float
//! variables become tensors of their shape and integer scalars read.
#![no_main]

use candle_core::Device;
use conditioning::Ct2Model;
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
            }
            Err(e) => assert!(e.to_string().contains("fuzz.bin"), "{e}"),
        }
    }
);
