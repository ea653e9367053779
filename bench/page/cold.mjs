// Cold start, in a fresh browser context (nothing cached): from this script's start to the
// first verdict on a 640×480 frame. The models are fetched all at once, after the engine's
// script is imported (liveform: and instantiated, as its model list comes from the wasm).
// ?engine=liveform&models=guidance|all, or ?engine=ort (onnxruntime-web with the detector
// and mesh, to the first mesh); &cached=1 loads the package
// and models from the server's cacheable mount, &cached=revalidate from its `no-cache` + ETag
// mount (the returning visitor, two ways); &pkg=b takes the second package (LIVEFORM_PKG_B).
// Result on window.coldResult.
import { Peer } from "./peer.mjs";

const q = new URLSearchParams(location.search);
const base = { 1: "/cached", revalidate: "/revalidated" }[q.get("cached")] ?? "";

/** A 640×480 RGBA frame of the photo fitted on grey (the camera frame; made before timing). */
async function cameraFrame(url) {
  const img = await createImageBitmap(await (await fetch(url)).blob());
  const c = new OffscreenCanvas(640, 480);
  const ctx = c.getContext("2d");
  ctx.fillStyle = "rgb(110,110,110)";
  ctx.fillRect(0, 0, 640, 480);
  const s = Math.min(640 / img.width, 480 / img.height);
  const [w, h] = [Math.floor(img.width * s), Math.floor(img.height * s)];
  ctx.drawImage(img, Math.floor((640 - w) / 2), Math.floor((480 - h) / 2), w, h);
  return new Uint8Array(ctx.getImageData(0, 0, 640, 480).data.buffer);
}

async function bytes(url) {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

async function liveform(rgba, names) {
  const steps = {};
  let t = performance.now();
  const t0 = t;
  const mark = (k) => { const n = performance.now(); steps[k] = n - t; t = n; };
  const pkg = q.get("pkg") === "b" ? "pkg-b" : "pkg";
  const { default: init, Checker, modelFiles } = await import(`${base}/${pkg}/liveform.js`);
  mark("import");
  await init();
  mark("instantiate");
  const checker = new Checker();
  // Every model fetched at once, as the capture element does; each loads when its bytes are in.
  const files = modelFiles().filter((m) => names.includes(m.name));
  const fetched = files.map((m) => bytes(`${base}/models/${m.file}`));
  for (const [i, m] of files.entries()) {
    const b = await fetched[i];
    mark(`fetch ${m.name} (rest of)`);
    checker.loadModel(m.name, b);
    mark(`load ${m.name}`);
  }
  const r = checker.check(640, 480, rgba, false);
  mark("first check");
  return { total: t - t0, sinceNavigation: t, steps, faces: r.analysis.faces.length, passed: r.verdict.passed };
}

async function onnxruntime(rgba) {
  const steps = {};
  let t = performance.now();
  const t0 = t;
  const mark = (k) => { const n = performance.now(); steps[k] = n - t; t = n; };
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = "/ort/";
  mark("import");
  // Both models fetched at once (as liveform's side does), each session made when its bytes are in.
  const models = [["face_detector", "face_detection_short_range.onnx"], ["face_mesh", "face_landmark.onnx"]];
  const fetched = new Map(models.map(([, f]) => [f, bytes(`/models/${f}`)]));
  const peer = await Peer.create(ort, (f) => fetched.get(f), models);
  mark("engine start + fetch + sessions");
  const faces = await peer.detect(rgba, 640, 480);
  const mesh = faces.length ? await peer.mesh(rgba, 640, 480, faces[0]) : null;
  mark("first detect + mesh");
  return { total: t - t0, sinceNavigation: t, steps, sessions: peer.startMs, faces: faces.length, presence: mesh && mesh.presence };
}

(async () => {
  try {
    const rgba = await cameraFrame("/data/astronaut.png");
    const guidance = ["face_detector", "face_mesh"];
    const all = ["face_detector", "face_mesh", "antispoof", "mask_classifier", "palm_detector"];
    window.coldResult = q.get("engine") === "ort"
      ? await onnxruntime(rgba)
      : await liveform(rgba, q.get("models") === "all" ? all : guidance);
  } catch (e) {
    window.coldResult = { error: String(e && e.stack ? e.stack : e) };
  }
})();
