//! What to generate: the audio, the prompts that steer the style (over frame ranges), fixed
//! keyframes, and the sampler's settings.

use std::ops::Range;
use std::path::PathBuf;

use image::RgbImage;

/// The speech to animate.
#[derive(Clone)]
pub enum AudioInput {
    /// An audio file (WAV, FLAC, MP3, Ogg/Vorbis, AAC in MP4/M4A).
    Path(PathBuf),
    /// The bytes of an audio file, with its extension as a format hint (e.g. `"wav"`).
    Bytes {
        /// The file's contents.
        bytes: Vec<u8>,
        /// Its extension, when known.
        extension: Option<String>,
    },
    /// Samples, interleaved when there are several channels.
    Samples {
        /// The samples in [-1, 1].
        samples: Vec<f32>,
        /// Samples per second per channel.
        sample_rate: u32,
        /// Channels (mixed to mono).
        channels: usize,
    },
}

impl std::fmt::Debug for AudioInput {
    /// The source, not its contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Self::Bytes { bytes, extension } => f
                .debug_struct("Bytes")
                .field("len", &bytes.len())
                .field("extension", extension)
                .finish(),
            Self::Samples {
                samples,
                sample_rate,
                channels,
            } => f
                .debug_struct("Samples")
                .field("len", &samples.len())
                .field("sample_rate", sample_rate)
                .field("channels", channels)
                .finish(),
        }
    }
}

/// One of MEAD's three intensity levels, as the emotion prompts were trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Intensity {
    /// A little of the emotion.
    Low,
    /// Clearly the emotion.
    #[default]
    Medium,
    /// The full emotion.
    High,
}

impl std::str::FromStr for Intensity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("{s:?}: expected low, medium or high"))
    }
}

impl std::fmt::Display for Intensity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Intensity {
    /// `low`, `medium` or `high`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Parses `low`, `medium` or `high`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// A style prompt.
#[derive(Clone)]
pub enum Prompt {
    /// Free text, e.g. "a very happy person talking" (needs the sentence encoder).
    Text(String),
    /// One of the model's emotion labels (e.g. `happy`; [`crate::Media2Face::emotions`] lists
    /// them) at an intensity: embeddings stored with the model, nothing else needed.
    Emotion {
        /// The label.
        name: String,
        /// How strongly.
        intensity: Intensity,
    },
    /// A photo or render of a face whose expression the animation should take on.
    Image(RgbImage),
}

impl std::fmt::Debug for Prompt {
    /// The prompt, an image by its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => f.debug_tuple("Text").field(t).finish(),
            Self::Emotion { name, intensity } => f
                .debug_struct("Emotion")
                .field("name", name)
                .field("intensity", intensity)
                .finish(),
            Self::Image(i) => write!(f, "Image({}×{})", i.width(), i.height()),
        }
    }
}

/// A prompt over a range of frames (`None`: the whole clip).
#[derive(Debug, Clone)]
pub struct PromptSpan {
    /// The prompt.
    pub prompt: Prompt,
    /// The frames it covers, start inclusive, end exclusive.
    pub frames: Option<Range<usize>>,
}

/// A frame whose expression is fixed to that of a face image.
#[derive(Clone)]
pub struct KeyframePrompt {
    /// The frame (0-based, at the model's frame rate).
    pub frame: usize,
    /// The face.
    pub image: RgbImage,
}

impl std::fmt::Debug for KeyframePrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyframePrompt {{ frame: {}, image: {}×{} }}",
            self.frame,
            self.image.width(),
            self.image.height()
        )
    }
}

/// Everything [`crate::Media2Face::generate`] takes.
#[derive(Debug, Clone)]
pub struct Request {
    /// The speech.
    pub audio: AudioInput,
    /// Style prompts; several may cover different frames (cross-faded at their edges).
    pub prompts: Vec<PromptSpan>,
    /// Fixed expressions.
    pub keyframes: Vec<KeyframePrompt>,
    /// Seed of the sampler's noise: the same request and seed give the same animation.
    pub seed: u64,
    /// DDIM steps; `None`: the bundle's ([`crate::Media2Face::guidance`]).
    pub steps: Option<usize>,
    /// s_A: how strongly the audio steers the motion (Media2Face Eq. 9); `None`: the
    /// bundle's measured default ([`crate::Media2Face::guidance`]).
    pub audio_guidance: Option<f64>,
    /// s_P: how strongly the prompt steers the style; `None`: the bundle's default.
    pub style_guidance: Option<f64>,
}

impl Request {
    /// A request for `audio` with no prompt and the default settings (seed 0, the bundle's
    /// steps and guidance scales).
    pub fn new(audio: AudioInput) -> Self {
        let d = diffusion::SamplerOptions::default();
        Self {
            audio,
            prompts: Vec::new(),
            keyframes: Vec::new(),
            seed: d.seed,
            steps: None,
            audio_guidance: None,
            style_guidance: None,
        }
    }

    /// A request for the audio file at `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        Self::new(AudioInput::Path(path.into()))
    }

    /// Adds `prompt` over the whole clip.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompts.push(PromptSpan {
            prompt,
            frames: None,
        });
        self
    }

    /// Adds `prompt` over `frames`.
    pub fn prompt_over(mut self, prompt: Prompt, frames: Range<usize>) -> Self {
        self.prompts.push(PromptSpan {
            prompt,
            frames: Some(frames),
        });
        self
    }

    /// Adds a keyframe.
    pub fn keyframe(mut self, frame: usize, image: RgbImage) -> Self {
        self.keyframes.push(KeyframePrompt { frame, image });
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the DDIM steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Sets s_A, how strongly the audio steers the motion.
    pub fn audio_guidance(mut self, scale: f64) -> Self {
        self.audio_guidance = Some(scale);
        self
    }

    /// Sets s_P, how strongly the prompts steer the style.
    pub fn style_guidance(mut self, scale: f64) -> Self {
        self.style_guidance = Some(scale);
        self
    }
}
