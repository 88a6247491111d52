//! A reader for CTranslate2's `model.bin`, the format faster-whisper and other CTranslate2
//! models ship in, so their weights can be converted to the Hugging Face layout this crate
//! loads (see [`crate::whisper::convert_ct2_encoder`]).
//!
//! Layout (little-endian, binary version 6): `u32` version, the spec name (a string), `u32`
//! spec revision, `u32` variable count, then per variable its name, `u8` rank, `u32` × rank
//! shape, `u8` type id (float32, int8, int16, int32, float16, bfloat16 in that order), `u32`
//! byte count and the bytes; then `u32` alias count and (alias, target) name pairs. A string
//! is a `u16` length counting a trailing NUL, then the bytes with the NUL.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{ConditioningError, Result};

/// The `model.bin` version this reader understands.
pub const BINARY_VERSION: u32 = 6;

/// Element type of a stored variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Type {
    /// 32-bit float (type id 0).
    F32,
    /// 8-bit signed integer (type id 1).
    I8,
    /// 16-bit signed integer (type id 2).
    I16,
    /// 32-bit signed integer (type id 3).
    I32,
    /// 16-bit IEEE half float (type id 4).
    F16,
    /// 16-bit bfloat (type id 5).
    BF16,
}

impl Ct2Type {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One stored variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Variable {
    /// Slash-separated name, e.g. `encoder/layer_0/self_attention/linear_0/weight`.
    pub name: String,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Element type of `data`.
    pub dtype: Ct2Type,
    /// Little-endian element bytes.
    pub data: Vec<u8>,
}

impl Ct2Variable {
    /// The variable as a tensor of its own type (float16 stays float16). int16 and int8
    /// scalars (attributes such as `num_heads`) read through [`Ct2Variable::as_int`].
    ///
    /// # Errors
    /// [`ConditioningError::Weights`] naming the variable for integer types candle cannot hold.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let dtype = match self.dtype {
            Ct2Type::F32 => DType::F32,
            Ct2Type::F16 => DType::F16,
            Ct2Type::BF16 => DType::BF16,
            other => {
                return Err(ConditioningError::Weights {
                    tensor: self.name.clone(),
                    message: format!("{other:?} variables are not converted to tensors"),
                })
            }
        };
        Ok(Tensor::from_raw_buffer(
            &self.data,
            dtype,
            &self.shape,
            device,
        )?)
    }

    /// An integer scalar attribute (`num_heads`, flags).
    pub fn as_int(&self) -> Option<i64> {
        if !self.shape.is_empty() {
            return None;
        }
        let b = &self.data;
        Some(match self.dtype {
            Ct2Type::I8 => i8::from_le_bytes([b[0]]) as i64,
            Ct2Type::I16 => i16::from_le_bytes([b[0], b[1]]) as i64,
            Ct2Type::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => return None,
        })
    }
}

/// A parsed `model.bin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    /// The spec's class name, e.g. `WhisperSpec`.
    pub spec: String,
    /// The spec's revision number.
    pub revision: u32,
    /// The stored variables, in file order.
    pub variables: Vec<Ct2Variable>,
    /// (alias, target) pairs: the alias names the same data as the target.
    pub aliases: Vec<(String, String)>,
}

impl Ct2Model {
    /// Reads `model.bin` (or the directory holding it).
    ///
    /// # Errors
    /// I/O errors naming the file; [`ConditioningError::Weights`] naming the file and the
    /// variable being read for a truncated or malformed file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            path.join("model.bin")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|e| ConditioningError::io(&file, e))?;
        Self::parse(&bytes, &file.display().to_string())
    }

    /// Parses the bytes of a `model.bin`; `origin` names them in errors.
    ///
    /// # Errors
    /// As [`Ct2Model::read`].
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        let mut r = Reader {
            bytes,
            pos: 0,
            origin,
            what: "the header".to_string(),
        };
        let version = r.u32()?;
        if version != BINARY_VERSION {
            return Err(r.error(format!(
                "CTranslate2 binary version {version}; this reader knows version {BINARY_VERSION}"
            )));
        }
        let spec = r.string()?;
        let revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut variables = Vec::with_capacity(count.min(1 << 16));
        for i in 0..count {
            r.what = format!("variable {i} of {count}");
            let name = r.string()?;
            r.what = format!("variable `{name}`");
            let rank = r.u8()? as usize;
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>>>()?;
            let id = r.u8()?;
            let dtype =
                Ct2Type::from_id(id).ok_or_else(|| r.error(format!("unknown type id {id}")))?;
            let n_bytes = r.u32()? as usize;
            // Checked: a damaged shape's product can pass usize::MAX.
            let needed = shape
                .iter()
                .try_fold(dtype.size(), |n, &d| n.checked_mul(d));
            if needed != Some(n_bytes) {
                return Err(r.error(match needed {
                    Some(needed) => format!(
                        "shape {shape:?} of {dtype:?} needs {needed} bytes, the file says {n_bytes}"
                    ),
                    None => format!("shape {shape:?} of {dtype:?} is too large to address"),
                }));
            }
            let data = r.take(n_bytes)?.to_vec();
            variables.push(Ct2Variable {
                name,
                shape,
                dtype,
                data,
            });
        }
        r.what = "the alias table".to_string();
        let n_aliases = r.u32()? as usize;
        let mut aliases = Vec::with_capacity(n_aliases.min(1 << 16));
        let names: std::collections::HashSet<&str> =
            variables.iter().map(|v| v.name.as_str()).collect();
        for _ in 0..n_aliases {
            let alias = r.string()?;
            let target = r.string()?;
            // CTranslate2 refuses such a file too.
            if !names.contains(target.as_str()) {
                return Err(r.error(format!(
                    "alias `{alias}` names `{target}`, which is not a variable"
                )));
            }
            aliases.push((alias, target));
        }
        if r.pos != bytes.len() {
            return Err(r.error(format!(
                "{} bytes left after the alias table",
                bytes.len() - r.pos
            )));
        }
        Ok(Self {
            spec,
            revision,
            variables,
            aliases,
        })
    }

    /// The variable `name` (following aliases).
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        let target = self
            .aliases
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or(name);
        self.variables.iter().find(|v| v.name == target)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    origin: &'a str,
    /// What is being read, for errors.
    what: String,
}

impl Reader<'_> {
    fn error(&self, message: String) -> ConditioningError {
        ConditioningError::Weights {
            tensor: format!("{} ({}, byte {})", self.origin, self.what, self.pos),
            message,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(self.error(format!(
                "truncated: {n} more bytes needed, {} left (is the download complete?)",
                self.bytes.len() - self.pos
            ))),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String> {
        let b = self.take(2)?;
        let len = u16::from_le_bytes([b[0], b[1]]) as usize;
        let raw = self.take(len)?;
        let text = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(text.to_vec()).map_err(|_| self.error("a name is not UTF-8".into()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a `model.bin` the way CTranslate2's Python converter does.
    pub(crate) fn write_model(
        spec: &str,
        vars: &[(&str, Vec<usize>, u8, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&BINARY_VERSION.to_le_bytes());
        string(&mut out, spec);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
        for (name, shape, id, data) in vars {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for d in shape {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
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

    #[test]
    fn round_trip_and_aliases() {
        let bytes = write_model(
            "WhisperSpec",
            &[
                ("a/weight", vec![2, 3], 0, vec![0u8; 24]),
                ("a/num_heads", vec![], 2, 6i16.to_le_bytes().to_vec()),
            ],
            &[("b/weight", "a/weight")],
        );
        let m = Ct2Model::parse(&bytes, "mem").unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.revision, 3);
        assert_eq!(m.get("b/weight").unwrap().shape, vec![2, 3]);
        assert_eq!(m.get("a/num_heads").unwrap().as_int(), Some(6));
        let t = m.get("a/weight").unwrap().to_tensor(&Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 3]);
    }

    #[test]
    fn truncation_names_the_variable() {
        let bytes = write_model(
            "WhisperSpec",
            &[("encoder/conv1/weight", vec![4, 4], 4, vec![1u8; 32])],
            &[],
        );
        for cut in [3, 10, 30, bytes.len() - 5] {
            let err = Ct2Model::parse(&bytes[..cut], "model.bin")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("model.bin") && err.contains("truncated"),
                "{err}"
            );
        }
        let err = Ct2Model::parse(&bytes[..bytes.len() - 10], "model.bin")
            .unwrap_err()
            .to_string();
        assert!(err.contains("encoder/conv1/weight"), "{err}");
    }

    #[test]
    fn size_mismatch_and_version_are_errors() {
        let bad = write_model("X", &[("v", vec![4], 0, vec![0u8; 8])], &[]);
        let err = Ct2Model::parse(&bad, "m").unwrap_err().to_string();
        assert!(err.contains("`v`") && err.contains("16 bytes"), "{err}");
        // Found by fuzzing (fuzz/fuzz_targets/ct2.rs): an alias of no variable, which `get`
        // followed to nothing.
        let dangling = write_model("X", &[("v", vec![1], 0, vec![0; 4])], &[("w", "u")]);
        let err = Ct2Model::parse(&dangling, "m").unwrap_err().to_string();
        assert!(err.contains("`w`") && err.contains("`u`"), "{err}");
        // Found by fuzzing: a shape whose product overflows usize.
        let huge = write_model("X", &[("v", vec![u32::MAX as usize; 3], 0, vec![])], &[]);
        let err = Ct2Model::parse(&huge, "m").unwrap_err().to_string();
        assert!(err.contains("`v`") && err.contains("too large"), "{err}");
        let mut old = write_model("X", &[], &[]);
        old[0] = 5;
        let err = Ct2Model::parse(&old, "m").unwrap_err().to_string();
        assert!(err.contains("version 5"), "{err}");
    }
}
