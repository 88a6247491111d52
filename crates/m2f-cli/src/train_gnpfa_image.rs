//! `m2f train gnpfa-image`: trains the image encoders E_exp / E_pose over a trained GNPFA
//! geometry checkpoint, on crops rendered from the synthetic world.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use gnpfa::{
    evaluate_image_frames, evaluate_images, Gnpfa, ImageBatchSource, ImageEncoderConfig,
    ImageTrainOptions, RenderRanges, TrainData, TrainOptions,
};

use crate::device_arg::DeviceArgs;
use crate::report::write_report;
use crate::world_data::DataArgs;

#[derive(Args)]
pub struct GnpfaImageArgs {
    /// The trained GNPFA geometry checkpoint; it stays frozen.
    #[arg(long, default_value = "weights/gnpfa")]
    gnpfa: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Output directory: last/, best/ (full checkpoints), train_log.jsonl, samples.png.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 4000)]
    steps: u64,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 200)]
    warmup_steps: u64,
    #[arg(long, default_value_t = 500)]
    val_every: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Side of the square face crop, pixels (a multiple of 32).
    #[arg(long, default_value_t = 96)]
    image_size: usize,
    /// Crops for the final evaluation on test identities (and as many test-clip frames).
    #[arg(long, default_value_t = 1000)]
    eval_frames: usize,
    /// Start afresh even when OUT/last exists.
    #[arg(long)]
    no_resume: bool,
    /// Fine-tune: start the image encoders from this checkpoint instead of the seeded initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
    /// End this sitting after this step (resumable: run the same command again to continue).
    #[arg(long)]
    stop_after: Option<u64>,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(a: GnpfaImageArgs) -> Result<()> {
    let geometry = Gnpfa::load(&a.gnpfa)
        .with_context(|| format!("loading the GNPFA checkpoint {}", a.gnpfa.display()))?;
    let template = &geometry.template;
    let world = a.data.load(template, 3)?;
    let image = ImageEncoderConfig {
        image_size: a.image_size,
        ..ImageEncoderConfig::for_template(&template.mesh.vertices)
    };
    image.validate("--image-size")?;
    let (data, test) = world.split(0.5);
    let opts = ImageTrainOptions {
        train: TrainOptions {
            steps: a.steps,
            batch_size: a.batch_size,
            lr: a.lr,
            warmup_steps: a.warmup_steps,
            val_every: a.val_every,
            seed: a.seed,
            out: a.out.clone(),
            resume: !a.no_resume,
            progress: true,
            command: crate::report::command_line(),
            init: a.init.clone(),
            stop_after: a.stop_after,
            ..TrainOptions::default()
        },
        ..ImageTrainOptions::default()
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write_samples(&data, &geometry, &image, &opts.ranges, &a.out)?;
    let device = a.device.device()?;
    let (_, _, report) = gnpfa::train_images(&a.gnpfa, &image, &data, &opts, &device)?;
    println!(
        "trained steps {}..{} in {:.1} s; best validation score {:?} (mm + °)",
        report.start_step, report.final_step, report.seconds, report.best_val_score
    );
    let best_dir = a.out.join("best");
    let best = Gnpfa::load(&best_dir).with_context(|| format!("loading {}", best_dir.display()))?;
    if test.len() >= 2 {
        let eval = evaluate_images(&best, &test, a.eval_frames, &opts.ranges, a.seed ^ 0x7e57)?;
        let title = format!(
            "held-out test identities, random expressions ({} crops)",
            eval.frames
        );
        write_report(&best_dir.join("eval_images.json"), &title, &eval)?;
    }
    let (clips, clip_count) = a.data.test_frames(template)?;
    if !clips.frames.is_empty() {
        let eval = evaluate_image_frames(&best, &clips, a.eval_frames, &opts.ranges, a.seed)?;
        let title = format!(
            "frames of {clip_count} test-split clips ({} crops)",
            eval.frames
        );
        write_report(&best_dir.join("eval_images_test_clips.json"), &title, &eval)?;
    }
    Ok(())
}

/// Writes OUT/samples.png: the first 16 crops of a training batch, to look at.
fn write_samples(
    data: &TrainData,
    geometry: &Gnpfa,
    image: &ImageEncoderConfig,
    ranges: &RenderRanges,
    out: &Path,
) -> Result<()> {
    let batch = ImageBatchSource::new(data, geometry, image, ranges).batch_at(
        16,
        0,
        0,
        &candle_core::Device::Cpu,
    )?;
    let s = image.image_size as u32;
    let mut grid = image::RgbImage::new(4 * s, 4 * s);
    for (i, crop) in batch.images.iter().enumerate() {
        let (x, y) = ((i as u32 % 4) * s, (i as u32 / 4) * s);
        image::imageops::replace(&mut grid, crop, x as i64, y as i64);
    }
    let path = out.join("samples.png");
    m2f_mesh::write_png(&path, &grid).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
