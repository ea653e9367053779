// The npm package as a web developer gets it: `npm pack` of pkg/, installed from the tarball
// into an empty project, its metadata read and a consumer type-checked against its types.
//   node --test package.mjs  (run by run.sh after the package is built)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PKG = new URL("../../pkg/", import.meta.url).pathname;
const CARGO = readFileSync(new URL("../../Cargo.toml", import.meta.url), "utf8");
const TSC = new URL("./node_modules/.bin/tsc", import.meta.url).pathname;

test("pkg/ is an npm package with its name, version, license, entry points and types", () => {
  const manifest = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  assert.equal(manifest.name, "liveform");
  assert.equal(manifest.version, CARGO.match(/^version = "([^"]+)"/m)[1]);
  assert.equal(manifest.license, "Apache-2.0");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.types, "liveform.d.ts");
  assert.deepEqual(manifest.exports["./capture"], { types: "./liveform-capture.d.ts", default: "./liveform-capture.js" });
  // What npm would publish: every file the element fetches by URL is in it.
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: PKG, encoding: "utf8" }));
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ["package.json", "LICENSE", "liveform.js", "liveform.d.ts", "liveform_bg.wasm", "liveform-capture.js",
    "liveform-capture.d.ts", "liveform-capture.css", "capture-worker.js", "prechecks.js", "prechecks-ops.js",
    "i18n.js", "logo.svg"]) {
    assert.ok(files.includes(f), `${f} is not packed (${files.join(", ")})`);
  }
  console.log(`npm pack: ${files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
});

test("installed from its tarball, the package type-checks a consumer (and rejects wrong uses)", () => {
  const dir = mkdtempSync(join(tmpdir(), "liveform-consumer-"));
  try {
    const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: PKG, encoding: "utf8" }).trim();
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "-s", join(dir, tarball)], { cwd: dir });
    assert.ok(existsSync(join(dir, "node_modules/liveform/liveform-capture.js")));
    copyFileSync(new URL("./types/consumer.ts", import.meta.url), join(dir, "consumer.ts"));
    const args = ["--noEmit", "--strict", "--target", "esnext", "--module", "esnext", "--moduleResolution", "bundler",
      "--lib", "esnext,dom,dom.iterable", "consumer.ts"];
    execFileSync(TSC, args, { cwd: dir, encoding: "utf8" });
    // A consumer that misuses the result detail fails to compile.
    writeFileSync(join(dir, "wrong.ts"), `import "liveform/capture";\n` +
      `document.createElement("liveform-capture").addEventListener("result", (e) => { const n: number = e.detail.status; console.log(n); });\n`);
    let failed = "";
    try { execFileSync(TSC, [...args.slice(0, -1), "wrong.ts"], { cwd: dir, encoding: "utf8" }); } catch (e) { failed = String(e.stdout); }
    assert.match(failed, /wrong\.ts.*error TS2322/s, "a wrong use of the types compiles");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
