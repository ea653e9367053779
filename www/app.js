// The liveform page: renders what the wasm module says. Every decision (parameters, hints,
// when a frame is good enough, attempts, sealing, retries) is made in Rust; this file moves
// data between the browser and the module and shows screens.
import init, { Camera, uploadSealed, newIdempotencyKey } from "./pkg/liveform.js";
import { HandoffDesk, detectDevice, handoffPlacement, handoffTicketFromQuery } from "./pkg/liveform.js";
import { chooseLanguage, translator } from "./i18n.js";
import { startPrechecks } from "./prechecks.js";

const params = new URLSearchParams(location.search);
const lang = chooseLanguage(params, navigator.languages);
const t = translator(lang);
document.documentElement.lang = lang;
const $ = (id) => document.getElementById(id);
const config = { apiBase: params.get("api") || "", assetBase: "" };

// Set on a phone that opened a handoff link: tells the desktop when the phone gives up.
let reportPhoneFailure = null;

function show(name) {
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.dataset.screen !== name;
  document.querySelector("main").setAttribute("aria-busy", String(name === "loading" || name === "upload"));
  const focus = document.querySelector(`.screen[data-screen="${name}"] h1, .screen[data-screen="${name}"] button:not([hidden])`);
  if (focus) { if (!focus.hasAttribute("tabindex") && focus.tagName === "H1") focus.tabIndex = -1; focus.focus(); }
}

function translateStatic() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

function showError(code, canRetry = false) {
  $("error-code").textContent = code;
  $("error-text").textContent = t(`error.${code}`) !== `error.${code}` ? t(`error.${code}`) : t("error.unknown");
  $("retry").hidden = !canRetry;
  show("error");
}

async function api(path, body) {
  let res;
  try {
    res = await fetch(`${config.apiBase}${path}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    });
  } catch {
    throw Object.assign(new Error("network"), { code: "network" });
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(json?.error?.message || res.statusText), { code: json?.error?.code || "unknown" });
  return json;
}

function render(view) {
  // view: { screen, hint, attempt, maxAttempts, passing, error, canRetry }
  if (view.screen === "capture") {
    const hint = $("hint");
    const code = view.challengeStep != null ? `${view.hint}:${view.challengeStep}` : view.hint;
    if (hint.dataset.code !== code) {
      hint.dataset.code = code;
      hint.textContent = view.challengeStep != null
        ? t("challenge_step", { n: view.challengeStep + 1, max: view.challengeSteps, step: t(`hint.${view.hint}`) })
        : t(`hint.${view.hint}`);
    }
    $("attempt").textContent = t("attempt", { n: view.attempt, max: view.maxAttempts });
    document.querySelector(".oval").classList.toggle("ok", !!view.passing);
  }
  if (view.screen === "error" && !view.canRetry) reportPhoneFailure?.(view.error);
  if (view.screen === "error") showError(view.error, view.canRetry);
  else if (document.querySelector(`.screen[data-screen="${view.screen}"]`)?.hidden) show(view.screen);
}

async function main() {
  translateStatic();
  show("loading");
  await init();
  let session;
  // A phone that opened a handoff link claims the desktop's session instead of opening one.
  const phone = params.has("handoff");
  try {
    session = phone
      ? await api("/api/handoff/claim", { ticket: handoffTicketFromQuery(location.search) })
      : await api("/api/sessions", { query: location.search });
  } catch (e) {
    return phone ? showHandoffRefused(e.code || "unknown") : showError(e.code);
  }
  if (phone) {
    reportPhoneFailure = (code) => api(`/api/sessions/${session.sessionId}/handoff/failed`, { code }).catch(() => {});
  }
  $("project-name").textContent = session.project.name;
  const logo = $("logo");
  logo.src = session.project.logoUrl || "logo.svg";
  logo.alt = session.project.name;
  // The Checker and the capture state machine, in a Worker (prechecks.js).
  const flow = await startPrechecks(JSON.stringify(session.policy));
  if (flow.policyHash !== session.policyHash) return showError("policy_mismatch");
  document.documentElement.dataset.prechecks = flow.inWorker ? "worker" : "main-thread";
  const modelsBase = new URL(`${config.assetBase}models/`, location.href).href;
  const modelsReady = flow.loadModels({ modelsBase }).catch((e) => e);
  let stopHandoff = () => {};
  const placement = handoffPlacement(session.handoff || "off", await detectDevice());
  $("use-phone").hidden = placement !== "offer_handoff";
  if (placement === "handoff_only") startHandoff(false);
  else show("start");

  let camera = null;
  let running = false;
  // Each frame loop has a number; a loop whose number is not the current one stops (after a
  // camera switch the old loop's answer in flight must not drive the new one).
  let loopId = 0;
  let framesChecked = 0; // shown as data-frames-checked (tests and support read it)

  async function runAttempt() {
    render(await flow.start());
    try {
      camera = camera && camera.isLive() ? camera : await Camera.start($("video"), null);
    } catch (e) {
      return render(await flow.cameraFailed({ code: e.code || "camera_failed" }));
    }
    const loaded = await modelsReady;
    if (loaded instanceof Error) return showError(loaded.code || "model_load_failed");
    render(await flow.cameraReady({ now: performance.now(), label: camera.label(), width: camera.width(), height: camera.height() }));
    offerCameras();
    loop();
  }

  function loop() {
    const id = ++loopId;
    running = true;
    step(id).catch(loopFailed);
  }

  function loopFailed(e) {
    running = false;
    showError(e.code || "worker_failed");
  }

  // One frame in flight: the next is grabbed when the Worker has answered for this one.
  async function step(id) {
    if (!running || id !== loopId) return;
    if (!camera.isLive()) { running = false; return render(await flow.cameraFailed({ code: "camera_ended" })); }
    if (camera.width() > 0) {
      const frame = { now: performance.now(), width: camera.width(), height: camera.height(), rgba: camera.grabFrame() };
      const view = await flow.checkFrame(frame);
      if (!running || id !== loopId) return; // cancelled, hidden or switched meanwhile
      document.documentElement.dataset.framesChecked = String(++framesChecked);
      render(view);
      if (view.screen === "upload") { running = false; return upload(); }
      if (view.screen === "error") { running = false; return; }
    }
    const next = () => step(id).catch(loopFailed);
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) $("video").requestVideoFrameCallback(next);
    else requestAnimationFrame(next);
  }

  // The camera picker, shown when the browser lists more than one camera (their names are
  // readable once one was allowed). Choosing one restarts the attempt on it, not using it up.
  async function offerCameras() {
    let cameras = [];
    try {
      cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    } catch { /* not listed: no picker */ }
    $("camera-picker").hidden = cameras.length < 2;
    const select = $("camera-select");
    select.replaceChildren(...cameras.map((d, i) => {
      const option = new Option(d.label || t("camera_n", { n: i + 1 }), d.deviceId);
      option.selected = d.label === camera.label();
      return option;
    }));
  }
  $("camera-select").addEventListener("change", async (e) => {
    if (!running) return;
    running = false;
    camera.stop();
    try {
      camera = await Camera.start($("video"), e.target.value);
    } catch (err) {
      return render(await flow.cameraFailed({ code: err.code || "camera_failed" }));
    }
    render(await flow.cameraSwitched({ now: performance.now(), label: camera.label(), width: camera.width(), height: camera.height() }));
    loop();
  });

  async function upload() {
    show("upload");
    camera.stop();
    const capturedAt = Date.now();
    let envelope;
    try {
      envelope = await flow.seal({ publicKey: session.publicKey, pid: session.project.id, sid: session.sessionId, capturedAt });
    } catch (e) {
      return showError(e.code || "seal_failed", false);
    }
    try {
      const result = await uploadSealed(`${config.apiBase}/api/sessions/${session.sessionId}/upload`, envelope,
        newIdempotencyKey(), capturedAt, (p) => {
          $("upload-progress").value = p.attempt / p.maxAttempts;
          $("upload-state").textContent = t(`upload_${p.state}`);
        });
      showResult(result);
    } catch (e) {
      showError(e.code || "upload_failed", false);
      reportPhoneFailure?.(e.code || "upload_failed");
    }
  }

  function showResult(result) {
    const approved = result.status === "approved";
    $("screen-result").dataset.status = result.status;
    $("result-title").textContent = t(approved ? "result_approved_title" : "result_rejected_title");
    $("result-text").textContent = t(approved ? "result_approved_text" : "result_rejected_text");
    const go = $("continue");
    if (result.returnUrl) { go.href = result.returnUrl; go.hidden = false; }
    // The phone of a handoff: the desktop continues (with the return URL); this one is done.
    if (phone) { go.hidden = true; $("result-phone").hidden = false; }
    show("result");
  }

  // The desktop while a phone takes the selfie: HandoffDesk (Rust) decides, this renders it
  // and does the I/O it asks for (mint a ticket, follow the server-sent events).
  function startHandoff(allowLocal) {
    stopHandoff();
    const desk = new HandoffDesk(allowLocal);
    const events = new EventSource(`${config.apiBase}/api/sessions/${session.sessionId}/handoff/events`);
    const timer = setInterval(() => renderHandoff(desk.tick(performance.now())), 1000);
    stopHandoff = () => { events.close(); clearInterval(timer); };
    events.onmessage = (e) => {
      try { renderHandoff(desk.serverEvent(performance.now(), e.data)); } catch { /* malformed: ignored */ }
    };
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) renderHandoff(desk.eventsClosed(performance.now()));
    };
    const mint = async () => {
      try {
        const r = await api(`/api/sessions/${session.sessionId}/handoff`);
        renderHandoff(desk.ticketIssued(performance.now(), r.link, r.expiresInMs));
      } catch (e) {
        renderHandoff(desk.ticketFailed(performance.now(), e.code || "unknown"));
      }
    };
    function renderHandoff(v) {
      if (v.action === "mint") mint();
      if (v.action === "close_events" || v.action === "use_local" || v.action === "restart") stopHandoff();
      if (v.action === "restart") return location.reload();
      if (v.screen === "result") return showResult(v.result);
      if (v.screen === "start") return show("start");
      if ($("handoff-link").textContent !== (v.link || "")) {
        $("handoff-link").textContent = v.link || "";
        $("handoff-qr").src = v.qrSvg ? `data:image/svg+xml;charset=utf-8,${encodeURIComponent(v.qrSvg)}` : "";
        $("handoff-copied").textContent = "";
      }
      $("handoff-qr").hidden = $("handoff-link-box").hidden = $("handoff-intro").hidden = !v.link;
      const status = $("handoff-status");
      if (status.dataset.state !== v.state) { status.dataset.state = v.state; status.textContent = t(`handoff_state.${v.state}`); }
      $("handoff-error").textContent = v.error ? errorMessage(v.error, "error.unknown") : "";
      $("screen-handoff").dataset.state = v.state;
      $("handoff-restart").hidden = !v.canRestart;
      $("handoff-local").hidden = !v.allowLocal;
      if ($("screen-handoff").hidden) show("handoff");
    }
    $("handoff-restart").onclick = () => renderHandoff(desk.startAgain());
    $("handoff-local").onclick = () => renderHandoff(desk.useThisDevice());
    renderHandoff(desk.begin(performance.now()));
  }
  $("use-phone").addEventListener("click", () => startHandoff(true));
  $("handoff-qr").alt = t("handoff_qr_alt");
  $("handoff-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("handoff-link").textContent);
      $("handoff-copied").textContent = t("handoff_copied");
    } catch {
      getSelection().selectAllChildren($("handoff-link"));
      $("handoff-copied").textContent = t("handoff_copy_failed");
    }
  });

  $("start").addEventListener("click", async () => {
    try {
      const started = await api(`/api/sessions/${session.sessionId}/start`);
      await flow.setChallenge({ seed: started.challengeSeed || "" });
    } catch (e) {
      return showError(e.code);
    }
    runAttempt();
  });
  $("retry").addEventListener("click", () => runAttempt());
  $("cancel").addEventListener("click", async () => { running = false; camera?.stop(); render(await flow.cancel()); });
  document.addEventListener("visibilitychange", async () => {
    if (!running) return;
    const now = performance.now();
    render(await (document.hidden ? flow.hidden({ now }) : flow.visible({ now })));
  });
}

/** The message of an error code, or of `fallback` when the catalogue has none. */
function errorMessage(code, fallback) {
  const key = `error.${code}`;
  return t(key) !== key ? t(key) : t(fallback);
}

/** A phone's handoff link was refused (used, expired, unknown, damaged). */
function showHandoffRefused(code) {
  $("handoff-refused-code").textContent = code;
  $("handoff-refused-text").textContent = errorMessage(code, "error.handoff_unknown");
  show("handoff-refused");
}

main().catch((e) => showError(e.code || "unknown"));
