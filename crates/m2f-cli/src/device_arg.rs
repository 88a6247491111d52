//! `--device`: where a command runs its models.

use anyhow::Result;
use candle_core::Device;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where models run: cpu, cuda, cuda:N, metal, metal:N, or best (the first GPU this build
    /// of m2f can use, else the CPU).
    #[arg(long, default_value = "best")]
    pub device: String,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<Device> {
        Ok(m2f_train::device_from_name(&self.device)?)
    }
}
