//! The default model in `weights/` end to end on the shipped clip `assets/speech.wav`
//! (Flite's cmu_us_rms voice, a test-split sentence): the mouth follows the speech, every
//! export re-reads, the same seed gives the same animation, and bad requests are named.

use std::path::{Path, PathBuf};

use media2face::{AudioInput, ExportFormat, Intensity, Media2Face, Prompt, Request};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> Media2Face {
    Media2Face::from_dir(repo().join("weights")).expect("the default model in weights/")
}

fn speech() -> Request {
    Request::from_file(repo().join("assets/speech.wav"))
}

/// Per animation frame, the RMS of the 16 kHz samples it spans.
fn envelope(samples: &[f32], frames: usize, fps: f32) -> Vec<f32> {
    let per = 16_000.0 / fps;
    (0..frames)
        .map(|t| {
            let a = (t as f32 * per) as usize;
            let b = (((t + 1) as f32 * per) as usize).min(samples.len());
            let s = &samples[a.min(b)..b];
            (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt()
        })
        .collect()
}

fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt().max(1e-12)
}

/// The clip's bilabials (/p b m/) as frame ranges, from the synthetic world's phoneme timing
/// of the clip (its meta.json): "Paula jump the big pepper barely, and buy a fish now."
const BILABIALS: [(usize, usize); 7] = [
    (4, 7),
    (21, 25),
    (28, 31),
    (35, 39),
    (41, 44),
    (47, 49),
    (74, 76),
];

#[test]
fn the_mouth_follows_the_speech() {
    let model = model();
    let anim = model
        .generate(&speech().prompt(Prompt::Emotion {
            name: "neutral".into(),
            intensity: Intensity::Medium,
        }))
        .unwrap();
    // 56,240 samples at 16 kHz → 105 frames at 30 fps.
    assert_eq!(anim.frames(), 105);
    assert_eq!(anim.vertices[0].len(), 468);
    assert_eq!(anim.arkit_weights[0].len(), anim.arkit_names.len());
    let gap = anim.mouth_opening_mm();
    let env = envelope(&anim.audio, anim.frames(), anim.fps);
    let (lo, hi) = gap
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &g| (l.min(g), h.max(g)));
    // The mouth answers the sound a frame or two late: the best of lags 0..=3.
    let r = (0..=3)
        .map(|lag| pearson(&gap[lag..], &env[..env.len() - lag]))
        .fold(f32::MIN, f32::max);
    let peak = env.iter().cloned().fold(0f32, f32::max);
    let mean_where = |keep: &dyn Fn(f32) -> bool| {
        let v: Vec<f32> = gap
            .iter()
            .zip(&env)
            .filter(|(_, &e)| keep(e))
            .map(|(&g, _)| g)
            .collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    };
    let (loud, quiet) = (
        mean_where(&|e| e > 0.5 * peak),
        mean_where(&|e| e < 0.1 * peak),
    );
    let closed = BILABIALS
        .iter()
        .filter(|&&(a, b)| gap[a..b].iter().cloned().fold(f32::MAX, f32::min) < 2.0)
        .count();
    eprintln!(
        "mouth opening {lo:.2}..{hi:.2} mm; {loud:.2} mm in loud frames, {quiet:.2} in quiet \
         ones; r = {r:.3} with the audio envelope; {closed}/{} bilabials closed; ARKit fit {:?}",
        BILABIALS.len(),
        anim.arkit_fit
    );
    // Measured with the shipped model (its sampler setting, 10 steps at s_A = s_P = 1.6, seed
    // 0): 0.14..12.06 mm, 5.75 against 2.70 mm, r = 0.41, 7/7 bilabials, ARKit fit 0.024 mm
    // (at the earlier 25 steps and 1.5 / 1.5: 0.13..11.68, 5.72 against 2.66, r = 0.42,
    // 0.021 mm). The bounds are those numbers with about 15 % to spare, so a worse model or
    // pipeline fails here.
    assert!(hi > 10.0 && lo < 0.3, "opening {lo:.2}..{hi:.2} mm");
    assert!(loud > quiet + 2.5, "loud {loud:.2} mm, quiet {quiet:.2} mm");
    assert!(
        r > 0.35,
        "mouth opening against the audio envelope: r = {r:.3}"
    );
    assert_eq!(closed, BILABIALS.len(), "bilabials closed");
    let fit = anim.arkit_fit.solver_mm.min(anim.arkit_fit.bridge_mm);
    assert!(fit < 0.04, "ARKit fit {fit:.3} mm");
}

#[test]
fn every_export_reads_back_and_seeds_repeat() {
    let model = model();
    let request = speech().seed(3).steps(10);
    let anim = model.generate(&request).unwrap();
    let mut calls = Vec::new();
    let again = model
        .generate_with_progress(&request, &mut |done, total| calls.push((done, total)))
        .unwrap();
    assert_eq!(again.latents, anim.latents);
    assert_eq!(calls.first(), Some(&(0, 10)));
    assert_eq!(calls.last(), Some(&(10, 10)));
    assert_eq!(calls.len(), 11);
    assert_ne!(
        model.generate(&request.clone().seed(4)).unwrap().latents,
        anim.latents
    );
    let dir = tempfile::tempdir().unwrap();
    let n = anim.frames();
    // GLB: the rig's targets, one animation with weights and pose over every frame.
    let glb = dir.path().join("out/face.glb");
    anim.save(&glb).unwrap();
    let (doc, buffers, _) = gltf::import(&glb).unwrap();
    let mesh = doc.meshes().next().unwrap();
    let prim = mesh.primitives().next().unwrap();
    assert_eq!(prim.morph_targets().count(), anim.arkit_names.len());
    let animation = doc.animations().next().unwrap();
    let times = animation
        .channels()
        .next()
        .unwrap()
        .reader(|b| Some(&buffers[b.index()]))
        .read_inputs()
        .unwrap()
        .count();
    assert_eq!(times, n);
    // JSON.
    let json = dir.path().join("face.json");
    anim.save(&json).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["frames"], n);
    assert_eq!(doc["vertices"][0].as_array().unwrap().len(), 468);
    assert_eq!(doc["arkit_weights"].as_array().unwrap().len(), n);
    // CSV: a header and a row per frame, Live Link Face's 2 + 52 + 9 columns; the jaw
    // opens.
    let csv = dir.path().join("face.csv");
    anim.save(&csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), n + 1);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header[..3], ["Timecode", "BlendShapeCount", "EyeBlinkLeft"]);
    assert!(lines.iter().all(|l| l.split(',').count() == 63));
    let jaw = header.iter().position(|&h| h == "JawOpen").unwrap();
    let opening: Vec<f32> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(jaw).unwrap().parse().unwrap())
        .collect();
    assert!(opening.iter().cloned().fold(0f32, f32::max) > 0.1);
    assert!(
        lines[31].starts_with("00:00:01:00.000,61,"),
        "{}",
        lines[31]
    );
    // NPZ: the arrays numpy.load finds, with their shapes in the .npy headers.
    let npz = dir.path().join("face.npz");
    anim.save(&npz).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&npz).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "arkit_names.npy",
            "arkit_weights.npy",
            "fps.npy",
            "head_poses.npy",
            "latents.npy",
            "vertices.npy"
        ]
    );
    let mut latents = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("vertices.npy").unwrap(), &mut latents).unwrap();
    let header = String::from_utf8_lossy(&latents[10..128]);
    assert!(
        header.contains(&format!("'shape': ({n}, 468, 3)")),
        "{header}"
    );
    assert_eq!(latents.len(), 128 + n * 468 * 3 * 4);
    // In memory, every single-file format is the file's bytes.
    for (format, path) in [
        (ExportFormat::Glb, &glb),
        (ExportFormat::Json, &json),
        (ExportFormat::Csv, &csv),
        (ExportFormat::Npz, &npz),
    ] {
        let bytes = anim.to_bytes(format).unwrap();
        assert!(bytes == std::fs::read(path).unwrap(), "{format:?}");
    }
    // OBJ files, one per frame; an earlier, longer sequence's extra frames go, other files
    // stay; an existing directory needs no trailing slash.
    let objs = dir.path().join("objs/");
    std::fs::create_dir_all(&objs).unwrap();
    std::fs::write(objs.join(format!("frame_{:05}.obj", n + 3)), "old").unwrap();
    std::fs::write(objs.join("notes.txt"), "mine").unwrap();
    anim.save(&objs).unwrap();
    assert_eq!(std::fs::read_dir(&objs).unwrap().count(), n + 1);
    anim.save(&dir.path().join("objs")).unwrap();
    assert_eq!(std::fs::read_dir(&objs).unwrap().count(), n + 1);
    // Unknown formats are refused before anything is written, directories included.
    let err = anim
        .save(&dir.path().join("new/face.fbx"))
        .unwrap_err()
        .to_string();
    assert!(err.contains(".glb"), "{err}");
    assert!(!dir.path().join("new").exists());
    // Khronos' validator, where scripts/test.sh installed it.
    if let Some(validator) = std::env::var_os("M2F_GLTF_VALIDATOR") {
        let out = std::process::Command::new("node")
            .arg(validator)
            .arg(&glb)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "gltf-validator: {report}");
        assert!(report.contains("\"errors\":0"), "{report}");
    }
}

#[test]
fn bad_requests_are_named() {
    let model = model();
    let err = |r: Request| model.generate(&r).unwrap_err().to_string();
    let e = err(speech().prompt(Prompt::Emotion {
        name: "bored".into(),
        intensity: Intensity::High,
    }));
    assert!(e.contains("bored") && e.contains("happy"), "{e}");
    let e = err(speech().keyframe(500, image::RgbImage::new(8, 8)));
    assert!(
        e.contains("keyframe at frame 500") && e.contains("105 frames"),
        "{e}"
    );
    let e = err(speech().keyframe(10, image::RgbImage::new(8, 8)));
    assert!(
        e.contains("keyframe at frame 10") && e.contains("96×96"),
        "{e}"
    );
    let e = err(speech().prompt(Prompt::Image(image::RgbImage::new(8, 8))));
    assert!(e.contains("image prompt 0") && e.contains("8×8"), "{e}");
    let e = err(speech().prompt_over(Prompt::Text("calm".into()), 50..50));
    assert!(e.contains("prompt 0 frames 50..50"), "{e}");
    let e = err(speech().audio_guidance(f64::NAN));
    assert!(e.contains("audio guidance"), "{e}");
    let e = err(speech().prompt_over(Prompt::Text("calm".into()), 90..200));
    assert!(e.contains("prompt 0") && e.contains("105 frames"), "{e}");
    let e = err(Request::from_file("no/such/speech.wav"));
    assert!(e.contains("no/such/speech.wav"), "{e}");
    let e = err(Request::new(AudioInput::Bytes {
        bytes: b"RIFF not really a wav".to_vec(),
        extension: Some("wav".into()),
    }));
    assert!(e.contains("<memory>"), "{e}");
    let e = err(speech().steps(0));
    assert!(e.contains("steps"), "{e}");
    assert!(Media2Face::from_dir("no/such/bundle")
        .unwrap_err()
        .to_string()
        .contains("no/such/bundle/media2face.json"));
}

/// Samples in memory (stereo, 44.1 kHz) give what the file gives, within resampling.
#[test]
fn samples_in_memory_work_like_a_file() {
    let model = model();
    let from_file = model.generate(&speech().steps(10)).unwrap();
    let mono = &from_file.audio;
    // 16 kHz → 32 kHz stereo by repetition: the resampler brings it back.
    let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, s, s, s]).collect();
    let request = Request::new(AudioInput::Samples {
        samples: stereo,
        sample_rate: 32_000,
        channels: 2,
    })
    .steps(10);
    assert!(format!("{request:?}").contains("len: 224960"));
    let from_samples = model.generate(&request).unwrap();
    assert_eq!(from_samples.frames(), from_file.frames());
    let (a, b) = (
        from_file.mouth_opening_mm(),
        from_samples.mouth_opening_mm(),
    );
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 3.0, "mouth opening differs by {worst:.2} mm");
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Media2Face>();
    check::<media2face::Animation>();
}

#[test]
fn requests_without_scales_get_the_bundles_measured_guidance() {
    let m = model();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("weights/media2face.json")).unwrap(),
    )
    .unwrap();
    let g = m.guidance();
    let want = match manifest.get("guidance") {
        Some(g) => (g["audio"].as_f64().unwrap(), g["style"].as_f64().unwrap()),
        None => (2.5, 1.5),
    };
    assert_eq!((g.audio, g.style), want);
    let request = speech().steps(4);
    assert_eq!(request.audio_guidance, None);
    let by_default = m.generate(&request).unwrap();
    let explicit = m
        .generate(
            &request
                .clone()
                .audio_guidance(g.audio)
                .style_guidance(g.style),
        )
        .unwrap();
    assert_eq!(by_default.latents, explicit.latents);
    let other = m
        .generate(
            &request
                .audio_guidance(g.audio + 1.0)
                .style_guidance(g.style),
        )
        .unwrap();
    assert_ne!(by_default.latents, other.latents);
    // The steps the scales were measured at come with them.
    let want_steps = manifest
        .get("guidance")
        .and_then(|g| g.get("steps"))
        .and_then(|s| s.as_u64())
        .map_or(25, |s| s as usize);
    assert_eq!(g.steps_or_default(), want_steps);
    let plain = speech();
    assert_eq!(plain.steps, None);
    let by_default = m.generate(&plain).unwrap();
    let explicit = m.generate(&plain.steps(want_steps)).unwrap();
    assert_eq!(by_default.latents, explicit.latents);
}

/// A bundle whose GNPFA decoder weights are finite but huge (found by fuzzing a whole
/// bundle): the decoded faces overflow, and generation says which stage gave a non-finite
/// output instead of failing later in the rig solver without a cause.
#[test]
fn overflowing_weights_are_named_at_their_stage() {
    let dir = tempfile::tempdir().unwrap();
    let weights = repo().join("weights");
    for entry in std::fs::read_dir(&weights).unwrap() {
        let from = entry.unwrap().path();
        let to = dir.path().join(from.file_name().unwrap());
        if from.is_dir() {
            std::fs::create_dir(&to).unwrap();
            for f in [
                "config.json",
                "model.safetensors",
                "preprocessor_config.json",
            ] {
                if from.join(f).exists() {
                    std::fs::copy(from.join(f), to.join(f)).unwrap();
                }
            }
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let path = dir.path().join("gnpfa/model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    // The decoder's output layer: nothing after it can bring the values back.
    let name = tensors
        .keys()
        .filter(|n| n.starts_with("vae.decoder.mlp.") && n.ends_with(".weight"))
        .max()
        .unwrap()
        .clone();
    // Finite, but any sum of a few such terms overflows f32.
    let huge = tensors[&name]
        .ones_like()
        .unwrap()
        .affine(0.0, 3e38)
        .unwrap();
    tensors.insert(name, huge);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let model = Media2Face::from_dir(dir.path()).unwrap();
    let samples: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
    let generated = model.generate(&Request::new(AudioInput::Samples {
        samples,
        sample_rate: 16_000,
        channels: 1,
    }));
    let Err(err) = generated.map(|a| a.frames()) else {
        panic!("a face decoded by overflowing weights was returned");
    };
    let err = err.to_string();
    assert!(
        err.contains("GNPFA decoder output") && err.contains("not finite"),
        "{err}"
    );
}
