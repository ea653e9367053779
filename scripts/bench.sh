#!/usr/bin/env bash
# The benchmarks (issue #10): builds the release wasm package, runs the native criterion
# benches, then the bench page in headless Chromium against onnxruntime-web, and prints the
# tables (also written to bench/results/latest.json). Not part of scripts/test.sh: slow, and
# benchmarks are measurements, not tests.
#
#   bash scripts/bench.sh            # everything
#   BENCH_SKIP_BUILD=1 bash scripts/bench.sh   # reuse pkg/ as built
#   BENCH_SKIP_NATIVE=1 bash scripts/bench.sh  # browser only (native columns from the last cargo bench)
#   BENCH_RUNS=40 BENCH_COLD=5                 # timed runs per figure, cold starts per engine
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
command -v node >/dev/null || { echo "bench: node is required" >&2; exit 1; }

# The bench's own npm dependencies, exactly as locked (onnxruntime-web, playwright-core).
( cd bench && npm ci --no-audit --no-fund --loglevel=error )

[ "${BENCH_SKIP_BUILD:-}" = 1 ] || bash scripts/build-pkg.sh release
[ "${BENCH_SKIP_NATIVE:-}" = 1 ] || cargo bench -p liveform --bench prechecks
node bench/run.mjs
