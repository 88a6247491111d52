//! Size on disk of a shard store per component, and per hour of speech:
//! `cargo run --release -p m2f-dataset --example size_report -- out/shards`.

use std::collections::BTreeMap;

use m2f_dataset::{read_manifests, ShardStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .ok_or("usage: size_report SHARDS (a directory or URL)")?;
    let store = ShardStore::open_read(&target)?;
    let lines = read_manifests(&store)?;
    let mut bytes: BTreeMap<String, u64> = BTreeMap::new();
    let mut seconds = 0f64;
    for line in &lines {
        seconds += line.num_frames as f64 / line.fps as f64;
    }
    for key in store.list("records")? {
        let object = store.get_required(&key)?;
        let size = object.len() as u64;
        if key.ends_with("tensors.safetensors") {
            // Split the file into its tensors; the header and padding go to "header".
            let (_, meta) = safetensors::SafeTensors::read_metadata(&object)?;
            let mut counted = 0u64;
            for (name, info) in meta.tensors() {
                let n = (info.data_offsets.1 - info.data_offsets.0) as u64;
                counted += n;
                *bytes.entry(format!("tensor {name}")).or_default() += n;
            }
            *bytes.entry("tensor file header".into()).or_default() += size - counted.min(size);
        } else if key.contains("/features/") {
            *bytes.entry("features".into()).or_default() += size;
        } else {
            *bytes.entry("meta.json".into()).or_default() += size;
        }
    }
    for key in store.list("manifests")? {
        *bytes.entry("manifests".into()).or_default() += store.get_required(&key)?.len() as u64;
    }
    let hours = seconds / 3600.0;
    let total: u64 = bytes.values().sum();
    println!(
        "{}: {} records, {:.2} h of speech (all variants), {:.1} MB",
        store.name(),
        lines.len(),
        hours,
        total as f64 / 1e6
    );
    println!("| component | MB | MB per hour of speech |");
    println!("| --- | --- | --- |");
    for (name, b) in bytes
        .iter()
        .chain(std::iter::once((&"total".to_string(), &total)))
    {
        println!(
            "| {name} | {:.2} | {:.1} |",
            *b as f64 / 1e6,
            *b as f64 / 1e6 / hours.max(1e-9)
        );
    }
    Ok(())
}
