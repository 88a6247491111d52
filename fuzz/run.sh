#!/usr/bin/env bash
# Fuzzes one parser: fuzz/run.sh TARGET [RUNS] (RUNS default 1000000). TARGET: obj, audio,
# ct2, gnpfa_checkpoint, denoiser_checkpoint, clip_dir, shard, bundle_manifest,
# whisper_checkpoint, wav2vec2_checkpoint, sentence_encoder, clip_model, bundle, tflite_model,
# video_manifest.
# Builds with nightly and cargo-fuzz (installed if missing), seeds fuzz/corpus/TARGET with
# valid inputs the first time, and stops at the first crash, leaving the input in
# fuzz/artifacts/TARGET. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"
targets="obj audio ct2 gnpfa_checkpoint denoiser_checkpoint clip_dir shard bundle_manifest
  whisper_checkpoint wav2vec2_checkpoint sentence_encoder clip_model bundle tflite_model
  video_manifest"
targets=$(echo $targets)
target=${1:?usage: fuzz/run.sh TARGET [RUNS] (TARGET: ${targets// /, })}
runs=${2:-1000000}
case " $targets " in
  *" $target "*) ;;
  *) echo "unknown target $target (${targets// /, })" >&2; exit 1 ;;
esac
# Largest input libFuzzer makes: a few times the target's largest seed (docs/fuzzing.md).
case "$target" in
  obj | audio) max_len=65536 ;;
  gnpfa_checkpoint | whisper_checkpoint | wav2vec2_checkpoint | sentence_encoder | clip_model) max_len=32768 ;;
  bundle) max_len=131072 ;;
  tflite_model) max_len=262144 ;;
  denoiser_checkpoint | clip_dir | shard) max_len=16384 ;;
  ct2) max_len=8192 ;;
  bundle_manifest | video_manifest) max_len=4096 ;;
esac
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# Debug assertions on (overflow checks, cargo-fuzz's default); no sanitizer: the code is safe
# Rust, and a panic or abort is what is being looked for.
fuzz=(cargo +nightly fuzz run --sanitizer none "$target")
corpus="corpus/$target"
if [ ! -d "$corpus" ]; then
  rm -rf "$corpus.tmp"
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
    *)
      # The target writes its own seeds (made with the crates' own writers) and exits.
      M2F_FUZZ_SEEDS="$PWD/$corpus.tmp" "${fuzz[@]}" "$corpus.tmp" -- -runs=0
      ;;
  esac
  mv "$corpus.tmp" "$corpus"
fi
exec "${fuzz[@]}" "$corpus" -- -runs="$runs" -max_len="$max_len" -print_final_stats=1
