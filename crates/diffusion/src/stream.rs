//! Streaming generation: audio features arrive in chunks, motion frames leave with a bounded
//! delay. Each generation covers the newest `chunk` frames and carries the last `context`
//! frames already emitted as keyframes (inpainted around, never changed), so the stream
//! continues what was shown.

use crate::checkpoint::DiffusionModel;
use crate::error::{DiffusionError, Result};
use crate::sampler::{Keyframe, Motion, SamplerOptions, Style};

/// How to stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamOptions {
    /// New frames per generation: the delay of the stream in frames (15 at 30 fps: 0.5 s).
    pub chunk: usize,
    /// Frames already emitted that each generation continues from (its keyframes).
    pub context: usize,
    /// Frames of audio after the chunk that a generation sees before it emits the chunk (the
    /// chunk's last frames then hear what follows them, as offline; at least the model's
    /// `audio_radius` for that). The stream's delay is `chunk + lookahead` frames.
    pub lookahead: usize,
    /// The sampler; generation g uses seed `sampler.seed + g`.
    pub sampler: SamplerOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            chunk: 15,
            context: 30,
            lookahead: 10,
            sampler: SamplerOptions::default(),
        }
    }
}

/// A stream of motion from a stream of audio features.
#[derive(Debug)]
pub struct MotionStream<'a> {
    model: &'a DiffusionModel,
    style: Style,
    opts: StreamOptions,
    /// Features of frames not generated yet [pending, audio_dim].
    pending: Vec<f32>,
    /// Features and motion of the last emitted frames (at most `context`).
    context_audio: Vec<f32>,
    context_motion: Vec<f32>,
    generations: u64,
}

impl<'a> MotionStream<'a> {
    /// A stream from `model` in the style `style`.
    ///
    /// # Errors
    /// [`DiffusionError::Invalid`] when `chunk` is 0 or `chunk + context` exceeds the model's
    /// window.
    pub fn new(model: &'a DiffusionModel, style: Style, opts: StreamOptions) -> Result<Self> {
        let window = model.denoiser.config().window;
        let span = opts
            .chunk
            .saturating_add(opts.context)
            .saturating_add(opts.lookahead);
        if opts.chunk == 0 || span > window {
            return Err(DiffusionError::invalid(
                "stream options",
                format!(
                    "chunk {} + context {} + lookahead {} frames must be between 1 and the \
                     window of {window}",
                    opts.chunk, opts.context, opts.lookahead
                ),
            ));
        }
        opts.sampler
            .validate(model.denoiser.config().diffusion_steps)?;
        Ok(Self {
            model,
            style,
            opts,
            pending: Vec::new(),
            context_audio: Vec::new(),
            context_motion: Vec::new(),
            generations: 0,
        })
    }

    /// Adds the features of the next frames [k, audio_dim]; returns the motion of every
    /// frame that could be generated (whole chunks; possibly none).
    pub fn push(&mut self, features: &[f32]) -> Result<Motion> {
        let f = self.model.denoiser.config().audio_dim;
        if features.len() % f != 0 {
            return Err(DiffusionError::invalid(
                "audio features",
                format!(
                    "{} values is not a whole number of frames of width {f}",
                    features.len()
                ),
            ));
        }
        self.pending.extend_from_slice(features);
        let mut out = self.empty();
        while self.pending.len() >= (self.opts.chunk + self.opts.lookahead) * f {
            let m = self.generate(self.opts.chunk, self.opts.lookahead)?;
            out.data.extend_from_slice(&m.data);
        }
        Ok(out)
    }

    /// Generates the frames still pending (the end of the audio).
    pub fn finish(&mut self) -> Result<Motion> {
        let f = self.model.denoiser.config().audio_dim;
        let mut out = self.empty();
        while !self.pending.is_empty() {
            let n = (self.pending.len() / f).min(self.opts.chunk);
            let extra = (self.pending.len() / f - n).min(self.opts.lookahead);
            let m = self.generate(n, extra)?;
            out.data.extend_from_slice(&m.data);
        }
        Ok(out)
    }

    fn empty(&self) -> Motion {
        let cfg = self.model.denoiser.config();
        Motion {
            fps: cfg.fps,
            latent_dim: cfg.latent_dim,
            pose_dim: cfg.pose_dim,
            data: Vec::new(),
        }
    }

    /// Generates the next `n` pending frames after the context, hearing `extra` more.
    fn generate(&mut self, n: usize, extra: usize) -> Result<Motion> {
        let cfg = self.model.denoiser.config();
        let (f, c, z) = (cfg.audio_dim, cfg.motion_dim(), cfg.latent_dim);
        let ctx = self.context_motion.len() / c;
        let mut audio = self.context_audio.clone();
        audio.extend_from_slice(&self.pending[..(n + extra) * f]);
        let keyframes: Vec<Keyframe> = (0..ctx)
            .map(|i| {
                let row = &self.context_motion[i * c..(i + 1) * c];
                Keyframe {
                    frame: i,
                    latent: Some(row[..z].to_vec()),
                    pose: Some(row[z..].to_vec()),
                }
            })
            .collect();
        let sampler = SamplerOptions {
            seed: self.opts.sampler.seed.wrapping_add(self.generations),
            // The context is a run of frames, not a point edit: held exactly, carried on
            // through attention (the lookahead keeps the joins smooth), not spread.
            keyframe_radius: 0,
            ..self.opts.sampler
        };
        let all = self
            .model
            .sample_edited(&audio, &self.style, &keyframes, &sampler)?;
        self.generations += 1;
        let new = all.data[ctx * c..(ctx + n) * c].to_vec();
        // The context of the next generation: the newest emitted frames.
        audio.truncate((ctx + n) * f);
        self.pending.drain(..n * f);
        self.context_audio = audio;
        self.context_motion.extend_from_slice(&new);
        let total = self.context_motion.len() / c;
        let keep = total.min(self.opts.context);
        self.context_motion.drain(..(total - keep) * c);
        self.context_audio.drain(..(total - keep) * f);
        Ok(Motion {
            data: new,
            ..self.empty()
        })
    }
}
