//! The synthetic world both GNPFA trainers learn from: identity splits with their rigs, and
//! frames of a dataset's clips.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use gnpfa::data::{Frame, FrameSet, TrainData};
use m2f_mesh::{arkit_rig, FaceTemplate, Rig};
use m2f_synth::clip::Clip;
use m2f_synth::dataset::Manifest;
use m2f_synth::identity::IdentityParams;
use m2f_synth::voices::Split;
use m2f_synth::world::WorldConfig;

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

/// Identities by split, each with its own ARKit rig, and training-clip frames.
pub struct WorldData {
    pub train: Vec<Rig>,
    pub val: Vec<Rig>,
    pub test: Vec<Rig>,
    pub frames: FrameSet,
    /// Where the data came from, for provenance.
    pub description: String,
}

impl WorldData {
    /// The training data (train and val identities, clip frames, `frame_fraction` of each
    /// batch from frames) and the test identities.
    pub fn split(self, frame_fraction: f32) -> (TrainData, Vec<Rig>) {
        let data = TrainData {
            train: self.train,
            val: self.val,
            frames: self.frames,
            frame_fraction,
            description: self.description,
        };
        (data, self.test)
    }
}

impl DataArgs {
    /// Reads the world: every `stride`-th frame of up to `max_clips` training clips.
    pub fn load(&self, template: &FaceTemplate, stride: usize) -> Result<WorldData> {
        if stride == 0 {
            bail!("--frame-stride must be at least 1");
        }
        let mut world = WorldConfig {
            seed: self.world_seed,
            identities: self.identities,
            ..WorldConfig::default()
        };
        let mut frames = FrameSet::default();
        let mut description = format!(
            "synthetic world seed {} with {} identities; random sparse ARKit weights",
            world.seed, world.identities
        );
        if let Some(root) = &self.data {
            let manifest = Manifest::read(root)
                .with_context(|| format!("reading the dataset at {}", root.display()))?;
            world = manifest.config.clone();
            let dirs = manifest.clip_dirs(root, Split::Train);
            read_frames(&dirs, self.max_clips, stride, template, &mut frames)?;
            description = format!(
                "{} (world seed {}, {} identities): random sparse ARKit weights on train identities + {} frames of {} train clips (every {} frame)",
                root.display(),
                world.seed,
                world.identities,
                frames.frames.len(),
                dirs.len().min(self.max_clips),
                stride
            );
        }
        let data = WorldData {
            train: rigs(&world, template, Split::Train)?,
            val: rigs(&world, template, Split::Val)?,
            test: rigs(&world, template, Split::Test)?,
            frames,
            description,
        };
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
        let mut frames = FrameSet::default();
        let Some(root) = &self.data else {
            return Ok((frames, 0));
        };
        let manifest = Manifest::read(root)
            .with_context(|| format!("reading the dataset at {}", root.display()))?;
        let dirs = manifest.clip_dirs(root, Split::Test);
        read_frames(&dirs, self.max_clips, 1, template, &mut frames)?;
        Ok((frames, dirs.len().min(self.max_clips)))
    }
}

/// Reads up to `max_clips` clips, keeping every `stride`-th frame, into `frames`.
fn read_frames(
    dirs: &[PathBuf],
    max_clips: usize,
    stride: usize,
    template: &FaceTemplate,
    frames: &mut FrameSet,
) -> Result<()> {
    for dir in dirs.iter().take(max_clips) {
        let clip = Clip::read(dir).with_context(|| format!("reading {}", dir.display()))?;
        let nv = clip.num_vertices();
        if nv != template.mesh.num_vertices() {
            bail!(
                "{}: clip has {nv} vertices, expected {}",
                dir.display(),
                template.mesh.num_vertices()
            );
        }
        let neutral: Vec<f32> = clip.neutral.iter().flatten().copied().collect();
        frames.neutrals.push(neutral);
        let n = frames.neutrals.len() - 1;
        for t in (0..clip.num_frames()).step_by(stride) {
            let displacement = clip
                .frame(t)
                .iter()
                .zip(&clip.neutral)
                .flat_map(|(v, n)| [v[0] - n[0], v[1] - n[1], v[2] - n[2]])
                .collect();
            frames.frames.push(Frame {
                neutral: n,
                weights: clip.weights(t).to_vec(),
                displacement,
            });
        }
    }
    Ok(())
}

/// The identities of `split`, each with its own rig.
fn rigs(world: &WorldConfig, template: &FaceTemplate, split: Split) -> Result<Vec<Rig>> {
    let mut out = Vec::new();
    for id in 0..world.identities {
        if world.identity_split(id) != split {
            continue;
        }
        let neutral = IdentityParams::sample(world.seed, id).neutral(template)?;
        out.push(arkit_rig(&neutral, &template.regions)?);
    }
    Ok(out)
}
