//! A safe wrapper of libespeak-ng, loaded at run time.
//!
//! The workspace must build on machines without the espeak-ng development headers, so the shared
//! library is opened with `libloading` at run time instead of being linked. libespeak-ng keeps
//! all of its state in globals and is not thread-safe: every call goes through the process-wide
//! synthesis lock (shared with Flite, [`crate::speech`]), and the library is reloaded per
//! utterance so that output is deterministic. In synchronous mode the library hands audio and events to a callback on the
//! calling thread, which collects them in a thread-local buffer.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use libloading::Library;

use crate::error::{Result, SynthError, ESPEAK_INSTALL_HINT};
use crate::speech::{seed_c_rand, synthesis_lock};
pub use crate::speech::{PhonemeEvent, Utterance, WordEvent};

/// Environment variable naming a libespeak-ng shared library to try before the default names.
pub const LIB_ENV: &str = "M2F_ESPEAK_LIB";

#[cfg(target_os = "macos")]
const LIB_NAMES: &[&str] = &[
    "libespeak-ng.1.dylib",
    "libespeak-ng.dylib",
    "/opt/homebrew/lib/libespeak-ng.1.dylib",
    "/usr/local/lib/libespeak-ng.1.dylib",
];
#[cfg(target_os = "windows")]
const LIB_NAMES: &[&str] = &["libespeak-ng.dll", "espeak-ng.dll"];
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const LIB_NAMES: &[&str] = &["libespeak-ng.so.1", "libespeak-ng.so"];

// Constants of speak_lib.h (espeak-ng 1.49+ ABI).
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const INIT_PHONEME_EVENTS: c_int = 0x0001;
const INIT_PHONEME_IPA: c_int = 0x0002;
/// Without this flag espeak-ng calls `exit()` when its data files are missing.
const INIT_DONT_EXIT: c_int = 0x8000;
const POS_CHARACTER: c_int = 1;
const CHARS_UTF8: c_uint = 1;
const ENDPAUSE: c_uint = 0x1000;
const EE_OK: c_int = 0;
const EE_NOT_FOUND: c_int = 2;

const PARAM_RATE: c_int = 1;
const PARAM_VOLUME: c_int = 2;
const PARAM_PITCH: c_int = 3;
const PARAM_RANGE: c_int = 4;
const PARAM_WORDGAP: c_int = 7;

const EVENT_LIST_TERMINATED: c_int = 0;
const EVENT_WORD: c_int = 1;
const EVENT_SENTENCE: c_int = 2;
const EVENT_PHONEME: c_int = 7;

/// `espeak_EVENT` of speak_lib.h.
#[repr(C)]
struct RawEvent {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    /// The `id` union; for phoneme events it holds the name, not necessarily NUL-terminated.
    id: [u8; 8],
}

// The union holds a pointer on 64-bit targets; make sure our stand-in has its size and alignment.
const _: () = assert!(std::mem::size_of::<RawEvent>() == 24 + 2 * std::mem::size_of::<usize>());

type SynthCallback = extern "C" fn(*mut c_short, c_int, *mut RawEvent) -> c_int;

/// The seed given to libc's rand(), which espeak-ng's breath noise draws from, before every
/// utterance.
const NOISE_SEED: c_uint = 0x6d32_6600;

type InitializeFn = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetSynthCallbackFn = unsafe extern "C" fn(SynthCallback);
type SetVoiceByNameFn = unsafe extern "C" fn(*const c_char) -> c_int;
type SetParameterFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type SynthFn = unsafe extern "C" fn(
    *const c_void,
    usize,
    c_uint,
    c_int,
    c_uint,
    c_uint,
    *mut c_uint,
    *mut c_void,
) -> c_int;
type SynchronizeFn = unsafe extern "C" fn() -> c_int;
type TerminateFn = unsafe extern "C" fn() -> c_int;

/// Parameters of the espeak-ng voice.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoiceSettings {
    /// espeak-ng voice name or file name, optionally with a `+variant`: `"en-us"`, `"en"` (British;
    /// `"en-gb"` is a language, not a voice name, and is rejected), `"en-gb-x-rp"`,
    /// `"en-us+f3"`. espeak-ng silently ignores an unknown variant.
    pub voice: String,
    /// Speaking rate in words per minute, 80..=450.
    pub rate_wpm: u32,
    /// Base pitch, 0..=100.
    pub pitch: u32,
    /// Pitch range (0 = monotone), 0..=100.
    pub pitch_range: u32,
    /// Amplitude, 0..=200.
    pub volume: u32,
    /// Extra pause between words in units of 10 ms, 0..=100.
    pub word_gap_10ms: u32,
}

impl Default for VoiceSettings {
    /// espeak-ng's own defaults with the US English voice.
    fn default() -> Self {
        Self {
            voice: "en-us".to_owned(),
            rate_wpm: 175,
            pitch: 50,
            pitch_range: 50,
            volume: 100,
            word_gap_10ms: 0,
        }
    }
}

impl VoiceSettings {
    /// Checks every field against the range espeak-ng accepts.
    ///
    /// # Errors
    /// [`SynthError::Invalid`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let v = &self.voice;
        if v.trim().is_empty() || v.contains('\0') || v.chars().any(char::is_whitespace) {
            return Err(SynthError::invalid(
                "voice",
                format!("{v:?} is not a voice name (e.g. \"en-us\" or \"en-us+f3\")"),
            ));
        }
        if v.starts_with("mb-") {
            return Err(SynthError::invalid(
                "voice",
                format!("{v:?} is an MBROLA voice; only espeak-ng's own voices are supported"),
            ));
        }
        let ranges = [
            ("rate_wpm", self.rate_wpm, 80, 450),
            ("pitch", self.pitch, 0, 100),
            ("pitch_range", self.pitch_range, 0, 100),
            ("volume", self.volume, 0, 200),
            ("word_gap_10ms", self.word_gap_10ms, 0, 100),
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

/// The process-wide handle to libespeak-ng. Obtain it with [`Espeak::load`].
///
/// libespeak-ng keeps hidden state between utterances (the phase of its pitch "flutter", some
/// clause state), so the same text synthesised twice in one loaded library differs by a few
/// samples per phoneme. To make output a pure function of the input, every
/// [`synthesize`](Espeak::synthesize) loads the library afresh, initialises it, synthesises,
/// terminates it and unloads it again. That costs about 5 ms per call; the process-wide
/// synthesis lock serialises it, as the library is a global singleton and not thread-safe.
pub struct Espeak {
    /// The library name or path that loaded successfully.
    library: String,
    sample_rate: u32,
}

impl std::fmt::Debug for Espeak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Espeak")
            .field("library", &self.library)
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

/// Why loading failed, kept so that later calls report the same error without retrying.
#[derive(Clone, Debug)]
enum LoadFailure {
    Missing(Vec<String>),
    Call(&'static str, i32),
}

impl From<LoadFailure> for SynthError {
    fn from(f: LoadFailure) -> Self {
        match f {
            LoadFailure::Missing(tried) => SynthError::EspeakMissing {
                tried,
                hint: ESPEAK_INSTALL_HINT.to_owned(),
            },
            LoadFailure::Call(call, code) => SynthError::Espeak { call, code },
        }
    }
}

static ESPEAK: OnceLock<std::result::Result<Espeak, LoadFailure>> = OnceLock::new();

impl Espeak {
    /// Finds and test-loads libespeak-ng (once per process) and returns the shared handle.
    ///
    /// Tries `$M2F_ESPEAK_LIB` first, then the platform's usual library names.
    ///
    /// # Errors
    /// [`SynthError::EspeakMissing`] if no library could be opened (with install instructions),
    /// [`SynthError::Espeak`] if `espeak_Initialize` failed (e.g. missing espeak-ng-data).
    pub fn load() -> Result<&'static Espeak> {
        ESPEAK
            .get_or_init(Self::find)
            .as_ref()
            .map_err(|f| f.clone().into())
    }

    fn find() -> std::result::Result<Espeak, LoadFailure> {
        let mut names: Vec<String> = Vec::new();
        if let Some(custom) = std::env::var_os(LIB_ENV) {
            names.push(custom.to_string_lossy().into_owned());
        }
        names.extend(LIB_NAMES.iter().map(|s| (*s).to_owned()));

        let mut tried = Vec::new();
        for name in names {
            match Session::open(&name) {
                Ok(session) => {
                    return Ok(Espeak {
                        sample_rate: session.sample_rate,
                        library: name,
                    })
                }
                Err(LoadFailure::Missing(why)) => {
                    tried.extend(why.into_iter().map(|w| format!("{name}: {w}")))
                }
                Err(e) => return Err(e),
            }
        }
        Err(LoadFailure::Missing(tried))
    }

    /// The library's output sample rate (22 050 Hz).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The library name or path in use.
    pub fn library(&self) -> &str {
        &self.library
    }

    /// Synthesises `text` (plain UTF-8, not SSML) with `voice`.
    ///
    /// Blocks while another thread is synthesising (with either engine). The output depends
    /// only on `text` and
    /// `voice` (see [`Espeak`] for how).
    ///
    /// # Errors
    /// [`SynthError::EmptyText`], [`SynthError::Invalid`] for out-of-range settings or text
    /// containing NUL, [`SynthError::UnknownVoice`], or [`SynthError::Espeak`] if the library
    /// reports a failure.
    pub fn synthesize(&self, text: &str, voice: &VoiceSettings) -> Result<Utterance> {
        if text.trim().is_empty() {
            return Err(SynthError::EmptyText);
        }
        voice.validate()?;
        let c_text = CString::new(text)
            .map_err(|_| SynthError::invalid("text", "contains a NUL character"))?;
        let c_voice = CString::new(voice.voice.as_str())
            .map_err(|_| SynthError::invalid("voice", "contains a NUL character"))?;

        // A panic while the lock was held cannot have left the library inconsistent: it is
        // reloaded below anyway.
        let lock = synthesis_lock();
        let session = Session::open(&self.library)?;
        let capture = session.synthesize(&c_text, &c_voice, voice, &lock)?;
        drop(session);
        Ok(capture.into_utterance(text, self.sample_rate))
    }
}

/// libespeak-ng loaded and initialised; terminated and unloaded on drop.
///
/// Only ever alive while the synthesis lock is held (or during the one-time probe inside
/// `OnceLock` initialisation), so no two threads call into the library at once.
struct Session {
    // `Drop::drop` terminates first, then this field drops and unloads the library, which also
    // resets its static state for the next session. The function pointers point into it.
    _lib: Library,
    terminate: TerminateFn,
    set_voice_by_name: SetVoiceByNameFn,
    set_parameter: SetParameterFn,
    synth: SynthFn,
    synchronize: SynchronizeFn,
    sample_rate: u32,
}

impl Session {
    fn open(name: &str) -> std::result::Result<Session, LoadFailure> {
        /// Copies a function pointer out of the library.
        ///
        /// SAFETY (for callers): `T` must be the exact C signature of `name`.
        unsafe fn sym<T: Copy>(lib: &Library, name: &str) -> std::result::Result<T, LoadFailure> {
            // SAFETY: forwarded to the caller. The pointer is only used while the `Library`
            // stored next to it in the `Session` is loaded.
            unsafe { lib.get::<T>(name) }
                .map(|s| *s)
                .map_err(|e| LoadFailure::Missing(vec![format!("missing symbol {name}: {e}")]))
        }
        // SAFETY: loading runs the library's initialisers, which have no preconditions.
        let lib =
            unsafe { Library::new(name) }.map_err(|e| LoadFailure::Missing(vec![e.to_string()]))?;
        // SAFETY: the signatures above transcribe speak_lib.h of espeak-ng >= 1.49.
        let (initialize, set_cb, terminate, set_voice_by_name, set_parameter, synth, synchronize) = unsafe {
            (
                sym::<InitializeFn>(&lib, "espeak_Initialize")?,
                sym::<SetSynthCallbackFn>(&lib, "espeak_SetSynthCallback")?,
                sym::<TerminateFn>(&lib, "espeak_Terminate")?,
                sym::<SetVoiceByNameFn>(&lib, "espeak_SetVoiceByName")?,
                sym::<SetParameterFn>(&lib, "espeak_SetParameter")?,
                sym::<SynthFn>(&lib, "espeak_Synth")?,
                sym::<SynchronizeFn>(&lib, "espeak_Synchronize")?,
            )
        };
        let options = INIT_PHONEME_EVENTS | INIT_PHONEME_IPA | INIT_DONT_EXIT;
        // SAFETY: a NULL path selects the compiled-in data directory (or $ESPEAK_DATA_PATH);
        // sessions never overlap (see the type's doc).
        let rate = unsafe { initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), options) };
        if rate <= 0 {
            return Err(LoadFailure::Call("espeak_Initialize", rate));
        }
        // SAFETY: `synth_callback` matches t_espeak_callback and never unwinds.
        unsafe { set_cb(synth_callback) };
        Ok(Session {
            _lib: lib,
            terminate,
            set_voice_by_name,
            set_parameter,
            synth,
            synchronize,
            sample_rate: rate as u32,
        })
    }

    fn synthesize(
        &self,
        text: &CStr,
        c_voice: &CStr,
        voice: &VoiceSettings,
        lock: &std::sync::MutexGuard<'static, ()>,
    ) -> Result<Capture> {
        // SAFETY: `c_voice` is a valid NUL-terminated string.
        let code = unsafe { (self.set_voice_by_name)(c_voice.as_ptr()) };
        match code {
            EE_OK => {}
            EE_NOT_FOUND => {
                return Err(SynthError::UnknownVoice {
                    voice: voice.voice.clone(),
                })
            }
            code => {
                return Err(SynthError::Espeak {
                    call: "espeak_SetVoiceByName",
                    code,
                })
            }
        }
        let params = [
            (PARAM_RATE, voice.rate_wpm),
            (PARAM_VOLUME, voice.volume),
            (PARAM_PITCH, voice.pitch),
            (PARAM_RANGE, voice.pitch_range),
            (PARAM_WORDGAP, voice.word_gap_10ms),
        ];
        for (param, value) in params {
            // SAFETY: plain integers, validated against the documented ranges.
            let code = unsafe { (self.set_parameter)(param, value as c_int, 0) };
            if code != EE_OK {
                return Err(SynthError::Espeak {
                    call: "espeak_SetParameter",
                    code,
                });
            }
        }

        CAPTURE.with(|c| *c.borrow_mut() = Some(Capture::default()));
        // Voice variants with breathiness ("+f1".."+f5" and others) mix in noise from the C
        // library's process-wide rand(), which reloading espeak-ng does not reset: seed it so
        // the same text and voice always give the same samples.
        seed_c_rand(lock, NOISE_SEED);
        let bytes = text.to_bytes_with_nul();
        // SAFETY: `bytes` is NUL-terminated and outlives the call (synchronous mode returns only
        // after all audio was delivered); the callback writes only to this thread's CAPTURE.
        let code = unsafe {
            (self.synth)(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                POS_CHARACTER,
                0,
                CHARS_UTF8 | ENDPAUSE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        // SAFETY: no arguments.
        let sync_code = unsafe { (self.synchronize)() };
        let capture = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
        if code != EE_OK {
            return Err(SynthError::Espeak {
                call: "espeak_Synth",
                code,
            });
        }
        if sync_code != EE_OK {
            return Err(SynthError::Espeak {
                call: "espeak_Synchronize",
                code: sync_code,
            });
        }
        if capture.failed {
            return Err(SynthError::Espeak {
                call: "synth callback (panicked)",
                code: -1,
            });
        }
        Ok(capture)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the library was initialised by `open` and is still loaded (`self._lib` is
        // dropped after this). Frees its buffers before the code is unmapped.
        unsafe { (self.terminate)() };
    }
}

/// One event of interest, in the order espeak-ng reported it.
#[derive(Clone, Debug)]
enum Event {
    /// Sample position, 1-based character position and length in characters.
    Word(usize, usize, usize),
    Sentence,
    /// IPA name and sample position.
    Phoneme(String, usize),
}

/// What the callback collected during one `espeak_Synth`.
#[derive(Default)]
struct Capture {
    samples: Vec<i16>,
    events: Vec<Event>,
    failed: bool,
}

impl Capture {
    fn push_event(&mut self, ev: &RawEvent) {
        let sample = ev.sample.max(0) as usize;
        match ev.kind {
            EVENT_WORD => self.events.push(Event::Word(
                sample,
                ev.text_position.max(0) as usize,
                ev.length.max(0) as usize,
            )),
            EVENT_SENTENCE => self.events.push(Event::Sentence),
            EVENT_PHONEME => {
                let len = ev.id.iter().position(|&b| b == 0).unwrap_or(ev.id.len());
                let ipa = String::from_utf8_lossy(&ev.id[..len]).into_owned();
                self.events.push(Event::Phoneme(ipa, sample));
            }
            _ => {}
        }
    }

    fn into_utterance(self, text: &str, sample_rate: u32) -> Utterance {
        let n = self.samples.len();
        let samples: Vec<f32> = self
            .samples
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect();

        let chars: Vec<char> = text.chars().collect();
        let mut words: Vec<WordEvent> = Vec::new();
        let mut phonemes: Vec<PhonemeEvent> = Vec::with_capacity(self.events.len());
        // Whether phonemes still belong to the last word; espeak-ng emits no "word end" event.
        let mut in_word = false;
        let mut last = 0;
        for event in self.events {
            match event {
                Event::Word(start, pos, len) => match word_text(&chars, pos, len) {
                    Some(text) => {
                        words.push(WordEvent {
                            start: start.min(n),
                            text,
                        });
                        in_word = true;
                    }
                    // espeak-ng reports zero-length "words" at clause ends; they own no
                    // phonemes but do end the previous word.
                    None => in_word = false,
                },
                Event::Sentence => in_word = false,
                Event::Phoneme(ipa, start) => {
                    // Forced monotone and inside the audio so that the phonemes tile it even
                    // if the library ever reports an out-of-order position.
                    let start = start.clamp(last, n);
                    last = start;
                    if let Some(prev) = phonemes.last_mut() {
                        // espeak-ng often reports two pauses back to back; one is enough.
                        if ipa.is_empty() && prev.ipa.is_empty() {
                            continue;
                        }
                        prev.end = start;
                    }
                    let word = if ipa.is_empty() || !in_word {
                        None
                    } else {
                        words.len().checked_sub(1)
                    };
                    phonemes.push(PhonemeEvent {
                        ipa,
                        start,
                        end: n,
                        word,
                    });
                }
            }
        }
        Utterance {
            sample_rate,
            samples,
            phonemes,
            words,
        }
    }
}

/// The text of a word event: `len` characters from the 1-based character position `pos`.
///
/// espeak-ng's lengths fall short for some tokens ("It's" is reported as 2 characters, "42nd"
/// as 2), so the span is extended to the end of the alphanumeric run it stops in, then
/// stripped of surrounding punctuation. `None` if nothing word-like remains.
fn word_text(chars: &[char], pos: usize, len: usize) -> Option<String> {
    if len == 0 {
        return None;
    }
    let is_word_char = |c: char| c.is_alphanumeric() || c == '\'' || c == '’';
    let from = pos.saturating_sub(1).min(chars.len());
    let mut to = from.saturating_add(len).min(chars.len());
    while to < chars.len() && to > from && is_word_char(chars[to - 1]) && is_word_char(chars[to]) {
        to += 1;
    }
    let word: String = chars[from..to].iter().collect();
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    (!word.is_empty()).then(|| word.to_owned())
}

thread_local! {
    /// Synchronous mode calls the callback on the thread inside `espeak_Synth`, so each
    /// synthesising thread collects into its own buffer.
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The `t_espeak_callback` given to espeak-ng. Returns 0 to continue, 1 to abort synthesis.
extern "C" fn synth_callback(wav: *mut c_short, numsamples: c_int, events: *mut RawEvent) -> c_int {
    // Unwinding out of an `extern "C"` function aborts the process; catch instead and abort
    // only the synthesis.
    let result = catch_unwind(AssertUnwindSafe(|| {
        CAPTURE.with(|cell| {
            let Ok(mut guard) = cell.try_borrow_mut() else {
                return 1;
            };
            let Some(capture) = guard.as_mut() else {
                // Called outside `synthesize`; nothing to collect into.
                return 1;
            };
            if !events.is_null() {
                let mut ev = events;
                // SAFETY: espeak-ng passes an array of events terminated by type 0
                // (espeakEVENT_LIST_TERMINATED), valid for the duration of the callback.
                unsafe {
                    while (*ev).kind != EVENT_LIST_TERMINATED {
                        capture.push_event(&*ev);
                        ev = ev.add(1);
                    }
                }
            }
            if !wav.is_null() && numsamples > 0 {
                // SAFETY: espeak-ng passes `numsamples` 16-bit samples at `wav`, valid for the
                // duration of the callback.
                let chunk = unsafe { std::slice::from_raw_parts(wav, numsamples as usize) };
                capture.samples.extend_from_slice(chunk);
            }
            0
        })
    }));
    match result {
        Ok(code) => code,
        Err(_) => {
            // The capture may be half-written; mark it so `synthesize` reports an error.
            let _ = CAPTURE.try_with(|cell| {
                if let Ok(mut guard) = cell.try_borrow_mut() {
                    if let Some(c) = guard.as_mut() {
                        c.failed = true;
                    }
                }
            });
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_error_is_actionable() {
        let err = SynthError::from(LoadFailure::Missing(vec![
            "libespeak-ng.so.1: cannot open shared object file".into(),
        ]));
        let msg = err.to_string();
        assert!(msg.contains("libespeak-ng.so.1: cannot open"), "{msg}");
        assert!(msg.contains("apt-get install libespeak-ng1"), "{msg}");
        assert!(msg.contains(LIB_ENV), "{msg}");
    }

    #[test]
    fn default_settings_are_valid() {
        VoiceSettings::default().validate().unwrap();
    }

    #[test]
    fn settings_out_of_range_are_rejected() {
        let bad = [
            VoiceSettings {
                rate_wpm: 79,
                ..Default::default()
            },
            VoiceSettings {
                rate_wpm: 451,
                ..Default::default()
            },
            VoiceSettings {
                pitch: 101,
                ..Default::default()
            },
            VoiceSettings {
                pitch_range: 101,
                ..Default::default()
            },
            VoiceSettings {
                volume: 201,
                ..Default::default()
            },
            VoiceSettings {
                word_gap_10ms: 101,
                ..Default::default()
            },
            VoiceSettings {
                voice: " ".into(),
                ..Default::default()
            },
            VoiceSettings {
                voice: "mb-en1".into(),
                ..Default::default()
            },
        ];
        for v in bad {
            assert!(
                matches!(v.validate(), Err(SynthError::Invalid { .. })),
                "{v:?}"
            );
        }
    }

    fn event(kind: c_int, sample: c_int, pos: c_int, len: c_int, id: &[u8]) -> RawEvent {
        let mut buf = [0u8; 8];
        buf[..id.len()].copy_from_slice(id);
        RawEvent {
            kind,
            unique_identifier: 0,
            text_position: pos,
            length: len,
            audio_position: 0,
            sample,
            user_data: std::ptr::null_mut(),
            id: buf,
        }
    }

    #[test]
    fn capture_maps_character_positions_and_tiles_phonemes() {
        let text = "Zoë's café — naïve";
        let mut c = Capture {
            samples: vec![0; 1000],
            ..Default::default()
        };
        c.push_event(&event(EVENT_SENTENCE, 0, 1, 0, b""));
        c.push_event(&event(EVENT_WORD, 0, 1, 5, b""));
        c.push_event(&event(EVENT_PHONEME, 10, 0, 0, b"z"));
        c.push_event(&event(EVENT_PHONEME, 100, 0, 0, b"\xc9\x99\xca\x8a")); // əʊ
        c.push_event(&event(EVENT_WORD, 300, 7, 4, b""));
        c.push_event(&event(EVENT_PHONEME, 300, 0, 0, b"12345678")); // no NUL terminator
        c.push_event(&event(EVENT_PHONEME, 250, 0, 0, b"")); // out of order pause
        c.push_event(&event(EVENT_PHONEME, 260, 0, 0, b"")); // second pause is merged
        c.push_event(&event(EVENT_WORD, 600, 12, 0, b"")); // empty word ends "café"
        c.push_event(&event(EVENT_PHONEME, 600, 0, 0, b"x"));
        c.push_event(&event(EVENT_WORD, 600, 14, 2, b"")); // short length is extended
        c.push_event(&event(EVENT_PHONEME, 700, 0, 0, b"n"));
        let u = c.into_utterance(text, 22050);
        let words: Vec<&str> = u.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, ["Zoë's", "café", "naïve"]);
        let ipa: Vec<&str> = u.phonemes.iter().map(|p| p.ipa.as_str()).collect();
        assert_eq!(ipa, ["z", "əʊ", "12345678", "", "x", "n"]);
        let spans: Vec<(usize, usize)> = u.phonemes.iter().map(|p| (p.start, p.end)).collect();
        assert_eq!(
            spans,
            [
                (10, 100),
                (100, 300),
                (300, 300),
                (300, 600),
                (600, 700),
                (700, 1000)
            ]
        );
        let word: Vec<Option<usize>> = u.phonemes.iter().map(|p| p.word).collect();
        assert_eq!(word, [Some(0), Some(0), Some(1), None, None, Some(2)]);
    }
}
