//! An exponential moving average of the weights, the copy diffusion models are sampled from
//! (DDPM, MDM): `shadow ← d·shadow + (1−d)·weights` after every optimiser step.

use candle_core::{Tensor, Var};

use crate::error::{Result, TrainError};

/// EMA weights of a fixed list of variables.
#[derive(Debug)]
pub struct Ema {
    decay: f64,
    shadow: Vec<Tensor>,
}

impl Ema {
    /// Starts the average at the current values of `vars`. `decay` in [0, 1).
    pub fn new(vars: &[Var], decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(TrainError::invalid(
                "EMA decay",
                format!("{decay} is outside [0, 1)"),
            ));
        }
        let shadow = vars
            .iter()
            .map(|v| Ok(v.as_tensor().copy()?.detach()))
            .collect::<Result<_>>()?;
        Ok(Self { decay, shadow })
    }

    /// The decay used after optimiser step `step` (1-based): the configured decay, lowered
    /// early in training as `(1 + step) / (10 + step)` so the average is not dominated by the
    /// random initialisation.
    pub fn decay_at(&self, step: u64) -> f64 {
        let warm = (1.0 + step as f64) / (10.0 + step as f64);
        self.decay.min(warm)
    }

    /// Moves the average toward the current values of `vars` after optimiser step `step`.
    pub fn update(&mut self, vars: &[Var], step: u64) -> Result<()> {
        let d = self.decay_at(step);
        for (s, v) in self.shadow.iter_mut().zip(vars) {
            *s = ((&*s * d)? + (v.as_tensor() * (1.0 - d))?)?.detach();
        }
        Ok(())
    }

    /// The averaged weights, in the order of the variables.
    pub fn weights(&self) -> &[Tensor] {
        &self.shadow
    }

    /// Replaces the averaged weights (when resuming); `names` name the variables in errors.
    pub fn restore(&mut self, weights: Vec<Tensor>, names: &[String]) -> Result<()> {
        if weights.len() != self.shadow.len() {
            return Err(TrainError::invalid(
                "EMA state",
                format!(
                    "it holds {} tensors, the model has {} variables",
                    weights.len(),
                    self.shadow.len()
                ),
            ));
        }
        for (i, (s, w)) in self.shadow.iter_mut().zip(weights).enumerate() {
            if s.dims() != w.dims() {
                let name = names.get(i).map(String::as_str).unwrap_or("?");
                return Err(TrainError::invalid(
                    format!("EMA weights of {name}"),
                    format!("shape {:?}, the variable is {:?}", w.dims(), s.dims()),
                ));
            }
            *s = w.to_dtype(s.dtype())?.to_device(s.device())?;
        }
        Ok(())
    }
}

/// Sets each variable of `vars` to the tensor at the same index of `values`.
pub fn set_vars(vars: &[Var], values: &[Tensor]) -> Result<()> {
    for (v, t) in vars.iter().zip(values) {
        v.set(t)?;
    }
    Ok(())
}

/// Detached copies of the current values of `vars`.
pub fn snapshot(vars: &[Var]) -> Result<Vec<Tensor>> {
    vars.iter()
        .map(|v| Ok(v.as_tensor().copy()?.detach()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn average_follows_the_weights_with_the_warm_up_decay() {
        let dev = Device::Cpu;
        let v = Var::new(&[0.0f32], &dev).unwrap();
        let mut ema = Ema::new(std::slice::from_ref(&v), 0.99).unwrap();
        v.set(&Tensor::new(&[1.0f32], &dev).unwrap()).unwrap();
        ema.update(std::slice::from_ref(&v), 1).unwrap();
        // Step 1: d = min(0.99, 2/11).
        let d = 2.0 / 11.0;
        let got = ema.weights()[0].to_vec1::<f32>().unwrap()[0];
        assert!((got as f64 - (1.0 - d)).abs() < 1e-6, "{got}");
        assert_eq!(ema.decay_at(10_000), 0.99);
        assert!(Ema::new(&[v], 1.0).is_err());
    }
}
