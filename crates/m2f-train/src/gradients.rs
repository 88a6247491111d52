//! What the loop does with gradients: global-norm clipping, and the check every trainer's
//! tests run that each variable actually receives one.

use candle_core::backprop::GradStore;
use candle_core::Var;

use crate::error::Result;

/// Scales all gradients so their global L2 norm is at most `max_norm` (no-op when 0 or
/// already below). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let mut sq = 0.0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = (g * scale)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

/// Names of the variables that got no gradient, or an all-zero or non-finite one: parameters
/// behind an op without a backward pass (candle-nn 0.11: the fused layer norm and softmax)
/// silently stop learning, and every trainer's tests check this is empty.
pub fn variables_without_gradient(
    grads: &GradStore,
    vars: &[(String, Var)],
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for (name, var) in vars {
        let ok = match grads.get(var.as_tensor()) {
            Some(g) => {
                let s = g
                    .abs()?
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
                s > 0.0 && s.is_finite()
            }
            None => false,
        };
        if !ok {
            missing.push(name.clone());
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn clipping_scales_to_the_limit_and_the_check_names_unused_variables() {
        let dev = Device::Cpu;
        let a = Var::new(&[3.0f32, 4.0], &dev).unwrap();
        let unused = Var::new(&[1.0f32], &dev).unwrap();
        let loss = (a.as_tensor() * &Tensor::new(&[1.0f32, 1.0], &dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let loss = (loss * 5.0).unwrap();
        let mut grads = loss.backward().unwrap();
        let vars = [a.clone(), unused.clone()];
        let norm = clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        assert!((norm - 50f64.sqrt()).abs() < 1e-5, "{norm}");
        let g = grads.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        let clipped = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!((clipped - 1.0).abs() < 1e-5, "{clipped}");
        let named = vec![("a".to_string(), a), ("unused".to_string(), unused)];
        assert_eq!(
            variables_without_gradient(&grads, &named).unwrap(),
            vec!["unused"]
        );
    }
}
