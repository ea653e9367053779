#!/usr/bin/env bash
# Builds the npm package in pkg/ with wasm-pack (--target web), adds the <liveform-capture>
# element and its helpers from src/js/ (scripts/pkg-finish.mjs), then shrinks the wasm with
# the npm binaryen wasm-opt.  Usage: build-pkg.sh [release|dev]
# LIVEFORM_PKG_OUT: another output directory (the benchmarks build a release package beside
# the dev one the tests use); default pkg.
# LIVEFORM_RELAXED_SIMD=1: also enable wasm relaxed SIMD (tract's FMA kernels), a benchmark
# variant: a browser without relaxed SIMD cannot compile it.
# tract-core and tract-nnef are patched in from copies without tract's named model transforms
# (scripts/trim-tract.mjs says why: −0.9 MB gzip); LIVEFORM_TRACT_TRIM=0 builds with stock tract.
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
cargo_args=()
if [ "${LIVEFORM_TRACT_TRIM:-1}" = 1 ]; then
  trimmed=${LIVEFORM_CACHE:-$HOME/.cache/liveform}/tract-trimmed
  while read -r dir; do
    crate=$(basename "$dir"); crate=${crate%-*}
    cargo_args+=(--config "patch.crates-io.$crate.path=\"$dir\"")
  done < <(node scripts/trim-tract.mjs "$trimmed")
  [ "${#cargo_args[@]}" = 4 ] || { echo "build-pkg: scripts/trim-tract.mjs did not give the two tract crates" >&2; exit 1; }
  # A [patch] rewrites Cargo.lock for the build; the committed lock file stays as it was.
  lock_backup=$(mktemp)
  cp Cargo.lock "$lock_backup"
  trap 'cp "$lock_backup" Cargo.lock; rm -f "$lock_backup"' EXIT
fi
wasm-pack build --target web --mode no-install "--$profile" --out-dir "$out" --out-name liveform . \
  -- "${cargo_args[@]}"
if [ -n "${lock_backup:-}" ]; then
  cp "$lock_backup" Cargo.lock && rm -f "$lock_backup" && trap - EXIT
fi
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
