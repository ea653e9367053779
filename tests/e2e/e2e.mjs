// End-to-end tests of the liveform page in headless Chromium (the system Chromium driven by
// playwright-core), against the real reference backend, with Chromium's fake camera fed a
// video made from real face photos. Screenshots of every screen go to tests/e2e/artifacts/.
//
//   node e2e.mjs  (run by tests/e2e/run.sh, which builds the package, the videos and the server)
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";

const BASE = process.env.LIVEFORM_BASE;
const EMBED_PORT = Number(process.env.LIVEFORM_EMBED_PORT);
const FACE_VIDEO = process.env.LIVEFORM_FACE_VIDEO;
const NOFACE_VIDEO = process.env.LIVEFORM_NOFACE_VIDEO;
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const AXE = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
mkdirSync(ARTIFACTS, { recursive: true });

async function browserWith(video, { grantCamera = true, fakeCamera = true, cameras = 1 } = {}) {
  const args = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--no-first-run",
  ];
  // Without a fake device the browser has no camera at all (a desktop without a webcam).
  if (fakeCamera) args.push(cameras > 1 ? `--use-fake-device-for-media-stream=device-count=${cameras}` : "--use-fake-device-for-media-stream");
  // Without the fake permission UI, headless Chromium refuses the camera like a user saying no.
  if (grantCamera) args.push("--use-fake-ui-for-media-stream");
  if (video) args.push(`--use-file-for-fake-video-capture=${video}`);
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args, headless: true });
}

async function openPage(browser, query) {
  const page = await browser.newPage({ viewport: { width: 480, height: 860 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !scannerNoise(page, m.text())) errors.push(m.text()); });
  await page.goto(`${BASE}/${query}`);
  return { page, errors };
}

async function screen(page) {
  return page.evaluate(() => document.querySelector("liveform-capture")?.dataset.screen);
}

async function waitScreen(page, name, timeout = 60000) {
  await page.waitForSelector(`.screen[data-screen="${name}"]:not([hidden])`, { timeout });
}

async function axeSerious(page) {
  // Evaluated through the DevTools protocol: the page's strict CSP (rightly) refuses inline
  // scripts, and the scan must not require loosening it. While it scans the element's shadow
  // root, axe itself tries inline styles, which the CSP refuses; those console errors are
  // the scanner's, not the page's (see scannerNoise).
  page.__scanning = true;
  try {
    await page.evaluate(AXE);
    const result = await page.evaluate(async () => await window.axe.run(document));
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  } finally {
    page.__scanning = false;
  }
}

/** A console error caused by the accessibility scanner, not by the page. */
function scannerNoise(page, text) {
  return page.__scanning && /^Applying inline style violates/.test(text);
}

test("face video: start → guidance → sealed upload → server decision → result → redirect", async () => {
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, errors } = await openPage(browser, "?pid=demo&sid=sub_demo&userid=u-42&cf1=e2e");
    await waitScreen(page, "start");
    await page.screenshot({ path: `${ARTIFACTS}/1-start.png` });
    assert.deepEqual(await axeSerious(page), [], "start screen accessibility");
    assert.equal(await page.evaluate(() => document.querySelector("liveform-capture").dataset.prechecks), "worker",
      "the prechecks run in a Worker, off the page's main thread");
    // Main-thread tasks over 50 ms during the capture, reported (a measurement, not a check).
    await page.evaluate(() => {
      window.__longTasks = [];
      new PerformanceObserver((l) => window.__longTasks.push(...l.getEntries().map((e) => e.duration)))
        .observe({ type: "longtask" });
    });
    await page.click("#start");
    await waitScreen(page, "capture");
    // A guidance hint from analysed frames (not the "starting camera" placeholder).
    await page.waitForFunction(() => !["", "starting_camera", undefined].includes(document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code), null, { timeout: 30000 });
    await page.screenshot({ path: `${ARTIFACTS}/2-capture.png` });
    assert.equal(await page.isHidden("#camera-picker"), true, "one camera: no picker");
    await waitScreen(page, "result", 120000);
    const long = await page.evaluate(() => window.__longTasks);
    console.log(`main-thread long tasks from Start to the result: ${long.length}, ` +
      `${Math.round(long.reduce((a, b) => a + b, 0))} ms in all, longest ${Math.round(Math.max(0, ...long))} ms`);
    await page.screenshot({ path: `${ARTIFACTS}/3-result.png` });
    const href0 = await page.getAttribute("#continue", "href");
    const authId = href0 && new URL(href0).searchParams.get("authId");
    const stored = await (await fetch(`${BASE}/api/results/${authId}`, { headers: { "X-Api-Key": "demo-api-key" } })).json();
    // The server re-ran the checks: same person as the registered face. Liveness is the
    // server's call; a video of a still photo may rightly be refused as a replay.
    const status = await page.getAttribute("#screen-result", "data-status");
    assert.ok(status === "approved" || status === "rejected", status);
    assert.equal(stored.status, status);
    assert.equal(stored.scores.faceMatch.passed, true, JSON.stringify(stored));
    assert.equal(stored.claimed.passed, true, "the device's own prechecks passed");
    assert.deepEqual(await axeSerious(page), [], "result screen accessibility");
    const href = await page.getAttribute("#continue", "href");
    const url = new URL(href);
    assert.equal(url.searchParams.get("status"), status);
    assert.ok(url.searchParams.get("authId"));
    assert.equal(url.searchParams.get("userid"), "u-42");
    assert.equal(url.searchParams.get("cf1"), "e2e");
    assert.deepEqual(errors, [], "no console errors");
    await Promise.all([page.waitForURL((u) => u.href.startsWith(url.origin + url.pathname)), page.click("#continue")]);
  } finally {
    await browser.close();
  }
});

test("classifiers loading late: guidance starts without them, nothing is captured until they are in", async () => {
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, errors } = await openPage(browser, "?pid=demo&sid=sub_demo");
    // The palm model's download is held back until released below.
    let release;
    const held = new Promise((ok) => { release = ok; });
    let palmServed = false;
    await page.route("**/models/mphands_palm_detection_lite.nnef.tar", async (route) => {
      await held;
      palmServed = true;
      await route.continue();
    });
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "capture");
    const hint = () => page.evaluate(() => document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code);
    // Guidance runs on the detector and the mesh alone; a good face is told to hold still
    // (measure_missing), not that there is no face, and it is not captured.
    await page.waitForFunction(() => document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code === "hold_still", null, { timeout: 30000 });
    const framesBefore = Number(await page.evaluate(() => document.querySelector("liveform-capture").dataset.framesChecked));
    await page.waitForTimeout(4000);
    assert.equal(palmServed, false);
    assert.equal(await screen(page), "capture", "no capture without the classifiers");
    assert.equal(await hint(), "hold_still");
    const framesAfter = Number(await page.evaluate(() => document.querySelector("liveform-capture").dataset.framesChecked));
    assert.ok(framesAfter > framesBefore + 10, `frames keep being checked: ${framesBefore} → ${framesAfter}`);
    release();
    await waitScreen(page, "result", 120000);
    const authId = new URL(await page.getAttribute("#continue", "href")).searchParams.get("authId");
    const stored = await (await fetch(`${BASE}/api/results/${authId}`, { headers: { "X-Api-Key": "demo-api-key" } })).json();
    assert.equal(stored.claimed.passed, true, "the device's prechecks passed, with every model");
    assert.equal(typeof stored.claimed.scores.occlusion, "number", JSON.stringify(stored.claimed));
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await browser.close();
  }
});

test("no-face video: stays on guidance, fails after the retries", async () => {
  const browser = await browserWith(NOFACE_VIDEO);
  try {
    const { page } = await openPage(browser, "?pid=demo&sid=sub_demo");
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "capture");
    await page.waitForFunction(() => document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code === "no_face", null, { timeout: 30000 });
    await page.screenshot({ path: `${ARTIFACTS}/4-no-face.png` });
    for (let attempt = 1; attempt < 3; attempt++) {
      await waitScreen(page, "error", 90000);
      await page.click("#retry");
      await waitScreen(page, "capture");
    }
    await waitScreen(page, "error", 90000);
    assert.equal(await page.textContent("#error-code"), "attempts_exhausted");
    assert.equal(await page.isVisible("#retry"), false, "no retry after the last attempt");
    await page.screenshot({ path: `${ARTIFACTS}/5-attempts-exhausted.png` });
  } finally {
    await browser.close();
  }
});

test("active liveness: the challenge steps are shown; a photo held still cannot do them", async () => {
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, errors } = await openPage(browser, "?pid=active&sid=sub_demo");
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "capture");
    // After the passing streak the first step of the server's challenge is shown.
    await page.waitForFunction(() => /:0$/.test(document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code || ""), null, { timeout: 60000 });
    assert.match(await page.textContent("#hint"), /^Step 1 of 3: \S/);
    await page.screenshot({ path: `${ARTIFACTS}/6-challenge-step.png` });
    assert.deepEqual(await axeSerious(page), [], "challenge screen accessibility");
    // A still picture cannot turn or blink: the step times out and the attempt fails with
    // a way to try again.
    await waitScreen(page, "error", 60000);
    assert.equal(await page.textContent("#error-code"), "challenge_failed");
    assert.equal(await page.isVisible("#retry"), true);
    await page.screenshot({ path: `${ARTIFACTS}/7-challenge-failed.png` });
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await browser.close();
  }
});

test("bad parameters: a specific error screen, localised", async () => {
  const browser = await browserWith(null);
  try {
    let { page } = await openPage(browser, "?pid=demo");
    await waitScreen(page, "error");
    assert.equal(await page.textContent("#error-code"), "missing_sid");
    await page.screenshot({ path: `${ARTIFACTS}/6-error-missing-sid.png` });
    assert.deepEqual(await axeSerious(page), [], "error screen accessibility");
    ({ page } = await openPage(browser, "?pid=demo&sid=nope&lang=ko"));
    await waitScreen(page, "error");
    assert.equal(await page.textContent("#error-code"), "sid_unknown");
    assert.equal(await page.getAttribute("html", "lang"), "ko");
    await page.screenshot({ path: `${ARTIFACTS}/7-error-ko.png` });
  } finally {
    await browser.close();
  }
});

test("camera permission denied: a specific error screen with a way out", async () => {
  const browser = await browserWith(FACE_VIDEO, { grantCamera: false });
  try {
    const { page } = await openPage(browser, "?pid=demo&sid=sub_demo");
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "error", 30000);
    assert.equal(await page.textContent("#error-code"), "camera_permission_denied");
    assert.equal(await page.isVisible("#retry"), true, "the user can try again after allowing the camera");
    await page.screenshot({ path: `${ARTIFACTS}/8-camera-denied.png` });
  } finally {
    await browser.close();
  }
});

test("two cameras: the picker lists both, and switching keeps the attempt", async () => {
  // Chromium's synthetic cameras (no video file): two devices, neither showing a face.
  const browser = await browserWith(null, { cameras: 2 });
  try {
    const { page, errors } = await openPage(browser, "?pid=demo&sid=sub_demo");
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "capture");
    await page.waitForSelector("#camera-picker:not([hidden])", { timeout: 30000 });
    const options = await page.$$eval("#camera-select option", (os) => os.map((o) => ({ value: o.value, selected: o.selected })));
    assert.equal(options.length, 2, JSON.stringify(options));
    const other = options.find((o) => !o.selected);
    assert.ok(other, "the camera in use is the selected one");
    await page.waitForFunction(() => document.querySelector("liveform-capture").shadowRoot.querySelector("#hint").dataset.code === "no_face", null, { timeout: 30000 });
    const attempt = await page.textContent("#attempt");
    const checked = () => page.evaluate(() => Number(document.querySelector("liveform-capture").dataset.framesChecked || 0));
    await page.selectOption("#camera-select", other.value);
    // The capture goes on with the other camera: same attempt, its frames checked.
    await page.waitForFunction((id) => document.querySelector("liveform-capture").shadowRoot.querySelector("#video").srcObject?.getVideoTracks()[0]?.getSettings().deviceId === id,
      other.value, { timeout: 30000 });
    const before = await checked();
    await page.waitForFunction((n) => Number(document.querySelector("liveform-capture").dataset.framesChecked) >= n + 3, before, { timeout: 30000 });
    assert.equal(await screen(page), "capture");
    assert.equal(await page.textContent("#attempt"), attempt, "switching does not use up an attempt");
    assert.equal(await page.$eval("#camera-select", (s) => s.value), other.value);
    await page.screenshot({ path: `${ARTIFACTS}/8b-camera-picker.png` });
    assert.deepEqual(await axeSerious(page), [], "capture screen with the picker");
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await browser.close();
  }
});

// --- Desktop → phone handoff -------------------------------------------------------------

/** An emulated phone: touch screen, coarse pointer, phone viewport and user agent. */
const PHONE = {
  viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
};

async function pageIn(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !scannerNoise(page, m.text())) errors.push(m.text()); });
  if (url) await page.goto(url);
  return { page, errors };
}

async function waitDeskState(page, state, timeout = 60000) {
  await page.waitForSelector(`#screen-handoff[data-state="${state}"]`, { state: "attached", timeout });
}

test("handoff: desktop without a camera shows a QR code, the phone captures, the desktop ends on the result", async () => {
  const desktopBrowser = await browserWith(null, { fakeCamera: false });
  const phoneBrowser = await browserWith(FACE_VIDEO);
  try {
    const deskContext = await desktopBrowser.newContext({ viewport: { width: 1024, height: 900 } });
    await deskContext.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
    const { page: desk, errors } = await pageIn(deskContext, `${BASE}/?pid=demo&sid=sub_demo&userid=u-77&cf1=handoff`);
    await waitScreen(desk, "handoff");
    await waitDeskState(desk, "waiting");
    await desk.waitForFunction(() => { const i = document.querySelector("liveform-capture").shadowRoot.querySelector("#handoff-qr"); return !i.hidden && i.complete && i.naturalWidth > 0; });
    assert.equal(await desk.isVisible("#handoff-local"), false, "no camera here: no 'use this computer'");
    assert.match(await desk.textContent("#handoff-status"), /phone/i);

    // The link carries the ticket and nothing else.
    const link = (await desk.textContent("#handoff-link")).trim();
    const url = new URL(link);
    assert.equal(url.origin, new URL(BASE).origin);
    assert.deepEqual([...url.searchParams.keys()], ["handoff"]);
    for (const secret of ["sub_demo", "u-77", "demo", "ses_"]) assert.ok(!url.search.includes(secret), `${link} has ${secret}`);

    // The copy button is reachable by keyboard and copies the exact link.
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await desk.keyboard.press("Tab");
      reached = await desk.evaluate(() => document.querySelector("liveform-capture").shadowRoot.activeElement?.id === "handoff-copy");
    }
    assert.ok(reached, "Tab reaches the copy button");
    await desk.keyboard.press("Enter");
    await desk.waitForFunction(() => document.querySelector("liveform-capture").shadowRoot.querySelector("#handoff-copied").textContent !== "");
    assert.equal(await desk.evaluate(() => navigator.clipboard.readText()), link);

    await desk.screenshot({ path: `${ARTIFACTS}/9-handoff-waiting.png` });
    assert.deepEqual(await axeSerious(desk), [], "handoff screen accessibility");

    // The phone opens the link and continues the desktop's session.
    const phoneContext = await phoneBrowser.newContext(PHONE);
    const { page: phone, errors: phoneErrors } = await pageIn(phoneContext, link);
    await waitScreen(phone, "start");
    assert.equal(await phone.isVisible("#use-phone"), false, "a phone never hands off again");
    await waitDeskState(desk, "phone_connected");
    assert.equal(await desk.isVisible("#handoff-qr"), false, "the used code is gone");
    assert.equal(await desk.isVisible("#handoff-link-box"), false, "with its link and copy button");
    await desk.screenshot({ path: `${ARTIFACTS}/10-handoff-phone-connected.png` });
    assert.deepEqual(await axeSerious(desk), [], "phone-connected accessibility");

    await phone.click("#start");
    await waitDeskState(desk, "capturing");
    await desk.screenshot({ path: `${ARTIFACTS}/11-handoff-capturing.png` });
    await waitScreen(phone, "result", 120000);
    await phone.screenshot({ path: `${ARTIFACTS}/12-handoff-phone-result.png` });
    assert.equal(await phone.isVisible("#continue"), false, "the desktop continues, not the phone");
    assert.equal(await phone.isVisible("#result-phone"), true);

    // The desktop ends where a direct capture ends: the same result and return URL.
    await waitScreen(desk, "result", 60000);
    await desk.screenshot({ path: `${ARTIFACTS}/13-handoff-desktop-result.png` });
    const status = await desk.getAttribute("#screen-result", "data-status");
    assert.equal(status, await phone.getAttribute("#screen-result", "data-status"));
    const ret = new URL(await desk.getAttribute("#continue", "href"));
    assert.equal(ret.searchParams.get("status"), status);
    assert.equal(ret.searchParams.get("userid"), "u-77");
    assert.equal(ret.searchParams.get("cf1"), "handoff");
    const stored = await (await fetch(`${BASE}/api/results/${ret.searchParams.get("authId")}`, { headers: { "X-Api-Key": "demo-api-key" } })).json();
    assert.equal(stored.status, status);
    assert.equal(stored.scores.faceMatch.passed, true, JSON.stringify(stored));
    assert.deepEqual(await axeSerious(desk), [], "desktop result accessibility");
    assert.deepEqual(errors, [], "no console errors on the desktop");
    assert.deepEqual(phoneErrors, [], "no console errors on the phone");

    // The used link, opened again on the same phone and on a second (Korean) phone: refused.
    await phone.goto(link);
    await waitScreen(phone, "handoff-refused");
    assert.equal(await phone.textContent("#handoff-refused-code"), "handoff_already_claimed");
    await phone.screenshot({ path: `${ARTIFACTS}/14-handoff-link-used.png` });
    assert.deepEqual(await axeSerious(phone), [], "refusal screen accessibility");
    const koContext = await phoneBrowser.newContext({ ...PHONE, locale: "ko-KR" });
    const { page: second } = await pageIn(koContext, link);
    await waitScreen(second, "handoff-refused");
    assert.equal(await second.textContent("#handoff-refused-code"), "handoff_already_claimed");
    assert.equal(await second.getAttribute("html", "lang"), "ko");
    await second.screenshot({ path: `${ARTIFACTS}/15-handoff-link-used-ko.png` });
  } finally {
    await desktopBrowser.close();
    await phoneBrowser.close();
  }
});

test("handoff: a phone opening the desktop flow just captures; a desktop with a camera is offered the phone", async () => {
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page: phone } = await pageIn(await browser.newContext(PHONE), `${BASE}/?pid=demo&sid=sub_demo`);
    await waitScreen(phone, "start");
    assert.equal(await phone.isVisible("#use-phone"), false);
    const { page: desk, errors } = await openPage(browser, "?pid=demo&sid=sub_demo");
    await waitScreen(desk, "start");
    assert.equal(await desk.isVisible("#use-phone"), true, "offered, not forced");
    await desk.click("#use-phone");
    await waitScreen(desk, "handoff");
    await waitDeskState(desk, "waiting");
    await desk.click("#handoff-local");
    await waitScreen(desk, "start");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("handoff: when the phone gives up, the desktop says why and starts again with a new code", async () => {
  const browser = await browserWith(null, { fakeCamera: false });
  try {
    const { page: desk, errors } = await pageIn(await browser.newContext({ viewport: { width: 1024, height: 900 } }),
      `${BASE}/?pid=demo&sid=sub_demo`);
    await waitDeskState(desk, "waiting");
    const link = (await desk.textContent("#handoff-link")).trim();
    // The phone's side through the real API: claim the ticket, then report an error it
    // cannot retry (as the page does after the last failed attempt).
    const post = (path, body) => fetch(`${BASE}${path}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const claimed = await post("/api/handoff/claim", { ticket: new URL(link).searchParams.get("handoff") });
    assert.equal(claimed.status, 200);
    const { sessionId } = await claimed.json();
    await waitDeskState(desk, "phone_connected");
    assert.equal((await post(`/api/sessions/${sessionId}/handoff/failed`, { code: "attempts_exhausted" })).status, 204);
    await waitDeskState(desk, "failed");
    assert.match(await desk.textContent("#handoff-error"), /3 attempts/);
    assert.equal(await desk.isVisible("#handoff-restart"), true);
    await desk.screenshot({ path: `${ARTIFACTS}/16-handoff-failed.png` });
    assert.deepEqual(await axeSerious(desk), [], "failed screen accessibility");
    await desk.click("#handoff-restart");
    await waitDeskState(desk, "waiting");
    const fresh = (await desk.textContent("#handoff-link")).trim();
    assert.notEqual(fresh, link, "a new session, a new code");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

// --- The README's embedding examples, on another site --------------------------------------

/** The README's example `name`, as written (the html block after `<!-- example: name -->`). */
function readmeExample(name) {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const m = readme.match(new RegExp(`<!-- example: ${name} -->\\n\`\`\`html\\n([\\s\\S]*?)\`\`\`\\n`));
  assert.ok(m, `README has no example "${name}"`);
  return m[1];
}

/** Serves `html` as the only page of another origin, under the CSP the README documents for
 * an embedding page (with a hash for each inline script, as a site would). */
async function embeddingSite(html) {
  const api = new URL(BASE).origin;
  const hashes = [...html.matchAll(/<script type="module">([\s\S]*?)<\/script>/g)]
    .map((m) => `'sha256-${createHash("sha256").update(m[1]).digest("base64")}'`);
  const csp = [
    `script-src ${api} 'wasm-unsafe-eval' ${hashes.join(" ")}`, `style-src ${api}`,
    `connect-src ${api}`, `img-src ${api} data:`, "media-src blob: mediastream:", `worker-src blob: ${api}`,
  ].join("; ");
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title></head>` +
    `<body><main><h1>Checkout</h1>\n${html}</main></body></html>`;
  const server = createServer((req, res) => {
    if (req.url !== "/") { res.writeHead(404).end(); return; }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": csp }).end(page);
  });
  await new Promise((resolve) => server.listen(EMBED_PORT, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${EMBED_PORT}/`, csp, close: () => new Promise((r) => server.close(r)) };
}

/** Opens the site with a face on the fake camera; collects its console lines and errors. */
async function openSite(browser, url) {
  const page = await browser.newPage({ viewport: { width: 800, height: 900 } });
  const lines = [];
  const errors = [];
  page.on("console", (m) => (m.type() === "error" ? (scannerNoise(page, m.text()) || errors.push(m.text())) : lines.push(m.text())));
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  return { page, lines, errors };
}

/** The README example `name`, as written but for the backend's address, served on the site. */
async function exampleSite(name) {
  const example = readmeExample(name);
  assert.ok(example.trim().split("\n").length <= 10, `the README example "${name}" fits in 10 lines`);
  return embeddingSite(example.replaceAll("http://127.0.0.1:8080", new URL(BASE).origin));
}

async function storedResult(authId) {
  return (await fetch(`${BASE}/api/results/${authId}`, { headers: { "X-Api-Key": "demo-api-key" } })).json();
}

test("README example (element): embedded on another site under a strict CSP, it captures and reports", async () => {
  const site = await exampleSite("element");
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, lines, errors } = await openSite(browser, site.url);
    await waitScreen(page, "start");
    // The Worker runs from another origin's script through the blob: shim.
    assert.equal(await page.evaluate(() => document.querySelector("liveform-capture").dataset.prechecks), "worker");
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), "BODY", "loading did not take the page's focus");
    await page.screenshot({ path: `${ARTIFACTS}/17-embedded-start.png` });
    assert.deepEqual(await axeSerious(page), [], "embedded start screen accessibility");
    await page.click("#start");
    await waitScreen(page, "result", 120000);
    await page.screenshot({ path: `${ARTIFACTS}/18-embedded-result.png` });
    // The events, as the example's listeners logged them.
    const progress = lines.filter((l) => l.startsWith("progress "));
    for (const stage of ["sdk", "models"]) {
      const last = progress.filter((l) => l.startsWith(`progress ${stage} `)).at(-1);
      assert.ok(last, `progress events for ${stage}: ${progress.slice(0, 5)}`);
      const [, , loaded, total] = last.split(" ");
      assert.ok(Number(loaded) > 0 && loaded === total, `${stage} progress ends complete: ${last}`);
    }
    const captured = lines.findIndex((l) => /^captured \d+ bytes sealed$/.test(l));
    const resultAt = lines.findIndex((l) => l.startsWith("result "));
    assert.ok(captured >= 0 && resultAt > captured, `capture then result: ${lines.filter((l) => !l.startsWith("progress")).join(" | ")}`);
    const [, status, authId] = lines[resultAt].split(" ");
    assert.equal(status, await page.getAttribute("#screen-result", "data-status"));
    const stored = await storedResult(authId);
    assert.equal(stored.status, status, JSON.stringify(stored));
    assert.equal(stored.scores.faceMatch.passed, true);
    assert.deepEqual(errors, [], `no console errors, no CSP reports (${site.csp})`);
  } finally {
    await browser.close();
    await site.close();
  }
});

test("README example (function): captureSelfie resolves with the result; a project that does not list the site refuses", async () => {
  const site = await exampleSite("function");
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, lines, errors } = await openSite(browser, site.url);
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "result", 120000);
    // The example logs once the promise has resolved, right after the result screen.
    const line = await (async () => {
      for (let i = 0; i < 50 && !lines.some((x) => x.startsWith("result ")); i++) await page.waitForTimeout(100);
      return lines.find((x) => x.startsWith("result "));
    })();
    assert.ok(line, `captureSelfie resolved: ${lines.join(" | ")}`);
    const [, status, authId] = line.split(" ");
    assert.ok(status === "approved" || status === "rejected", line);
    assert.equal((await storedResult(authId)).status, status);
    // The "active" project does not list this site: the promise rejects with the code.
    const refused = await page.evaluate(async (api) => {
      const { captureSelfie } = await import(`${api}/pkg/liveform-capture.js`);
      const box = document.createElement("div");
      document.body.append(box);
      return captureSelfie(box, { pid: "active", sid: "sub_demo", apiBase: api }).then(() => "resolved", (e) => `${e.name}:${e.code}`);
    }, new URL(BASE).origin);
    assert.equal(refused, "LiveformError:origin_not_allowed");
    assert.deepEqual(errors.filter((e) => !/403 \(Forbidden\)/.test(e)), [], "no console errors but the refused request");
  } finally {
    await browser.close();
    await site.close();
  }
});
