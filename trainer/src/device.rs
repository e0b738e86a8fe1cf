//! Where the model runs: the device choice of every command and libtorch's CPU threads.

use anyhow::{bail, Result};
use tch::Device;

/// The device a command runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    /// The libtorch device; `Cuda` fails when libtorch sees no CUDA device.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => bail!("--device cuda: no CUDA device is available to libtorch"),
        }
    }

    /// The same choice for ONNX Runtime (an exported model file run through the `mvt` library).
    pub fn onnxruntime(self) -> mvt_runtime::onnxruntime::Device {
        match self {
            DeviceChoice::Auto => mvt_runtime::onnxruntime::Device::Auto { device_id: 0 },
            DeviceChoice::Cpu => mvt_runtime::onnxruntime::Device::Cpu,
            DeviceChoice::Cuda => mvt_runtime::onnxruntime::Device::Cuda { device_id: 0 },
        }
    }
}

/// libtorch's CPU threads for this process. Many small ops per step make OpenMP's spin-waiting dominate when
/// the cores are shared: on the 2-core development machine one thread trained `tiny` 4x faster (wall) than two.
pub fn set_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    tch::set_num_threads(threads as i32);
    Ok(())
}
