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
    /** Verifies (sha256, in Rust) and loads one model's bytes, fetched by the page. */
    loadModel: ({ name, bytes }) => checker.loadModel(name, bytes),
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
