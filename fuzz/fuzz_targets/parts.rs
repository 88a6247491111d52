//! The input format of the multi-file targets, and their scratch directory.
//!
//! An input is `n` parts: each but the last is a little-endian `u16` length then that many
//! bytes (cut short where the input ends), the last is the rest. An empty part stands for a
//! missing file.
//!
//! libFuzzer's mutations of a whole input would shift every part behind an insertion or a
//! deletion (its length prefix stays), so nearly every mutant would be two damaged files;
//! [`mutate`] mutates one part at a time and rewrites the lengths.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device};

/// Splits `data` into exactly `n` parts (missing ones are empty).
pub fn split(mut data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    for _ in 1..n {
        let len = match data {
            [a, b, rest @ ..] => {
                data = rest;
                u16::from_le_bytes([*a, *b]) as usize
            }
            _ => {
                data = &[];
                0
            }
        };
        let (part, rest) = data.split_at(len.min(data.len()));
        parts.push(part);
        data = rest;
    }
    parts.push(data);
    parts
}

/// The input [`split`] turns back into `parts` (a seed).
pub fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let (last, rest) = parts.split_last().expect("at least one part");
    for p in rest {
        let len = u16::try_from(p.len()).expect("a part before the last fits in 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(p);
    }
    out.extend_from_slice(last);
    out
}

/// This process's scratch directory for `target`, made once: under `/dev/shm` when there is
/// one (memory, fast), else the temporary directory. Directories left by earlier processes
/// that have ended are removed.
pub fn scratch_dir(target: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
    .join("m2f-fuzz");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Writes `bytes` as `dir/name`, or removes the file when `bytes` is empty.
pub fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if bytes.is_empty() {
        let _ = std::fs::remove_file(&path);
    } else {
        std::fs::write(&path, bytes).expect("writing to the scratch directory");
    }
}

/// Splits `data` into one part per name and writes each as `dir/name` ([`put`]); returns the
/// parts.
pub fn put_all<'a>(dir: &Path, names: &[&str], data: &'a [u8]) -> Vec<&'a [u8]> {
    let parts = split(data, names.len());
    for (name, part) in names.iter().zip(&parts) {
        put(dir, name, part);
    }
    parts
}

/// The seed directory `M2F_FUZZ_SEEDS` names, created, when it is set.
pub fn seed_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("M2F_FUZZ_SEEDS")?);
    std::fs::create_dir_all(&dir).expect("creating the seed directory");
    Some(dir)
}

/// Writes the seeds `(file name, input)` into `dir` and ends the process.
pub fn write_seeds_and_exit(dir: &Path, seeds: &[(&str, Vec<u8>)]) -> ! {
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("writing a seed");
        eprintln!("seed {} ({} bytes)", dir.join(name).display(), bytes.len());
    }
    std::process::exit(0)
}

/// Numbers a config or a metadata file rarely holds, and libFuzzer's byte mutations rarely
/// spell out: [`mutate`] puts them in place of a number of a part.
const EXTREME_NUMBERS: [&[u8]; 10] = [
    b"0",
    b"-1",
    b"65536",
    b"4294967296",
    b"1099511627776",
    b"9007199254740993",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1e308",
    b"-0.0",
];

/// A mutation of an input of `n` parts for `fuzz_mutator!`, chosen by `seed`: mostly one part
/// is mutated by libFuzzer's own mutator, or has one of its numbers (a run of ASCII digits)
/// replaced by an extreme one, and the input is joined again with the new lengths; one time in
/// eight the raw bytes are mutated, framing included.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32, n: usize) -> usize {
    let raw = |data: &mut [u8]| libfuzzer_sys::fuzzer_mutate(data, size.min(max_size), max_size);
    match seed % 8 {
        0 => return raw(data),
        1 => {
            if let Some(len) = extreme_number(data, size, max_size, seed / 8, n) {
                return len;
            }
        }
        _ => {}
    }
    let mut parts: Vec<Vec<u8>> = split(&data[..size], n)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let k = (seed / 8) as usize % n;
    let others: usize = 2 * (n - 1)
        + (parts.iter().enumerate())
            .filter(|(i, _)| *i != k)
            .map(|(_, p)| p.len())
            .sum::<usize>();
    let mut room = max_size.saturating_sub(others);
    if k + 1 < n {
        room = room.min(u16::MAX as usize);
    }
    if room == 0 {
        return raw(data);
    }
    let part = &mut parts[k];
    let len = part.len().min(room);
    part.resize(room, 0);
    let new_len = libfuzzer_sys::fuzzer_mutate(part, len, room);
    part.truncate(new_len);
    let joined = join(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    data[..joined.len()].copy_from_slice(&joined);
    joined.len()
}

/// Replaces a number of one part (both chosen by `seed`) by one of [`EXTREME_NUMBERS`];
/// `None` when the part has no number or the result would not fit.
fn extreme_number(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    n: usize,
) -> Option<usize> {
    let mut parts: Vec<Vec<u8>> = split(&data[..size], n)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let k = seed as usize % n;
    let part = &parts[k];
    let starts: Vec<usize> = (0..part.len())
        .filter(|&i| part[i].is_ascii_digit() && (i == 0 || !part[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return None;
    }
    let seed = seed as usize / n;
    let start = starts[seed % starts.len()];
    let end = (start..part.len())
        .find(|&i| !part[i].is_ascii_digit())
        .unwrap_or(part.len());
    let number = EXTREME_NUMBERS[seed / starts.len() % EXTREME_NUMBERS.len()];
    let mut new = part[..start].to_vec();
    new.extend_from_slice(number);
    new.extend_from_slice(&part[end..]);
    if k + 1 < n && new.len() > u16::MAX as usize {
        return None;
    }
    parts[k] = new;
    let joined = join(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    if joined.len() > max_size {
        return None;
    }
    data[..joined.len()].copy_from_slice(&joined);
    Some(joined.len())
}

/// Lets panics raised in the source files of the named crates pass by libFuzzer's hook,
/// which would abort on them first: the loaders catch panics of those third-party parsers
/// and return them as errors, which is the behaviour under test. Any other panic still
/// reaches the hook.
pub fn allow_caught_panics_from(crates: &'static [&'static str]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = info.location().is_some_and(|l| {
                let file = l.file();
                crates.iter().any(|c| file.contains(&format!("/{c}-")))
            });
            if !caught {
                fuzzer_hook(info);
            }
        }));
    });
}

/// [`scratch_dir`] of `target`, made on the first call of the process (each target is its own
/// process, so one directory serves every input).
pub fn scratch(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir(target))
}

/// Whether every tensor of the safetensors `bytes` is finite and at most 1e3 in magnitude
/// (then the layer norms keep every activation far from overflowing f32, so a non-finite
/// output is a bug, not the weights').
pub fn moderate_weights(bytes: &[u8]) -> bool {
    let Ok(tensors) = candle_core::safetensors::load_buffer(bytes, &Device::Cpu) else {
        return false;
    };
    tensors.values().all(|t| {
        let Ok(v) = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
        else {
            return false;
        };
        v.iter().all(|x| x.is_finite() && x.abs() <= 1e3)
    })
}
