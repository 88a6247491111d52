#!/usr/bin/env bash
# Type-checks the media2face library for the browser (wasm32-unknown-unknown) with the features
# a browser build would use (no hub downloads), through a throwaway crate that depends on it as
# a web application would: it enables getrandom's Web Crypto backend, which a library must leave
# to the application. Catches native-only dependencies (C code, network stacks) and
# x86-only code on the generate path; run it after changing dependencies.
#
#   tools/check_wasm.sh        # needs: rustup target add wasm32-unknown-unknown
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
installed=$(rustup target list --installed) ||
  { echo "rustup is needed to find the wasm32-unknown-unknown target" >&2; exit 1; }
grep -qx wasm32-unknown-unknown <<<"$installed" ||
  { echo "the wasm32-unknown-unknown target is missing: rustup target add wasm32-unknown-unknown" >&2; exit 1; }
# The check's own build directory, absolute (the probe is built from elsewhere), under the
# workspace's target directory so that nothing lands beside the sources.
target="${CARGO_TARGET_DIR:-$repo/target}"
case $target in /*) ;; *) target="$repo/$target" ;; esac
target="$target/wasm-check"
probe=$(mktemp -d "${TMPDIR:-/tmp}/m2f-wasm-check.XXXXXX")
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/src"
cat >"$probe/Cargo.toml" <<TOML
[package]
name = "m2f-wasm-check"
version = "0.0.0"
edition = "2021"
publish = false

# Its own workspace, wherever TMPDIR is.
[workspace]

[dependencies]
media2face = { path = "$repo/crates/media2face", default-features = false }
getrandom = { version = "0.3", features = ["wasm_js"] }
TOML
cat >"$probe/src/lib.rs" <<'RS'
//! What a web page calls: a bundle from memory-backed files, then `generate`.
pub fn generate(dir: &std::path::Path, request: &media2face::Request) -> usize {
    let model = media2face::Media2Face::from_dir(dir).expect("bundle");
    model.generate(request).map(|a| a.frames()).unwrap_or(0)
}
RS
cp "$repo/Cargo.lock" "$probe/Cargo.lock"
cd "$probe"
CARGO_TARGET_DIR="$target" \
  RUSTFLAGS='--cfg getrandom_backend="wasm_js"' \
  cargo check --target wasm32-unknown-unknown --message-format short
echo "media2face type-checks for wasm32-unknown-unknown"
