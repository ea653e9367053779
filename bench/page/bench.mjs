// The bench page: each function on `window.bench` runs one measurement and returns plain
// numbers; bench/run.mjs calls them in turn (headless Chromium) and prints the tables.
// No timing is judged here: these are measurements, not tests.
import * as ort from "/ort/ort.wasm.min.mjs";
import { lf, start, frames, stats, timeRuns, pipeline, fetchBytes, WIDTH, HEIGHT } from "./lf.mjs";
import { Peer } from "./peer.mjs";

// The peer runs one thread with SIMD: the same budget as liveform's single-threaded wasm.
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
ort.env.wasm.wasmPaths = "/ort/";

/** The models compared with the peer (name in liveform → file). */
const COMPARED = ["face_detector", "face_mesh", "antispoof", "mask_classifier", "palm_detector"];
const STAGES = ["detect", "mesh", "pose_eyes", "quality", "regions", "mask", "palm", "antispoof", "analyze_light", "analyze_full"];

let S = null; // { checker, frames, peer }

async function setup() {
  const { checker, times } = await start();
  const fr = await frames(checker);
  // The peer loads the ONNX files the NNEF forms were converted from.
  const files = Object.fromEntries(lf.modelFiles().map((m) => [m.name, m.source]));
  const peer = await Peer.create(ort, (f) => fetchBytes(`/models/${f}`), COMPARED.map((n) => [n, files[n]]));
  S = { checker, frames: fr, peer };
  return { times, peerStart: peer.startMs, crossOriginIsolated: self.crossOriginIsolated, version: lf.version() };
}

/** Every stage on every frame: per-run ms. */
async function stages(n) {
  const out = {};
  for (const name of STAGES) {
    for (const { name: fname, frame } of S.frames) {
      out[`${name}/${fname}`] = stats(await timeRuns(() => frame.stage(S.checker, name), n));
    }
  }
  return out;
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Each model alone, ours then the peer's, interleaved (A B A B …) on the same input tensor. */
async function models(n, warm = 5) {
  const out = {};
  for (const name of COMPARED) {
    for (const { name: fname, frame } of S.frames) {
      const input = frame.input(name);
      const a = [], b = [];
      let ours, peer;
      for (let i = 0; i < warm + n; i++) {
        let t = performance.now();
        ours = lf.benchRunModel(S.checker, name, input);
        const ta = performance.now() - t;
        t = performance.now();
        peer = await S.peer.run(name, input);
        const tb = performance.now() - t;
        if (i >= warm) { a.push(ta); b.push(tb); }
      }
      // Output agreement (graph order may differ between the engines: try both orders).
      let diff = maxAbsDiff(ours, peer.all);
      if (!(diff < 1e9) && peer.parts.length === 2) {
        const rev = new Float32Array(peer.all.length);
        rev.set(peer.parts[1]); rev.set(peer.parts[0], peer.parts[1].length);
        diff = maxAbsDiff(ours, rev);
      }
      out[`${name}/${fname}`] = { ours: stats(a), peer: stats(b), ratios: ratioStats(a, b), maxAbsDiff: diff };
    }
  }
  return out;
}

/** Median of the per-pair ratios a[i]/b[i] (pairs run back to back, so drift cancels). */
function ratioStats(a, b) {
  return stats(a.map((x, i) => x / b[i])).median;
}

/** Whole stages with their pre- and post-processing, ours vs the peer's, interleaved. */
async function peerStages(n, warm = 5) {
  const out = {};
  for (const { name: fname, frame } of S.frames) {
    const rgba = frame.rgba();
    const faces = await S.peer.detect(rgba, WIDTH, HEIGHT);
    const d = faces[0];
    const ourDet = frame.detection();
    const ourMesh = frame.meshPoints();
    const peerMesh = await S.peer.mesh(rgba, WIDTH, HEIGHT, d);
    const agree = {
      scoreDiff: Math.abs(d.score - ourDet.score),
      boxDiff: Math.max(
        Math.abs(d.bbox.x - ourDet.bbox.x), Math.abs(d.bbox.y - ourDet.bbox.y),
        Math.abs(d.bbox.width - ourDet.bbox.width), Math.abs(d.bbox.height - ourDet.bbox.height)),
      meshMaxDiffPx: maxAbsDiff(ourMesh.subarray(0, 1404), peerMesh.points),
      antispoof: [await S.peer.antispoof(rgba, WIDTH, HEIGHT, d), frame.stage(S.checker, "antispoof")],
    };
    const pairs = {
      detect: [() => frame.stage(S.checker, "detect"), () => S.peer.detect(rgba, WIDTH, HEIGHT)],
      mesh: [() => frame.stage(S.checker, "mesh"), () => S.peer.mesh(rgba, WIDTH, HEIGHT, d)],
      antispoof: [() => frame.stage(S.checker, "antispoof"), () => S.peer.antispoof(rgba, WIDTH, HEIGHT, d)],
    };
    for (const [stage, [ours, peer]] of Object.entries(pairs)) {
      const a = [], b = [];
      for (let i = 0; i < warm + n; i++) {
        let t = performance.now();
        await ours();
        const ta = performance.now() - t;
        t = performance.now();
        await peer();
        const tb = performance.now() - t;
        if (i >= warm) { a.push(ta); b.push(tb); }
      }
      out[`${stage}/${fname}`] = { ours: stats(a), peer: stats(b), ratios: ratioStats(a, b) };
    }
    out[`agreement/${fname}`] = agree;
  }
  return out;
}

/** The steady-state pipeline on the main thread: per-frame ms, the frame passed in each time. */
async function pipelineMain(mode, n) {
  const out = {};
  for (const { name, frame } of S.frames) {
    const rgba = frame.rgba();
    const run = pipeline(S.checker, mode);
    out[name] = stats(await timeRuns(() => run(rgba), n, 0));
  }
  return out;
}

/** The same pipeline in a module Worker: frames posted one at a time (one in flight). */
async function pipelineWorker(mode, n) {
  const w = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
  const reply = () => new Promise((ok, fail) => {
    w.onmessage = (e) => (e.data.error ? fail(new Error(e.data.error)) : ok(e.data));
  });
  let r = reply();
  w.postMessage({ cmd: "init", mode });
  const ready = await r;
  const out = { workerStart: ready.times };
  for (const { name, frame } of S.frames) {
    const rgba = frame.rgba();
    r = reply(); w.postMessage({ cmd: "reset" }); await r;
    const main = [], round = [], inside = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const copy = rgba.slice(); // a fresh camera frame each time, moved (not copied) across
      w.postMessage({ cmd: "frame", rgba: copy }, [copy.buffer]);
      const t1 = performance.now();
      r = reply();
      const res = await r;
      const t2 = performance.now();
      main.push(t1 - t0);
      round.push(t2 - t0);
      inside.push(res.ms);
    }
    out[name] = { mainThread: stats(main), roundTrip: stats(round), inWorker: stats(inside) };
  }
  w.terminate();
  return out;
}

/** sealCapture on the 640×480 frames (analysis + JPEG + HPKE) and HPKE alone on 300 KiB. */
async function seal(n) {
  const key = lf.benchPublicKey();
  const out = {};
  for (const { name, frame } of S.frames) {
    const rgba = frame.rgba();
    let size = 0;
    const xs = await timeRuns(() => {
      size = S.checker.sealCapture(WIDTH, HEIGHT, rgba, key, "bench", "bench", Date.now(), "").length;
    }, n, 1);
    out[`sealCapture/${name}`] = { ...stats(xs), envelopeBytes: size };
  }
  const payload = new Uint8Array(300 * 1024);
  crypto.getRandomValues(payload.subarray(0, 65536));
  for (let i = 65536; i < payload.length; i++) payload[i] = payload[i - 65536] ^ (i & 255);
  out["hpke/300KiB"] = stats(await timeRuns(() => lf.benchSeal(key, payload), n, 2));
  return out;
}

/**
 * Model loading in this (warm) page: sha256, archive read, the engine's build (shapes,
 * constant folding, weight packing); ms per load after one warm-up load. (Before 7 Dec, night, the
 * package ran tract and this compared two readers; BENCHMARKS.md keeps those figures.)
 */
async function loads(n) {
  const out = {};
  for (const m of lf.modelFiles()) {
    const b = await fetchBytes(`/models/${m.file}`);
    const ours = [];
    for (let i = 0; i < n + 1; i++) {
      const t = performance.now();
      S.checker.loadModel(m.name, b);
      if (i > 0) ours.push(performance.now() - t); // the first load warms up
    }
    out[`${m.name}/nnef`] = stats(ours);
  }
  return out;
}

/** Where each model's time goes in wasm: ms per run by operator kind (the engine's step names). */
async function profile(runs) {
  if (!lf.benchProfile) return null; // a package built before the profiler export
  const out = {};
  const frame = S.frames[0].frame;
  for (const name of COMPARED) out[name] = lf.benchProfile(S.checker, name, frame.input(name), runs);
  return out;
}

/** The first bench frame as a 30 fps .y4m for Chromium's fake camera (bytes as an array). */
function y4m() {
  return Array.from(S.frames[0].frame.y4m(30));
}

window.bench = { setup, stages, models, peerStages, pipelineMain, pipelineWorker, seal, y4m, loads, profile };
window.benchReady = true;
