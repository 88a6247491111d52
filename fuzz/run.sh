#!/usr/bin/env bash
# Fuzzes one parser: fuzz/run.sh TARGET [RUNS] (TARGET: obj, audio; RUNS default 1000000).
# Builds with nightly and cargo-fuzz (installed if missing), seeds fuzz/corpus/TARGET with
# valid files the first time, and stops at the first crash, leaving the input in
# fuzz/artifacts/TARGET. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh obj|audio [RUNS]}
runs=${2:-1000000}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
corpus="corpus/$target"
if [ ! -d "$corpus" ]; then
  mkdir -p "$corpus.tmp"
  case "$target" in
    obj)
      cp ../assets/canonical_face_model.obj "$corpus.tmp/canonical.obj"
      printf 'v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n' >"$corpus.tmp/uv.obj"
      printf 'v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf -4 -3 -2 -1\n' >"$corpus.tmp/quad.obj"
      ;;
    audio)
      command -v ffmpeg >/dev/null 2>&1 || { echo "the audio corpus is made with ffmpeg" >&2; exit 1; }
      src="aevalsrc=0.4*sin(2*PI*(200+900*t)*t)|0.3*sin(2*PI*300*t):s=22050:d=0.3"
      # The first byte picks the decoder's extension hint (fuzz_targets/audio.rs).
      i=1
      for spec in "wav pcm_s16le" "mp3 libmp3lame" "flac flac" "ogg libvorbis" "m4a aac"; do
        set -- $spec
        ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$src" -c:a "$2" "$corpus.tmp/x.$1"
        { printf "\\x$(printf %02x $i)"; cat "$corpus.tmp/x.$1"; } >"$corpus.tmp/seed_$1"
        rm "$corpus.tmp/x.$1"
        i=$((i + 1))
      done
      ;;
    *) echo "unknown target $target (obj, audio)" >&2; exit 1 ;;
  esac
  mv "$corpus.tmp" "$corpus"
fi
# Debug assertions on (overflow checks); no sanitizer: the code is safe Rust, and a panic or
# abort is what is being looked for.
exec cargo +nightly fuzz run --sanitizer none "$target" "$corpus" -- \
  -runs="$runs" -max_len=65536 -print_final_stats=1
