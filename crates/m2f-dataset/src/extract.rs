//! `m2f extract synth`: one part (`--shard i/n`) of a synthetic dataset → records on a store.
//!
//! A pure function of (source clips of the part, GNPFA checkpoint, options) → records:
//! re-running skips records made from the same inputs, refuses records made from other inputs,
//! and replaces nothing else. Every object is written whole and a record's metadata last, so a
//! run killed at any point leaves only complete records and a re-run finishes the rest.

use gnpfa::Gnpfa;
use m2f_audio::{AugmentConfig, AugmentRecipe};
use m2f_synth::ManifestEntry;
use m2f_synth::{PhonemeTiming, WordTiming};
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{DatasetError, Result};
use crate::features::{ensure_record_features, AudioFeatures};
use crate::fingerprint::sha256_parts;
use crate::manifest::{to_json_lines, Failure, ManifestLine, FAILURE_DIR, MANIFEST_DIR};
use crate::record::{
    Labels, Record, RecordMeta, SourceInfo, EXTRACTOR_REVISION, RECORD_FORMAT, SHARD_FORMAT_VERSION,
};
use crate::shard_spec::ShardSpec;
use crate::store::ShardStore;
use crate::synthetic::{encode_clip, SourceClip, SyntheticSource};

/// What to extract.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Which part of the source manifest.
    pub shard: ShardSpec,
    /// Augmented variants per clip, besides the clip as spoken.
    pub variants: u32,
    /// Seed of the augmentation recipes (each variant's recipe is drawn from it, the clip
    /// index and the variant number).
    pub seed: u64,
    /// Ranges the recipes are drawn from.
    pub augment: AugmentConfig,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            shard: ShardSpec::ALL,
            variants: 0,
            seed: 0,
            augment: AugmentConfig::default(),
        }
    }
}

/// What happened to one source clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipOutcome {
    /// The source clip.
    pub clip: String,
    /// Frames over all its records (for progress in frames/s).
    pub frames: usize,
    /// Records written now.
    pub written: usize,
    /// Records already there from the same inputs.
    pub skipped: usize,
    /// Feature files computed now.
    pub features_written: usize,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

impl ClipOutcome {
    /// Nothing done yet for `clip`.
    pub(crate) fn new(clip: &str) -> Self {
        Self {
            clip: clip.to_string(),
            frames: 0,
            written: 0,
            skipped: 0,
            features_written: 0,
            failure: None,
        }
    }
}

/// The result of one part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractReport {
    /// Source clips in this part.
    pub clips: usize,
    /// Records written now.
    pub written: usize,
    /// Records kept from an earlier run with the same inputs.
    pub skipped: usize,
    /// Feature files computed now.
    pub features_written: usize,
    /// Frames over all records of the part.
    pub frames: usize,
    /// Clips that failed, with the reason; the other clips were extracted.
    pub failures: Vec<Failure>,
    /// Manifest lines of this part (what `manifests/<part>.jsonl` holds).
    pub lines: Vec<ManifestLine>,
}

/// Extracts part `opts.shard` of `source` onto `store`, calling `on_clip` after each clip.
///
/// `gnpfa_fingerprint` is [`crate::gnpfa_fingerprint`] of the checkpoint `gnpfa` was loaded
/// from. Writes `manifests/<part>.jsonl` (the part's records; a run with failures writes it
/// only if the part has none yet) and, if any clip failed, `failures/<part>.jsonl`; a failed
/// clip does not stop the others.
///
/// # Errors
/// Only for what concerns the whole part: a GNPFA of another template, a store that cannot
/// be written. Per-clip errors go to the failure list.
pub fn extract_synthetic(
    source: &SyntheticSource,
    gnpfa: &Gnpfa,
    gnpfa_fingerprint: &str,
    features: Option<&AudioFeatures>,
    store: &ShardStore,
    opts: &ExtractOptions,
    on_clip: impl Fn(&ClipOutcome) + Sync,
) -> Result<ExtractReport> {
    source.check_template(gnpfa)?;
    check_part_count(store, opts.shard)?;
    let part: Vec<(usize, &ManifestEntry)> = source
        .clips()
        .iter()
        .enumerate()
        .filter(|(p, _)| opts.shard.contains(*p))
        .collect();
    let job = Job {
        source,
        gnpfa,
        fingerprint: gnpfa_fingerprint,
        features,
        store,
        opts,
    };
    let results: Vec<(ClipOutcome, Vec<ManifestLine>)> = part
        .par_iter()
        .map(|(_, entry)| {
            let (outcome, lines) = job.clip(entry);
            on_clip(&outcome);
            (outcome, lines)
        })
        .collect();
    finish_part(store, opts.shard, part.len(), results)
}

/// Sums the clips' outcomes into the part's report and writes its manifest and (when some clip
/// failed) its failure list; a part without failures removes an old failure list.
pub(crate) fn finish_part(
    store: &ShardStore,
    shard: ShardSpec,
    clips: usize,
    results: Vec<(ClipOutcome, Vec<ManifestLine>)>,
) -> Result<ExtractReport> {
    let mut report = ExtractReport {
        clips,
        ..ExtractReport::default()
    };
    for (outcome, lines) in results {
        report.written += outcome.written;
        report.skipped += outcome.skipped;
        report.features_written += outcome.features_written;
        report.frames += outcome.frames;
        if let Some(reason) = outcome.failure {
            report.failures.push(Failure {
                clip: outcome.clip,
                reason,
            });
        }
        report.lines.extend(lines);
    }
    let stem = shard.stem();
    store.put(
        &format!("{MANIFEST_DIR}/{stem}.jsonl"),
        to_json_lines(&report.lines)?,
    )?;
    let failures_key = format!("{FAILURE_DIR}/{stem}.jsonl");
    if report.failures.is_empty() {
        store.delete(&failures_key)?;
    } else {
        store.put(&failures_key, to_json_lines(&report.failures)?)?;
    }
    Ok(report)
}

/// Parts of one output must all come from the same `--shard` count: parts of another count
/// cover other clips, and the union would list some twice.
pub(crate) fn check_part_count(store: &ShardStore, shard: ShardSpec) -> Result<()> {
    let ours = format!("-of-{:05}.jsonl", shard.count);
    for key in store.list(MANIFEST_DIR)? {
        if key.ends_with(".jsonl") && !key.ends_with(&ours) {
            return Err(DatasetError::invalid(
                format!("--shard {shard}"),
                format!(
                    "{} already holds {key}, a part of another --shard count: \
                     use the same count for every part, or another output",
                    store.name()
                ),
            ));
        }
    }
    Ok(())
}

struct Job<'a> {
    source: &'a SyntheticSource,
    gnpfa: &'a Gnpfa,
    fingerprint: &'a str,
    features: Option<&'a AudioFeatures>,
    store: &'a ShardStore,
    opts: &'a ExtractOptions,
}

/// What became of one variant.
struct VariantOutcome {
    /// The record now on the store for it, to list in the manifest.
    listed: Option<RecordMeta>,
    /// Why it failed, if it did.
    error: Option<DatasetError>,
}

/// One variant as planned before any work: its id, recipe, babble talkers and inputs hash.
struct VariantPlan {
    id: String,
    source_hash: String,
    variant: u32,
    recipe: Option<AugmentRecipe>,
    babble: Vec<String>,
    /// The talkers' audio, read once for the hash and the mix.
    babble_audio: Vec<Vec<f32>>,
    inputs: String,
}

impl Job<'_> {
    /// All variants of one clip. A variant that fails (refused for other inputs, say) does not
    /// stop the others; the manifest lines are those of every record of the clip now on the
    /// store, including refused ones, so no record drops out of the manifest.
    fn clip(&self, entry: &ManifestEntry) -> (ClipOutcome, Vec<ManifestLine>) {
        let mut outcome = ClipOutcome::new(&entry.id);
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        match self.source.read(entry) {
            Err(e) => {
                failures.push(e.to_string());
                // Records made before the source was damaged stay listed.
                for variant in 0..=self.opts.variants {
                    let id = format!("{}/{}/v{variant}", self.source.tag(), entry.id);
                    if let Ok(Some(meta)) = Record::read_meta(self.store, &id) {
                        lines.push(ManifestLine::of(&meta));
                    }
                }
            }
            Ok(src) => {
                let mut latents: Option<Vec<f32>> = None;
                for variant in 0..=self.opts.variants {
                    let done = self.variant(entry, &src, variant, &mut latents, &mut outcome);
                    if let Some(meta) = &done.listed {
                        if done.error.is_none() {
                            outcome.frames += meta.num_frames;
                        }
                        lines.push(ManifestLine::of(meta));
                    }
                    if let Some(e) = done.error {
                        failures.push(format!("v{variant}: {e}"));
                    }
                }
            }
        }
        if !failures.is_empty() {
            outcome.failure = Some(failures.join("; "));
        }
        (outcome, lines)
    }

    /// Makes, keeps or refuses one variant. The outcome carries the record to list: the one
    /// made or kept, or on failure the one already on the store, if any.
    fn variant(
        &self,
        entry: &ManifestEntry,
        src: &SourceClip,
        variant: u32,
        latents: &mut Option<Vec<f32>>,
        outcome: &mut ClipOutcome,
    ) -> VariantOutcome {
        let id = format!("{}/{}/v{variant}", self.source.tag(), entry.id);
        let existing = match Record::read_meta(self.store, &id) {
            Ok(existing) => existing,
            Err(e) => {
                return VariantOutcome {
                    listed: None,
                    error: Some(e),
                }
            }
        };
        match self.make_or_keep(entry, src, variant, id, &existing, latents, outcome) {
            Ok(meta) => VariantOutcome {
                listed: Some(meta),
                error: None,
            },
            Err(e) => VariantOutcome {
                listed: existing,
                error: Some(e),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn make_or_keep(
        &self,
        entry: &ManifestEntry,
        src: &SourceClip,
        variant: u32,
        id: String,
        existing: &Option<RecordMeta>,
        latents: &mut Option<Vec<f32>>,
        outcome: &mut ClipOutcome,
    ) -> Result<RecordMeta> {
        let plan = self.plan(entry, src, variant, id)?;
        let record = match existing {
            Some(old) if old.inputs == plan.inputs => {
                // Same inputs: keep it if its tensors are whole and match (a record half-written
                // by two jobs running the same part at once is made again).
                match Record::read(self.store, &plan.id) {
                    Ok(record) => {
                        outcome.skipped += 1;
                        record
                    }
                    Err(_) => self.make(entry, src, &plan, latents, outcome)?,
                }
            }
            Some(old) => {
                return Err(DatasetError::OtherInputs {
                    location: format!(
                        "{}: {}",
                        self.store.name(),
                        crate::record::meta_key(&plan.id)
                    ),
                    message: differences(old, &plan, self.fingerprint),
                })
            }
            None => self.make(entry, src, &plan, latents, outcome)?,
        };
        if let Some(features) = self.features {
            if ensure_record_features(self.store, features, &record)? {
                outcome.features_written += 1;
            }
        }
        Ok(record.meta)
    }

    fn make(
        &self,
        entry: &ManifestEntry,
        src: &SourceClip,
        plan: &VariantPlan,
        latents: &mut Option<Vec<f32>>,
        outcome: &mut ClipOutcome,
    ) -> Result<Record> {
        let z = match latents {
            Some(z) => z,
            None => latents.insert(encode_clip(self.gnpfa, &src.clip)?),
        };
        let mut record = self.build(entry, src, z, plan)?;
        record.write(self.store)?;
        outcome.written += 1;
        Ok(record)
    }

    fn plan(
        &self,
        entry: &ManifestEntry,
        src: &SourceClip,
        variant: u32,
        id: String,
    ) -> Result<VariantPlan> {
        let (recipe, babble) = if variant == 0 {
            (None, Vec::new())
        } else {
            let seed = mix(self.opts.seed, src.clip.meta.index, variant);
            let recipe = AugmentRecipe::sample(&self.opts.augment, seed)?;
            let babble = self.babble_talkers(entry, seed, recipe.babble_talkers());
            (Some(recipe), babble)
        };
        let recipe_json = serde_json::to_vec(&recipe)
            .map_err(|e| DatasetError::invalid("augmentation recipe", e.to_string()))?;
        let mut babble_audio = Vec::new();
        let mut babble_hashes = Vec::new();
        for talker in &babble {
            let (audio, hash) = self.source.read_audio(talker)?;
            babble_audio.push(audio);
            babble_hashes.push(hash);
        }
        let revision = EXTRACTOR_REVISION.to_le_bytes();
        let mut parts: Vec<&[u8]> = vec![
            &revision,
            src.hash.as_bytes(),
            self.fingerprint.as_bytes(),
            &recipe_json,
        ];
        parts.extend(babble_hashes.iter().map(|h| h.as_bytes()));
        Ok(VariantPlan {
            id,
            source_hash: src.hash.clone(),
            variant,
            recipe,
            babble,
            babble_audio,
            inputs: sha256_parts(parts),
        })
    }

    /// `count` other clips of the same split (so no voice of another split leaks in), drawn from
    /// the variant's seed; a split with fewer clips repeats them.
    fn babble_talkers(&self, entry: &ManifestEntry, seed: u64, count: usize) -> Vec<String> {
        if count == 0 {
            return Vec::new();
        }
        let pool: Vec<&ManifestEntry> = self
            .source
            .clips()
            .iter()
            .filter(|c| c.split == entry.split && c.id != entry.id)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xbabb1e);
        if pool.len() >= count {
            pool.choose_multiple(&mut rng, count)
                .map(|c| c.id.clone())
                .collect()
        } else {
            // A small split repeats talkers (each is mixed in at its own offset).
            (0..count)
                .filter_map(|_| pool.choose(&mut rng).map(|c| c.id.clone()))
                .collect()
        }
    }

    fn build(
        &self,
        entry: &ManifestEntry,
        src: &SourceClip,
        latents: &[f32],
        plan: &VariantPlan,
    ) -> Result<Record> {
        let clip = &src.clip;
        let m = &clip.meta;
        let zd = self.gnpfa.config.latent_dim;
        let pose: Vec<f32> = clip.head_pose.iter().flatten().copied().collect();
        let (audio, speed, latents, pose) = match &plan.recipe {
            None => (clip.audio.clone(), 1.0, latents.to_vec(), pose),
            Some(recipe) => {
                let refs: Vec<&[f32]> = plan.babble_audio.iter().map(|b| b.as_slice()).collect();
                if refs.len() < recipe.babble_talkers() {
                    return Err(DatasetError::invalid(
                        format!("clip {}", entry.id),
                        format!(
                            "babble noise needs {} other clips of the {} split, the source has {}",
                            recipe.babble_talkers(),
                            entry.split.name(),
                            refs.len()
                        ),
                    ));
                }
                let out = recipe.apply(&clip.audio, &refs)?;
                let z = out.resample_track(latents, zd, m.fps as f64)?;
                let p = out.resample_track(&pose, 6, m.fps as f64)?;
                (out.audio, out.speed_factor, z, p)
            }
        };
        let num_frames = latents.len() / zd;
        let scale = |t: f32| (t as f64 / speed) as f32;
        let phonemes = m
            .phonemes
            .iter()
            .map(|p| PhonemeTiming {
                start: scale(p.start),
                end: scale(p.end),
                ..p.clone()
            })
            .collect();
        let words = m
            .words
            .iter()
            .map(|w| WordTiming {
                start: scale(w.start),
                end: scale(w.end),
                ..w.clone()
            })
            .collect();
        let pcm: Vec<i16> = audio
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect();
        Ok(Record {
            meta: RecordMeta {
                format: RECORD_FORMAT.to_string(),
                format_version: SHARD_FORMAT_VERSION,
                id: plan.id.clone(),
                source: SourceInfo {
                    kind: "synthetic".to_string(),
                    dataset: self.source.tag().to_string(),
                    clip: entry.id.clone(),
                },
                variant: plan.variant,
                augmentation: plan.recipe.clone(),
                babble: plan.babble.clone(),
                speed,
                split: m.split,
                labels: Labels {
                    emotion: m.emotion,
                    intensity: m.intensity,
                    style: m.style.clone(),
                    text: m.text.clone(),
                    voice: m.spoken_with.voice_id().id(),
                    identity: m.identity,
                    tags: Vec::new(),
                },
                fps: m.fps,
                num_frames,
                sample_rate: m.sample_rate,
                num_samples: pcm.len(),
                latent_dim: zd,
                gnpfa: self.fingerprint.to_string(),
                source_hash: plan.source_hash.clone(),
                extractor_revision: EXTRACTOR_REVISION,
                inputs: plan.inputs.clone(),
                tensors_sha256: String::new(),
                phonemes,
                words,
                extractor: format!("m2f-dataset {}", env!("CARGO_PKG_VERSION")),
            },
            latents,
            head_pose: pose,
            audio: pcm,
            neutral: clip.neutral.iter().flatten().copied().collect(),
        })
    }
}

/// Which inputs of a refused record differ from this run's, in words.
fn differences(old: &RecordMeta, plan: &VariantPlan, fingerprint: &str) -> String {
    let mut out = Vec::new();
    if old.gnpfa != fingerprint {
        out.push(format!(
            "GNPFA checkpoint {} instead of {fingerprint}",
            old.gnpfa
        ));
    }
    if old.source_hash != plan.source_hash {
        out.push("another version of the source clip".to_string());
    }
    if old.augmentation != plan.recipe {
        out.push("another augmentation recipe (--seed or --variants settings)".to_string());
    }
    if old.babble != plan.babble {
        out.push(format!(
            "other babble talkers ({:?} instead of {:?})",
            old.babble, plan.babble
        ));
    }
    if old.extractor_revision != EXTRACTOR_REVISION {
        out.push(format!(
            "extractor revision {} instead of {EXTRACTOR_REVISION}",
            old.extractor_revision
        ));
    }
    if out.is_empty() {
        out.push("the babble talkers' audio changed".to_string());
    }
    out.join(", ")
}

/// A seed for (run seed, clip index, variant): splitmix64 over their mix, so neighbouring
/// clips get unrelated recipes.
fn mix(seed: u64, index: u64, variant: u32) -> u64 {
    let mut x = seed
        ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (variant as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
