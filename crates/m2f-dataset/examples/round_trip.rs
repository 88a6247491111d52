//! How well the stored latents give back the true faces: every clean test-split record of a
//! shard store decoded through `G_geo` on its neutral and compared with the source clip's
//! vertices.
//!
//! `cargo run --release -p m2f-dataset --example round_trip -- SHARDS SYNTH_DIR weights/gnpfa`

use std::path::PathBuf;

use m2f_dataset::{load_gnpfa, read_manifests, Record, ShardStore};
use m2f_synth::Clip;
use m2f_synth::Split;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: round_trip SHARDS SYNTH_DIR GNPFA_DIR";
    let shards = args.next().ok_or(usage)?;
    let synth = PathBuf::from(args.next().ok_or(usage)?);
    let gnpfa_dir = PathBuf::from(args.next().ok_or(usage)?);
    let (model, fingerprint) = load_gnpfa(&gnpfa_dir, &candle_core::Device::Cpu)?;
    let store = ShardStore::open_read(&shards)?;
    let lips = &model.template.regions.lips;
    let (mut mean_sum, mut lip_sum, mut frames, mut clips) = (0f64, 0f64, 0usize, 0usize);
    for line in read_manifests(&store)? {
        if line.split != Split::Test || line.variant != 0 {
            continue;
        }
        if line.gnpfa != fingerprint {
            return Err(format!("record {} was made with GNPFA {}", line.id, line.gnpfa).into());
        }
        let r = Record::read(&store, &line.id)?;
        let clip = Clip::read(&synth.join("clips").join(&r.meta.source.clip))?;
        let zd = r.meta.latent_dim;
        let latents: Vec<Vec<f32>> = r.latents.chunks(zd).map(|z| z.to_vec()).collect();
        let decoded = model.decode_frames(&clip.neutral, &latents)?;
        for (t, frame) in decoded.iter().enumerate() {
            let err: Vec<f64> = frame
                .iter()
                .zip(clip.frame(t))
                .map(|(a, b)| {
                    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
                    1000.0 * ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as f64).sqrt()
                })
                .collect();
            mean_sum += err.iter().sum::<f64>() / err.len() as f64;
            lip_sum += lips.iter().map(|&i| err[i as usize]).fold(0.0, f64::max);
        }
        frames += decoded.len();
        clips += 1;
    }
    if frames == 0 {
        return Err("no clean test-split record in the store".into());
    }
    println!(
        "{clips} test clips, {frames} frames: mean vertex error {:.3} mm, lip-region max {:.3} mm \
         (GNPFA {fingerprint})",
        mean_sum / frames as f64,
        lip_sum / frames as f64
    );
    Ok(())
}
