// The bench page's module Worker: the same pipeline as on the main thread (lf.mjs), run off
// the main thread. Messages: {cmd: "init", mode} → {times}; {cmd: "reset"} → {};
// {cmd: "frame", rgba} → {ms, r} (ms: the pipeline's time inside the worker).
import { start, pipeline } from "./lf.mjs";

let checker = null;
let mode = "tracker";
let run = null;

self.onmessage = async (e) => {
  try {
    const m = e.data;
    if (m.cmd === "init") {
      mode = m.mode;
      const s = await start();
      checker = s.checker;
      run = pipeline(checker, mode);
      self.postMessage({ times: s.times });
    } else if (m.cmd === "reset") {
      run = pipeline(checker, mode);
      self.postMessage({});
    } else if (m.cmd === "frame") {
      const t = performance.now();
      const r = run(m.rgba);
      self.postMessage({ ms: performance.now() - t, r });
    }
  } catch (err) {
    self.postMessage({ error: String(err && err.message ? err.message : err) });
  }
};
