// The capture loop as www/app.js runs it, on Chromium's fake camera (a .y4m of a bench frame):
// each video frame is grabbed (canvas → RGBA) and analysed. window.capture(mode, seconds):
//   "flow"    — CaptureFlow.checkFrame on the main thread (what the page does today);
//   "tracker" — the tracker (detect once, mesh ROI, classifiers on key frames) on the main thread;
//   "worker"  — the tracker in a module Worker; the main thread only grabs and posts, one
//               frame in flight, frames arriving while the worker is busy are skipped.
// Returns frames analysed per second and the main thread's time per frame.
import { lf, start, stats, pipeline } from "./lf.mjs";

const video = document.getElementById("video");
let S = null;

async function setup() {
  const { checker } = await start();
  const camera = await lf.Camera.start(video, null);
  S = { checker, camera };
}

function nextVideoFrame() {
  return new Promise((ok) => video.requestVideoFrameCallback(ok));
}

async function capture(mode, seconds) {
  if (!S) await setup();
  const { checker, camera } = S;
  while (camera.width() === 0) await nextVideoFrame();
  const [w, h] = [camera.width(), camera.height()];
  let worker = null, busy = false, inWorker = [];
  let run;
  if (mode === "worker") {
    worker = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
    await new Promise((ok) => { worker.onmessage = ok; worker.postMessage({ cmd: "init", mode: "tracker" }); });
    worker.onmessage = (e) => { busy = false; inWorker.push(e.data.ms); analysed++; };
  } else if (mode === "flow") {
    const flow = new lf.CaptureFlow();
    flow.start();
    flow.cameraReady(performance.now(), camera.label(), w, h);
    run = (rgba) => {
      const v = flow.checkFrame(checker, performance.now(), w, h, rgba);
      if (v.screen !== "capture") { flow.start(); flow.cameraReady(performance.now(), camera.label(), w, h); }
    };
  } else {
    const step = pipeline(checker, "tracker");
    run = (rgba) => step(rgba);
  }
  let analysed = 0, videoFrames = 0;
  const main = [];
  // One second of warm-up, then the measured window.
  const warmEnd = performance.now() + 1000;
  while (performance.now() < warmEnd) {
    await nextVideoFrame();
    if (mode === "worker") {
      if (!busy) { busy = true; const f = camera.grabFrame(); worker.postMessage({ cmd: "frame", rgba: f }, [f.buffer]); }
    } else run(camera.grabFrame());
  }
  while (busy) await nextVideoFrame();
  analysed = 0; inWorker = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await nextVideoFrame();
    videoFrames++;
    const t = performance.now();
    if (mode === "worker") {
      if (busy) continue;
      busy = true;
      const f = camera.grabFrame();
      worker.postMessage({ cmd: "frame", rgba: f }, [f.buffer]);
    } else {
      run(camera.grabFrame());
      analysed++;
    }
    main.push(performance.now() - t);
  }
  const elapsed = (performance.now() - t0) / 1000;
  if (worker) worker.terminate();
  return {
    mode, width: w, height: h, seconds: elapsed,
    videoFps: videoFrames / elapsed,
    analysedFps: analysed / elapsed,
    mainThreadPerFrame: stats(main),
    mainThreadBusy: main.reduce((a, b) => a + b, 0) / (elapsed * 1000),
    inWorker: inWorker.length ? stats(inWorker) : null,
  };
}

window.capture = capture;
window.captureReady = true;
