//! Choosing the device a trainer or model runs on from a name a user types.

use candle_core::Device;

use crate::error::{Result, TrainError};

/// The device named `name`: `cpu`, `cuda` / `cuda:N`, `metal` / `metal:N`, or `best` (the
/// first GPU this build and machine have, else the CPU). GPUs need the crate's `cuda` or
/// `metal` feature; without it the error says so.
pub fn device_from_name(name: &str) -> Result<Device> {
    let err = |message: String| TrainError::Device {
        name: name.to_string(),
        message,
    };
    let (kind, ordinal) = match name.split_once(':') {
        Some((k, n)) => {
            let n: usize = n
                .parse()
                .map_err(|_| err(format!("{n:?} is not a device number")))?;
            (k, n)
        }
        None => (name, 0),
    };
    match kind {
        "cpu" if ordinal == 0 => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(ordinal).map_err(|e| gpu_error(name, "cuda", e)),
        "metal" => Device::new_metal(ordinal).map_err(|e| gpu_error(name, "metal", e)),
        "best" => best_device(),
        _ => Err(err(
            "expected cpu, cuda, cuda:N, metal, metal:N or best".into()
        )),
    }
}

/// The first GPU this build and machine have (CUDA, then Metal), else the CPU.
pub fn best_device() -> Result<Device> {
    if candle_core::utils::cuda_is_available() {
        return Device::new_cuda(0).map_err(|e| gpu_error("best", "cuda", e));
    }
    if candle_core::utils::metal_is_available() {
        return Device::new_metal(0).map_err(|e| gpu_error("best", "metal", e));
    }
    Ok(Device::Cpu)
}

fn gpu_error(name: &str, feature: &str, e: candle_core::Error) -> TrainError {
    let compiled = match feature {
        "cuda" => candle_core::utils::cuda_is_available(),
        _ => candle_core::utils::metal_is_available(),
    };
    let message = if compiled {
        format!("it could not be opened: {e}")
    } else {
        format!("this build has no {feature} support; rebuild with `--features {feature}`")
    };
    TrainError::Device {
        name: name.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_missing_gpus_say_how_to_get_them() {
        assert!(matches!(device_from_name("cpu").unwrap(), Device::Cpu));
        assert!(device_from_name("best").is_ok());
        let e = device_from_name("tpu").unwrap_err().to_string();
        assert!(e.contains("expected cpu"), "{e}");
        let e = device_from_name("cuda:x").unwrap_err().to_string();
        assert!(e.contains("not a device number"), "{e}");
        if !candle_core::utils::cuda_is_available() {
            let e = device_from_name("cuda").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
