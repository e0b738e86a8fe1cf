//! RMSProp written in tch tensors, so that its state can be saved next to the weights and a run resumed with it.
//!
//! libtorch's `torch::optim::RMSprop` (what `tch::nn::RmsProp` builds) keeps its state out of reach; this is the same
//! update, step for step, for every parameter with a gradient:
//!
//! ```text
//! g = grad + weight_decay * p                       (L2, when weight_decay != 0)
//! square_avg = alpha * square_avg + (1 - alpha) * g^2
//! centered:   grad_avg = alpha * grad_avg + (1 - alpha) * g
//!             avg = sqrt(square_avg - grad_avg^2) + eps
//! otherwise:  avg = sqrt(square_avg) + eps
//! momentum:   buf = momentum * buf + g / avg;  p -= lr * buf
//! otherwise:  p -= lr * g / avg
//! ```
//!
//! tch exposes `add` and `addcmul` without their scalar factor, so the factors are applied by a separate
//! multiplication: the result can differ from libtorch's in the last bit of a float (the unit test bounds it),
//! never in the state it keeps.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{nn, Kind, Tensor};

/// The hyperparameters of [`RmsProp`] (those of `torch.optim.RMSprop`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Smoothing constant of the running averages (the recipe's 0.95).
    pub alpha: f64,
    pub eps: f64,
    /// L2 penalty added to every gradient.
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
}

/// One parameter's running state.
struct ParamState {
    step: i64,
    square_avg: Tensor,
    grad_avg: Option<Tensor>,
    momentum_buffer: Option<Tensor>,
}

/// RMSProp over the trainable variables of a VarStore, with a state that [`RmsProp::save`] writes and
/// [`RmsProp::load`] restores exactly.
pub struct RmsProp {
    config: RmsPropConfig,
    learning_rate: f64,
    /// Every variable that requires a gradient, by VarStore name.
    params: BTreeMap<String, Tensor>,
    state: BTreeMap<String, ParamState>,
}

const SQUARE_AVG: &str = "square_avg";
const GRAD_AVG: &str = "grad_avg";
const MOMENTUM_BUFFER: &str = "momentum_buffer";
const STEP: &str = "step";

impl RmsProp {
    /// An optimizer of `vs`'s variables that require a gradient (frozen ones are left alone), with no state yet.
    pub fn new(vs: &nn::VarStore, config: RmsPropConfig, learning_rate: f64) -> RmsProp {
        let params = vs.variables().into_iter().filter(|(_, tensor)| tensor.requires_grad()).collect();
        RmsProp { config, learning_rate, params, state: BTreeMap::new() }
    }

    pub fn set_lr(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Zeroes the gradients, back-propagates `loss` and steps.
    pub fn backward_step(&mut self, loss: &Tensor) {
        for param in self.params.values_mut() {
            param.zero_grad();
        }
        loss.backward();
        self.step();
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self) {
        let RmsPropConfig { alpha, eps, weight_decay, momentum, centered } = self.config;
        let learning_rate = self.learning_rate;
        tch::no_grad(|| {
            for (name, param) in self.params.iter_mut() {
                let grad = param.grad();
                if !grad.defined() {
                    continue;
                }
                let state = self.state.entry(name.clone()).or_insert_with(|| ParamState {
                    step: 0,
                    square_avg: param.zeros_like(),
                    grad_avg: centered.then(|| param.zeros_like()),
                    momentum_buffer: (momentum > 0.0).then(|| param.zeros_like()),
                });
                state.step += 1;
                let grad = if weight_decay != 0.0 { grad.g_add(&(&*param * weight_decay)) } else { grad };
                let _ = state.square_avg.g_mul_scalar_(alpha);
                let _ = state.square_avg.addcmul_(&(&grad * (1.0 - alpha)), &grad);
                let mut avg = match &mut state.grad_avg {
                    Some(grad_avg) => {
                        let _ = grad_avg.g_mul_scalar_(alpha);
                        let _ = grad_avg.g_add_(&(&grad * (1.0 - alpha)));
                        state.square_avg.addcmul(&(&*grad_avg * -1.0), grad_avg)
                    }
                    None => state.square_avg.copy(),
                };
                let _ = avg.sqrt_();
                let _ = avg.g_add_scalar_(eps);
                match &mut state.momentum_buffer {
                    Some(buffer) => {
                        let _ = buffer.g_mul_scalar_(momentum);
                        let _ = buffer.addcdiv_(&grad, &avg);
                        let _ = param.g_add_(&(&*buffer * -learning_rate));
                    }
                    None => {
                        let _ = param.addcdiv_(&(&grad * -learning_rate), &avg);
                    }
                }
            }
        });
    }

    /// Writes the state (every running average and step count, by parameter name) as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (name, state) in &self.state {
            named.push((format!("{SQUARE_AVG}.{name}"), state.square_avg.shallow_clone()));
            if let Some(grad_avg) = &state.grad_avg {
                named.push((format!("{GRAD_AVG}.{name}"), grad_avg.shallow_clone()));
            }
            if let Some(buffer) = &state.momentum_buffer {
                named.push((format!("{MOMENTUM_BUFFER}.{name}"), buffer.shallow_clone()));
            }
            named.push((format!("{STEP}.{name}"), Tensor::from_slice(&[state.step])));
        }
        Tensor::write_safetensors(&named, path).with_context(|| format!("writing {}", path.display()))
    }

    /// Restores the state [`RmsProp::save`] wrote, for the same variables (shapes checked), on their device.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let tensors = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
        let mut found: BTreeMap<String, Tensor> = tensors.into_iter().collect();
        let mut state = BTreeMap::new();
        let names: Vec<String> =
            found.keys().filter_map(|key| key.strip_prefix(&format!("{STEP}.")).map(str::to_owned)).collect();
        for name in names {
            let Some(param) = self.params.get(&name) else {
                bail!("{}: optimizer state for {name}, which is not a trained variable of this model", path.display());
            };
            let mut take = |kind: &str| -> Result<Option<Tensor>> {
                let Some(tensor) = found.remove(&format!("{kind}.{name}")) else { return Ok(None) };
                if kind != STEP && tensor.size() != param.size() {
                    bail!(
                        "{}: {kind} of {name} has shape {:?}, the variable {:?}",
                        path.display(),
                        tensor.size(),
                        param.size()
                    );
                }
                Ok(Some(tensor.to_device(param.device())))
            };
            let step = take(STEP)?.map(|t| t.to_kind(Kind::Int64).int64_value(&[0])).unwrap_or_default();
            let Some(square_avg) = take(SQUARE_AVG)? else {
                bail!("{}: no {SQUARE_AVG} for {name}", path.display());
            };
            let grad_avg = take(GRAD_AVG)?;
            let momentum_buffer = take(MOMENTUM_BUFFER)?;
            if grad_avg.is_some() != self.config.centered || momentum_buffer.is_some() != (self.config.momentum > 0.0) {
                bail!("{}: the optimizer state of {name} does not match the optimizer's settings", path.display());
            }
            state.insert(name, ParamState { step, square_avg, grad_avg, momentum_buffer });
        }
        if let Some(extra) = found.keys().next() {
            bail!("{}: unexpected tensor {extra} in the optimizer state", path.display());
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{Module, OptimizerConfig};
    use tch::Device;

    const CONFIG: RmsPropConfig =
        RmsPropConfig { alpha: 0.95, eps: 1e-6, weight_decay: 8e-4, momentum: 0.0, centered: true };

    /// libtorch's global RNG is shared by the test threads: one test at a time keeps the models reproducible.
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Two linear layers with seeded weights and a fixed batch.
    fn model(seed: i64) -> (nn::VarStore, nn::Sequential, Tensor, Tensor) {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq()
            .add(nn::linear(vs.root() / "a", 6, 5, Default::default()))
            .add_fn(|x| x.tanh())
            .add(nn::linear(vs.root() / "b", 5, 3, Default::default()));
        let x = Tensor::randn([8, 6], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([8, 3], (Kind::Float, Device::Cpu));
        (vs, net, x, y)
    }

    fn loss(net: &nn::Sequential, x: &Tensor, y: &Tensor, step: usize) -> Tensor {
        (net.forward(&(x * (1.0 + step as f64 * 0.1))) - y).square().sum(Kind::Float)
    }

    fn max_relative_difference(a: &nn::VarStore, b: &nn::VarStore) -> f64 {
        let (a, b) = (a.variables(), b.variables());
        a.iter()
            .map(|(name, t)| {
                let diff = (t - &b[name]).abs().max().double_value(&[]);
                diff / t.abs().max().double_value(&[]).max(1e-12)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn matches_libtorch_rmsprop_step_for_step() {
        let _guard = one_at_a_time();
        for (momentum, centered) in [(0.0, true), (0.0, false), (0.9, true)] {
            let config = RmsPropConfig { momentum, centered, ..CONFIG };
            let (reference_vs, reference_net, x, y) = model(3);
            let (vs, net, _, _) = model(3);
            let mut reference =
                nn::RmsProp { alpha: config.alpha, eps: config.eps, wd: config.weight_decay, momentum, centered }
                    .build(&reference_vs, 1e-2)
                    .unwrap();
            let mut ours = RmsProp::new(&vs, config, 1e-2);
            for step in 0..8 {
                reference.backward_step(&loss(&reference_net, &x, &y, step));
                ours.backward_step(&loss(&net, &x, &y, step));
            }
            let difference = max_relative_difference(&reference_vs, &vs);
            println!("momentum {momentum} centered {centered}: max relative difference {difference:e}");
            assert!(difference < 1e-5, "momentum {momentum} centered {centered}: {difference}");
            let initial = model(3).0;
            assert!(max_relative_difference(&initial, &vs) > 1e-3, "the weights moved");
        }
    }

    #[test]
    fn a_saved_and_restored_state_continues_bitwise() {
        let _guard = one_at_a_time();
        let dir = std::env::temp_dir().join(format!("mvt-optimizer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("optimizer.safetensors");
        let (straight_vs, straight_net, x, y) = model(4);
        let mut straight = RmsProp::new(&straight_vs, CONFIG, 1e-2);
        for step in 0..6 {
            straight.backward_step(&loss(&straight_net, &x, &y, step));
        }
        let (first_vs, first_net, _, _) = model(4);
        let mut first = RmsProp::new(&first_vs, CONFIG, 1e-2);
        for step in 0..3 {
            first.backward_step(&loss(&first_net, &x, &y, step));
        }
        first.save(&path).unwrap();
        let weights = dir.join("weights.safetensors");
        first_vs.save(&weights).unwrap();
        let (mut second_vs, second_net, _, _) = model(9);
        second_vs.load(&weights).unwrap();
        let mut second = RmsProp::new(&second_vs, CONFIG, 1e-2);
        second.load(&path).unwrap();
        for step in 3..6 {
            second.backward_step(&loss(&second_net, &x, &y, step));
        }
        assert_eq!(max_relative_difference(&straight_vs, &second_vs), 0.0);
        assert!(second.state.values().all(|s| s.step == 6));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
