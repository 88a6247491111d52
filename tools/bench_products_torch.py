#!/usr/bin/env python3
"""PyTorch (MKL) timing of the f32 products benches/benches/kernels.rs (`products` group) times
with the gemm crate: x [rows, d_in] through F.linear with a [d_out, d_in] weight and a bias.

2 threads, inference mode; prints the median of 15 runs after 3 warm-up runs and its rate.

    python tools/bench_products_torch.py
"""

import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)

# The same list as PRODUCTS in benches/benches/kernels.rs.
PRODUCTS = [
    ("denoiser paper, attention in", 600, 512, 1536),
    ("denoiser paper, feed-forward out", 600, 2048, 512),
    ("wav2vec2 conv 1, taps in one", 15999, 1536, 512),
    ("wav2vec2 feed-forward in", 499, 768, 3072),
    ("wav2vec2 feed-forward out", 499, 3072, 768),
    ("Whisper tiny.en 30 s, feed-forward in", 1500, 384, 1536),
    ("square", 1024, 1024, 1024),
]


def main():
    print(f"torch {torch.__version__}, {torch.backends.mkl.is_available() and 'MKL' or 'no MKL'}")
    with torch.inference_mode():
        for name, rows, d_in, d_out in PRODUCTS:
            x, w, b = torch.randn(rows, d_in), torch.randn(d_out, d_in) * 0.1, torch.randn(d_out)
            times = []
            for i in range(18):
                t0 = time.perf_counter()
                F.linear(x, w, b)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            flops = 2 * rows * d_in * d_out
            print(f"{name}: {rows} x {d_in} -> {d_out}: median {med * 1e3:.2f} ms, "
                  f"{flops / med / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
