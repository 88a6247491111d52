//! AdamW (Loshchilov & Hutter, decoupled weight decay) with its moment estimates exposed, so a
//! resumed run continues exactly where a killed one stopped. candle-nn's `AdamW` keeps them
//! private; the update here is the same (PyTorch's `torch.optim.AdamW`).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::{Result, TrainError};

/// AdamW's hyper-parameters (PyTorch's defaults but the learning rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to √v̂.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by the learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// One variable and its moment estimates.
#[derive(Debug)]
struct Slot {
    var: Var,
    m: Tensor,
    v: Tensor,
}

/// AdamW over a fixed list of variables.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    params: AdamWParams,
    /// Updates taken so far (the bias corrections' t).
    steps: u64,
}

impl AdamW {
    /// Zero moments for every variable of `vars`.
    pub fn new(vars: &[Var], params: AdamWParams) -> Result<Self> {
        let slots = vars
            .iter()
            .map(|var| {
                Ok(Slot {
                    var: var.clone(),
                    m: var.as_tensor().zeros_like()?,
                    v: var.as_tensor().zeros_like()?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            slots,
            params,
            steps: 0,
        })
    }

    /// Sets the learning rate of the next [`AdamW::step`].
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Updates taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update from `grads`; variables without a gradient are left alone (their moments
    /// too), as PyTorch does for parameters whose `.grad` is `None`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let p = self.params;
        let t = self.steps as i32;
        let bias1 = 1.0 - p.beta1.powi(t);
        let bias2 = 1.0 - p.beta2.powi(t);
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            // candle leaves some gradients attached to the forward graph (a convolution's
            // kernel gradient is computed from its tracked input). Moments built on one would
            // keep every step's activations alive, chained through the running average:
            // 110 MB more per step for the log-mel encoder's convolutions.
            let g = g.detach();
            let m = ((&slot.m * p.beta1)? + (&g * (1.0 - p.beta1))?)?.detach();
            let v = ((&slot.v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?.detach();
            let decayed = (slot.var.as_tensor() * (1.0 - p.lr * p.weight_decay))?;
            let denom = ((&v / bias2)?.sqrt()? + p.eps)?;
            let update = ((&m / bias1)? / denom)?;
            slot.var.set(&(decayed - (update * p.lr)?)?)?;
            slot.m = m;
            slot.v = v;
        }
        Ok(())
    }

    /// The moment estimates, in the order of the variables given to [`AdamW::new`]:
    /// (first, second) per variable.
    pub fn moments(&self) -> Vec<(Tensor, Tensor)> {
        self.slots
            .iter()
            .map(|s| (s.m.clone(), s.v.clone()))
            .collect()
    }

    /// Restores the state [`AdamW::moments`] and [`AdamW::steps`] returned; `names` name the
    /// variables in errors.
    pub fn restore(
        &mut self,
        moments: Vec<(Tensor, Tensor)>,
        steps: u64,
        names: &[String],
    ) -> Result<()> {
        if moments.len() != self.slots.len() {
            return Err(TrainError::invalid(
                "optimizer state",
                format!(
                    "it holds moments for {} variables, the model has {}",
                    moments.len(),
                    self.slots.len()
                ),
            ));
        }
        for (i, (slot, (m, v))) in self.slots.iter_mut().zip(moments).enumerate() {
            let want = slot.var.dims();
            if m.dims() != want || v.dims() != want {
                let name = names.get(i).map(String::as_str).unwrap_or("?");
                return Err(TrainError::invalid(
                    format!("optimizer state of {name}"),
                    format!("moments of shape {:?}, the variable is {want:?}", m.dims()),
                ));
            }
            slot.m = m.to_dtype(slot.var.dtype())?.to_device(slot.var.device())?;
            slot.v = v.to_dtype(slot.var.dtype())?.to_device(slot.var.device())?;
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// The moments hold no computation graph, even for a convolution kernel, whose gradient
    /// candle computes from the tracked input: otherwise every step's activations stay alive.
    #[test]
    fn moments_do_not_keep_the_forward_graph() {
        let dev = Device::Cpu;
        let varmap = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let conv = candle_nn::conv1d(2, 3, 3, Default::default(), vb.pp("conv")).unwrap();
        let lin = candle_nn::linear(4, 2, vb.pp("lin")).unwrap();
        let vars = varmap.all_vars();
        let mut opt = AdamW::new(&vars, AdamWParams::default()).unwrap();
        let x = Tensor::ones((1, 5, 4), DType::F32, &dev).unwrap();
        // The convolution's input depends on a variable, so it is tracked.
        let h = candle_nn::Module::forward(&lin, &x)
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        let y = candle_nn::Module::forward(&conv, &h).unwrap();
        let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&grads).unwrap();
        assert_eq!(opt.slots.len(), 4);
        for (m, v) in opt.moments() {
            assert!(!m.track_op() && !v.track_op(), "a moment keeps its graph");
        }
    }

    /// The update agrees with candle-nn's AdamW (itself PyTorch's) over several steps.
    #[test]
    fn matches_candle_nn_adamw() {
        let dev = Device::Cpu;
        let init = Tensor::new(&[[0.5f32, -1.0], [2.0, 0.25]], &dev).unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let b = Var::from_tensor(&init).unwrap();
        let params = AdamWParams {
            lr: 0.05,
            weight_decay: 0.1,
            ..AdamWParams::default()
        };
        let mut ours = AdamW::new(std::slice::from_ref(&a), params).unwrap();
        use candle_nn::Optimizer;
        let mut theirs = candle_nn::AdamW::new(
            vec![b.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.1,
                ..candle_nn::ParamsAdamW::default()
            },
        )
        .unwrap();
        let target = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev).unwrap();
        for _ in 0..5 {
            let ga = (a.as_tensor() - &target)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            ours.step(&ga.backward().unwrap()).unwrap();
            let gb = (b.as_tensor() - &target)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            theirs.step(&gb.backward().unwrap()).unwrap();
        }
        let diff = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6, "max abs difference {diff}");
        assert_eq!(ours.steps(), 5);
        assert_eq!(a.dtype(), DType::F32);
    }

    #[test]
    fn restore_refuses_moments_of_another_shape() {
        let dev = Device::Cpu;
        let a = Var::zeros((2, 3), DType::F32, &dev).unwrap();
        let mut opt = AdamW::new(&[a], AdamWParams::default()).unwrap();
        let wrong = Tensor::zeros((3, 2), DType::F32, &dev).unwrap();
        let err = opt
            .restore(vec![(wrong.clone(), wrong)], 1, &["layer.weight".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer.weight"), "{err}");
    }
}
