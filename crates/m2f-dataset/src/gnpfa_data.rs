//! GNPFA's training data from the synthetic world: the identities of each split with their
//! rigs (for random expressions) and frames of a dataset's speech clips.

use std::path::{Path, PathBuf};

use gnpfa::{Frame, FrameSet, TrainData};
use m2f_mesh::{FaceTemplate, Rig};
use m2f_synth::Clip;
use m2f_synth::Manifest;
use m2f_synth::Split;
use m2f_synth::WorldConfig;

use crate::error::{DatasetError, Result};

/// Where GNPFA's training faces come from.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldSource {
    /// A synthetic dataset (from `m2f synth`): its world seed and identity pool are used, and
    /// frames of its clips are read. Without one, `world` alone gives the identities.
    pub data: Option<PathBuf>,
    /// The world when there is no dataset.
    pub world: WorldConfig,
    /// Most clips to read per split.
    pub max_clips: usize,
}

/// Identities by split, each with its own ARKit rig, and training-clip frames.
#[derive(Debug, Clone)]
pub struct WorldData {
    /// Training identities.
    pub train: Vec<Rig>,
    /// Validation identities.
    pub val: Vec<Rig>,
    /// Test identities.
    pub test: Vec<Rig>,
    /// Frames of training clips.
    pub frames: FrameSet,
    /// Where the data came from, for provenance.
    pub description: String,
}

impl WorldData {
    /// Reads the world: the rigs of every identity and every `stride`-th frame of up to
    /// `max_clips` training clips.
    ///
    /// # Errors
    /// [`DatasetError::Invalid`] for a zero stride; errors reading the dataset name the file.
    pub fn load(source: &WorldSource, template: &FaceTemplate, stride: usize) -> Result<Self> {
        if stride == 0 {
            return Err(DatasetError::invalid("frame stride", "must be at least 1"));
        }
        let mut world = source.world.clone();
        let mut frames = FrameSet::default();
        let mut description = format!(
            "synthetic world seed {} with {} identities; random sparse ARKit weights",
            world.seed, world.identities
        );
        if let Some(root) = &source.data {
            let manifest = Manifest::read(root)?;
            world = manifest.config.clone();
            let dirs = manifest.clip_dirs(root, Split::Train);
            read_frames(&dirs, source.max_clips, stride, template, &mut frames)?;
            description = format!(
                "{} (world seed {}, {} identities): random sparse ARKit weights on train identities + {} frames of {} train clips (every {} frame)",
                root.display(),
                world.seed,
                world.identities,
                frames.frames.len(),
                dirs.len().min(source.max_clips),
                stride
            );
        }
        Ok(Self {
            train: world.identity_rigs(Split::Train, template)?,
            val: world.identity_rigs(Split::Val, template)?,
            test: world.identity_rigs(Split::Test, template)?,
            frames,
            description,
        })
    }

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

/// Every frame of up to `max_clips` test-split clips of the dataset at `root`, and how many
/// clips they came from.
///
/// # Errors
/// Errors reading the dataset name the file.
pub fn test_frames(
    root: &Path,
    max_clips: usize,
    template: &FaceTemplate,
) -> Result<(FrameSet, usize)> {
    let mut frames = FrameSet::default();
    let manifest = Manifest::read(root)?;
    let dirs = manifest.clip_dirs(root, Split::Test);
    read_frames(&dirs, max_clips, 1, template, &mut frames)?;
    Ok((frames, dirs.len().min(max_clips)))
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
        let clip = Clip::read(dir)?;
        let nv = clip.num_vertices();
        if nv != template.mesh.num_vertices() {
            return Err(DatasetError::invalid(
                dir.display().to_string(),
                format!(
                    "clip has {nv} vertices, the template {}",
                    template.mesh.num_vertices()
                ),
            ));
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
