// The prechecks' calls, shared by the Worker (capture-worker.js) and the main-thread fallback
// (prechecks.js): each takes one plain object and forwards it to the Rust Checker and
// CaptureFlow, which decide everything.
export function precheckOps(lib) {
  let checker = null;
  let flow = null;
  return {
    /** The policy snapshot the server sent → the hash the device computes of it. */
    setup({ policy }) {
      checker = new lib.Checker();
      checker.setPolicySnapshot(policy);
      flow = new lib.CaptureFlow();
      return checker.policyHash();
    },
    /** Fetches and loads every precheck model (sha256-checked in Rust) from `modelsBase`. */
    async loadModels({ modelsBase }) {
      for (const m of lib.modelFiles()) {
        const res = await fetch(new URL(m.file, modelsBase));
        if (!res.ok) throw Object.assign(new Error(`model ${m.file}: HTTP ${res.status}`), { code: "model_load_failed" });
        checker.loadModel(m.name, new Uint8Array(await res.arrayBuffer()));
      }
    },
    setChallenge: ({ seed }) => flow.setChallenge(checker, seed),
    start: () => flow.start(),
    cameraReady: ({ now, label, width, height }) => flow.cameraReady(now, label, width, height),
    cameraSwitched: ({ now, label, width, height }) => flow.cameraSwitched(now, label, width, height),
    cameraFailed: ({ code }) => flow.cameraFailed(code),
    checkFrame: ({ now, width, height, rgba }) => flow.checkFrame(checker, now, width, height, rgba),
    seal: ({ publicKey, pid, sid, capturedAt }) => flow.seal(checker, publicKey, pid, sid, capturedAt),
    hidden: ({ now }) => flow.hidden(now),
    visible: ({ now }) => flow.visible(now),
    cancel: () => flow.cancel(),
  };
}
