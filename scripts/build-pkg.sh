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
# LIVEFORM_OPT_LEVEL=s|z (release): a size-first build — everything but tract-linalg's kernels
# optimised for size. With z: 1.38 MB gzip instead of 2.12 and a first verdict ~20 % sooner,
# but the models run 15–30 % slower (BENCHMARKS.md, "7 Dec 2026, evening").
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
case "${LIVEFORM_OPT_LEVEL:-}" in
  "") ;;
  s | z)
    [ "$profile" = release ] || { echo "build-pkg: LIVEFORM_OPT_LEVEL is for release builds" >&2; exit 1; }
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=$LIVEFORM_OPT_LEVEL
    cargo_args+=(--config "profile.release.package.tract-linalg.opt-level=3") ;;
  *) echo "build-pkg: LIVEFORM_OPT_LEVEL must be s or z" >&2; exit 1 ;;
esac
if [ "${LIVEFORM_TRACT_TRIM:-1}" = 1 ]; then
  trimmed=${LIVEFORM_CACHE:-$HOME/.cache/liveform}/tract-trimmed
  patches=()
  while read -r dir; do
    crate=$(basename "$dir"); crate=${crate%-*}
    patches+=(--config "patch.crates-io.$crate.path=\"$dir\"")
  done < <(node scripts/trim-tract.mjs "$trimmed")
  [ "${#patches[@]}" = 4 ] || { echo "build-pkg: scripts/trim-tract.mjs did not give the two tract crates" >&2; exit 1; }
  cargo_args+=("${patches[@]}")
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
