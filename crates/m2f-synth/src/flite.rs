//! A safe wrapper of libflite (CMU Flite 2.x), loaded at run time.
//!
//! Flite is the world's second speech engine: its voices are resynthesised from recordings of
//! real speakers (a diphone voice and three clustergen statistical voices), so they sound unlike
//! espeak-ng's formant voices. As with libespeak-ng ([`crate::espeak`]), the workspace must build
//! on machines without Flite's headers, so libflite is opened with `libloading` at run time.
//!
//! Each voice is a shared library of its own (`libflite_cmu_us_slt.so.1`) exporting
//! `register_cmu_us_slt`, which returns the voice; voices are loaded on first use and stay
//! loaded. `flite_synth_text` returns an utterance: its wave, and its `Segment` relation with
//! each phone's name and end time in seconds; the words come from each segment's token (the
//! `R:SylStructure.parent.parent.R:Token.parent` path). Rate and pitch are voice features
//! (`duration_stretch`, `f0_shift`, `int_f0_target_stddev`) set before every utterance, so one
//! voice can be varied per call.
//!
//! libflite keeps global state and draws noise for its clustergen voices' excitation from the C
//! library's `rand()`: calls are serialised through the process-wide synthesis lock shared with
//! espeak-ng, and `rand()` is seeded before every utterance, so the same text and settings give
//! byte-identical samples. libflite's internal errors call `exit()` (it has no error return), so
//! the wrapper reads features only through the calls that take a default and passes nothing the
//! library could reject.

use std::collections::HashMap;
use std::ffi::{c_char, c_float, c_int, c_uint, c_void, CStr, CString};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use libloading::Library;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError, FLITE_INSTALL_HINT};
use crate::speech::{seed_c_rand, synthesis_lock, PhonemeEvent, Utterance, WordEvent};

/// Environment variable naming a directory that holds libflite and its voice libraries, tried
/// instead of the system's library search path.
pub const LIB_DIR_ENV: &str = "M2F_FLITE_DIR";

#[cfg(target_os = "macos")]
const LIB_NAMES: &[&str] = &["libflite.1.dylib", "libflite.dylib"];
#[cfg(target_os = "windows")]
const LIB_NAMES: &[&str] = &["libflite.dll", "flite.dll"];
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const LIB_NAMES: &[&str] = &["libflite.so.1", "libflite.so"];

/// The file names of the library of voice `name` (e.g. `cmu_us_slt`), most specific first.
fn voice_lib_names(name: &str) -> Vec<String> {
    let prefixes = ["libflite_"];
    #[cfg(target_os = "macos")]
    let suffixes = [".1.dylib", ".dylib"];
    #[cfg(target_os = "windows")]
    let suffixes = [".dll"];
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let suffixes = [".so.1", ".so"];
    prefixes
        .iter()
        .flat_map(|p| suffixes.iter().map(move |s| format!("{p}{name}{s}")))
        .collect()
}

/// Libraries the voices link against; with [`LIB_DIR_ENV`] set they are loaded from that
/// directory first, so that the voices find them there rather than in the system.
const SUPPORT_LIBS: &[&str] = &["usenglish", "cmulex"];

/// One voice that Debian's `libflite1` ships.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FliteVoice {
    /// The voice's name, as its library and register function name it: `"cmu_us_slt"`.
    pub name: &'static str,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// The speaker and how the voice is made.
    pub description: &'static str,
    /// Whether [`FliteSettings::pitch`] and [`FliteSettings::pitch_range`] change the voice.
    /// `cmu_us_rms` predicts its F0 with a separate accent model that ignores both.
    pub pitch_control: bool,
    /// Standard deviation of the voice's F0 in Hz when `int_f0_target_stddev` is unset: the
    /// diphone voices carry it as that feature (and it is read from there), the clustergen
    /// voices keep it in their model, which the feature overrides. Scaled by
    /// [`FliteSettings::pitch_range`].
    pub f0_stddev_hz: f32,
}

/// The voices of Debian's `libflite1` (Flite 2.2), by name.
pub const VOICES: &[FliteVoice] = &[
    FliteVoice {
        name: "cmu_us_kal",
        sample_rate: 8_000,
        description: "US English male (Kevin Lenzo), diphone, 8 kHz",
        pitch_control: true,
        f0_stddev_hz: 11.0,
    },
    FliteVoice {
        name: "cmu_us_kal16",
        sample_rate: 16_000,
        description: "US English male (Kevin Lenzo), diphone, 16 kHz",
        pitch_control: true,
        f0_stddev_hz: 11.0,
    },
    FliteVoice {
        name: "cmu_us_awb",
        sample_rate: 16_000,
        description: "Scottish English male (Alan W Black), clustergen",
        pitch_control: true,
        f0_stddev_hz: 25.0,
    },
    FliteVoice {
        name: "cmu_us_rms",
        sample_rate: 16_000,
        description: "US English male, clustergen",
        pitch_control: false,
        f0_stddev_hz: 24.0,
    },
    FliteVoice {
        name: "cmu_us_slt",
        sample_rate: 16_000,
        description: "US English female, clustergen",
        pitch_control: true,
        f0_stddev_hz: 27.0,
    },
];

/// The catalogue entry of voice `name`.
///
/// # Errors
/// [`SynthError::UnknownFliteVoice`] listing the known names.
pub fn voice_info(name: &str) -> Result<&'static FliteVoice> {
    VOICES
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| SynthError::UnknownFliteVoice {
            voice: name.to_owned(),
            known: VOICES.iter().map(|v| v.name.to_owned()).collect(),
        })
}

/// Flite's US English phones (the `us` phone set every voice above uses, 50 phones) with the
/// IPA that espeak-ng would write for them, so both engines share one viseme table
/// ([`crate::viseme::visemes_of`]). Pauses and breaths map to `""`, as espeak-ng's pauses.
pub const PHONES: &[(&str, &str)] = &[
    ("aa", "ɑ"),
    ("ae", "æ"),
    ("ah", "ʌ"),
    ("ao", "ɔ"),
    ("aw", "aʊ"),
    ("ax", "ə"),
    ("axr", "ɚ"),
    ("ay", "aɪ"),
    ("b", "b"),
    ("ch", "tʃ"),
    ("d", "d"),
    ("dh", "ð"),
    ("dx", "ɾ"),
    ("eh", "ɛ"),
    ("el", "əl"),
    ("em", "əm"),
    ("en", "ən"),
    ("er", "ɝ"),
    ("ey", "eɪ"),
    ("f", "f"),
    ("g", "ɡ"),
    ("hh", "h"),
    // Voiced h (ɦ); the mouth does what it does for h.
    ("hv", "h"),
    ("ih", "ɪ"),
    ("iy", "i"),
    ("jh", "dʒ"),
    ("k", "k"),
    ("l", "l"),
    ("m", "m"),
    ("n", "n"),
    // Nasal flap (as in "winner"): the tongue taps like n.
    ("nx", "n"),
    ("ng", "ŋ"),
    ("ow", "oʊ"),
    ("oy", "ɔɪ"),
    ("p", "p"),
    ("r", "ɹ"),
    ("s", "s"),
    ("sh", "ʃ"),
    ("t", "t"),
    ("th", "θ"),
    ("uh", "ʊ"),
    ("uw", "u"),
    ("v", "v"),
    ("w", "w"),
    ("y", "j"),
    ("z", "z"),
    ("zh", "ʒ"),
    ("pau", ""),
    ("h#", ""),
    ("brth", ""),
];

/// The IPA of Flite phone `phone` (`"aa"` → `"ɑ"`, `"pau"` → `""`); `None` for a name outside
/// the US English phone set.
pub fn ipa_of_phone(phone: &str) -> Option<&'static str> {
    PHONES
        .iter()
        .find(|(p, _)| *p == phone)
        .map(|(_, ipa)| *ipa)
}

/// How a Flite voice says a text. Rate, pitch and range are factors of the voice's own, so the
/// same settings suit every voice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FliteSettings {
    /// One of [`VOICES`], e.g. `"cmu_us_slt"`.
    pub voice: String,
    /// Speaking rate relative to the voice's own, 0.5..=2.0 (the voice's `duration_stretch` is
    /// divided by it).
    pub rate: f32,
    /// Mean F0 relative to the voice's own, 0.5..=2.0 (`f0_shift`).
    pub pitch: f32,
    /// F0 variation relative to the voice's own, 0..=3 (scales `int_f0_target_stddev`; 0 is a
    /// monotone).
    pub pitch_range: f32,
    /// Gain on the voice's output, 0..=4. An utterance whose peak would pass full scale is
    /// scaled down to fit instead of clipping.
    pub volume: f32,
}

impl Default for FliteSettings {
    /// The US English female voice with its own rate and pitch.
    fn default() -> Self {
        Self {
            voice: "cmu_us_slt".to_owned(),
            rate: 1.0,
            pitch: 1.0,
            pitch_range: 1.0,
            volume: 1.0,
        }
    }
}

impl FliteSettings {
    /// Checks the voice name and every factor against the accepted range.
    ///
    /// # Errors
    /// [`SynthError::UnknownFliteVoice`] for a voice not in [`VOICES`], [`SynthError::Invalid`]
    /// naming the first factor out of range (or not finite).
    pub fn validate(&self) -> Result<()> {
        voice_info(&self.voice)?;
        let ranges = [
            ("rate", self.rate, 0.5, 2.0),
            ("pitch", self.pitch, 0.5, 2.0),
            ("pitch_range", self.pitch_range, 0.0, 3.0),
            ("volume", self.volume, 0.0, 4.0),
        ];
        for (what, value, lo, hi) in ranges {
            if !(lo..=hi).contains(&value) {
                return Err(SynthError::invalid(
                    what,
                    format!("{value} is outside {lo}..={hi}"),
                ));
            }
        }
        Ok(())
    }
}

/// `cst_voice` of cst_voice.h.
#[repr(C)]
struct CstVoice {
    name: *const c_char,
    features: *mut c_void,
    ffunctions: *mut c_void,
    utt_init: *mut c_void,
}

/// `cst_wave` of cst_wave.h.
#[repr(C)]
struct CstWave {
    kind: *const c_char,
    sample_rate: c_int,
    num_samples: c_int,
    num_channels: c_int,
    samples: *const i16,
}

/// `cst_phoneset` of cst_phoneset.h.
#[repr(C)]
struct CstPhoneset {
    name: *const c_char,
    featnames: *const *const c_char,
    featvals: *const c_void,
    phonenames: *const *const c_char,
    silence: *const c_char,
    num_phones: c_int,
    fvtable: *const c_void,
    freeable: c_int,
}

type InitFn = unsafe extern "C" fn() -> c_int;
type RegisterFn = unsafe extern "C" fn(*const c_char) -> *mut CstVoice;
type SynthTextFn = unsafe extern "C" fn(*const c_char, *mut CstVoice) -> *mut c_void;
type DeleteUtteranceFn = unsafe extern "C" fn(*mut c_void);
type UttWaveFn = unsafe extern "C" fn(*mut c_void) -> *const CstWave;
type UttRelationFn = unsafe extern "C" fn(*const c_void, *const c_char) -> *mut c_void;
type RelationHeadFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type ItemNextFn = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type ItemFeatsFn = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type PathToItemFn = unsafe extern "C" fn(*const c_void, *const c_char) -> *mut c_void;
type GetParamFloatFn = unsafe extern "C" fn(*const c_void, *const c_char, c_float) -> c_float;
type GetParamStringFn =
    unsafe extern "C" fn(*const c_void, *const c_char, *const c_char) -> *const c_char;
type GetParamValFn =
    unsafe extern "C" fn(*const c_void, *const c_char, *mut c_void) -> *const c_void;
type FeatSetFloatFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_float);
type ValPhonesetFn = unsafe extern "C" fn(*const c_void) -> *const CstPhoneset;

/// The functions of libflite the wrapper calls, copied out of the loaded library.
#[derive(Clone, Copy)]
struct Api {
    synth_text: SynthTextFn,
    delete_utterance: DeleteUtteranceFn,
    utt_wave: UttWaveFn,
    utt_relation: UttRelationFn,
    relation_head: RelationHeadFn,
    item_next: ItemNextFn,
    item_feats: ItemFeatsFn,
    path_to_item: PathToItemFn,
    get_param_float: GetParamFloatFn,
    get_param_string: GetParamStringFn,
    get_param_val: GetParamValFn,
    feat_set_float: FeatSetFloatFn,
    val_phoneset: ValPhonesetFn,
}

/// Copies a function pointer out of a library.
///
/// SAFETY (for callers): `T` must be the exact C signature of `name`, and the pointer must be
/// used only while `lib` stays loaded.
unsafe fn sym<T: Copy>(lib: &Library, lib_name: &str, name: &str) -> Result<T, LoadFailure> {
    // SAFETY: forwarded to the caller.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| LoadFailure::Missing(vec![format!("{lib_name}: missing symbol {name}: {e}")]))
}

impl Api {
    fn load(lib: &Library, lib_name: &str) -> Result<Api, LoadFailure> {
        // SAFETY: the signatures above transcribe flite.h and the cst_*.h headers of Flite
        // 2.x; the library is kept loaded for the life of the process (see `Flite`).
        unsafe {
            Ok(Api {
                synth_text: sym(lib, lib_name, "flite_synth_text")?,
                delete_utterance: sym(lib, lib_name, "delete_utterance")?,
                utt_wave: sym(lib, lib_name, "utt_wave")?,
                utt_relation: sym(lib, lib_name, "utt_relation")?,
                relation_head: sym(lib, lib_name, "relation_head")?,
                item_next: sym(lib, lib_name, "item_next")?,
                item_feats: sym(lib, lib_name, "item_feats")?,
                path_to_item: sym(lib, lib_name, "path_to_item")?,
                get_param_float: sym(lib, lib_name, "flite_get_param_float")?,
                get_param_string: sym(lib, lib_name, "flite_get_param_string")?,
                get_param_val: sym(lib, lib_name, "flite_get_param_val")?,
                feat_set_float: sym(lib, lib_name, "flite_feat_set_float")?,
                val_phoneset: sym(lib, lib_name, "val_phoneset")?,
            })
        }
    }

    /// Float feature `name` of a feature set, or `default` when absent.
    ///
    /// SAFETY (for callers): `feats` is a live `cst_features` (or NULL) and the synthesis lock
    /// is held.
    unsafe fn float(&self, feats: *const c_void, name: &CStr, default: f32) -> f32 {
        if feats.is_null() {
            return default;
        }
        // SAFETY: forwarded; `flite_get_param_float` returns the default for a missing
        // feature instead of raising libflite's fatal error.
        unsafe { (self.get_param_float)(feats, name.as_ptr(), default) }
    }

    /// String feature `name` of a feature set, or `""` when absent.
    ///
    /// SAFETY (for callers): as [`Api::float`].
    unsafe fn string(&self, feats: *const c_void, name: &CStr) -> String {
        if feats.is_null() {
            return String::new();
        }
        // SAFETY: forwarded; the default is a valid NUL-terminated string, and the returned
        // pointer is into the features, alive until the utterance is deleted (after this copy).
        let s = unsafe { (self.get_param_string)(feats, name.as_ptr(), c"".as_ptr()) };
        if s.is_null() {
            return String::new();
        }
        // SAFETY: libflite's strings are NUL-terminated.
        unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
    }
}

/// A voice registered with libflite, with the feature values it came with.
struct LoadedVoice {
    /// The voice's library; the voice and its data live in it, so it is never unloaded.
    _lib: Library,
    voice: NonNull<CstVoice>,
    /// `duration_stretch` as the voice set it (1 when unset), divided by the rate factor.
    base_stretch: f32,
    /// `int_f0_target_stddev` as the voice set it, or the catalogue's value.
    base_f0_stddev: f32,
}

// SAFETY: the voice pointer is only dereferenced, and the voice only handed to libflite, while
// the process-wide synthesis lock is held, so no two threads touch it at once.
unsafe impl Send for LoadedVoice {}

/// Why loading failed, kept so that later calls report the same error without retrying.
#[derive(Clone, Debug)]
enum LoadFailure {
    Missing(Vec<String>),
}

impl From<LoadFailure> for SynthError {
    fn from(f: LoadFailure) -> Self {
        match f {
            LoadFailure::Missing(tried) => SynthError::FliteMissing {
                tried,
                hint: FLITE_INSTALL_HINT.to_owned(),
            },
        }
    }
}

/// The process-wide handle to libflite. Obtain it with [`Flite::load`].
///
/// libflite and every voice library stay loaded for the life of the process (a voice lives in
/// its library's static data). Unlike libespeak-ng, libflite carries no hidden state between
/// utterances that changes the audio once its voice features and `rand()` are reset, which
/// [`Flite::synthesize`] does before every call (checked by the tests).
pub struct Flite {
    /// The library name or path that loaded successfully.
    library: String,
    /// [`LIB_DIR_ENV`], if set: where the voice libraries are looked for first.
    dir: Option<PathBuf>,
    api: Api,
    /// libflite, and with [`LIB_DIR_ENV`] the support libraries found there; never unloaded.
    _libs: Vec<Library>,
    /// Voices registered so far, by name. Locked only while the synthesis lock is held.
    voices: Mutex<HashMap<&'static str, LoadedVoice>>,
}

impl std::fmt::Debug for Flite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flite")
            .field("library", &self.library)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

static FLITE: OnceLock<std::result::Result<Flite, LoadFailure>> = OnceLock::new();

/// Seed of the C library's `rand()` before every Flite utterance.
const NOISE_SEED: c_uint = 0x6d32_6601;

/// Path from a segment to the token (the word as written in the text) it was spoken for.
const TOKEN_PATH: &CStr = c"R:SylStructure.parent.parent.R:Token.parent";

impl Flite {
    /// Finds and loads libflite (once per process), initialises it and returns the shared
    /// handle. Voices are loaded on first use.
    ///
    /// Looks in `$M2F_FLITE_DIR` when set, otherwise by the platform's usual library names.
    ///
    /// # Errors
    /// [`SynthError::FliteMissing`] if libflite could not be opened (with install
    /// instructions).
    pub fn load() -> Result<&'static Flite> {
        FLITE
            .get_or_init(Self::find)
            .as_ref()
            .map_err(|f| f.clone().into())
    }

    fn find() -> std::result::Result<Flite, LoadFailure> {
        let dir = std::env::var_os(LIB_DIR_ENV).map(PathBuf::from);
        let path_of = |name: &str| match &dir {
            Some(d) => d.join(name).display().to_string(),
            None => name.to_owned(),
        };
        let mut tried = Vec::new();
        for name in LIB_NAMES.iter().map(|n| path_of(n)) {
            // SAFETY: loading runs the library's initialisers, which have no preconditions.
            let lib = match unsafe { Library::new(&name) } {
                Ok(lib) => lib,
                Err(e) => {
                    tried.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let api = Api::load(&lib, &name)?;
            // SAFETY: the exact signature of `flite_init` (flite.h).
            let init: InitFn = unsafe { sym(&lib, &name, "flite_init")? };
            {
                let _lock = synthesis_lock();
                // SAFETY: `flite_init` only sets up libflite's globals, under the lock.
                unsafe { init() };
            }
            let mut libs = vec![lib];
            if dir.is_some() {
                // Best effort: a voice that still cannot find them is reported when it loads.
                for support in SUPPORT_LIBS {
                    for file in voice_lib_names(support) {
                        // SAFETY: as above.
                        if let Ok(l) = unsafe { Library::new(path_of(&file)) } {
                            libs.push(l);
                            break;
                        }
                    }
                }
            }
            return Ok(Flite {
                library: name,
                dir,
                api,
                _libs: libs,
                voices: Mutex::new(HashMap::new()),
            });
        }
        Err(LoadFailure::Missing(tried))
    }

    /// The library name or path in use.
    pub fn library(&self) -> &str {
        &self.library
    }

    /// The voices this wrapper knows ([`VOICES`]); each loads on first use.
    pub fn voices(&self) -> &'static [FliteVoice] {
        VOICES
    }

    /// Loads every voice of [`VOICES`] now rather than at its first utterance, so that a
    /// missing voice library is reported before any work.
    ///
    /// # Errors
    /// [`SynthError::FliteMissing`] naming the first voice library that cannot be loaded,
    /// [`SynthError::Flite`] if its register function returns no voice.
    pub fn load_voices(&self) -> Result<()> {
        let _lock = synthesis_lock();
        let mut voices = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        for info in VOICES {
            self.voice(&mut voices, info)?;
        }
        Ok(())
    }

    /// Registers voice `info` unless it already is. Call with the synthesis lock held.
    fn voice<'a>(
        &self,
        voices: &'a mut HashMap<&'static str, LoadedVoice>,
        info: &'static FliteVoice,
    ) -> Result<&'a LoadedVoice> {
        if !voices.contains_key(info.name) {
            let loaded = self.register(info)?;
            voices.insert(info.name, loaded);
        }
        voices.get(info.name).ok_or_else(|| SynthError::Flite {
            call: format!("register_{}", info.name),
            message: "the voice vanished from the cache".to_owned(),
        })
    }

    fn register(&self, info: &'static FliteVoice) -> Result<LoadedVoice> {
        let register_name = format!("register_{}", info.name);
        let mut tried = Vec::new();
        for file in voice_lib_names(info.name) {
            let path = match &self.dir {
                Some(d) => d.join(&file).display().to_string(),
                None => file,
            };
            // SAFETY: loading runs the library's initialisers, which have no preconditions;
            // it links against the libflite already loaded (same soname).
            let lib = match unsafe { Library::new(&path) } {
                Ok(lib) => lib,
                Err(e) => {
                    tried.push(format!("{path}: {e}"));
                    continue;
                }
            };
            // SAFETY: `cst_voice *register_cmu_us_xxx(const char *voxdir)` of Flite's voices.
            let register: RegisterFn =
                unsafe { sym(&lib, &path, &register_name) }.map_err(SynthError::from)?;
            // SAFETY: a NULL voxdir selects the voice's compiled-in data; the caller holds the
            // synthesis lock.
            let voice = NonNull::new(unsafe { register(std::ptr::null()) }).ok_or_else(|| {
                SynthError::Flite {
                    call: register_name.clone(),
                    message: "returned no voice".to_owned(),
                }
            })?;
            // SAFETY: `voice` points to the registered `cst_voice`, alive while `lib` is.
            let feats = unsafe { voice.as_ref() }.features.cast_const();
            // SAFETY: `feats` is the voice's feature set (or NULL, handled); lock held.
            let (base_stretch, base_f0_stddev) = unsafe {
                (
                    self.api.float(feats, c"duration_stretch", 1.0),
                    self.api
                        .float(feats, c"int_f0_target_stddev", info.f0_stddev_hz),
                )
            };
            return Ok(LoadedVoice {
                _lib: lib,
                voice,
                base_stretch,
                base_f0_stddev,
            });
        }
        Err(LoadFailure::Missing(tried).into())
    }

    /// Synthesises `text` (plain text, not SSML) with `settings`.
    ///
    /// Blocks while another thread is synthesising (with either engine). The output depends
    /// only on `text` and `settings`. The samples are the voice's 16-bit output at its own
    /// rate ([`FliteVoice::sample_rate`]) times [`FliteSettings::volume`]; phones carry IPA
    /// names ([`ipa_of_phone`]), words the text of the token they were spoken for. The
    /// diphone voices end their audio halfway through the final pause; the last phone ends
    /// with the audio.
    ///
    /// # Errors
    /// [`SynthError::EmptyText`], [`SynthError::Invalid`] for out-of-range settings or text
    /// containing NUL, [`SynthError::UnknownFliteVoice`], [`SynthError::FliteMissing`] if the
    /// voice's library cannot be loaded, or [`SynthError::Flite`] if libflite returns no
    /// utterance or audio.
    pub fn synthesize(&self, text: &str, settings: &FliteSettings) -> Result<Utterance> {
        if text.trim().is_empty() {
            return Err(SynthError::EmptyText);
        }
        settings.validate()?;
        let info = voice_info(&settings.voice)?;
        let c_text = CString::new(text)
            .map_err(|_| SynthError::invalid("text", "contains a NUL character"))?;

        let lock = synthesis_lock();
        // Only ever locked under the synthesis lock, so it cannot be contended or poisoned by a
        // half-finished call into libflite.
        let mut voices = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        let voice = self.voice(&mut voices, info)?;
        let api = &self.api;
        // SAFETY: the voice is registered and alive; its features pointer is libflite's.
        let feats = unsafe { voice.voice.as_ref() }.features;
        if feats.is_null() {
            return Err(SynthError::Flite {
                call: format!("register_{}", info.name),
                message: "the voice has no features".to_owned(),
            });
        }
        // Every call sets all three, so nothing of the previous call's settings survives.
        let features = [
            (c"duration_stretch", voice.base_stretch / settings.rate),
            (c"f0_shift", settings.pitch),
            (
                c"int_f0_target_stddev",
                voice.base_f0_stddev * settings.pitch_range,
            ),
        ];
        for (name, value) in features {
            // SAFETY: `feats` is the voice's feature set; the name is NUL-terminated and
            // copied by libflite; the lock is held.
            unsafe { (api.feat_set_float)(feats, name.as_ptr(), value) };
        }
        seed_c_rand(&lock, NOISE_SEED);
        // SAFETY: `c_text` is NUL-terminated and outlives the call; the voice is registered;
        // the lock is held. The utterance is owned by `Utt`, which deletes it on every path.
        let utt = Utt {
            ptr: NonNull::new(unsafe { (api.synth_text)(c_text.as_ptr(), voice.voice.as_ptr()) })
                .ok_or_else(|| SynthError::Flite {
                call: "flite_synth_text".to_owned(),
                message: "returned no utterance".to_owned(),
            })?,
            delete: api.delete_utterance,
        };
        // SAFETY: `utt` is a live utterance and the lock is held until it is deleted.
        let (samples, sample_rate, segments) = unsafe { self.read_utterance(&utt)? };
        drop(utt);
        drop(voices);
        drop(lock);
        Ok(build_utterance(
            &samples,
            sample_rate,
            settings.volume,
            segments,
        ))
    }

    /// Copies the wave and the segments out of an utterance.
    ///
    /// SAFETY (for callers): `utt` is a live utterance of this library and the synthesis lock
    /// is held.
    unsafe fn read_utterance(&self, utt: &Utt) -> Result<(Vec<i16>, u32, Vec<Segment>)> {
        let api = &self.api;
        let u = utt.ptr.as_ptr();
        // SAFETY: `u` is live (caller).
        let wave = unsafe { (api.utt_wave)(u) };
        if wave.is_null() {
            return Err(SynthError::Flite {
                call: "utt_wave".to_owned(),
                message: "the utterance has no audio".to_owned(),
            });
        }
        // SAFETY: a non-NULL `cst_wave` owned by the utterance.
        let wave = unsafe { &*wave };
        if wave.num_channels != 1 || wave.sample_rate <= 0 || wave.num_samples < 0 {
            return Err(SynthError::Flite {
                call: "utt_wave".to_owned(),
                message: format!(
                    "unexpected audio: {} channels, {} Hz, {} samples",
                    wave.num_channels, wave.sample_rate, wave.num_samples
                ),
            });
        }
        let samples = if wave.num_samples == 0 || wave.samples.is_null() {
            Vec::new()
        } else {
            // SAFETY: the wave holds `num_samples` mono 16-bit samples, alive until the
            // utterance is deleted (after this copy).
            unsafe { std::slice::from_raw_parts(wave.samples, wave.num_samples as usize) }.to_vec()
        };

        let mut segments = Vec::new();
        // SAFETY: `u` is live; the name is NUL-terminated. A missing relation gives NULL.
        let relation = unsafe { (api.utt_relation)(u, c"Segment".as_ptr()) };
        let mut item = if relation.is_null() {
            std::ptr::null_mut()
        } else {
            // SAFETY: a live relation of the utterance.
            unsafe { (api.relation_head)(relation) }
        };
        while !item.is_null() {
            // SAFETY: `item` is a live item of the Segment relation; every feature read takes
            // a default, and the path lookup returns NULL where a pause has no syllable.
            unsafe {
                let feats = (api.item_feats)(item);
                let phone = api.string(feats, c"name");
                let end = api.float(feats, c"end", f32::NAN);
                let token = (api.path_to_item)(item, TOKEN_PATH.as_ptr());
                let token = (!token.is_null())
                    .then(|| (token as usize, api.string((api.item_feats)(token), c"name")));
                segments.push(Segment { phone, end, token });
                item = (api.item_next)(item);
            }
        }
        Ok((samples, wave.sample_rate as u32, segments))
    }

    /// The phone names of voice `voice`'s phone set, as libflite lists them.
    ///
    /// # Errors
    /// [`SynthError::UnknownFliteVoice`], [`SynthError::FliteMissing`] if the voice's library
    /// cannot be loaded, [`SynthError::Flite`] if the voice has no phone set.
    pub fn phones(&self, voice: &str) -> Result<Vec<String>> {
        let info = voice_info(voice)?;
        let _lock = synthesis_lock();
        let mut voices = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        let voice = self.voice(&mut voices, info)?;
        let api = &self.api;
        let missing = || SynthError::Flite {
            call: "val_phoneset".to_owned(),
            message: format!("voice {} has no phone set", info.name),
        };
        // SAFETY: the voice is registered; features are read with a NULL default; the lock
        // is held.
        let set = unsafe {
            let feats = voice.voice.as_ref().features.cast_const();
            if feats.is_null() {
                return Err(missing());
            }
            let val = (api.get_param_val)(feats, c"phoneset".as_ptr(), std::ptr::null_mut());
            if val.is_null() {
                return Err(missing());
            }
            (api.val_phoneset)(val)
        };
        if set.is_null() {
            return Err(missing());
        }
        // SAFETY: a `cst_phoneset` in the voice's static data: `num_phones` names.
        unsafe {
            let set = &*set;
            if set.phonenames.is_null() || set.num_phones < 0 {
                return Err(missing());
            }
            let names = std::slice::from_raw_parts(set.phonenames, set.num_phones as usize);
            Ok(names
                .iter()
                .filter(|p| !p.is_null())
                .map(|&p| CStr::from_ptr(p).to_string_lossy().into_owned())
                .collect())
        }
    }
}

/// An utterance owned by the wrapper: deleted on drop.
struct Utt {
    ptr: NonNull<c_void>,
    delete: DeleteUtteranceFn,
}

impl Drop for Utt {
    fn drop(&mut self) {
        // SAFETY: the utterance came from `flite_synth_text`, is deleted exactly once, and is
        // dropped while the synthesis lock is still held (see `Flite::synthesize`).
        unsafe { (self.delete)(self.ptr.as_ptr()) };
    }
}

/// One item of an utterance's Segment relation, copied out of libflite.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    /// Flite's phone name (`"aa"`, `"pau"`).
    phone: String,
    /// End time in seconds (NaN if missing).
    end: f32,
    /// The token it was spoken for: its address (an identity within the utterance) and text.
    token: Option<(usize, String)>,
}

/// Turns Flite's wave and segments into an [`Utterance`].
fn build_utterance(
    samples: &[i16],
    sample_rate: u32,
    volume: f32,
    segments: Vec<Segment>,
) -> Utterance {
    let mut audio: Vec<f32> = samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0 * volume)
        .collect();
    let peak = audio.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 1.0 {
        audio
            .iter_mut()
            .for_each(|x| *x = (*x / peak).clamp(-1.0, 1.0));
    }
    let n = audio.len();

    let mut phonemes: Vec<PhonemeEvent> = Vec::with_capacity(segments.len());
    let mut words: Vec<WordEvent> = Vec::new();
    let mut word_token: Option<usize> = None;
    let mut last = 0usize;
    for seg in segments {
        let ipa = match ipa_of_phone(&seg.phone) {
            Some(ipa) => ipa.to_owned(),
            // Never seen with the shipped voices (the tests check their phone sets); keep the
            // name so the viseme table's fallback still gives it a mouth shape and its time.
            None => seg.phone.clone(),
        };
        // Forced monotone and inside the audio: the diphone voices stop halfway through the
        // final pause, and a missing end time keeps the phone empty rather than breaking the
        // tiling.
        let end = if seg.end.is_finite() {
            ((f64::from(seg.end) * f64::from(sample_rate))
                .round()
                .max(0.0) as usize)
                .clamp(last, n)
        } else {
            last
        };
        let start = last;
        last = end;
        if ipa.is_empty() {
            word_token = None;
            if let Some(prev) = phonemes.last_mut() {
                // Consecutive pauses read as one, as espeak-ng's do.
                if prev.ipa.is_empty() {
                    prev.end = end;
                    continue;
                }
            }
            phonemes.push(PhonemeEvent {
                ipa,
                start,
                end,
                word: None,
            });
            continue;
        }
        let word = match &seg.token {
            Some((id, text)) => {
                if word_token != Some(*id) {
                    words.push(WordEvent {
                        start,
                        text: text.clone(),
                    });
                    word_token = Some(*id);
                }
                words.len().checked_sub(1)
            }
            None => {
                word_token = None;
                None
            }
        };
        phonemes.push(PhonemeEvent {
            ipa,
            start,
            end,
            word,
        });
    }
    // The last phone ends with the audio, whether Flite's times end before or after it.
    if let Some(p) = phonemes.last_mut() {
        p.end = n;
    }
    Utterance {
        sample_rate,
        samples: audio,
        phonemes,
        words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viseme::{visemes_of, Viseme};

    #[test]
    fn missing_library_error_is_actionable() {
        let err = SynthError::from(LoadFailure::Missing(vec![
            "libflite.so.1: cannot open shared object file".into(),
        ]));
        let msg = err.to_string();
        assert!(msg.contains("libflite.so.1: cannot open"), "{msg}");
        assert!(msg.contains("apt-get install libflite1"), "{msg}");
        assert!(msg.contains(LIB_DIR_ENV), "{msg}");
        assert!(msg.contains("--engines espeak-ng"), "{msg}");
    }

    #[test]
    fn settings_are_validated() {
        FliteSettings::default().validate().unwrap();
        for v in VOICES {
            FliteSettings {
                voice: v.name.to_owned(),
                ..Default::default()
            }
            .validate()
            .unwrap();
        }
        let bad = [
            ("rate", 0.49),
            ("rate", 2.01),
            ("pitch", 0.4),
            ("pitch", f32::NAN),
            ("pitch_range", -0.1),
            ("volume", 4.5),
        ];
        for (what, value) in bad {
            let mut s = FliteSettings::default();
            match what {
                "rate" => s.rate = value,
                "pitch" => s.pitch = value,
                "pitch_range" => s.pitch_range = value,
                _ => s.volume = value,
            }
            match s.validate() {
                Err(SynthError::Invalid { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{what} = {value}: {other:?}"),
            }
        }
        let err = FliteSettings {
            voice: "kal".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            matches!(err, SynthError::UnknownFliteVoice { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("cmu_us_kal16"), "{err}");
    }

    /// The 50 phones of Flite's `us` phone set, as libflite 2.2 lists them.
    const US_PHONESET: &str = "aa ae ah ao aw ax axr ay b ch d dh dx eh el em en er ey f g hh \
        hv ih iy jh k l m n nx ng ow oy p r s sh t th uh uw v w y z zh pau h# brth";

    #[test]
    fn every_phone_has_ipa_and_a_mouth_shape() {
        let phones: Vec<&str> = US_PHONESET.split_whitespace().collect();
        assert_eq!(phones.len(), 50);
        assert_eq!(PHONES.len(), 50);
        for p in phones {
            let ipa = ipa_of_phone(p).unwrap_or_else(|| panic!("no IPA for {p:?}"));
            let visemes = visemes_of(ipa);
            let silent = matches!(p, "pau" | "h#" | "brth");
            assert_eq!(
                visemes == [Viseme::Silence],
                silent,
                "{p} → {ipa} → {visemes:?}"
            );
        }
        assert_eq!(visemes_of(ipa_of_phone("m").unwrap()), [Viseme::Bilabial]);
        assert_eq!(visemes_of(ipa_of_phone("b").unwrap()), [Viseme::Bilabial]);
        assert_eq!(visemes_of(ipa_of_phone("p").unwrap()), [Viseme::Bilabial]);
        assert_eq!(
            visemes_of(ipa_of_phone("f").unwrap()),
            [Viseme::Labiodental]
        );
        assert_eq!(
            visemes_of(ipa_of_phone("uw").unwrap()),
            [Viseme::RoundedVowel]
        );
        assert_eq!(visemes_of(ipa_of_phone("aa").unwrap()), [Viseme::OpenVowel]);
        assert_eq!(
            visemes_of(ipa_of_phone("ay").unwrap()),
            [Viseme::OpenVowel, Viseme::CloseFrontVowel]
        );
        assert_eq!(ipa_of_phone("xx"), None);
    }

    fn seg(phone: &str, end: f32, token: Option<(usize, &str)>) -> Segment {
        Segment {
            phone: phone.to_owned(),
            end,
            token: token.map(|(id, t)| (id, t.to_owned())),
        }
    }

    #[test]
    fn segments_tile_the_audio_and_group_into_words() {
        // 1 kHz for round numbers: "It's Bob." with a trailing pause cut short, as the diphone
        // voices do, and two pauses in a row.
        let segments = vec![
            seg("pau", 0.1, None),
            seg("ih", 0.2, Some((7, "It's"))),
            seg("t", 0.25, Some((7, "It's"))),
            seg("s", 0.3, Some((7, "It's"))),
            seg("pau", 0.35, None),
            seg("h#", 0.4, None),
            seg("b", 0.45, Some((9, "Bob"))),
            seg("aa", f32::NAN, Some((9, "Bob"))),
            seg("b", 0.6, Some((9, "Bob"))),
            seg("pau", 0.9, None),
        ];
        let samples = vec![16384i16; 700];
        let u = build_utterance(&samples, 1000, 1.0, segments);
        let words: Vec<(&str, usize)> =
            u.words.iter().map(|w| (w.text.as_str(), w.start)).collect();
        assert_eq!(words, [("It's", 100), ("Bob", 400)]);
        let got: Vec<(&str, usize, usize, Option<usize>)> = u
            .phonemes
            .iter()
            .map(|p| (p.ipa.as_str(), p.start, p.end, p.word))
            .collect();
        assert_eq!(
            got,
            [
                ("", 0, 100, None),
                ("ɪ", 100, 200, Some(0)),
                ("t", 200, 250, Some(0)),
                ("s", 250, 300, Some(0)),
                ("", 300, 400, None),
                ("b", 400, 450, Some(1)),
                ("ɑ", 450, 450, Some(1)),
                ("b", 450, 600, Some(1)),
                ("", 600, 700, None),
            ]
        );
        assert!(u.samples.iter().all(|&s| s == 0.5));
    }

    #[test]
    fn loud_settings_scale_down_instead_of_clipping() {
        let samples = [0i16, 16384, -32768, 8192];
        let u = build_utterance(&samples, 8000, 4.0, vec![seg("pau", 1.0, None)]);
        assert_eq!(u.samples, [0.0, 0.5, -1.0, 0.25]);
        let quiet = build_utterance(&samples, 8000, 0.5, vec![]);
        assert_eq!(quiet.samples, [0.0, 0.25, -0.5, 0.125]);
        assert!(quiet.phonemes.is_empty() && quiet.words.is_empty());
    }
}
