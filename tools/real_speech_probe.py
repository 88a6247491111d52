"""Lip sync of `m2f generate` on real human recordings, against machine phone alignments.

The recordings: five LibriVox sentences (one US male reader, public domain, 3-7 s) that the
PyPI source archive pocketsphinx==5.1.1 ships under test/data/librivox with pocketsphinx's
phone alignments (BSD-2). The script downloads that archive from PyPI once (checked by
SHA-256), generates each clip with `m2f generate -o CLIP.json`, and scores the inner-lip
gap (landmarks 13 and 14 of the MediaPipe face):

- bilabial closure: /p b m/ phones during which the gap falls under 1.5 mm;
- the same for vowels, the rate at which the mouth closes anyway (coarticulation, chance);
- open-vowel peak: the largest gap during /aa ae ah ao aw ay/, mean in millimetres.

Usage: python3 tools/real_speech_probe.py [--m2f PATH] [--model DIR] [--cache DIR]
Standard library only.
"""

import argparse
import hashlib
import json
import math
import os
import subprocess
import tarfile
import urllib.request

SDIST = "https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/pocketsphinx-5.1.1.tar.gz"
SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
CLIPS = ["0870", "0880", "0890", "0920", "0930"]
OPEN = {"AA", "AE", "AH", "AO", "AW", "AY"}
VOWELS = OPEN | {"EH", "IY", "IH", "EY", "OW", "UW", "UH", "ER", "OY"}


def fetch(cache):
    done = os.path.join(cache, "librivox", ".complete")
    if os.path.exists(done):
        return os.path.join(cache, "librivox")
    os.makedirs(cache, exist_ok=True)
    archive = os.path.join(cache, "pocketsphinx-5.1.1.tar.gz")
    if not os.path.exists(archive):
        print(f"downloading {SDIST}")
        urllib.request.urlretrieve(SDIST, archive + ".tmp")
        os.replace(archive + ".tmp", archive)
    got = hashlib.sha256(open(archive, "rb").read()).hexdigest()
    if got != SHA256:
        raise SystemExit(f"{archive}: SHA-256 {got}, expected {SHA256}")
    out = os.path.join(cache, "librivox")
    os.makedirs(out, exist_ok=True)
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if "/test/data/librivox/" in m.name and m.isfile():
                with open(os.path.join(out, os.path.basename(m.name)), "wb") as f:
                    f.write(t.extractfile(m).read())
    open(done, "w").write(SHA256 + "\n")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--m2f", default="m2f")
    p.add_argument("--model")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/media2face/real-speech"))
    a = p.parse_args()
    data = fetch(a.cache)
    totals = {"bilabial": [0, 0], "vowel": [0, 0]}
    peaks = []
    for clip in CLIPS:
        stem = os.path.join(data, f"sense_and_sensibility_01_austen_64kb-{clip}")
        out = os.path.join(a.cache, f"{clip}.json")
        cmd = [a.m2f, "generate", stem + ".wav", "-o", out]
        if a.model:
            cmd += ["--model", a.model]
        subprocess.run(cmd, check=True, capture_output=True)
        anim = json.load(open(out))
        gap = [math.dist(v[13], v[14]) * 1000 for v in anim["vertices"]]
        fps = anim["fps"]
        phones = [ph for w in json.load(open(stem + ".phone.json"))["w"] for ph in w["w"]]
        closed = {"bilabial": [0, 0], "vowel": [0, 0]}
        clip_peaks = []
        for ph in phones:
            a0 = int(ph["b"] * fps)
            a1 = min(max(a0 + 1, math.ceil((ph["b"] + ph["d"]) * fps)), len(gap))
            if a0 >= len(gap):
                continue
            kind = "bilabial" if ph["t"] in ("P", "B", "M") else "vowel" if ph["t"] in VOWELS else None
            if kind:
                closed[kind][0] += min(gap[a0:a1]) < 1.5
                closed[kind][1] += 1
            if ph["t"] in OPEN:
                clip_peaks.append(max(gap[a0:a1]))
        for k in totals:
            totals[k][0] += closed[k][0]
            totals[k][1] += closed[k][1]
        peaks += clip_peaks
        print(
            f"{clip}: bilabials closed {closed['bilabial'][0]}/{closed['bilabial'][1]}, "
            f"vowels closed {closed['vowel'][0]}/{closed['vowel'][1]}, open-vowel peak "
            f"{sum(clip_peaks) / max(len(clip_peaks), 1):.1f} mm"
        )
    b, v = totals["bilabial"], totals["vowel"]
    print(
        f"all: bilabial closure {b[0]}/{b[1]} = {b[0] / b[1]:.2f}; vowels closed anyway "
        f"{v[0]}/{v[1]} = {v[0] / v[1]:.2f}; open-vowel peak {sum(peaks) / len(peaks):.1f} mm "
        f"over {len(peaks)}"
    )


if __name__ == "__main__":
    main()
