#!/usr/bin/env python3
"""PyTorch timing of the style encoders benches/benches/style.rs times in candle.

- CLIP text tower of ViT-B/32 size (HF's default CLIPTextConfig: 12 layers, width 512), random
  weights, with its projection, on the same 9 token ids.
- all-MiniLM-L6-v2 (real weights from a local directory): tokenise, BERT, attention-masked
  mean pooling and L2 normalisation of one prompt, as sentence-transformers computes it.

2 threads, inference mode; prints the median of 50 runs after 5 warm-up runs.

    python tools/bench_style_torch.py [MINILM_DIR]   # default: $M2F_MINILM_DIR
"""

import os
import statistics
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer, CLIPTextConfig, CLIPTextModelWithProjection

torch.set_num_threads(2)
torch.manual_seed(0)

PROMPT = "a happy person laughing out loud"


def median_ms(f, runs=50, warmup=5):
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            f()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    clip = CLIPTextModelWithProjection(CLIPTextConfig()).eval()
    ids = torch.tensor([[49406, 320, 900, 2533, 2801, 798, 1210, 3271, 49407]])
    print(f"torch {torch.__version__} CLIP text tower (base, random), 9 tokens: "
          f"median {median_ms(lambda: clip(input_ids=ids).text_embeds):.2f} ms")

    minilm_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ["M2F_MINILM_DIR"]
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    bert = AutoModel.from_pretrained(minilm_dir).eval()

    def embed():
        enc = tokenizer([PROMPT], padding=True, truncation=True, return_tensors="pt")
        hidden = bert(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=-1)

    print(f"torch {torch.__version__} all-MiniLM-L6-v2, one prompt (tokenize + embed): "
          f"median {median_ms(embed):.2f} ms")


if __name__ == "__main__":
    main()
