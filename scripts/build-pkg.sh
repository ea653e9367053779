#!/usr/bin/env bash
# Builds the npm package in pkg/ with wasm-pack (--target web), adds the <liveform-capture>
# element and its helpers from src/js/ (scripts/pkg-finish.mjs), then shrinks the wasm with
# the npm binaryen wasm-opt.  Usage: build-pkg.sh [release|dev]
# LIVEFORM_PKG_OUT: another output directory (the benchmarks build a release package beside
# the dev one the tests use); default pkg.
# LIVEFORM_RELAXED_SIMD=1: also enable wasm relaxed SIMD (fused multiply-add in the engine's
# kernels), a benchmark variant: a browser without relaxed SIMD cannot compile it.
# LIVEFORM_OPT_LEVEL=s|z (release): a size-first build (cargo's opt-level).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck disable=SC1091
source scripts/env.sh
profile=${1:-release}
out=${LIVEFORM_PKG_OUT:-pkg}
wasm_features=(--enable-simd)
if [ "${LIVEFORM_RELAXED_SIMD:-0}" = 1 ]; then
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd"
  wasm_features+=(--enable-relaxed-simd)
fi
case "${LIVEFORM_OPT_LEVEL:-}" in
  "") ;;
  s | z)
    [ "$profile" = release ] || { echo "build-pkg: LIVEFORM_OPT_LEVEL is for release builds" >&2; exit 1; }
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=$LIVEFORM_OPT_LEVEL ;;
  *) echo "build-pkg: LIVEFORM_OPT_LEVEL must be s or z" >&2; exit 1 ;;
esac
wasm-pack build --target web --mode no-install "--$profile" --out-dir "$out" --out-name liveform .
node scripts/pkg-finish.mjs "$out"
wasm=$out/liveform_bg.wasm
if [ "$profile" = release ]; then
  before=$(stat -c %s "$wasm")
  wasm-opt -O3 "${wasm_features[@]}" --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
    "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm"
  echo "wasm-opt: $before -> $(stat -c %s "$wasm") bytes"
fi
echo "$out/: $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip"
