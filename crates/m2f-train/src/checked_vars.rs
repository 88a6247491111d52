//! Building a model on tensors read from a file, checking each variable as the model asks for
//! it: a config that does not match its weights is refused at its first missing or mis-shaped
//! tensor, before anything of the config's sizes is allocated (a damaged config can name
//! sizes no machine holds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

/// A variable a model asked for that the tensors do not hold with its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarMismatch {
    /// The variable's full name.
    pub name: String,
    /// The shape the model asked for.
    pub expected: Vec<usize>,
    /// The stored tensor's shape; `None` when there is no such tensor.
    pub actual: Option<Vec<usize>>,
}

#[derive(Default)]
struct Record {
    first_mismatch: Option<VarMismatch>,
    used: Vec<String>,
}

/// Tensors read from a file, as the variables of a [`VarBuilder`] that checks every request:
/// a present tensor of the requested shape is returned (converted to the requested type), any
/// other request fails without allocating and is recorded for
/// [`CheckedTensors::first_mismatch`].
#[derive(Clone)]
pub struct CheckedTensors {
    tensors: Arc<HashMap<String, Tensor>>,
    record: Arc<Mutex<Record>>,
}

impl CheckedTensors {
    /// The variables `tensors` (name → tensor).
    pub fn new(tensors: HashMap<String, Tensor>) -> Self {
        Self {
            tensors: Arc::new(tensors),
            record: Arc::default(),
        }
    }

    /// A builder over the tensors, handing out variables of `dtype` on `device`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// The first request that failed, if any did.
    pub fn first_mismatch(&self) -> Option<VarMismatch> {
        self.lock().first_mismatch.clone()
    }

    /// The names of the variables handed out, in the order asked for.
    pub fn used(&self) -> Vec<String> {
        self.lock().used.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        // The record stays consistent whatever a panicking holder did: take it back.
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The name of the first float tensor (in name order) holding a NaN or an infinity; integer
/// tensors are skipped. A checkpoint with such a weight is damaged: refused at load, it is
/// named, where a model built on it would fail much later (or give NaN faces) far from the
/// cause.
///
/// # Errors
/// Candle errors reading a tensor.
pub fn first_non_finite(tensors: &HashMap<String, Tensor>) -> candle_core::Result<Option<String>> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &tensors[name];
        if !t.dtype().is_float() {
            continue;
        }
        let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        if !values.iter().all(|v| v.is_finite()) {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

impl SimpleBackend for CheckedTensors {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let stored = self.tensors.get(name);
        if let Some(t) = stored.filter(|t| t.dims() == shape.dims()) {
            self.lock().used.push(name.to_string());
            return t.to_dtype(dtype)?.to_device(device);
        }
        let mismatch = VarMismatch {
            name: name.to_string(),
            expected: shape.dims().to_vec(),
            actual: stored.map(|t| t.dims().to_vec()),
        };
        let message = match &mismatch.actual {
            None => format!(
                "no tensor {name:?} (expected shape {:?})",
                mismatch.expected
            ),
            Some(a) => format!(
                "tensor {name:?} has shape {a:?}, expected {:?}",
                mismatch.expected
            ),
        };
        self.lock().first_mismatch.get_or_insert(mismatch);
        Err(candle_core::Error::Msg(message))
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.tensors.get(name) {
            Some(t) => {
                self.lock().used.push(name.to_string());
                t.to_dtype(dtype)?.to_device(device)
            }
            None => Err(candle_core::Error::Msg(format!("no tensor {name:?}"))),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_finite_float_tensor_is_named() {
        let dev = Device::Cpu;
        let mut tensors = HashMap::from([
            ("a".to_string(), Tensor::new(&[1f32, 2.0], &dev).unwrap()),
            ("ids".to_string(), Tensor::new(&[u32::MAX], &dev).unwrap()),
        ]);
        assert_eq!(first_non_finite(&tensors).unwrap(), None);
        let half = Tensor::new(&[1f32, f32::INFINITY], &dev)
            .unwrap()
            .to_dtype(DType::F16);
        tensors.insert("c".into(), half.unwrap());
        tensors.insert("b".into(), Tensor::new(&[f32::NAN], &dev).unwrap());
        assert_eq!(first_non_finite(&tensors).unwrap().as_deref(), Some("b"));
    }

    #[test]
    fn present_tensors_are_handed_out_and_others_recorded_without_allocating() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((2, 3), DType::F16, &dev).unwrap();
        let checked = CheckedTensors::new(HashMap::from([("l.weight".to_string(), w)]));
        let vb = checked.var_builder(DType::F32, &dev);
        let t = vb.pp("l").get((2, 3), "weight").unwrap();
        assert_eq!(t.dtype(), DType::F32);
        // A size no machine holds fails as a mismatch.
        let huge = 1usize << 40;
        assert!(vb.pp("l").get((huge, huge), "bias").is_err());
        assert!(vb.pp("l").get((3, 2), "weight").is_err());
        assert_eq!(
            checked.first_mismatch(),
            Some(VarMismatch {
                name: "l.bias".into(),
                expected: vec![huge, huge],
                actual: None
            })
        );
        assert_eq!(checked.used(), vec!["l.weight".to_string()]);
    }
}
