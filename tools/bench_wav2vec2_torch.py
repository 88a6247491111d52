#!/usr/bin/env python3
"""PyTorch timing of the model benches/benches/wav2vec2.rs times in candle.

A random wav2vec2-base-sized Wav2Vec2Model (12 layers, width 768, ffn 3072, conv stack of 512
channels), eval mode, no grad, 2 threads, on the same 10 s input (two sines, formula below and in
the Rust bench). Prints the median of 10 runs after 2 warm-up runs.

    python tools/bench_wav2vec2_torch.py
"""

import statistics
import time

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

torch.set_num_threads(2)
torch.manual_seed(0)


def bench_input(seconds):
    t = np.arange(16000 * seconds, dtype=np.float32) / np.float32(16000.0)
    return (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.1 * np.sin(2 * np.pi * 1375.0 * t)).astype(
        np.float32
    )


def main():
    # "eager" is plain matmul + softmax attention, as the candle port; "sdpa" is torch's fused
    # kernel, which is what transformers uses by default.
    for attn in ["eager", "sdpa"]:
        cfg = Wav2Vec2Config(attn_implementation=attn)  # the defaults are wav2vec2-base
        assert cfg.hidden_size == 768 and cfg.num_hidden_layers == 12
        assert cfg.intermediate_size == 3072 and cfg.conv_dim[0] == 512
        model = Wav2Vec2Model(cfg)
        model.eval()
        x = torch.from_numpy(bench_input(10))[None]
        times = []
        with torch.inference_mode():
            for i in range(12):
                t0 = time.perf_counter()
                model(x)
                dt = time.perf_counter() - t0
                if i >= 2:
                    times.append(dt)
        front = []
        with torch.inference_mode():
            for i in range(6):
                t0 = time.perf_counter()
                model.feature_extractor(x)
                if i >= 1:
                    front.append(time.perf_counter() - t0)
        print(
            f"torch {torch.__version__} conv feature extractor alone: "
            f"median {statistics.median(front) * 1000:.0f} ms"
        )
        print(
            f"torch {torch.__version__} wav2vec2-base 10 s ({attn} attention, 2 threads): "
            f"median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
