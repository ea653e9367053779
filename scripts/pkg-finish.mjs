// Completes wasm-pack's package in pkg/: copies the element and its helpers (src/js/) next
// to the generated bindings and lists them in package.json (files, exports, side effects),
// so `npm install liveform` gives `import "liveform/capture"` with its types.
//   node scripts/pkg-finish.mjs [pkg-dir]
import { readFileSync, writeFileSync, copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pkg = process.argv[2] || join(root, "pkg");
const sources = join(root, "src/js");
const copied = readdirSync(sources).filter((f) => /\.(js|d\.ts|css|svg)$/.test(f)).sort();
for (const f of copied) copyFileSync(join(sources, f), join(pkg, f));

const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
manifest.files = [...new Set([...(manifest.files || []), ...copied])];
// Defining the element is the capture module's side effect; the bindings have none.
manifest.sideEffects = [...new Set([...(manifest.sideEffects || []), "./liveform-capture.js"])];
manifest.exports = {
  ".": { types: "./liveform.d.ts", default: "./liveform.js" },
  "./capture": { types: "./liveform-capture.d.ts", default: "./liveform-capture.js" },
  // The wasm, the stylesheet, the worker and the logo are fetched by URL, next to the module.
  "./*": "./*",
};
manifest.homepage = manifest.repository?.url;
writeFileSync(join(pkg, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`pkg/: added ${copied.join(", ")}`);
