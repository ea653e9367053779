// The prechecks off the page's main thread. Checking a 640×480 frame takes about 200 ms on a
// loaded 2-core machine; on the main thread that froze the page for 99 % of the capture, in
// this Worker the page spends about 7 ms per frame (BENCHMARKS.md, "Capture loop"). The
// Worker owns the Checker and the CaptureFlow; prechecks.js is the page's side.
// Messages: {id, op, args} → {id, value} or {id, error: {code, message}}. The first call is
// `init` with the WebAssembly.Module the page compiled (downloaded and compiled once).
import init, * as lib from "./liveform.js";
import { precheckOps } from "./prechecks-ops.js";

let ready = null;
const ops = precheckOps(lib);

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    if (op === "init") {
      ready ??= init({ module_or_path: args.module });
      await ready;
      return self.postMessage({ id, value: true });
    }
    if (!ready) throw Object.assign(new Error("the prechecks worker was not initialised"), { code: "worker_failed" });
    await ready;
    if (!Object.hasOwn(ops, op)) throw Object.assign(new Error(`unknown call ${op}`), { code: "worker_failed" });
    const value = await ops[op](args);
    self.postMessage({ id, value }, value instanceof Uint8Array ? [value.buffer] : []);
  } catch (e) {
    self.postMessage({ id, error: { code: e?.code || "worker_failed", message: String(e?.message || e) } });
  }
};
