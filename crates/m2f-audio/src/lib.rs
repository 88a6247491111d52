//! Audio utilities shared by the synthetic world (`m2f-synth`) and the encoders
//! (`conditioning`), kept free of ML dependencies so that either can use them.

pub mod resample;

pub use resample::{output_len, resample, ResampleError};
