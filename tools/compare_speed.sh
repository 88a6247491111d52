#!/usr/bin/env bash
# Side-by-side speed of the candle models and their reference engines, back to back: for each
# round and each model, the load average, then the candle bench (criterion), then the
# reference script, each under `vmstat` so that the CPU's idle share during the run is
# recorded next to its times. The machine is shared and noisy: read the ratios within a round.
#
#   tools/compare_speed.sh [ROUNDS] [MODEL...]     # MODEL: wav2vec2 whisper diffusion style products
#
# Needs PYTHON (default python3) with torch, transformers and ctranslate2 (a venv outside the
# repository), M2F_MINILM_DIR and M2F_WHISPER_CT2_DIR as scripts/test.sh sets them, and
# CARGO_TARGET_DIR if the benches were built elsewhere. Output: one block per round and model.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(style whisper diffusion wav2vec2 products)
py=${PYTHON:-python3}
cache="${M2F_CACHE:-$HOME/.cache/media2face}"
export M2F_MINILM_DIR="${M2F_MINILM_DIR:-$cache/models/all-MiniLM-L6-v2}"
export M2F_WHISPER_CT2_DIR="${M2F_WHISPER_CT2_DIR:-$cache/models/whisper-tiny.en-ct2}"

echo "# $(date -u '+%F %T UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs," \
  "vector extensions: $(grep -o -w -E 'avx2|avx512f|fma|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# torch: $("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo absent)," \
  "ctranslate2: $("$py" -c 'import ctranslate2; print(ctranslate2.__version__)' 2>/dev/null || echo absent)"

# Builds every bench once before the first round, so that no round times a compile.
cargo bench -p m2f-benches --no-run -q 2>/dev/null

# run LABEL COMMAND...: the command's output lines of interest, with the load before it and the
# mean CPU idle (vmstat) while it ran.
run() {
  local label=$1
  shift
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local stat
  stat=$(mktemp)
  vmstat 1 >"$stat" &
  local vm=$!
  local out
  out=$("$@" 2>&1 | grep -E 'bench:|median|best of|ms|GFLOP' || true)
  kill "$vm" 2>/dev/null || true
  wait "$vm" 2>/dev/null || true
  local idle
  idle=$(awk 'NR > 3 { s += $15; n++ } END { if (n) printf "%.0f", s / n; else print "?" }' "$stat")
  rm -f "$stat"
  echo "## $label (load before $load, CPU idle during ${idle} %)"
  echo "$out"
}

bench() {
  cargo bench -q -p m2f-benches --bench "$1" -- "${@:2}" --output-format bencher
}

for round in $(seq 1 "$rounds"); do
  for model in "${models[@]}"; do
    echo "# round $round: $model"
    case $model in
      wav2vec2)
        run "candle" bench wav2vec2 wav2vec2 --warm-up-time 1 --measurement-time 5 --sample-size 10
        run "PyTorch" "$py" tools/bench_wav2vec2_torch.py
        ;;
      whisper)
        run "candle" bench whisper --warm-up-time 1 --measurement-time 3
        run "CTranslate2" "$py" tools/bench_whisper_ct2.py "$M2F_WHISPER_CT2_DIR"
        ;;
      diffusion)
        run "candle" bench diffusion --warm-up-time 1 --measurement-time 5 --sample-size 10
        run "PyTorch small" "$py" tools/diffusion_reference.py bench --preset small --threads 2
        run "PyTorch paper" "$py" tools/diffusion_reference.py bench --preset paper --threads 2
        ;;
      style)
        run "candle" bench style --warm-up-time 1 --measurement-time 3
        run "PyTorch" "$py" tools/bench_style_torch.py "$M2F_MINILM_DIR"
        ;;
      products)
        run "gemm" bench kernels products/ --warm-up-time 1 --measurement-time 3
        run "PyTorch (MKL)" "$py" tools/bench_products_torch.py
        ;;
      *)
        echo "unknown model $model (wav2vec2, whisper, diffusion, style, products)" >&2
        exit 2
        ;;
    esac
  done
done
