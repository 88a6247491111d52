//! The command-line face of the synthetic world both GNPFA trainers learn from
//! (`m2f_dataset::WorldData`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gnpfa::FrameSet;
use m2f_dataset::{WorldData, WorldSource};
use m2f_mesh::FaceTemplate;
use m2f_synth::WorldConfig;

#[derive(Args)]
pub struct DataArgs {
    /// Synthetic dataset (from `m2f synth`): its world seed and identity splits are used, and
    /// frames of its training clips are mixed into the batches.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// World seed when no --data is given.
    #[arg(long, default_value_t = 1)]
    pub world_seed: u64,
    /// Identity pool size when no --data is given.
    #[arg(long, default_value_t = 400)]
    pub identities: u32,
    /// Most clips to read from --data (per split).
    #[arg(long, default_value_t = 200)]
    pub max_clips: usize,
}

impl DataArgs {
    /// Reads the world: every `stride`-th frame of up to `max_clips` training clips.
    pub fn load(&self, template: &FaceTemplate, stride: usize) -> Result<WorldData> {
        let source = WorldSource {
            data: self.data.clone(),
            world: WorldConfig {
                seed: self.world_seed,
                identities: self.identities,
                ..WorldConfig::default()
            },
            max_clips: self.max_clips,
        };
        let data =
            WorldData::load(&source, template, stride).with_context(|| match &self.data {
                Some(root) => format!("reading the dataset at {}", root.display()),
                None => "building the synthetic world's identities".to_string(),
            })?;
        eprintln!(
            "identities: {} train, {} val, {} test; {} clip frames",
            data.train.len(),
            data.val.len(),
            data.test.len(),
            data.frames.frames.len()
        );
        Ok(data)
    }

    /// Every frame of up to `max_clips` test-split clips of --data (none without --data), and
    /// how many clips they came from.
    pub fn test_frames(&self, template: &FaceTemplate) -> Result<(FrameSet, usize)> {
        match &self.data {
            None => Ok((FrameSet::default(), 0)),
            Some(root) => m2f_dataset::test_frames(root, self.max_clips, template)
                .with_context(|| format!("reading the dataset at {}", root.display())),
        }
    }
}
