//! CPU kernels for inference where candle's composed ops are slow: fused attention, a linear
//! layer with its bias (and GELU) fused into the product, and a parallel exact GELU. Each falls back to candle's ops off the CPU or for other types.

mod attention;
mod exp;
mod gelu;
mod linear;

pub use attention::attention;
pub use gelu::gelu_erf;
pub use linear::{linear, Epilogue};
