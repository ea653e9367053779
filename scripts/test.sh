#!/usr/bin/env bash
# The whole test suite: formatting, lints (native and wasm32), native tests, short fuzz runs,
# browser tests in headless Chromium, end-to-end tests. Sets itself up first. Fails on the
# first failure.
#
#   bash scripts/test.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
# A CI run builds each crate of ours once: incremental caches would only take disk.
[ "${CI:-}" != true ] || export CARGO_INCREMENTAL=0

step() {
  local name=$1; shift
  printf '\n==> %s\n' "$name"
  local t0=$SECONDS
  "$@"
  printf '<== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
}

fmt_check() { cargo fmt --all -- --check && (cd fuzz && cargo fmt -- --check); }
step "cargo fmt --check" fmt_check
step "clippy (native)" cargo clippy --workspace --all-targets -q -- -D warnings
# Native tests first: they write tests/.generated/native-reference.json, which the browser test
# (tests/web.rs) embeds and compares against.
step "native tests" cargo test --workspace
# Every libFuzzer target for a few seconds (the long runs: docs/fuzzing.md).
step "fuzz (5 s per target)" env LIVEFORM_FUZZ_NO_SETUP=1 bash scripts/fuzz.sh 5
step "clippy (wasm32)" cargo clippy -p liveform --target wasm32-unknown-unknown --lib --tests -q -- -D warnings
step "browser tests (headless Chromium)" \
  wasm-pack test --headless --chrome --mode no-install . --test web
if [ -f tests/e2e/run.sh ]; then
  step "end-to-end tests (headless Chromium)" bash tests/e2e/run.sh
fi
printf '\nall test steps passed\n'
