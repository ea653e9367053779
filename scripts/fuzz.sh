#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for a set time and prints a table of executions.
# Fails on the first crash, leak or timeout, with the input that caused it.
#
#   bash scripts/fuzz.sh                 # 5 s per target (what scripts/test.sh runs)
#   bash scripts/fuzz.sh 600             # the long run (docs/fuzzing.md)
#   bash scripts/fuzz.sh 60 envelope_open frame_decode    # some targets only
#
# Knobs: LIVEFORM_FUZZ_SANITIZER=address for an ASan build (stable rustc only, through
# RUSTC_BOOTSTRAP; the default "none" builds faster and runs ~2x faster), LIVEFORM_FUZZ_JOBS
# (parallel fuzzing processes per target, default 1).
# The grown corpus is kept in fuzz/corpus/TARGET (ignored by git); crashes in fuzz/artifacts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ -n "${LIVEFORM_FUZZ_NO_SETUP:-}" ] || bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh

# A build directory of its own: instrumented builds share nothing with the normal ones, and
# a separate lock lets them run beside a test build.
export CARGO_TARGET_DIR=${LIVEFORM_FUZZ_TARGET_DIR:-${LIVEFORM_CACHE:-$HOME/.cache/liveform}/fuzz-target}

seconds=${1:-5}
shift || true
all_targets=(url_params encrypted_query envelope_open handoff_ticket policy_json server_config
  token_api_body upload_payload frame_decode y4m_decode nnef_text nnef_engine)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
sanitizer=${LIVEFORM_FUZZ_SANITIZER:-none}
jobs=${LIVEFORM_FUZZ_JOBS:-1}
[ "$sanitizer" = none ] || export RUSTC_BOOTSTRAP=1
# Many codegen units: the instrumented tract builds in minutes, not tens of minutes.
build_flags=(--sanitizer "$sanitizer" --debug-assertions --codegen-units 16)

# Seed inputs: a few well-formed and nearly well-formed examples per target, written here
# rather than committed as binary files; libFuzzer grows the corpus from them.
seed() { # $1 target, $2 name, rest: printf format and arguments
  local dir=fuzz/corpus/$1 name=$2; shift 2
  mkdir -p "$dir"
  # shellcheck disable=SC2059
  [ -f "$dir/seed-$name" ] || printf "$@" > "$dir/seed-$name"
}
seed url_params plain '\000pid=demo&sid=sub_demo&lang=ko'
seed url_params private '\002pid=bank&sid=s_1&tokenid=tok_1&userid=u%%201&email=a%%40b.example&cf1=x&cf2=&cf3=3'
seed url_params encrypted '\000pid=demo&encrypted=g1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
seed url_params legacy '\004encrypted=e1.AAAAAAAAAAAAAAAAAAAAAA'
seed encrypted_query gcm 'g1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
seed encrypted_query ecb 'e1.AAAAAAAAAAAAAAAAAAAAAA'
seed encrypted_query query 'pid=demo&sid=sub_demo&userid=42'
seed envelope_open untouched-x25519 '\002'
seed envelope_open untouched-xwing '\003'
seed envelope_open flip '\002\000\005\001'
seed envelope_open cut '\003\001\020\000'
seed envelope_open raw 'LFEN\001\000\001\000\040'
seed handoff_ticket query 'handoff=q0Ld8Zr3vY2mJx4NtWcA1g'
seed handoff_ticket extra '?x=1&handoff=q0Ld8Zr3vY2mJx4NtWcA1g&y=%%41'
seed handoff_ticket base 'https://liveform.example/app/ q0Ld8Zr3vY2mJx4NtWcA1g'
seed policy_json settings '{"faceMatchThreshold":98,"livenessThreshold":85,"livenessMode":"active","headOcclusionThreshold":20,"quality":{"minFaceSize":0.2}}'
seed policy_json face '{"occlusionBlocking":true,"faceOcclusionThreshold":30}'
seed policy_json snapshot '{"face_match_threshold":98.0,"liveness_threshold":70.0,"liveness_mode":"passive"}'
seed token_api_body two '{"tokenIds":["tok_1","tok_2"]}'
seed token_api_body bad '{"tokenIds":["a b","tok_1","tok_1"]}'
seed upload_payload minimal '{"version":1,"sdkVersion":"0.1.0","bestFrame":{"jpeg":"/9j/4AAQSkZJRg==","atMs":5},"claimed":{"passed":true,"reasons":[]},"signals":{"cameraLabel":"FaceTime HD"}}'
seed upload_payload keyframes '{"version":1,"sdkVersion":"0.1.0","bestFrame":{"jpeg":"","atMs":0},"keyFrames":[{"jpeg":"AA==","atMs":1,"label":"turn_left"}],"claimed":{}}'
seed y4m_decode tiny 'YUV4MPEG2 W2 H2 F30:1 Ip A1:1 C420jpeg\nFRAME\n\020\040\060\100\200\200'
seed y4m_decode two 'YUV4MPEG2 W4 H2 F15:2 C420jpeg\nFRAME\n01234567ab01FRAME\n01234567ab01'
seed nnef_text graph 'version 1.0;\nextension tract_registry tract_core;\nfragment tract_core_properties(\n) -> (properties: (string, tensor<scalar>)[])\n{\n  properties = [("a", tract_core_cast(7, to = "i64"))];\n}\ngraph network(input) -> (y) {\n  input = external(shape = [1, 128, 128, 3]);\n  w = variable<scalar>(label = "m/w.0", shape = [2, 3, 1, 1]);\n  c = conv(input, w, 0.0, stride = [2, 2], padding = [(0, 1), (0, 1)]);\n  k = [[[[6.0]]]];\n  (a, b) = split(c, axis = 1);\n  y = min(max(a, -inf), k);\n}\n'
seed nnef_text operators 'version 1.0;\ngraph g(x) -> (y) {\n  y = x[1:] + 2 * f(x) if true else [for i in x yield -i];\n}\n'
seed nnef_engine convs 'version 1.0;\nextension tract_registry tract_core;\ngraph network(input) -> (y, z) {\n  input = external(shape = [1, 4, 4, 2]);\n  x = transpose(input, axes = [0, 3, 1, 2]);\n  d = conv(x, [[[[1.0, 0.5, -1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 1.0]]], [[[0.5, 0.5, 0.5], [1.0, -2.0, 0.0], [0.0, 0.0, 1.0]]]], [0.1, -0.2], dilation = [1, 1], stride = [1, 1], border = "constant", groups = 2, padding = [(1, 1), (1, 1)]);\n  c = conv(d, [[[[1.0]], [[2.0]]], [[[0.5]], [[-1.0]]], [[[3.0]], [[0.0]]]], [0.0, 1.0, 2.0], dilation = [1, 1], stride = [2, 2], border = "constant", groups = 1, padding = [(0, 1), (0, 1)]);\n  r = max(c, 0.0);\n  e = tract_core_downsample(r, axis = 3, stride = 2, modulo = 0);\n  o = tract_core_downsample(r, axis = 3, stride = 2, modulo = 1);\n  y = max(e, o);\n  m = reshape(d, shape = [16], axis_start = 2, axis_count = 2);\n  p = matmul([[[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]]], m, transposeA = false, transposeB = false);\n  n = min(p, 0.0);\n  k = mul(n, [[[0.25], [0.5], [1.0]]]);\n  z = add(p, k);\n}\n'
seed nnef_engine misc 'version 1.0;\ngraph network(input) -> (y) {\n  input = external(shape = [1, 4, 4, 2]);\n  a = pad(input, padding = [(0, 0), (1, 1), (0, 2), (0, 0)], border = "constant", value = 0.0);\n  b = slice(a, axes = [1, 2], begin = [1, 0], end = [5, -1], stride = [1, 2]);\n  c = concat([b, b], axis = 3);\n  s = softmax(c, axes = [3]);\n  t = tract_core_resize(s, scales = [1.0, 2.0, 2.0, 1.0], coord_transformer = "half_pixel", interpolator = "linear", nearest_mode = "floor");\n  u = box(t, size = [1, 2, 2, 1], border = "ignore", padding = [(0, 0), (0, 0), (0, 0), (0, 0)], stride = [1, 2, 2, 1], dilation = [1, 1, 1, 1], normalize = true);\n  w = unsqueeze(u, axes = [0]);\n  v = squeeze(w, axes = [0]);\n  y = sigmoid(v);\n}\n'
mkdir -p fuzz/corpus/server_config fuzz/corpus/frame_decode
cp -n server/liveform.example.json fuzz/corpus/server_config/seed-example.json
cp -n tests/data/grace_hopper.jpg fuzz/corpus/frame_decode/seed-photo.jpg
# A tiny PNG, written with the standard library only.
[ -f fuzz/corpus/frame_decode/seed-tiny.png ] || python3 - fuzz/corpus/frame_decode/seed-tiny.png <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
raw = b"".join(b"\x00" + b"".join(bytes((x * 60, y * 60, 128)) for x in range(4)) for y in range(4))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY

max_len() { # inputs larger than this are not tried (an image needs room; parsers do not)
  case $1 in
    frame_decode) echo 65536 ;;
    server_config|upload_payload) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

printf '[fuzz] building %d targets (sanitizer %s)\n' "${#targets[@]}" "$sanitizer"
t0=$SECONDS
( cd fuzz && cargo fuzz build "${build_flags[@]}" )
printf '[fuzz] built in %ss\n' $((SECONDS - t0))

total=0
report=()
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  parallel=()
  [ "$jobs" -le 1 ] || parallel=(-jobs="$jobs" -workers="$jobs")
  set +e
  ( cd fuzz && cargo fuzz run "${build_flags[@]}" "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
      "${parallel[@]}" -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" ) > "$log" 2>&1
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    tail -60 "$log"
    echo "[fuzz] $t FAILED (exit $rc); the input is in fuzz/artifacts/$t/" >&2
    echo "[fuzz] reproduce: (cd fuzz && cargo fuzz run ${build_flags[*]} $t artifacts/$t/<file>)" >&2
    rm -f "$log"
    exit 1
  fi
  # With -jobs, each worker prints its own stats (in fuzz-N.log); add them all up.
  runs=$(shopt -s nullglob; cat "$log" fuzz/fuzz-*.log | awk -F': *' '/stat::number_of_executed_units/ {s += $NF} END {print s + 0}')
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  rm -f "$log" fuzz/fuzz-*.log
  total=$((total + runs))
  report+=("$(printf '%-16s %12d executions %8d/s  corpus %5d' "$t" "$runs" $((runs / seconds)) "$corpus")")
  printf '[fuzz] %s\n' "${report[-1]}"
done
echo
printf '%s\n' "${report[@]}"
printf '[fuzz] %d targets, %s s each, %d executions in total, 0 crashes\n' "${#targets[@]}" "$seconds" "$total"
