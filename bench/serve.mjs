// A tiny static file server for the bench page, on loopback only. Everything is served from
// this machine: the page (bench/page), the wasm package (pkg/), the models (models/), the test
// photos (tests/data/) and onnxruntime-web's files (bench/node_modules/onnxruntime-web/dist).
// The page is cross-origin isolated (COOP + COEP) so performance.now() has its fine
// resolution (5 µs rather than 100 µs); nothing is cached, so every new browser context
// starts cold — except under /cached/ (the same files, cacheable for an hour) and
// /revalidated/ (the same files as liveform's server sends them: `no-cache` with an ETag, so
// a returning browser asks again and gets 304), which the returning-visitor cold starts use
// so the HTTP cache and V8's wasm code cache can work.
//
//   import { serve } from "./serve.mjs"; const { url, close } = await serve({ root, pkg });
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { join, normalize, extname } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".onnx": "application/octet-stream",
  ".nnef": "application/octet-stream",
  ".tar": "application/octet-stream",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".css": "text/css; charset=utf-8",
};

/** Serves `mounts` ({ "/prefix/": "/dir" }) on 127.0.0.1 at a free port. */
export async function serve(mounts) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = createServer(async (req, res) => {
    let path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const mount = ["/cached/", "/revalidated/"].find((m) => path.startsWith(m)) ?? "";
    if (mount) path = path.slice(mount.length - 1);
    const prefix = prefixes.find((p) => path.startsWith(p));
    const rel = prefix === undefined ? null : normalize(path.slice(prefix.length));
    if (rel === null || rel.startsWith("..")) {
      res.writeHead(404).end();
      return;
    }
    let file = join(mounts[prefix], rel);
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, "index.html");
        info = await stat(file);
      }
      const etag = `"${info.mtimeMs.toString(16)}-${info.size.toString(16)}"`;
      const cache = { "/cached/": "public, max-age=3600", "/revalidated/": "no-cache" }[mount] ?? "no-store";
      const isolation = {
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cross-Origin-Resource-Policy": "same-origin",
      };
      if (mount === "/revalidated/" && req.headers["if-none-match"] === etag) {
        res.writeHead(304, { ETag: etag, "Cache-Control": cache, ...isolation }).end();
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": TYPES[extname(file)] || "application/octet-stream",
        "Content-Length": body.length,
        "Cache-Control": cache,
        ...(mount === "/revalidated/" ? { ETag: etag } : {}),
        ...isolation,
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}
