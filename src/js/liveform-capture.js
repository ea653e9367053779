// <liveform-capture>: the whole selfie capture as one element, and `captureSelfie()`, the same
// as a function. Every decision (parameters, hints, when a frame is good enough, attempts,
// sealing, retries, the handoff) is made in Rust; this file moves data between the browser,
// the backend and the module, shows the screens and tells the embedding page what happened.
//
//   <liveform-capture pid="…" sid="…" api-base="https://id.example"></liveform-capture>
//
// Attributes (read when the element is connected): pid, sid, tokenid, lang, api-base,
// query (a whole liveform query string, instead of pid/sid/tokenid/lang), wasm-url,
// models-base. Events (bubbling, composed; details typed in liveform-capture.d.ts):
// progress, capture, result, error.
import init, { Camera, uploadSealed, newIdempotencyKey, modelFiles } from "./liveform.js";
import { HandoffDesk, detectDevice, handoffPlacement, handoffTicketFromQuery } from "./liveform.js";
import { chooseLanguage, translator } from "./i18n.js";
import { startPrechecks } from "./prechecks.js";

const TAG = "liveform-capture";
const here = (file) => new URL(file, import.meta.url).href;

// The screens. Static markup only: every text is set from the catalogue with textContent.
const MARKUP = `
<link rel="stylesheet" href="${here("liveform-capture.css")}">
<main id="app" aria-busy="true">
  <section id="screen-loading" class="screen" data-screen="loading">
    <div class="spinner" aria-hidden="true"></div>
    <p id="loading-text" data-i18n="loading"></p>
    <progress id="load-progress" max="1" aria-labelledby="loading-text"></progress>
  </section>
  <section id="screen-start" class="screen" data-screen="start" hidden>
    <img id="logo" class="logo" alt="">
    <h1 id="project-name"></h1>
    <p data-i18n="start_intro"></p>
    <button id="start" class="primary" type="button" data-i18n="start"></button>
    <button id="use-phone" class="secondary" type="button" data-i18n="handoff_use_phone" hidden></button>
    <p id="models-box" class="small" hidden>
      <span id="models-text" data-i18n="preparing_checks"></span>
      <progress id="models-progress" max="1" value="0" aria-labelledby="models-text"></progress>
    </p>
  </section>
  <section id="screen-handoff" class="screen" data-screen="handoff" hidden>
    <h1 data-i18n="handoff_title"></h1>
    <p id="handoff-intro" data-i18n="handoff_intro"></p>
    <img id="handoff-qr" class="qr" alt="" hidden>
    <div id="handoff-link-box" class="link-box" hidden>
      <p class="small" data-i18n="handoff_link_label"></p>
      <code id="handoff-link"></code>
      <button id="handoff-copy" class="secondary" type="button" data-i18n="handoff_copy"></button>
      <p id="handoff-copied" class="small" role="status" aria-live="polite"></p>
    </div>
    <p id="handoff-status" class="hint" role="status" aria-live="polite"></p>
    <p id="handoff-error" role="alert"></p>
    <button id="handoff-restart" class="primary" type="button" data-i18n="handoff_restart" hidden></button>
    <button id="handoff-local" class="secondary" type="button" data-i18n="handoff_use_this_device" hidden></button>
  </section>
  <section id="screen-handoff-refused" class="screen" data-screen="handoff-refused" hidden>
    <h1 data-i18n="handoff_refused_title"></h1>
    <p id="handoff-refused-text" role="alert"></p>
    <p class="small"><span data-i18n="error_code"></span> <code id="handoff-refused-code"></code></p>
  </section>
  <section id="screen-capture" class="screen" data-screen="capture" hidden>
    <div class="viewport">
      <video id="video" playsinline muted></video>
      <svg class="oval" viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true">
        <ellipse cx="50" cy="50" rx="30" ry="40"></ellipse>
      </svg>
    </div>
    <p id="hint" class="hint" role="status" aria-live="polite"></p>
    <p id="attempt" class="small"></p>
    <p id="camera-picker" class="small" hidden>
      <label for="camera-select" data-i18n="camera_picker"></label>
      <select id="camera-select"></select>
    </p>
    <button id="cancel" class="secondary" type="button" data-i18n="cancel"></button>
  </section>
  <section id="screen-upload" class="screen" data-screen="upload" hidden>
    <div class="spinner" aria-hidden="true"></div>
    <p id="uploading-text" data-i18n="uploading"></p>
    <progress id="upload-progress" max="1" value="0" aria-labelledby="uploading-text"></progress>
    <p id="upload-state" class="small" role="status" aria-live="polite"></p>
  </section>
  <section id="screen-result" class="screen" data-screen="result" hidden>
    <h1 id="result-title"></h1>
    <p id="result-text"></p>
    <p id="result-phone" data-i18n="handoff_phone_done" hidden></p>
    <a id="continue" class="primary button" data-i18n="continue" hidden></a>
  </section>
  <section id="screen-error" class="screen" data-screen="error" hidden>
    <h1 data-i18n="error_title"></h1>
    <p id="error-text" role="alert"></p>
    <p class="small"><span data-i18n="error_code"></span> <code id="error-code"></code></p>
    <button id="retry" class="primary" type="button" data-i18n="try_again" hidden></button>
  </section>
</main>`;

const template = document.createElement("template");
template.innerHTML = MARKUP;

/** An error with a stable `code`, as the SDK's own errors carry. */
export class LiveformError extends Error {
  constructor(code, message, retryable = false) {
    super(message || code);
    this.name = "LiveformError";
    this.code = code;
    this.retryable = retryable;
  }
}

// The SDK module, downloaded (with progress) and compiled once per URL and page; the main
// thread and the prechecks Worker instantiate the same compiled module.
const modules = new Map();
function sdkModule(url, onProgress) {
  if (!modules.has(url)) {
    modules.set(url, (async () => {
      const bytes = await fetchBytes(url, null, onProgress, "sdk_load_failed");
      const module = await WebAssembly.compile(bytes);
      await init({ module_or_path: module });
      return module;
    })());
    modules.get(url).catch(() => modules.delete(url));
  }
  return modules.get(url);
}

/** GETs `url` into bytes, reporting `(loaded, total)` as they arrive. */
async function fetchBytes(url, expected, onProgress, code) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new LiveformError(code, `${url}: ${e.message}`);
  }
  if (!res.ok) throw new LiveformError(code, `${url}: HTTP ${res.status}`);
  const total = expected ?? (Number(res.headers.get("content-length")) || null);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

/** The `<liveform-capture>` element. */
export class LiveformCaptureElement extends HTMLElement {
  #stop = null;

  /** The language the element speaks (`en`, `ko`), chosen when it was connected. */
  language = "en";

  connectedCallback() {
    if (this.#stop) return;
    if (!this.shadowRoot) this.attachShadow({ mode: "open" });
    this.#run();
  }

  disconnectedCallback() {
    // Moved within the page: the element is connected again in the same task.
    queueMicrotask(() => { if (!this.isConnected) this.#teardown(); });
  }

  #teardown() {
    this.#stop?.();
    this.#stop = null;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** The liveform query string this element was given (`?pid=…&sid=…`). */
  #query() {
    const raw = this.getAttribute("query");
    if (raw != null) return raw.startsWith("?") ? raw : `?${raw}`;
    const q = new URLSearchParams();
    for (const name of ["pid", "sid", "tokenid", "lang"]) {
      const v = this.getAttribute(name);
      if (v != null) q.set(name, v);
    }
    return `?${q}`;
  }

  // One run of the capture, from the loading screen to a result or an error. "Start again"
  // (the handoff) tears it down and runs a fresh one.
  #run() {
    const root = this.shadowRoot;
    root.replaceChildren(template.content.cloneNode(true));
    const $ = (id) => root.getElementById(id);
    const query = this.#query();
    const params = new URLSearchParams(query);
    const lang = chooseLanguage(params, navigator.languages);
    const t = translator(lang);
    this.language = lang;
    $("app").lang = lang;
    const apiBase = (this.getAttribute("api-base") || "").replace(/\/+$/, "");
    const wasmUrl = new URL(this.getAttribute("wasm-url") || here("liveform_bg.wasm"), location.href).href;
    const modelsBase = new URL(this.getAttribute("models-base") || `${apiBase}/models/`, location.href).href;
    const host = this;
    const emit = (type, detail) => this.#emit(type, detail);

    // What this run holds and must release.
    let alive = true;
    let camera = null;
    let flow = null;
    let stopHandoff = () => {};
    let running = false;
    // A hidden page pauses the capture (the core decides what that means for the attempt).
    const onVisibility = async () => {
      if (!running) return;
      const now = performance.now();
      render(await (document.hidden ? flow.hidden({ now }) : flow.visible({ now })));
    };
    document.addEventListener("visibilitychange", onVisibility);
    this.#stop = () => {
      alive = false;
      running = false;
      document.removeEventListener("visibilitychange", onVisibility);
      camera?.stop();
      stopHandoff();
      flow?.stop();
    };
    const restart = () => { this.#teardown(); this.#run(); };

    // Set on a phone that opened a handoff link: tells the desktop when the phone gives up.
    let reportPhoneFailure = null;

    const show = (name) => {
      if (!alive) return;
      // Focus follows the screen only when it was in the element: an embedding page's own
      // focus (and scroll position) is not taken when the element loads.
      const hadFocus = root.activeElement != null;
      for (const s of root.querySelectorAll(".screen")) s.hidden = s.dataset.screen !== name;
      $("app").setAttribute("aria-busy", String(name === "loading" || name === "upload"));
      this.dataset.screen = name;
      if (!hadFocus) return;
      const focus = root.querySelector(`.screen[data-screen="${name}"] h1, .screen[data-screen="${name}"] button:not([hidden])`);
      if (focus) { if (focus.tagName === "H1") focus.tabIndex = -1; focus.focus(); }
    };
    const errorMessage = (code, fallback = "error.unknown") => {
      const key = `error.${code}`;
      return t(key) !== key ? t(key) : t(fallback);
    };
    const showError = (code, retryable = false, message) => {
      if (!alive) return;
      $("error-code").textContent = code;
      $("error-text").textContent = errorMessage(code);
      $("retry").hidden = !retryable;
      show("error");
      emit("error", { code, message: message || errorMessage(code), retryable });
    };
    const showHandoffRefused = (code) => {
      $("handoff-refused-code").textContent = code;
      $("handoff-refused-text").textContent = errorMessage(code, "error.handoff_unknown");
      show("handoff-refused");
      emit("error", { code, message: errorMessage(code, "error.handoff_unknown"), retryable: false });
    };
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    $("handoff-qr").alt = t("handoff_qr_alt");

    const api = async (path, body) => {
      let res;
      try {
        res = await fetch(`${apiBase}${path}`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
        });
      } catch {
        throw new LiveformError("network", "the liveform backend could not be reached");
      }
      const json = await res.json().catch(() => ({}));
      if (!res.ok) throw new LiveformError(json?.error?.code || "unknown", json?.error?.message || res.statusText);
      return json;
    };

    let lastView = null;
    const render = (view) => {
      if (!alive) return;
      lastView = view;
      // view: { screen, hint, attempt, maxAttempts, passing, error, canRetry, challengeStep… }
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
        root.querySelector(".oval").classList.toggle("ok", !!view.passing);
      }
      if (view.screen === "error" && !view.canRetry) reportPhoneFailure?.(view.error);
      if (view.screen === "error") showError(view.error, view.canRetry);
      else if (root.querySelector(`.screen[data-screen="${view.screen}"]`)?.hidden) show(view.screen);
    };

    const main = async () => {
      show("loading");
      const module = await sdkModule(wasmUrl, (loaded, total) => {
        if (total) $("load-progress").value = loaded / total;
        emit("progress", { stage: "sdk", loaded, total });
      });
      let session;
      // A phone that opened a handoff link claims the desktop's session instead of opening one.
      const phone = params.has("handoff");
      try {
        session = phone
          ? await api("/api/handoff/claim", { ticket: handoffTicketFromQuery(query) })
          : await api("/api/sessions", { query });
      } catch (e) {
        return phone ? showHandoffRefused(e.code || "unknown") : showError(e.code || "unknown", false, e.message);
      }
      if (!alive) return;
      if (phone) {
        reportPhoneFailure = (code) => api(`/api/sessions/${session.sessionId}/handoff/failed`, { code }).catch(() => {});
      }
      $("project-name").textContent = session.project.name;
      const logo = $("logo");
      logo.src = session.project.logoUrl || here("logo.svg");
      logo.alt = session.project.name;
      // The Checker and the capture state machine, in a Worker (prechecks.js).
      flow = await startPrechecks(JSON.stringify(session.policy), module);
      if (!alive) return flow.stop();
      if (flow.policyHash !== session.policyHash) return showError("policy_mismatch");
      this.dataset.prechecks = flow.inWorker ? "worker" : "main-thread";
      const models = loadModels();
      // The first guidance needs only the detector and the mesh; the classifiers load after
      // them, between frames (no frame passes until they are in). Either failing stops it.
      const guidanceReady = models.guidance.catch((e) => e);
      models.all.catch(async (e) => {
        if ((await guidanceReady) instanceof Error) return; // already reported by the attempt
        running = false;
        showError(e.code || "model_load_failed", false, e.message);
      });
      const placement = handoffPlacement(session.handoff || "off", await detectDevice());
      $("use-phone").hidden = placement !== "offer_handoff";
      if (placement === "handoff_only") startHandoff(false);
      else show("start");

      // Every precheck model, fetched here (all at once) with progress and verified (sha256)
      // in Rust; the guidance models load first. Returns {guidance, all}: promises of the
      // guidance models loaded and of every model loaded.
      function loadModels() {
        const files = modelFiles();
        const total = files.reduce((n, m) => n + m.bytes, 0);
        const got = new Map();
        const progress = () => {
          const loaded = [...got.values()].reduce((a, b) => a + b, 0);
          $("models-progress").value = loaded / total;
          emit("progress", { stage: "models", loaded, total });
        };
        $("models-box").hidden = false;
        const fetched = files.map((m) => fetchBytes(new URL(m.file, modelsBase).href, m.bytes,
          (loaded) => { got.set(m.name, loaded); progress(); }, "model_load_failed"));
        for (const f of fetched) f.catch(() => {}); // a failure is reported through `load`
        const load = async (guidance) => {
          for (const [i, m] of files.entries()) {
            if (m.guidance === guidance) await flow.loadModel({ name: m.name, bytes: await fetched[i] });
          }
        };
        const guidance = load(true);
        const all = guidance.then(async () => {
          await Promise.all(fetched);
          $("models-box").hidden = true;
          await load(false);
        });
        return { guidance, all };
      }

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
        const loaded = await guidanceReady;
        if (loaded instanceof Error) return showError(loaded.code || "model_load_failed", false, loaded.message);
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
        showError(e.code || "worker_failed", false, e.message);
      }

      // One frame in flight: the next is grabbed when the Worker has answered for this one.
      async function step(id) {
        if (!running || id !== loopId) return;
        if (!camera.isLive()) { running = false; return render(await flow.cameraFailed({ code: "camera_ended" })); }
        if (camera.width() > 0) {
          const frame = { now: performance.now(), width: camera.width(), height: camera.height(), rgba: camera.grabFrame() };
          const view = await flow.checkFrame(frame);
          if (!running || id !== loopId) return; // cancelled, hidden or switched meanwhile
          host.dataset.framesChecked = String(++framesChecked);
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
        $("camera-select").replaceChildren(...cameras.map((d, i) => {
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
          return showError(e.code || "seal_failed", false, e.message);
        }
        emit("capture", { sessionId: session.sessionId, attempt: lastView?.attempt ?? 1, capturedAt, sealedBytes: envelope.length });
        try {
          const result = await uploadSealed(`${apiBase}/api/sessions/${session.sessionId}/upload`, envelope,
            newIdempotencyKey(), capturedAt, (p) => {
              $("upload-progress").value = p.attempt / p.maxAttempts;
              $("upload-state").textContent = t(`upload_${p.state}`);
              emit("progress", { stage: "upload", loaded: p.attempt, total: p.maxAttempts, state: p.state });
            });
          showResult(result);
        } catch (e) {
          showError(e.code || "upload_failed", false, e.message);
          reportPhoneFailure?.(e.code || "upload_failed");
        }
      }

      function showResult(result) {
        if (!alive) return;
        const approved = result.status === "approved";
        $("screen-result").dataset.status = result.status;
        $("result-title").textContent = t(approved ? "result_approved_title" : "result_rejected_title");
        $("result-text").textContent = t(approved ? "result_approved_text" : "result_rejected_text");
        const go = $("continue");
        if (result.returnUrl) { go.href = result.returnUrl; go.hidden = false; }
        // The phone of a handoff: the desktop continues (with the return URL); this one is done.
        if (phone) { go.hidden = true; $("result-phone").hidden = false; }
        show("result");
        emit("result", {
          sessionId: session.sessionId, authId: result.authId, status: result.status,
          returnUrl: result.returnUrl ?? null, onPhone: phone,
        });
      }

      // The desktop while a phone takes the selfie: HandoffDesk (Rust) decides, this renders it
      // and does the I/O it asks for (mint a ticket, follow the server-sent events).
      function startHandoff(allowLocal) {
        stopHandoff();
        const desk = new HandoffDesk(allowLocal);
        const events = new EventSource(`${apiBase}/api/sessions/${session.sessionId}/handoff/events`);
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
          if (!alive) return;
          if (v.action === "mint") mint();
          if (v.action === "close_events" || v.action === "use_local" || v.action === "restart") stopHandoff();
          if (v.action === "restart") return restart();
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
          $("handoff-error").textContent = v.error ? errorMessage(v.error) : "";
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
          return showError(e.code || "unknown", false, e.message);
        }
        runAttempt();
      });
      $("retry").addEventListener("click", () => runAttempt());
      $("cancel").addEventListener("click", async () => { running = false; camera?.stop(); render(await flow.cancel()); });
    };
    main().catch((e) => showError(e.code || "unknown", false, e.message));
  }
}

if (!customElements.get(TAG)) customElements.define(TAG, LiveformCaptureElement);

/**
 * The element as a function: puts a `<liveform-capture>` in `container` and resolves with
 * the result (`{ sessionId, authId, status, returnUrl, onPhone }`), or rejects with a
 * `LiveformError` when the capture cannot go on (an error the user cannot retry).
 * Options: pid, sid, tokenid, lang, query, apiBase, wasmUrl, modelsBase, onProgress,
 * onCapture, signal (aborting removes the element and rejects with code `aborted`).
 */
export function captureSelfie(container, options = {}) {
  const el = document.createElement(TAG);
  const attrs = { pid: "pid", sid: "sid", tokenid: "tokenid", lang: "lang", query: "query", apiBase: "api-base", wasmUrl: "wasm-url", modelsBase: "models-base" };
  for (const [key, attr] of Object.entries(attrs)) if (options[key] != null) el.setAttribute(attr, String(options[key]));
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(new LiveformError("aborted", "the capture was aborted"));
    signal?.addEventListener("abort", () => { el.remove(); reject(new LiveformError("aborted", "the capture was aborted")); }, { once: true });
    if (options.onProgress) el.addEventListener("progress", (e) => options.onProgress(e.detail));
    if (options.onCapture) el.addEventListener("capture", (e) => options.onCapture(e.detail));
    el.addEventListener("result", (e) => resolve(e.detail));
    el.addEventListener("error", (e) => {
      if (!e.detail.retryable) reject(new LiveformError(e.detail.code, e.detail.message));
    });
    container.append(el);
  });
}
