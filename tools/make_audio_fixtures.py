#!/usr/bin/env python3
"""Parity fixtures for conditioning's Wav2Vec2 (crates/conditioning/tests/wav2vec2_parity.rs).

Builds tiny random Wav2Vec2 models with HF transformers, one per architecture variant the Rust
port supports, and writes for each, under crates/conditioning/tests/fixtures/wav2vec2_<name>/:

    config.json               the HF config (as save_pretrained writes it)
    preprocessor_config.json  the feature extractor config (do_normalize = true)
    model.safetensors         the weights, in the storage form named below
    reference.safetensors     input [1, N] (raw), input_normalized [1, N] (as the HF feature
                              extractor normalises it), last_hidden_state [1, T, H],
                              hidden_state_<k> [1, T, H] (HF hidden_states[k], an
                              intermediate layer's output), normalized_last_hidden_state
                              [1, T, H] (the model run on input_normalized)

Variants: feature norm group|layer x do_stable_layer_norm false|true, positional conv weight norm
stored as weight_g/weight_v (old torch), parametrizations.weight.original0/1 (new torch) or a
plain weight, with or without the `wav2vec2.` prefix (a Wav2Vec2ForCTC checkpoint).

Regenerate (needs torch + transformers; CI does not run this, the outputs are committed):

    python tools/make_audio_fixtures.py

It also writes tests/fixtures/wav2vec2_logmel/whisper_mel.safetensors: a 1 s input and HF's
WhisperFeatureExtractor(feature_size=80) log-mel of it (the recipe conditioning::log_mel follows),
first 101 frames.

Everything is seeded, so re-running gives the same files for the same torch version.
"""

import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Model

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "crates", "conditioning", "tests", "fixtures")

# name, feat_extract_norm, do_stable_layer_norm, weight-norm storage, ctc head (prefix), conv_bias
VARIANTS = [
    ("group_post_gv", "group", False, "g_v", False, False),
    ("layer_stable_param_ctc", "layer", True, "param", True, True),
    ("group_post_plain_ctc", "group", False, "plain", True, False),
    ("layer_post_param", "layer", False, "param", False, True),
]

INTERMEDIATE = 1  # hidden_states index of the intermediate output stored


def tiny_config(feat_norm, stable, conv_bias):
    return Wav2Vec2Config(
        vocab_size=12,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8, 8),
        conv_stride=(5, 2, 2),
        conv_kernel=(10, 3, 3),
        conv_bias=conv_bias,
        feat_extract_norm=feat_norm,
        do_stable_layer_norm=stable,
        num_conv_pos_embeddings=8,  # even: exercises the "same pad" trim
        num_conv_pos_embedding_groups=4,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        hidden_act="gelu",
        feat_extract_activation="gelu",
    )


def stored_state_dict(model, storage):
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    keys = list(sd)
    g = [k for k in keys if k.endswith("pos_conv_embed.conv.parametrizations.weight.original0")]
    old = [k for k in keys if k.endswith("pos_conv_embed.conv.weight_g")]
    if g:
        base = g[0][: -len("parametrizations.weight.original0")]
        g_t, v_t = sd.pop(base + "parametrizations.weight.original0"), sd.pop(
            base + "parametrizations.weight.original1"
        )
    elif old:
        base = old[0][: -len("weight_g")]
        g_t, v_t = sd.pop(base + "weight_g"), sd.pop(base + "weight_v")
    else:
        sys.exit("no weight-normed positional conv found in the state dict")
    if storage == "g_v":
        sd[base + "weight_g"], sd[base + "weight_v"] = g_t, v_t
    elif storage == "param":
        sd[base + "parametrizations.weight.original0"] = g_t
        sd[base + "parametrizations.weight.original1"] = v_t
    else:
        # w = g * v / ||v||, the norm over every dim but the kernel dim (weight_norm dim=2).
        norm = v_t.norm(dim=(0, 1), keepdim=True)
        sd[base + "weight"] = (g_t * v_t / norm).contiguous()
    # The masking embedding only matters for pre-training; drop it to keep files small.
    return {k: v for k, v in sd.items() if not k.endswith("masked_spec_embed")}


def log_mel_fixture():
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=80)
    n = 16000
    x = (
        0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
        + 0.05 * np.random.default_rng(0).standard_normal(n)
    ).astype(np.float32)
    mel = fe(x, sampling_rate=16000, return_tensors="np").input_features[0][:, :101]
    d = os.path.join(OUT, "wav2vec2_logmel")
    os.makedirs(d, exist_ok=True)
    save_file(
        {"input": torch.from_numpy(x), "log_mel": torch.from_numpy(np.ascontiguousarray(mel))},
        os.path.join(d, "whisper_mel.safetensors"),
    )


def main():
    os.makedirs(OUT, exist_ok=True)
    log_mel_fixture()
    for i, (name, feat_norm, stable, storage, ctc, conv_bias) in enumerate(VARIANTS):
        torch.manual_seed(1234 + i)
        cfg = tiny_config(feat_norm, stable, conv_bias)
        model = (Wav2Vec2ForCTC(cfg) if ctc else Wav2Vec2Model(cfg)).eval()
        # Random init leaves LayerNorm at (1, 0) and biases at 0: perturb them so the test
        # would see a wrong affine or bias.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "norm" in pname or pname.endswith("bias"):
                    p.add_(0.1 * torch.randn_like(p))
        base = model.wav2vec2 if ctc else model

        rng = np.random.default_rng(42 + i)
        n = 1600
        t = np.arange(n) / 16000.0
        x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n) + 0.1).astype(
            np.float32
        )
        fe = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
            return_attention_mask=False,
        )
        xn = fe(x, sampling_rate=16000, return_tensors="np").input_values.astype(np.float32)

        with torch.no_grad():
            out = base(torch.from_numpy(x)[None], output_hidden_states=True)
            out_n = base(torch.from_numpy(xn), output_hidden_states=False)

        d = os.path.join(OUT, f"wav2vec2_{name}")
        os.makedirs(d, exist_ok=True)
        cfg.architectures = ["Wav2Vec2ForCTC" if ctc else "Wav2Vec2Model"]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg.to_dict(), f, indent=2, sort_keys=True, default=str)
        fe.save_pretrained(d)
        save_file(stored_state_dict(model, storage), os.path.join(d, "model.safetensors"))
        save_file(
            {
                "input": torch.from_numpy(x)[None].contiguous(),
                "input_normalized": torch.from_numpy(xn).contiguous(),
                "last_hidden_state": out.last_hidden_state.contiguous(),
                f"hidden_state_{INTERMEDIATE}": out.hidden_states[INTERMEDIATE].contiguous(),
                "normalized_last_hidden_state": out_n.last_hidden_state.contiguous(),
            },
            os.path.join(d, "reference.safetensors"),
        )
        print(name, tuple(out.last_hidden_state.shape))


if __name__ == "__main__":
    main()
