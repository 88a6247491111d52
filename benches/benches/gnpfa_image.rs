//! GNPFA's image encoders at the default size (96-pixel crops): rendering a training batch,
//! reading a batch of crops (E_exp + E_pose), and one training step's loss and gradients.

use std::path::Path;

use candle_core::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gnpfa::{
    image_losses, init_with_geometry, ImageBatchSource, ImageEncoderConfig, RenderRanges, TrainData,
};
use m2f_mesh::FaceTemplate;
use m2f_synth::identity_rig;

const BATCH: usize = 64;

fn gnpfa_image(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/gnpfa");
    let template = FaceTemplate::mediapipe();
    let cfg = ImageEncoderConfig::for_template(&template.mesh.vertices);
    let dev = Device::Cpu;
    let (model, _, _) = init_with_geometry(&dir, &cfg, &dev, 0).expect("weights/gnpfa");
    let train: Vec<_> = (0..8)
        .map(|id| identity_rig(1, id, &template).expect("identity rig"))
        .collect();
    let data = TrainData {
        train,
        ..TrainData::default()
    };
    let source = ImageBatchSource::new(&data, &model, &cfg, &RenderRanges::default());
    let batch_at = |step: u64| source.batch_at(BATCH, 0, step, &dev).expect("batch");
    let batch = batch_at(0);
    let refs: Vec<&image::RgbImage> = batch.images.iter().collect();
    let mut g = c.benchmark_group("gnpfa image encoders, 64 crops of 96 px");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.bench_function("render a training batch", |b| b.iter(|| batch_at(1)));
    g.bench_function("encode (E_exp + E_pose)", |b| {
        b.iter(|| model.encode_images(&refs).expect("encode"))
    });
    g.bench_function("training loss + gradients", |b| {
        b.iter(|| {
            image_losses(&model, &batch)
                .expect("loss")
                .total
                .backward()
                .expect("backward")
        })
    });
    g.finish();
}

criterion_group!(benches, gnpfa_image);
criterion_main!(benches);
