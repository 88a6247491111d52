//! Seeded initialisation of a fresh model: candle's CPU generator cannot be seeded, so the
//! same seed would not give the same model without this.

use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// The variables of `varmap`, sorted by name (the order every function here and the training
/// loop use, so that saved state lines up with the model).
pub fn named_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::invalid("variable map", "poisoned lock"))?;
    let mut out: Vec<(String, Var)> = vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Initialises every linear and convolution layer of `varmap` as PyTorch's `nn.Linear` and
/// `nn.Conv1d` do (weight and bias uniform in ±1/√fan_in), drawn from `seed` in the order of
/// the sorted variable names.
///
/// Such a layer is a `<stem>.weight` of two or more dimensions ([out, in] or
/// [out, in, kernel...], fan_in = in · kernel...) and its `<stem>.bias`. Other variables (a
/// layer norm's 1-D weight and bias, learned embeddings) keep the values they were created
/// with.
pub fn init_linear_uniform(varmap: &VarMap, seed: u64) -> Result<()> {
    let vars = named_vars(varmap)?;
    let by_name: std::collections::HashMap<&str, &Var> =
        vars.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (name, var) in &vars {
        let stem = name
            .strip_suffix(".bias")
            .or_else(|| name.strip_suffix(".weight"))
            .unwrap_or(name);
        let Some(weight) = by_name.get(format!("{stem}.weight").as_str()) else {
            continue;
        };
        let dims = weight.dims();
        if dims.len() < 2 {
            continue;
        }
        let fan_in: usize = dims[1..].iter().product();
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let t = Tensor::from_vec(values, var.dims(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    fn model(seed: u64) -> VarMap {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        candle_nn::linear(4, 3, vb.pp("a")).unwrap();
        let cfg = candle_nn::Conv1dConfig::default();
        candle_nn::conv1d(2, 3, 5, cfg, vb.pp("conv")).unwrap();
        crate::LayerNorm::new(3, 1e-5, vb.pp("norm")).unwrap();
        init_linear_uniform(&vm, seed).unwrap();
        vm
    }

    #[test]
    fn same_seed_same_model_and_norms_untouched() {
        let values = |vm: &VarMap| -> Vec<Vec<f32>> {
            named_vars(vm)
                .unwrap()
                .iter()
                .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
                .collect()
        };
        assert_eq!(values(&model(7)), values(&model(7)));
        assert_ne!(values(&model(7)), values(&model(8)));
        let vm = model(7);
        let named = named_vars(&vm).unwrap();
        let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.bias",
                "a.weight",
                "conv.bias",
                "conv.weight",
                "norm.bias",
                "norm.weight"
            ]
        );
        let w = values(&vm)[1].clone();
        assert!(w.iter().all(|x| x.abs() <= 0.5), "bound 1/√4");
        // A convolution's fan-in is in · kernel = 10: seeded, and within its bound.
        let conv = values(&vm)[3].clone();
        let bound = 1.0 / 10f32.sqrt();
        assert!(conv.iter().all(|x| x.abs() <= bound));
        assert!(conv.iter().any(|x| x.abs() > 0.5 * bound));
        assert_eq!(values(&vm)[5], vec![1.0; 3]);
    }
}
