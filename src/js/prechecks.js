// The page's handle on the prechecks: every call of precheckOps (prechecks-ops.js), as a
// promise. They run in a module Worker (capture-worker.js) so the page stays responsive; a
// browser that cannot start it gets the same calls on the main thread.
import * as lib from "./liveform.js";
import { precheckOps } from "./prechecks-ops.js";

// The calls' names, from the one place that defines them.
const CALLS = Object.keys(precheckOps(lib));

/** Starts the prechecks with the session's policy snapshot and the compiled SDK module;
 * resolves to the calls plus `policyHash`, `inWorker` and `stop()`. */
export async function startPrechecks(policy, module) {
  let worker = null;
  try {
    worker = newWorker(new URL("./capture-worker.js", import.meta.url));
    const calls = workerCalls(worker);
    await calls.init({ module });
    return { ...calls, inWorker: true, policyHash: await calls.setup({ policy }), stop: () => worker.terminate() };
  } catch (e) {
    worker?.terminate();
    if (e.code && e.code !== "worker_failed") throw e;
  }
  const ops = precheckOps(lib);
  const calls = Object.fromEntries(CALLS.map((op) => [op, async (args = {}) => ops[op](args)]));
  return { ...calls, inWorker: false, policyHash: await calls.setup({ policy }), stop: () => {} };
}

// A Worker's script must come from the page's own origin. When the SDK is loaded from
// another site (the package served by the liveform backend), a same-origin blob module
// imports it; the embedding page's CSP then needs `worker-src blob:` (README, "Embedding").
function newWorker(url) {
  if (url.origin === location.origin) return new Worker(url, { type: "module" });
  const shim = new Blob([`import ${JSON.stringify(url.href)};\n`], { type: "text/javascript" });
  return new Worker(URL.createObjectURL(shim), { type: "module" });
}

function workerCalls(worker) {
  let next = 0;
  const pending = new Map();
  const failAll = (message) => {
    for (const p of pending.values()) p.reject(Object.assign(new Error(message), { code: "worker_failed" }));
    pending.clear();
  };
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.error) p.reject(Object.assign(new Error(data.error.message), { code: data.error.code }));
    else p.resolve(data.value);
  };
  worker.onerror = (e) => { e.preventDefault?.(); failAll(e.message || "the prechecks worker failed"); };
  worker.onmessageerror = () => failAll("a message to the prechecks worker could not be read");
  const call = (op, args = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    // A frame's pixels and a model's bytes are moved to the Worker, not copied.
    const moved = args.rgba ?? args.bytes;
    worker.postMessage({ id, op, args }, moved instanceof Uint8Array ? [moved.buffer] : []);
  });
  return Object.fromEntries(["init", ...CALLS].map((op) => [op, (args) => call(op, args)]));
}
