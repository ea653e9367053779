// Shared by the bench page, its worker and the cold-start page: loading the liveform package
// and the models, the bench frames, and the statistics. Runs in a window or a module worker.
import init, * as lf from "/pkg/liveform.js";

export { lf };

/** The photos the bench frames are made of (tests/data), fitted into 640×480 on grey. */
export const PHOTOS = ["astronaut.png", "grace_hopper.jpg"];
export const WIDTH = 640;
export const HEIGHT = 480;

export async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Instantiates the wasm and loads `names` (default: every precheck model) into a Checker,
 * from the files modelFiles() names (the NNEF forms). Returns the checker and the time of
 * each step in ms.
 */
export async function start(names) {
  const times = {};
  let t = performance.now();
  await init();
  times.instantiate = performance.now() - t;
  const checker = new lf.Checker();
  const wanted = lf.modelFiles().filter((m) => !names || names.includes(m.name));
  times.fetch = 0;
  times.load = {};
  for (const m of wanted) {
    t = performance.now();
    const bytes = await fetchBytes(`/models/${m.file}`);
    times.fetch += performance.now() - t;
    t = performance.now();
    checker.loadModel(m.name, bytes);
    times.load[m.name] = performance.now() - t;
  }
  return { checker, times };
}

/** The bench frames: one BenchFrame per photo. */
export async function frames(checker) {
  const out = [];
  for (const name of PHOTOS) {
    const bytes = await fetchBytes(`/data/${name}`);
    out.push({ name: name.split(".")[0], frame: new lf.BenchFrame(checker, bytes, WIDTH, HEIGHT) });
  }
  return out;
}

/** Median, p95, mean and count of a list of times (ms). */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return {
    median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2,
    p95: q(0.95),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    n: s.length,
  };
}

/** Times `f` `n` times after `warm` untimed runs; returns the list of times (ms). */
export async function timeRuns(f, n, warm = 3) {
  for (let i = 0; i < warm; i++) await f();
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  return xs;
}

/**
 * The steady-state capture pipeline on one side (window or worker): `mode` is "full" (a full
 * analysis + verdict per frame), "light" (no per-face classifiers), "tracker" (what the
 * capture loop runs: detect once, follow with the mesh, detector every 30th frame, each
 * classifier every 10th, one classifier per frame) or "tracker-batched" (the same with the
 * three classifiers on one frame). The frame is passed in each call, as a camera frame would be.
 */
export function pipeline(checker, mode) {
  if (mode === "tracker" || mode === "tracker-batched") {
    const t = new lf.BenchTracker(30, 10, mode === "tracker");
    return (rgba) => t.step(checker, WIDTH, HEIGHT, rgba);
  }
  const classifiers = mode === "full";
  return (rgba) => lf.benchAnalyze(checker, WIDTH, HEIGHT, rgba, classifiers);
}
