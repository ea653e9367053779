// Makes copies of tract-core and tract-nnef without tract's named model transforms, for the
// browser build (scripts/build-pkg.sh patches them in with `--config patch.crates-io…`).
//
// Why: tract registers its model transforms ("f32_to_f16", "block_quant", "batchify", the
// NNEF "patch" transform, …: tools for tract's command line and deployment specs, which
// liveform never asks for) through `inventory`. In wasm an inventory entry is a constructor
// that `__wasm_call_ctors` runs, so the linker keeps every entry and all the code it reaches —
// the NNEF "patch" transform alone builds tract's full NNEF framework, i.e. every operator
// (FFT and rustfft, recurrent cells, quantised kernels …) with its reader and writer. Without
// them the release wasm is 7.4 MB instead of 11.1 MB (2.1 MB gzip instead of 3.0),
// BENCHMARKS.md ("tract's transform registry"). Nothing else changes: the edited files are
// pinned by sha256 below and each edit must match exactly, so a new tract version fails here
// instead of being edited blindly.
//
//   node scripts/trim-tract.mjs OUT_DIR   → prints the two crate directories, one per line
//
// A crate is copied afresh only when its source or this script changed, and an edited file is
// written only when its content differs, so cargo's fingerprints (file modification times)
// stay valid and a warm build stays warm.
// Not while a build-pkg.sh is running: Cargo.lock is patched then, and `cargo metadata
// --locked` refuses it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const out = process.argv[2];
if (!out) throw new Error("usage: node scripts/trim-tract.mjs OUT_DIR");

// What the transforms leave unused would warn on every build (path dependencies are linted).
const QUIET = "#![allow(dead_code, unused_imports)] // liveform: transform registrations removed\n";

/** Each crate: its edited files, each pinned by sha256, with the edit to make. */
const CRATES = {
  "tract-core": {
    "src/transform.rs": {
      sha256: "6cdc5960a0a6ec4f6bf377e2020a0824a8ade94d5a768c9907c22d173a4c67d3",
      edit(text) {
        // The two registration macros expand to nothing (their uses, here and in
        // ops/cnn/conv/nhwc.rs and batchify.rs, then register nothing) …
        text = replaceBlock(text, "macro_rules! register_simple_model_transform {", 1,
          "macro_rules! register_simple_model_transform {\n    ($name: expr, $type: expr) => {};\n}\n");
        text = replaceBlock(text, "macro_rules! register_model_transform {", 1,
          "macro_rules! register_model_transform {\n    ($name:expr, $config:ty, $builder:expr) => {};\n}\n");
        // … and the three float-precision entries written out by hand go.
        return QUIET + replaceBlock(text, "inventory::submit! {\n    ModelTransformFactory {", 3, "");
      },
    },
    "src/ops/cnn/conv/nhwc.rs": {
      sha256: "57345cc41c2ca02cc261ac208bfe743d0c1dff438bc16eb68df77eda663aaa7b",
      edit: (text) => QUIET + text,
    },
  },
  "tract-nnef": {
    "src/transform.rs": {
      sha256: "478c7bd5dc9c0a7f1e4a42f7c5ee9f5276539bfe22f4bc1ba4cfb5399439b6be",
      // The "patch" transform (it builds `tract_nnef::nnef()`, the full framework).
      edit: (text) => QUIET + replaceBlock(text, "inventory::submit! {\n    ModelTransformFactory {", 1, ""),
    },
  },
};

/**
 * Replaces each of the `count` top-level blocks starting with `head` (up to its closing "}"
 * at column 0) by `by`; throws unless there are exactly `count`.
 */
function replaceBlock(text, head, count, by) {
  let found = 0;
  let from = 0;
  for (let start; (start = text.indexOf(head, from)) >= 0; found += 1) {
    const end = text.indexOf("\n}\n", start);
    if (end < 0) throw new Error(`unclosed block at ${JSON.stringify(head)}`);
    text = text.slice(0, start) + by + text.slice(end + 3);
    from = start + by.length;
  }
  if (found !== count) throw new Error(`expected ${count} block(s) ${JSON.stringify(head)}, found ${found}`);
  return text;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const SCRIPT_SHA256 = sha256(readFileSync(fileURLToPath(import.meta.url)));

/** Writes `path` only if its content differs (keeps modification times, hence cargo's cache). */
function writeIfChanged(path, text) {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

let metadata;
try {
  metadata = JSON.parse(execFileSync("cargo", [
    "metadata", "--format-version", "1", "--locked", "--filter-platform", "wasm32-unknown-unknown",
  ], { maxBuffer: 1 << 28, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
} catch (e) {
  throw new Error(`cargo metadata failed (a Cargo.lock left patched by an interrupted ` +
    `scripts/build-pkg.sh? \`git checkout Cargo.lock\`):\n${e.stderr || e.message}`);
}

for (const [name, files] of Object.entries(CRATES)) {
  const pkgs = metadata.packages.filter((p) => p.name === name && p.source?.startsWith("registry+"));
  if (pkgs.length !== 1) throw new Error(`expected one ${name} from crates.io in Cargo.lock, found ${pkgs.length}`);
  const { version, manifest_path } = pkgs[0];
  const source = dirname(manifest_path);
  const edited = Object.entries(files).map(([file, { sha256: pinned, edit }]) => {
    const original = readFileSync(join(source, file));
    if (sha256(original) !== pinned) {
      throw new Error(`${name} ${version}: ${file} is not the file this script was written for ` +
        `(sha256 ${sha256(original)}); re-check the edits in scripts/trim-tract.mjs`);
    }
    return [file, edit(original.toString("utf8"))];
  });
  // One directory per version of this script, so checkouts with different versions on one
  // machine (a work tree, a CI clone) do not rewrite each other's copies.
  const target = join(out, SCRIPT_SHA256.slice(0, 16), `${name}-${version}`);
  const marker = join(target, ".liveform-trimmed-from");
  if (!existsSync(marker) || readFileSync(marker, "utf8") !== source) {
    rmSync(target, { recursive: true, force: true });
    cpSync(source, target, { recursive: true });
    writeFileSync(marker, source);
  }
  for (const [file, text] of edited) writeIfChanged(join(target, file), text);
  console.log(target);
}
