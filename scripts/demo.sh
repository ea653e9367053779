#!/usr/bin/env bash
# The main job: build the wasm package and serve the liveform demo page on localhost.
#
#   bash scripts/demo.sh            # then open the URL it prints
#
# LIVEFORM_ADDR (default 127.0.0.1:8080) sets where it listens.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
bash scripts/build-pkg.sh "${LIVEFORM_PROFILE:-release}"
# The dev profile builds dependencies (tract) at opt-level 3 and shares the test builds.
cargo build -q -p liveform-server
exec "${CARGO_TARGET_DIR:-target}"/debug/liveform serve --addr "${LIVEFORM_ADDR:-127.0.0.1:8080}" \
  --www www --pkg pkg --models models --db "${LIVEFORM_DB:-target/demo.db}"
