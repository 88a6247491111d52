//! CPU kernels for inference where candle's composed ops are slow: fused attention and a
//! parallel exact GELU. Each falls back to candle's ops off the CPU or for other types.

mod attention;
mod exp;
mod gelu;

pub use attention::attention;
pub use gelu::gelu_erf;
