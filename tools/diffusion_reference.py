#!/usr/bin/env python3
"""The Media2Face denoiser of crates/diffusion in PyTorch: the parity reference and the
speed reference for the Rust implementation (docs/diffusion.md).

The module below is written from the architecture, not translated from the Rust code: a
pre-norm transformer decoder over frames of [z, θ], sinusoidal step embedding through an MLP
added to every frame, sinusoidal frame positions, and cross-attention to the memory
[null; audio frames; style] with an additive bias that hides what a prediction may not see.
It loads a diffusion checkpoint directory (config.json + model.safetensors) as the Rust
crate writes it.

Two commands:

    python tools/diffusion_reference.py fixtures OUT_DIR
        Writes a tiny random-weight checkpoint and reference.safetensors (inputs and outputs)
        to OUT_DIR; crates/diffusion/tests/parity.rs checks the Rust denoiser against them.
        The committed fixture is crates/diffusion/tests/fixtures/tiny.

    python tools/diffusion_reference.py bench --preset small|paper [--threads 2] [--runs 5]
        Times one guided denoiser step (the three guidance terms as one batch) on a 200-frame
        window and sampling per second of audio at 10, 25 and 50 DDIM steps, with random
        weights, on the CPU. The Rust side is the `diffusion` criterion bench.

Needs torch, numpy and safetensors (CI does not run this).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HIDDEN = -1e9


def sinusoids(positions, dim):
    """[len] → [len, dim]: sin at even, cos at odd channels, wavelengths 2π … 10000·2π."""
    i = torch.arange(0, dim, 2, dtype=torch.float64)
    freq = torch.exp(-math.log(10000.0) * i / dim)
    angle = positions.to(torch.float64)[:, None] * freq[None, :]
    out = torch.zeros(len(positions), dim, dtype=torch.float64)
    out[:, 0::2] = torch.sin(angle)
    out[:, 1::2] = torch.cos(angle)[:, : dim // 2]
    return out.float()


class Attention(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = torch.nn.Linear(d, d)
        self.k_proj = torch.nn.Linear(d, d)
        self.v_proj = torch.nn.Linear(d, d)
        self.out_proj = torch.nn.Linear(d, d)

    def split(self, x):
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def key_values(self, memory):
        return self.split(self.k_proj(memory)), self.split(self.v_proj(memory))

    def forward(self, x, kv, bias):
        """x [B, N, d]; kv of Bm memories with B = g·Bm (query i·Bm + j reads memory j)."""
        k, v = kv
        b, n, d = x.shape
        bm = k.shape[0]
        g = b // bm
        q = self.split(self.q_proj(x))  # [B, H, N, dh]
        k = k.repeat(g, 1, 1, 1)
        v = v.repeat(g, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias[:, None] if bias is not None else None)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class Layer(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.self_attn_norm = torch.nn.LayerNorm(d, eps=eps)
        self.self_attn = Attention(d, cfg["num_heads"])
        self.cross_attn_norm = torch.nn.LayerNorm(d, eps=eps)
        self.cross_attn = Attention(d, cfg["num_heads"])
        self.ff_norm = torch.nn.LayerNorm(d, eps=eps)
        self.ff = torch.nn.ModuleDict(
            {"fc1": torch.nn.Linear(d, cfg["intermediate_size"]), "fc2": torch.nn.Linear(cfg["intermediate_size"], d)}
        )
        assert cfg["activation"] == "gelu", cfg["activation"]

    def forward(self, h, kv, cross_bias, self_bias):
        x = self.self_attn_norm(h)
        h = h + self.self_attn(x, self.self_attn.key_values(x), self_bias)
        h = h + self.cross_attn(self.cross_attn_norm(h), kv, cross_bias)
        return h + self.ff["fc2"](F.gelu(self.ff["fc1"](self.ff_norm(h))))


class Mlp(torch.nn.Module):
    """Linear layers l0, l1, … with SiLU between them."""

    def __init__(self, sizes):
        super().__init__()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.add_module(f"l{i}", torch.nn.Linear(a, b))
        self.n = len(sizes) - 1

    def forward(self, x):
        for i in range(self.n):
            x = getattr(self, f"l{i}")(x)
            if i < self.n - 1:
                x = F.silu(x)
        return x


class Denoiser(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["hidden_size"]
        c = cfg["latent_dim"] + cfg["pose_dim"]
        self.input_proj = torch.nn.Linear(c, d)
        self.time_embed = Mlp([d, d, d])
        self.audio_proj = torch.nn.Linear(cfg["audio_dim"], d)
        if cfg["text_style_dim"]:
            self.text_style_proj = torch.nn.Linear(cfg["text_style_dim"], d)
        if cfg["image_style_dim"]:
            self.image_style_proj = Mlp([cfg["image_style_dim"], d, d])
        self.null_memory = torch.nn.Parameter(torch.zeros(1, 1, d))
        self.memory_norm = torch.nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.layers = torch.nn.ModuleList([Layer(cfg) for _ in range(cfg["num_layers"])])
        self.final_norm = torch.nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.output_proj = torch.nn.Linear(d, c)

    def memory(self, audio, text=None, image=None):
        """audio [B, N, F]; one of text [B, Dt] / image [B, Di] or neither → [B, N + 2, d]."""
        b, n, _ = audio.shape
        d = self.cfg["hidden_size"]
        a = self.audio_proj(audio) + sinusoids(torch.arange(n), d)[None]
        if text is not None:
            s = self.text_style_proj(text)[:, None]
        elif image is not None:
            s = self.image_style_proj(image)[:, None]
        else:
            s = torch.zeros(b, 1, d)
        cond = self.memory_norm(torch.cat([a, s], 1))
        return torch.cat([self.null_memory.expand(b, 1, d), cond], 1)

    def memory_key_values(self, memory):
        return [layer.cross_attn.key_values(memory) for layer in self.layers]

    def forward(self, x_t, timesteps, kvs, cross_bias, self_bias=None):
        b, n, _ = x_t.shape
        d = self.cfg["hidden_size"]
        t = torch.as_tensor(timesteps, dtype=torch.float32).expand(b) if len(timesteps) == 1 else torch.as_tensor(timesteps, dtype=torch.float32)
        time = self.time_embed(sinusoids(t, d))[:, None]
        h = self.input_proj(x_t) + sinusoids(torch.arange(n), d)[None] + time
        for layer, kv in zip(self.layers, kvs):
            h = layer(h, kv, cross_bias, self_bias)
        return self.output_proj(self.final_norm(h))


def cross_attention_bias(frames, conditions, radius):
    """conditions: list of (audio, style) booleans → [B, N, N + 2]."""
    m = frames + 2
    bias = torch.full((len(conditions), frames, m), HIDDEN)
    for b, (audio, style) in enumerate(conditions):
        for i in range(frames):
            bias[b, i, 0] = 0.0
            if audio:
                lo, hi = (0, frames - 1) if radius is None else (max(0, i - radius), min(frames - 1, i + radius))
                bias[b, i, 1 + lo : 2 + hi] = 0.0
            if style:
                bias[b, i, m - 1] = 0.0
    return bias


def cosine_alpha_bar(steps):
    f = lambda t: math.cos(((t / steps + 0.008) / 1.008) * math.pi / 2) ** 2
    acc, out = 1.0, []
    for i in range(steps):
        acc *= 1.0 - min(1.0 - f(i + 1) / f(i), 0.999)
        out.append(acc)
    return out


def ddim_timesteps(steps, t):
    if steps <= 1:
        return [t - 1]
    return [round((t - 1) * (steps - 1 - i) / (steps - 1)) for i in range(steps)]


@torch.no_grad()
def sample(model, audio, text, steps, s_a=2.5, s_p=1.5, seed=0):
    """Guided DDIM (η = 0) on one window: audio [1, N, F], text [1, Dt]."""
    cfg = model.cfg
    n = audio.shape[1]
    c = cfg["latent_dim"] + cfg["pose_dim"]
    kv = model.memory_key_values(model.memory(audio, text=text))
    terms = [((False, False), 1 - s_a - s_p), ((True, False), s_a), ((True, True), s_p)]
    terms = [t for t in terms if t[1] != 0]
    bias = cross_attention_bias(n, [t[0] for t in terms], cfg["audio_radius"])
    w = torch.tensor([t[1] for t in terms])[:, None, None]
    ab = cosine_alpha_bar(cfg["diffusion_steps"])
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, n, c, generator=g)
    taus = ddim_timesteps(steps, cfg["diffusion_steps"])
    for i, t in enumerate(taus):
        x0 = (model(x.expand(len(terms), n, c), [t], kv, bias) * w).sum(0, keepdim=True)
        if i + 1 == len(taus):
            return x0
        a, ap = ab[t], ab[taus[i + 1]]
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
    return x


def load(dir_):
    cfg = json.loads((Path(dir_) / "config.json").read_text())["model"]
    model = Denoiser(cfg)
    model.load_state_dict(load_file(str(Path(dir_) / "model.safetensors")), strict=True)
    return model.eval()


def tiny_config():
    return {
        "latent_dim": 4, "pose_dim": 6, "audio_dim": 8, "text_style_dim": 5, "image_style_dim": 4,
        "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
        "activation": "gelu", "layer_norm_eps": 1e-5, "window": 24, "fps": 30.0,
        "audio_radius": 3, "diffusion_steps": 50, "noise_schedule": "cosine",
    }


def preset(name, audio_dim=384):
    cfg = dict(tiny_config(), latent_dim=64, audio_dim=audio_dim, text_style_dim=384, image_style_dim=64,
               window=200, audio_radius=10, diffusion_steps=500)
    if name == "paper":
        cfg.update(hidden_size=512, num_layers=8, num_heads=4, intermediate_size=1024)
    else:
        cfg.update(hidden_size=192, num_layers=3, num_heads=4, intermediate_size=384)
    return cfg


@torch.no_grad()
def fixtures(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    cfg = tiny_config()
    model = Denoiser(cfg)
    # Non-trivial norms and null token (a fresh model has 1, 0 and zeros there).
    for name, p in model.named_parameters():
        if "norm" in name or name == "null_memory":
            p.add_(0.2 * torch.randn_like(p))
    c = cfg["latent_dim"] + cfg["pose_dim"]
    n = 20
    audio = torch.randn(2, n, cfg["audio_dim"])
    text = torch.randn(2, cfg["text_style_dim"])
    image = torch.randn(2, cfg["image_style_dim"])
    x_t = torch.randn(2, n, c)
    conditions = [(False, False), (True, False), (True, True), (True, True)]
    # Two windows' memories (text style), four queries: branch i of window j is row i·2 + j.
    mem = model.memory(audio, text=text)
    kv = model.memory_key_values(mem)
    xs = torch.cat([x_t, x_t], 0)
    bias = cross_attention_bias(n, conditions, cfg["audio_radius"])
    mask = torch.ones(4, n)
    mask[3, -4:] = 0
    self_bias = torch.where(mask[:, None, :] > 0.5, 0.0, HIDDEN).expand(4, n, n).contiguous()
    out_text = model(xs, [3, 17, 30, 49], kv, bias, self_bias)
    mem_img = model.memory(audio, image=image)
    out_image = model(x_t, [11], model.memory_key_values(mem_img), cross_attention_bias(n, [(True, True)] * 2, cfg["audio_radius"]))
    ckpt = {
        "format": "media2face-diffusion", "format_version": 1, "model": cfg,
        "motion_stats": {"mean": [0.0] * c, "std": [1.0] * c},
        "audio_features": "test:random",
        "provenance": {"created_by": "tools/diffusion_reference.py fixtures"},
    }
    (out / "config.json").write_text(json.dumps(ckpt, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    save_file(
        {
            "audio": audio, "text": text, "image": image, "x_t": x_t,
            "memory_text": mem.contiguous(), "out_text": out_text.contiguous(),
            "out_image": out_image.contiguous(),
        },
        str(out / "reference.safetensors"),
    )
    print(f"wrote {out}")


def bench(preset_name, threads, runs):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = preset(preset_name)
    model = Denoiser(cfg).eval()
    n = cfg["window"]
    c = cfg["latent_dim"] + cfg["pose_dim"]
    audio = torch.randn(1, n, cfg["audio_dim"])
    text = torch.randn(1, cfg["text_style_dim"])
    with torch.no_grad():
        kv = model.memory_key_values(model.memory(audio, text=text))
        bias = cross_attention_bias(n, [(False, False), (True, False), (True, True)], cfg["audio_radius"])
        x = torch.randn(3, n, c)
        model(x, [100], kv, bias)
        best = math.inf
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x, [100], kv, bias)
            best = min(best, time.perf_counter() - t0)
    print(f"{preset_name}: one guided step (3 × {n} frames): {best * 1e3:.1f} ms (best of {runs}, {threads} threads)")
    for steps in (10, 25, 50) if preset_name == "small" else (10,):
        dt = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            sample(model, audio, text, steps)
            dt = min(dt, time.perf_counter() - t0)
        print(f"{preset_name}: {steps} steps on {n} frames ({n / cfg['fps']:.2f} s): {dt:.3f} s (best of 3), {dt / (n / cfg['fps']):.3f} s per second of audio")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("out")
    b = sub.add_parser("bench")
    b.add_argument("--preset", default="small", choices=["small", "paper"])
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    if a.cmd == "fixtures":
        fixtures(a.out)
    else:
        bench(a.preset, a.threads, a.runs)


if __name__ == "__main__":
    sys.exit(main())
