#!/usr/bin/env bash
# End-to-end: build the wasm package (dev profile) and the server, make the fake-camera
# videos from the test photos, start the reference backend on loopback with a fresh SQLite
# file, and run e2e.mjs in headless Chromium. Called by scripts/test.sh (after setup).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck disable=SC1091
source scripts/env.sh
WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

[ "${LIVEFORM_E2E_SKIP_BUILD:-}" = 1 ] || bash scripts/build-pkg.sh dev >/dev/null
cargo build -q -p liveform-server
BIN=${CARGO_TARGET_DIR:-target}/debug/liveform
# The face video: the registered person (astronaut) looking at the camera; the no-face one: a
# crop of the same photo without the face.
"$BIN" make-video tests/data/astronaut.png --out "$WORK/face.y4m" --size 640x480 --seconds 2
"$BIN" make-video tests/data/astronaut.png --crop 300,300,212,212 --out "$WORK/noface.y4m" --size 640x480 --seconds 2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
# Another origin: the site that embeds the capture in the README examples' test.
EMBED_PORT=$(free_port)
# The demo project, with a return URL on this server so the redirect can be followed.
cat > "$WORK/config.json" <<JSON
{"projects": [{"id": "demo", "name": "liveform demo", "status": "service",
  "returnUrl": "http://127.0.0.1:$PORT/done?from=liveform", "apiKey": "demo-api-key",
  "embedOrigins": ["http://127.0.0.1:$EMBED_PORT"],
  "submissions": [{"sid": "sub_demo", "status": "approved", "referenceImage": "$ROOT/tests/data/astronaut.png"}]},
 {"id": "active", "name": "liveform active liveness", "status": "service", "apiKey": "active-api-key",
  "policy": {"livenessMode": "active"},
  "submissions": [{"sid": "sub_demo", "status": "approved", "referenceImage": "$ROOT/tests/data/astronaut.png"}]}]}
JSON
"$BIN" serve --addr "127.0.0.1:$PORT" --data "$WORK/data" --config "$WORK/config.json" \
  --www www --pkg pkg --models models \
  > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "server died" >&2; exit 1; }
  sleep 0.3
done

cd tests/e2e
# LIVEFORM_E2E_ONLY: run only the tests whose names match this pattern (while developing).
only=()
[ -z "${LIVEFORM_E2E_ONLY:-}" ] || only=("--test-name-pattern=$LIVEFORM_E2E_ONLY")
LIVEFORM_BASE="http://127.0.0.1:$PORT" LIVEFORM_EMBED_PORT=$EMBED_PORT LIVEFORM_FACE_VIDEO="$WORK/face.y4m" \
  LIVEFORM_NOFACE_VIDEO="$WORK/noface.y4m" node --test --test-concurrency=1 "${only[@]}" e2e.mjs package.mjs \
  || { echo "--- server log"; tail -50 "$WORK/server.log"; exit 1; }
