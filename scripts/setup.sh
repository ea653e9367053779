#!/usr/bin/env bash
# Sets up everything liveform needs to build for wasm32 and test in headless Chromium.
# Idempotent and quick when already done; every other script calls it first.
#
#   bash scripts/setup.sh          # install what is missing, write the environment file
#   source scripts/env.sh          # then use the same toolchain by hand
#
# Tools are cached outside the work tree, in $LIVEFORM_CACHE (default ~/.cache/liveform),
# so fresh clones on the same machine share them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LIVEFORM_CACHE:-$HOME/.cache/liveform}
TOOLS=$CACHE/tools
ENV_FILE=$CACHE/env.sh
ENV_FORMAT=2   # bump when write_env writes something new: older files are written again
BINARYEN_VERSION=132.0.0   # wasm-opt from npm; Debian's binaryen is too old for Rust 1.96 output
mkdir -p "$TOOLS/bin"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install it by hand, or run setup as root)"; fi
}

APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq || die "apt-get update failed (is a Debian mirror reachable?)"
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# The wasm-bindgen crate version pinned in Cargo.lock: the CLI must match it exactly.
lock_version() {
  awk -v n="$1" '$0=="name = \""n"\"" {getline; gsub(/version = |"/,""); print; exit}' \
    "$ROOT/Cargo.lock"
}

has_wasm_std() { # $1 = rustc
  local sysroot
  sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
  compgen -G "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null
}

# ---------------------------------------------------------------- 1. compiler for wasm32
choose_toolchain() {
  # A toolchain chosen earlier that still works: keep it (no rebuilds from switching).
  if [ -f "$ENV_FILE" ]; then
    # shellcheck disable=SC1090
    ( source "$ENV_FILE" && [ "${LIVEFORM_ENV_FORMAT:-}" = "$ENV_FORMAT" ] && has_wasm_std "$RUSTC" && [ "$("$RUSTC" --version)" = "$LIVEFORM_RUSTC_VERSION" ] ) \
      && return 0
    say "recorded toolchain no longer valid; choosing again"
  fi

  # The normal route: rustup's wasm32 target (works where rustup can download).
  # LIVEFORM_TOOLCHAIN=debian skips it (to exercise the fallback on a machine that has both).
  if [ "${LIVEFORM_TOOLCHAIN:-}" != debian ] && command -v rustup >/dev/null; then
    local rc; rc=$(rustup which rustc 2>/dev/null || true)
    if [ -n "$rc" ] && ! has_wasm_std "$rc"; then
      say "trying: rustup target add wasm32-unknown-unknown (60 s limit)"
      timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || say "rustup could not add the target"
    fi
    if [ -n "$rc" ] && has_wasm_std "$rc"; then
      write_env "$rc" "$(rustup which cargo)" "" "$(rustup which cargo-clippy 2>/dev/null || true)"
      return 0
    fi
  fi

  # The fallback: Debian's rustc-web (LLVM with the wasm backend) + its std source.
  debian_toolchain
}

debian_toolchain() {
  local need=()
  for p in rustc-web cargo-web rust-web-src rust-web-clippy rustfmt-web lld-19; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/wasm-ld-19 ] || die "Debian rustc-web / lld-19 missing after install"

  local version src sysroot_lib stamp
  version=$(/usr/bin/rustc --version)
  src=/usr/lib/rustlib/src/rust/library
  [ -d "$src/std" ] || die "std source not found at $src (package rust-web-src)"
  sysroot_lib=/usr/lib/rustlib/wasm32-unknown-unknown/lib
  stamp=$sysroot_lib/.liveform-stamp
  if ! has_wasm_std /usr/bin/rustc || [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
    build_wasm_sysroot "$sysroot_lib" "$stamp" "$version"
  fi
  write_env /usr/bin/rustc /usr/bin/cargo wasm-ld-19 /usr/bin/cargo-clippy
}

build_wasm_sysroot() { # $1 = target lib dir, $2 = stamp file, $3 = rustc version
  say "building the wasm32 standard library from source (about a minute)"
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/src"
  printf '[package]\nname = "sysroot-seed"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' > "$tmp/Cargo.toml"
  : > "$tmp/src/lib.rs"
  ( cd "$tmp" && PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C embed-bitcode=yes" CARGO_TARGET_DIR="$tmp/target" \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
      /usr/bin/cargo build -q --release --target wasm32-unknown-unknown \
      -Zbuild-std=std,panic_abort,test,proc_macro ) \
    || die "building the wasm32 std failed (see above)"
  as_root rm -rf "$1"
  as_root mkdir -p "$1"
  as_root cp "$tmp"/target/wasm32-unknown-unknown/release/deps/*.rlib "$1"/
  as_root rm -f "$1"/libsysroot_seed-*.rlib
  echo "$3" | as_root tee "$2" >/dev/null
  rm -rf "$tmp"
  # Cargo does not notice a replaced sysroot: drop wasm artefacts built against the old one.
  rm -rf "${CARGO_TARGET_DIR:-$CACHE/target}/wasm32-unknown-unknown"
}

write_env() { # $1 rustc, $2 cargo, $3 wasm linker or "", $4 cargo-clippy
  local bindir; bindir=$(dirname "$2")
  {
    echo "# written by scripts/setup.sh"
    echo "export LIVEFORM_ENV_FORMAT=$ENV_FORMAT"
    echo "export LIVEFORM_RUSTC_VERSION='$("$1" --version)'"
    echo "export RUSTC='$1'"
    echo "export CARGO='$2'"
    echo "export PATH='$TOOLS/bin:$CACHE/npm/node_modules/.bin:$bindir':\"\$PATH\""
    [ -z "$3" ] || echo "export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER='$3'"
    echo "export CHROMEDRIVER=/usr/bin/chromedriver"
    # One build directory for every checkout on this machine (the work tree, a fresh clone
    # for CI): tract is built once, not once per clone, and the disk holds one copy.
    echo "export CARGO_TARGET_DIR=\"\${CARGO_TARGET_DIR:-$CACHE/target}\""
  } > "$ENV_FILE"
  say "toolchain: $("$1" --version)"
}

choose_toolchain
# shellcheck disable=SC1090
source "$ENV_FILE"

# ---------------------------------------------------------------- 2. wasm-bindgen, wasm-pack
WB_VERSION=$(lock_version wasm-bindgen)
[ -n "$WB_VERSION" ] || die "no wasm-bindgen entry in Cargo.lock"
if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  say "cargo install wasm-bindgen-cli $WB_VERSION (a few minutes, once)"
  # (not --locked: its lock file pins a since-yanked webpki-roots)
  "$CARGO" install -q --root "$TOOLS" wasm-bindgen-cli --version "=$WB_VERSION" \
    || die "could not install wasm-bindgen-cli $WB_VERSION from crates.io"
fi
if ! [ -x "$TOOLS/bin/wasm-pack" ]; then
  say "cargo install wasm-pack (about 6 minutes, once)"
  "$CARGO" install -q --root "$TOOLS" --locked wasm-pack || die "could not install wasm-pack from crates.io"
fi

# cargo-fuzz for the libFuzzer targets in fuzz/ (scripts/fuzz.sh); pinned like the others.
CARGO_FUZZ_VERSION=0.13.2
if [ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  say "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes, once)"
  "$CARGO" install -q --root "$TOOLS" --locked cargo-fuzz --version "=$CARGO_FUZZ_VERSION" \
    || die "could not install cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
fi

# ---------------------------------------------------------------- 3. browser and driver
if ! command -v chromium >/dev/null || ! [ -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi
[ "$(chromium --version | grep -o '[0-9]*' | head -1)" = "$(/usr/bin/chromedriver --version | grep -o '[0-9]*' | head -1)" ] \
  || die "chromium and chromedriver major versions differ: reinstall both (apt-get install chromium chromium-driver)"

# Korean glyphs for the localised screens in the end-to-end screenshots.
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || apt_install fonts-noto-cjk

# ---------------------------------------------------------------- 4. node tools
command -v npm >/dev/null || apt_install nodejs npm
if [ "$("$CACHE/npm/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -o '[0-9]*' | head -1)" != "${BINARYEN_VERSION%%.*}" ]; then
  say "npm install binaryen@$BINARYEN_VERSION (wasm-opt)"
  mkdir -p "$CACHE/npm"
  npm install -s --prefix "$CACHE/npm" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null \
    || die "npm install binaryen failed"
fi
# The end-to-end tests' own packages (playwright-core, axe-core, typescript), from their lock
# file; again when the lock file changed since (npm ci writes node_modules/.package-lock.json).
e2e=$ROOT/tests/e2e
if [ -f "$e2e/package-lock.json" ] && { ! [ -f "$e2e/node_modules/.package-lock.json" ] \
    || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; }; then
  say "npm ci in tests/e2e"
  ( cd "$ROOT/tests/e2e" && npm ci -s --no-audit --no-fund >/dev/null ) || die "npm ci in tests/e2e failed"
fi

say "ready ($(basename "$RUSTC") $("$RUSTC" --version | awk '{print $2}'), wasm-bindgen $WB_VERSION, $(wasm-pack --version))"
