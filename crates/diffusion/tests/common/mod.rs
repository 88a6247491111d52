//! A tiny world for the denoiser's tests: clips whose motion is a known function of their
//! audio features and style label, served as seeded windows.

#![allow(dead_code)]

use diffusion::{
    DenoiserConfig, MotionStats, NoiseScheduleKind, Result, TrainingWindows, WindowSource,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The largest absolute difference between two tensors of one shape.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub fn tiny_config() -> DenoiserConfig {
    DenoiserConfig {
        latent_dim: 4,
        pose_dim: 6,
        audio_dim: 8,
        text_style_dim: 5,
        image_style_dim: 4,
        hidden_size: 32,
        num_layers: 2,
        num_heads: 2,
        intermediate_size: 64,
        activation: candle_nn::Activation::Gelu,
        layer_norm_eps: 1e-5,
        window: 24,
        fps: 30.0,
        audio_radius: Some(3),
        diffusion_steps: 50,
        noise_schedule: NoiseScheduleKind::Cosine,
        objective: diffusion::Objective::Diffusion,
    }
}

pub struct Clip {
    pub audio: Vec<f32>,
    pub motion: Vec<f32>,
    pub label: usize,
}

/// Clips of `frames` frames: smooth random audio features; motion channel k of frame i is
/// tanh of a fixed mix of the features of frame i, plus ±0.8 on the first channels by label.
pub struct TinyWorld {
    pub cfg: DenoiserConfig,
    pub clips: Vec<Clip>,
    pub labels: Vec<Vec<f32>>,
    pub seed: u64,
}

impl TinyWorld {
    pub fn new(cfg: &DenoiserConfig, clips: usize, frames: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (f, c) = (cfg.audio_dim, cfg.motion_dim());
        let mix: Vec<f32> = (0..f * c).map(|_| rng.random_range(-0.7..0.7)).collect();
        let labels: Vec<Vec<f32>> = (0..2)
            .map(|l| {
                (0..cfg.text_style_dim)
                    .map(|i| if i % 2 == l { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let clips = (0..clips)
            .map(|k| {
                let phases: Vec<f32> = (0..f)
                    .map(|_| rng.random_range(0.0..std::f32::consts::TAU))
                    .collect();
                let speeds: Vec<f32> = (0..f).map(|_| rng.random_range(0.1..0.5)).collect();
                let audio: Vec<f32> = (0..frames)
                    .flat_map(|i| {
                        (0..f)
                            .map(|j| (phases[j] + speeds[j] * i as f32).sin())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let label = k % 2;
                let mut motion = vec![0f32; frames * c];
                for i in 0..frames {
                    for ch in 0..c {
                        let mut s = 0.0;
                        for j in 0..f {
                            s += audio[i * f + j] * mix[j * c + ch];
                        }
                        let offset = if ch < 3 {
                            if label == 0 {
                                0.8
                            } else {
                                -0.8
                            }
                        } else {
                            0.0
                        };
                        motion[i * c + ch] = s.tanh() + offset;
                    }
                }
                Clip {
                    audio,
                    motion,
                    label,
                }
            })
            .collect();
        Self {
            cfg: cfg.clone(),
            clips,
            labels,
            seed,
        }
    }

    /// Windows starting at `starts` of clips `ids`.
    pub fn windows(
        &self,
        picks: &[(usize, usize)],
        frames: usize,
        rng: &mut ChaCha8Rng,
    ) -> TrainingWindows {
        let (f, c) = (self.cfg.audio_dim, self.cfg.motion_dim());
        let mut w = TrainingWindows {
            batch: picks.len(),
            frames,
            motion: Vec::new(),
            mask: Vec::new(),
            audio: Vec::new(),
            audio_samples: 0,
            text_style: Vec::new(),
            image_style: Vec::new(),
        };
        for &(k, start) in picks {
            let clip = &self.clips[k];
            w.motion
                .extend_from_slice(&clip.motion[start * c..(start + frames) * c]);
            w.audio
                .extend_from_slice(&clip.audio[start * f..(start + frames) * f]);
            w.mask.extend(std::iter::repeat_n(1.0, frames));
            w.text_style.extend_from_slice(&self.labels[clip.label]);
            // The image style: the latent part of a random frame of the same clip.
            let n = clip.motion.len() / c;
            let i = rng.random_range(0..n);
            w.image_style
                .extend_from_slice(&clip.motion[i * c..i * c + self.cfg.latent_dim]);
        }
        w
    }
}

impl WindowSource for TinyWorld {
    fn train_batch(&mut self, step: u64, batch: usize, frames: usize) -> Result<TrainingWindows> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(step + 1);
        let n = self.clips[0].motion.len() / self.cfg.motion_dim();
        let picks: Vec<(usize, usize)> = (0..batch)
            .map(|_| {
                (
                    rng.random_range(0..self.clips.len()),
                    rng.random_range(0..=n - frames),
                )
            })
            .collect();
        Ok(self.windows(&picks, frames, &mut rng))
    }

    fn validation(&mut self, frames: usize) -> Result<Vec<TrainingWindows>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 77);
        Ok(vec![self.windows(&[(0, 0), (1, 3)], frames, &mut rng)])
    }

    fn stats(&self) -> MotionStats {
        let c = self.cfg.motion_dim();
        MotionStats {
            mean: vec![0.0; c],
            std: vec![1.0; c],
        }
    }

    fn audio_features(&self) -> String {
        "test:tiny".into()
    }

    fn audio_features_key(&self) -> String {
        "test-tiny".into()
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "world": "tiny", "clips": self.clips.len(), "seed": self.seed })
    }
}
