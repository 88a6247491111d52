//! Extraction from a small synthetic dataset with the shipped GNPFA checkpoint: round trip,
//! idempotent re-runs, refusal of other inputs, failure lists, and the window reader.

use std::path::{Path, PathBuf};

use gnpfa::Gnpfa;
use m2f_dataset::{
    extract_synthetic, gnpfa_fingerprint, read_manifests, Dataset, DatasetError, ExtractOptions,
    LoadOptions, Record, ShardSpec, ShardStore, SyntheticSource, WindowConfig, WindowSampler,
};
use m2f_synth::Clip;
use m2f_synth::Split;
use m2f_synth::WorldConfig;

fn gnpfa_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/gnpfa")
}

/// Six clips of world seed 11 (made once per test process).
fn synth_dataset() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let speech = m2f_synth::Speech::load_all().unwrap();
        let world = WorldConfig {
            seed: 11,
            ..WorldConfig::default()
        };
        m2f_synth::write_dataset(dir.path(), &world, 6, &speech, |_| {}).unwrap();
        dir
    })
    .path()
}

fn gnpfa() -> &'static (Gnpfa, String) {
    static MODEL: std::sync::OnceLock<(Gnpfa, String)> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        (
            Gnpfa::load(&gnpfa_dir()).unwrap(),
            gnpfa_fingerprint(&gnpfa_dir()).unwrap(),
        )
    })
}

fn extract(store: &ShardStore, opts: &ExtractOptions) -> m2f_dataset::ExtractReport {
    let source = SyntheticSource::open(synth_dataset()).unwrap();
    let (model, fp) = gnpfa();
    extract_synthetic(&source, model, fp, None, store, opts, |_| {}).unwrap()
}

fn mm(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    1000.0 * ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[test]
fn stored_latents_decode_to_the_true_faces() {
    let store = ShardStore::memory();
    let report = extract(&store, &ExtractOptions::default());
    assert_eq!((report.clips, report.written, report.skipped), (6, 6, 0));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let (model, fp) = gnpfa();
    let lips = &model.template.regions.lips;
    let mut mean = Vec::new();
    let mut lip_max = Vec::new();
    for line in read_manifests(&store).unwrap() {
        assert_eq!(&line.gnpfa, fp);
        let r = Record::read(&store, &line.id).unwrap();
        let clip = Clip::read(&synth_dataset().join("clips").join(&r.meta.source.clip)).unwrap();
        assert_eq!(r.meta.num_frames, clip.num_frames());
        assert_eq!(r.meta.num_samples, clip.audio.len());
        let zd = r.meta.latent_dim;
        let latents: Vec<Vec<f32>> = r.latents.chunks(zd).map(|z| z.to_vec()).collect();
        let decoded = model.decode_frames(&clip.neutral, &latents).unwrap();
        for (t, frame) in decoded.iter().enumerate() {
            let truth = clip.frame(t);
            let e: Vec<f32> = frame.iter().zip(truth).map(|(a, b)| mm(a, b)).collect();
            mean.push(e.iter().sum::<f32>() / e.len() as f32);
            lip_max.push(lips.iter().map(|&i| e[i as usize]).fold(0.0, f32::max));
        }
        let pose: Vec<f32> = clip.head_pose.iter().flatten().copied().collect();
        assert_eq!(r.head_pose, pose);
    }
    let avg = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    // The shipped checkpoint measures 0.054 mm mean and 0.21 mm lip max on speech clips.
    assert!(avg(&mean) < 0.15, "mean {} mm", avg(&mean));
    assert!(avg(&lip_max) < 0.6, "lip max {} mm", avg(&lip_max));
}

#[test]
fn reruns_skip_same_inputs_and_refuse_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = ShardStore::open(dir.path().to_str().unwrap()).unwrap();
    let opts = ExtractOptions {
        variants: 1,
        seed: 4,
        ..ExtractOptions::default()
    };
    let first = extract(&store, &opts);
    assert_eq!(first.written, 12);
    let manifest = std::fs::read(dir.path().join("manifests/shard-00000-of-00001.jsonl")).unwrap();
    let again = extract(&store, &opts);
    assert_eq!((again.written, again.skipped), (0, 12));
    assert_eq!(
        std::fs::read(dir.path().join("manifests/shard-00000-of-00001.jsonl")).unwrap(),
        manifest
    );
    // Another augmentation seed: the clean records stay, the augmented ones are refused,
    // the failures are listed, nothing is replaced.
    let records_before = snapshot(&dir.path().join("records"));
    let other = ExtractOptions {
        seed: 5,
        ..opts.clone()
    };
    let r = extract(&store, &other);
    assert_eq!(r.failures.len(), 6);
    assert!(
        r.failures[0].reason.contains("other inputs"),
        "{}",
        r.failures[0].reason
    );
    let failures =
        std::fs::read_to_string(dir.path().join("failures/shard-00000-of-00001.jsonl")).unwrap();
    assert_eq!(failures.lines().count(), 6);
    assert!(records_before == snapshot(&dir.path().join("records")));
    // Records of another GNPFA checkpoint are refused by the extractor and the reader.
    let source = SyntheticSource::open(synth_dataset()).unwrap();
    let (model, _) = gnpfa();
    let r = extract_synthetic(
        &source,
        model,
        "another-checkpoint",
        None,
        &store,
        &opts,
        |_| {},
    )
    .unwrap();
    assert_eq!(r.failures.len(), 6);
    assert!(
        r.failures[0].reason.contains("GNPFA checkpoint"),
        "{}",
        r.failures[0].reason
    );
    // Back to the original inputs: everything is there, the failure list is gone.
    let r = extract(&store, &opts);
    assert_eq!((r.written, r.skipped, r.failures.len()), (0, 12, 0));
    assert!(!dir
        .path()
        .join("failures/shard-00000-of-00001.jsonl")
        .exists());
    let err = Dataset::open(store.clone(), Some("another-checkpoint")).unwrap_err();
    assert!(matches!(err, DatasetError::OtherGnpfa { .. }), "{err}");
}

#[test]
fn parts_together_make_the_whole() {
    let whole = ShardStore::memory();
    extract(&whole, &ExtractOptions::default());
    let parts = ShardStore::memory();
    for index in 0..3 {
        let opts = ExtractOptions {
            shard: ShardSpec { index, count: 3 },
            ..ExtractOptions::default()
        };
        assert_eq!(extract(&parts, &opts).clips, 2);
    }
    // A part of another count into the same output is refused before any work.
    let source = SyntheticSource::open(synth_dataset()).unwrap();
    let (model, fp) = gnpfa();
    let other = ExtractOptions {
        shard: ShardSpec { index: 0, count: 2 },
        ..ExtractOptions::default()
    };
    let err = extract_synthetic(&source, model, fp, None, &parts, &other, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--shard 0/2") && err.contains("of-00003"),
        "{err}"
    );
    let mut a = read_manifests(&whole).unwrap();
    let mut b = read_manifests(&parts).unwrap();
    a.sort_by(|x, y| x.id.cmp(&y.id));
    b.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(a, b);
    for line in &a {
        assert_eq!(
            whole
                .get_required(&m2f_dataset::tensors_key(&line.id))
                .unwrap(),
            parts
                .get_required(&m2f_dataset::tensors_key(&line.id))
                .unwrap()
        );
    }
}

#[test]
fn a_damaged_clip_is_listed_and_the_others_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("synth");
    copy_dir(synth_dataset(), &copy);
    let victim = m2f_synth::Manifest::read(&copy).unwrap().clips[2]
        .id
        .clone();
    std::fs::write(
        copy.join("clips").join(&victim).join("tensors.safetensors"),
        b"garbage",
    )
    .unwrap();
    let source = SyntheticSource::open(&copy).unwrap();
    let (model, fp) = gnpfa();
    let store = ShardStore::memory();
    let r = extract_synthetic(
        &source,
        model,
        fp,
        None,
        &store,
        &ExtractOptions::default(),
        |_| {},
    )
    .unwrap();
    assert_eq!(r.written, 5);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].clip, victim);
    assert!(
        r.failures[0].reason.contains("tensors.safetensors"),
        "{}",
        r.failures[0].reason
    );
    // A manifest line with an unknown field is named with its line.
    let key = "manifests/shard-00000-of-00001.jsonl";
    let text = String::from_utf8(store.get_required(key).unwrap().to_vec()).unwrap();
    let bad = text.replacen("\"split\"", "\"colour\":\"red\",\"split\"", 1);
    store.put(key, bad.into_bytes()).unwrap();
    let err = Dataset::open(store, None).unwrap_err().to_string();
    assert!(err.contains("line 1") && err.contains("colour"), "{err}");
    // So is an unknown field in the source dataset's manifest.
    let path = copy.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"split\"", "\"mood\": 1, \"split\"", 1),
    )
    .unwrap();
    let err = SyntheticSource::open(&copy).unwrap_err().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("mood"),
        "{err}"
    );
}

#[test]
fn a_gnpfa_of_another_template_is_refused() {
    let source = SyntheticSource::open(synth_dataset()).unwrap();
    let mut template = m2f_mesh::FaceTemplate::mediapipe();
    let moved: Vec<[f32; 3]> = template
        .mesh
        .vertices
        .iter()
        .map(|v| [v[0] * 1.1, v[1], v[2]])
        .collect();
    template.mesh = template.mesh.with_vertices(moved).unwrap();
    let (model, _) = Gnpfa::init(
        &gnpfa::GnpfaConfig::tiny(),
        template,
        &candle_core::Device::Cpu,
        0,
    )
    .unwrap();
    let err = extract_synthetic(
        &source,
        &model,
        "x",
        None,
        &ShardStore::memory(),
        &ExtractOptions::default(),
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("template"), "{err}");
}

#[test]
fn augmented_variants_keep_audio_and_animation_aligned() {
    let store = ShardStore::memory();
    let opts = ExtractOptions {
        variants: 3,
        seed: 9,
        ..ExtractOptions::default()
    };
    extract(&store, &opts);
    let mut speeds = Vec::new();
    for line in read_manifests(&store).unwrap() {
        let r = Record::read(&store, &line.id).unwrap();
        let m = &r.meta;
        assert_eq!(m.augmentation.is_some(), m.variant > 0);
        // The animation covers exactly the audio, at the record's frame rate.
        let frames = (m.num_samples as f64 / 16_000.0 * m.fps as f64).round() as usize;
        assert_eq!(m.num_frames, frames, "{}", m.id);
        let duration = m.num_samples as f32 / 16_000.0;
        let last = m.phonemes.last().unwrap();
        assert!(
            last.end <= duration + 0.05,
            "{}: phonemes end at {} of {duration} s",
            m.id,
            last.end
        );
        if m.variant > 0 {
            let clean =
                Record::read(&store, &line.id.replace(&format!("/v{}", m.variant), "/v0")).unwrap();
            let ratio = clean.meta.num_samples as f64 / m.num_samples as f64;
            assert!(
                (ratio - m.speed).abs() < 0.01,
                "{}: length ratio {ratio} vs speed {}",
                m.id,
                m.speed
            );
            let p0 = &clean.meta.phonemes[1];
            let p = &m.phonemes[1];
            assert!((p0.start as f64 / m.speed - p.start as f64).abs() < 1e-4);
            // Frame j of the variant is the clean animation at input time j · speed / fps.
            let zd = m.latent_dim;
            for j in [1, m.num_frames / 2, m.num_frames - 2] {
                let x = j as f64 * m.speed;
                let (i, w) = (x.floor() as usize, (x - x.floor()) as f32);
                if i + 1 >= clean.meta.num_frames {
                    continue;
                }
                for k in 0..zd {
                    let a = clean.latents[i * zd + k];
                    let b = clean.latents[(i + 1) * zd + k];
                    let want = a + w * (b - a);
                    let got = r.latents[j * zd + k];
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{} frame {j} dim {k}: {got} vs {want}",
                        m.id
                    );
                }
            }
            speeds.push(m.speed);
        }
    }
    assert!(
        speeds.iter().any(|&s| (s - 1.0).abs() > 0.01),
        "no speed perturbation among {speeds:?}"
    );
}

#[test]
fn windows_are_seeded_masked_and_normalised() {
    let store = ShardStore::memory();
    extract(&store, &ExtractOptions::default());
    let mut dataset = Dataset::open(store.clone(), Some(&gnpfa().1)).unwrap();
    // Opening reads; the statistics are stored only when asked.
    assert!(!dataset.stats_stored() && store.get("stats.json").unwrap().is_none());
    dataset.store_stats().unwrap();
    let dataset = Dataset::open(store.clone(), Some(&gnpfa().1)).unwrap();
    assert!(dataset.stats_stored());
    let split = [Split::Train, Split::Val, Split::Test]
        .into_iter()
        .max_by_key(|s| dataset.lines().iter().filter(|l| l.split == *s).count())
        .unwrap();
    let with_audio = LoadOptions {
        audio: true,
        ..LoadOptions::default()
    };
    let data = dataset.load(split, &with_audio).unwrap();
    let longest = data.clips.iter().map(|c| c.num_frames).max().unwrap();
    let config = WindowConfig {
        len: longest + 10,
        stride: 20,
        batch: 4,
        with_audio: true,
    };
    let mut a = WindowSampler::new(&data, dataset.stats(), config, 3).unwrap();
    let mut b = WindowSampler::new(&data, dataset.stats(), config, 3).unwrap();
    let ba = a.next_batch();
    assert_eq!(ba, b.next_batch());
    assert_eq!(ba.motion.len(), 4 * (longest + 10) * data.motion_dim);
    for (i, s) in ba.sources.iter().enumerate() {
        let clip = &data.clips[s.clip];
        assert_eq!(
            s.frames, clip.num_frames,
            "a long window holds the whole clip"
        );
        let mask = &ba.mask[i * ba.len..(i + 1) * ba.len];
        assert_eq!(mask.iter().sum::<f32>() as usize, s.frames);
        // Row 0 of the window is the clip's first frame, normalised.
        let row = &ba.motion[i * ba.len * ba.motion_dim..][..ba.motion_dim];
        let want: Vec<f32> = (0..ba.motion_dim)
            .map(|k| (clip.motion[k] - dataset.stats().mean[k]) / dataset.stats().std[k])
            .collect();
        assert_eq!(row, want.as_slice());
        let audio =
            &ba.audio.as_ref().unwrap()[i * ba.audio_len..][..clip.audio.len().min(ba.audio_len)];
        assert_eq!(audio, &clip.audio[..audio.len()]);
    }
    let mut other = WindowSampler::new(&data, dataset.stats(), config, 4).unwrap();
    let orders = (0..5)
        .map(|_| other.next_batch().sources)
        .collect::<Vec<_>>();
    let same = (0..5).map(|_| a.next_batch().sources).collect::<Vec<_>>();
    assert_ne!(orders, same, "another seed, another order");
    // Short windows of the training split: normalised motion has mean ~0 and std ~1.
    if let Ok(train) = dataset.load(Split::Train, &LoadOptions::default()) {
        let config = WindowConfig {
            len: 20,
            stride: 20,
            batch: 1,
            with_audio: false,
        };
        let mut s = WindowSampler::new(&train, dataset.stats(), config, 0).unwrap();
        let n = s.windows_per_epoch();
        let mut sum = 0f64;
        let mut count = 0f64;
        for _ in 0..n {
            let w = s.next_batch();
            for (row, &m) in w.motion.chunks(w.motion_dim).zip(&w.mask) {
                if m > 0.0 {
                    sum += row[0] as f64;
                    count += 1.0;
                }
            }
        }
        assert!(
            (sum / count).abs() < 0.2,
            "mean of a normalised dimension {}",
            sum / count
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn features_of_a_named_encoder_are_stored_once_and_served() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conditioning/tests/fixtures/wav2vec2_layer_post_param");
    let spec = format!("wav2vec2:{}", fixture.display());
    let features = m2f_dataset::AudioFeatures::load(&spec, &candle_core::Device::Cpu).unwrap();
    let key = features.info().key();
    assert!(
        key.starts_with("wav2vec2-wav2vec2_layer_post_param-local-"),
        "{key}"
    );
    let source = SyntheticSource::open(synth_dataset()).unwrap();
    let (model, fp) = gnpfa();
    let store = ShardStore::memory();
    let opts = ExtractOptions::default();
    let r = extract_synthetic(&source, model, fp, Some(&features), &store, &opts, |_| {}).unwrap();
    assert_eq!((r.written, r.features_written), (6, 6));
    let r = extract_synthetic(&source, model, fp, Some(&features), &store, &opts, |_| {}).unwrap();
    assert_eq!(
        (r.skipped, r.features_written),
        (6, 0),
        "nothing is recomputed"
    );
    let dataset = Dataset::open(store.clone(), Some(fp)).unwrap();
    let split = dataset.lines()[0].split;
    let options = LoadOptions {
        features: Some(key.clone()),
        audio: true,
        ..LoadOptions::default()
    };
    let data = dataset.load(split, &options).unwrap();
    assert_eq!(data.feature_dim, features.info().dim);
    for clip in &data.clips {
        let f = clip.features.as_ref().unwrap();
        assert_eq!(f.len(), clip.num_frames * data.feature_dim);
        // Stored as f16: equal to a fresh computation within f16 rounding.
        let fresh = features.compute(&clip.audio, clip.fps as f64).unwrap();
        let worst = f
            .iter()
            .zip(&fresh)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-3, "{}: f16 error {worst}", clip.id);
    }
    let config = WindowConfig {
        len: 30,
        stride: 15,
        batch: 2,
        with_audio: false,
    };
    let batch = WindowSampler::new(&data, dataset.stats(), config, 0)
        .unwrap()
        .next_batch();
    assert_eq!(
        batch.features.as_ref().unwrap().len(),
        2 * 30 * data.feature_dim
    );
    // Features of another encoder key are missing: named, with the way to make them.
    let other = LoadOptions {
        features: Some("wav2vec2-other".into()),
        ..LoadOptions::default()
    };
    let err = dataset.load(split, &other).unwrap_err().to_string();
    assert!(
        err.contains("wav2vec2-other") && err.contains("--audio-features"),
        "{err}"
    );
    let err = m2f_dataset::AudioFeatures::load("whisper", &candle_core::Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--audio-features"), "{err}");
}

/// `--audio-features log-mel`: the windows carry audio samples, the log-mel encoder trains
/// with the denoiser, and it is loaded back from the checkpoint to compute features.
#[test]
fn the_log_mel_encoder_trains_with_the_denoiser_from_shards() {
    use conditioning::AudioEncoder;
    use conditioning::LogMelEncoderConfig;
    use m2f_dataset::{DiffusionWindows, JointLogMel, WindowAudio};

    let store = ShardStore::memory();
    extract(&store, &ExtractOptions::default());
    let mut dataset = Dataset::open(store.clone(), Some(&gnpfa().1)).unwrap();
    dataset.store_stats().unwrap();
    let split = [Split::Train, Split::Val, Split::Test]
        .into_iter()
        .max_by_key(|s| dataset.lines().iter().filter(|l| l.split == *s).count())
        .unwrap();
    let with_audio = LoadOptions {
        audio: true,
        ..LoadOptions::default()
    };
    let data = dataset.load(split, &with_audio).unwrap();
    let latent_dim = data.motion_dim - 6;
    let cfg = diffusion::DenoiserConfig {
        latent_dim,
        audio_dim: 16,
        text_style_dim: 0,
        image_style_dim: latent_dim,
        hidden_size: 32,
        num_layers: 1,
        num_heads: 2,
        intermediate_size: 64,
        window: 30,
        ..diffusion::DenoiserConfig::preset("small", 16).unwrap()
    };
    let describe = serde_json::json!({ "test": "log-mel" });
    // Windows of features from a split loaded without them are refused by name.
    let no_audio = dataset.load(split, &LoadOptions::default()).unwrap();
    let e = DiffusionWindows::new(
        &no_audio,
        &no_audio,
        dataset.stats(),
        WindowAudio::Samples,
        Default::default(),
        true,
        0,
        4,
        describe.clone(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no audio samples"), "{e}");
    let mut source = DiffusionWindows::new(
        &data,
        &data,
        dataset.stats(),
        WindowAudio::Samples,
        Default::default(),
        true,
        0,
        4,
        describe,
    )
    .unwrap();
    let small = LogMelEncoderConfig {
        hidden: 16,
        out_dim: 16,
        kernel: 3,
    };
    let build = |vb: candle_nn::VarBuilder<'_>| -> diffusion::Result<Box<dyn diffusion::JointAudioEncoder>> {
        Ok(Box::new(JointLogMel::new(&small, vb)?))
    };
    let out = tempfile::tempdir().unwrap();
    let opts = diffusion::DiffusionTrainOptions {
        steps: 3,
        batch_size: 2,
        val_every: 3,
        warmup_steps: 1,
        out: out.path().to_path_buf(),
        progress: false,
        ..Default::default()
    };
    let device = candle_core::Device::Cpu;
    let report = diffusion::train_with_audio_encoder(&cfg, &build, &mut source, &opts, &device)
        .unwrap()
        .2;
    assert_eq!(report.final_step, 3);
    assert!(report.best_val_loss.is_some_and(f64::is_finite));
    let checkpoint = out.path().join("last");
    let model = diffusion::DiffusionModel::load(&checkpoint, &device).unwrap();
    assert_eq!(model.config.audio_features, "log-mel");
    let encoder = JointLogMel::load(&checkpoint, &device).unwrap();
    assert_eq!(encoder.config(), &small);
    let clip = &data.clips[0];
    let feats = encoder.encode(&clip.audio, clip.fps as f64).unwrap();
    assert_eq!(feats.dim(1).unwrap(), 16);
    assert!(feats.dim(0).unwrap().abs_diff(clip.num_frames) <= 1);
    // A checkpoint trained on frozen features has no log-mel encoder to load.
    let mut frozen = model.config.clone();
    frozen.audio_encoder = None;
    std::fs::write(
        checkpoint.join(diffusion::CONFIG_FILE),
        serde_json::to_string(&frozen).unwrap(),
    )
    .unwrap();
    let e = JointLogMel::load(&checkpoint, &device).unwrap_err();
    assert!(e.to_string().contains("no audio_encoder"), "{e}");
}
