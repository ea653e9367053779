// End-to-end tests of the liveform page in headless Chromium (the system Chromium driven by
// playwright-core), against the real reference backend, with Chromium's fake camera fed a
// video made from real face photos. Screenshots of every screen go to tests/e2e/artifacts/.
//
//   node e2e.mjs  (run by tests/e2e/run.sh, which builds the package, the videos and the server)
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";

const BASE = process.env.LIVEFORM_BASE;
const FACE_VIDEO = process.env.LIVEFORM_FACE_VIDEO;
const NOFACE_VIDEO = process.env.LIVEFORM_NOFACE_VIDEO;
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const AXE = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
mkdirSync(ARTIFACTS, { recursive: true });

async function browserWith(video, { grantCamera = true } = {}) {
  const args = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--no-first-run", "--use-fake-device-for-media-stream",
  ];
  // Without the fake permission UI, headless Chromium refuses the camera like a user saying no.
  if (grantCamera) args.push("--use-fake-ui-for-media-stream");
  if (video) args.push(`--use-file-for-fake-video-capture=${video}`);
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args, headless: true });
}

async function openPage(browser, query) {
  const page = await browser.newPage({ viewport: { width: 480, height: 860 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`${BASE}/${query}`);
  return { page, errors };
}

async function screen(page) {
  return page.evaluate(() => document.querySelector(".screen:not([hidden])")?.dataset.screen);
}

async function waitScreen(page, name, timeout = 60000) {
  await page.waitForSelector(`.screen[data-screen="${name}"]:not([hidden])`, { timeout });
}

async function axeSerious(page) {
  // Evaluated through the DevTools protocol: the page's strict CSP (rightly) refuses inline
  // scripts, and the scan must not require loosening it.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => await window.axe.run(document));
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

test("face video: start → guidance → sealed upload → server decision → result → redirect", async () => {
  const browser = await browserWith(FACE_VIDEO);
  try {
    const { page, errors } = await openPage(browser, "?pid=demo&sid=sub_demo&userid=u-42&cf1=e2e");
    await waitScreen(page, "start");
    await page.screenshot({ path: `${ARTIFACTS}/1-start.png` });
    assert.deepEqual(await axeSerious(page), [], "start screen accessibility");
    await page.click("#start");
    await waitScreen(page, "capture");
    // A guidance hint from analysed frames (not the "starting camera" placeholder).
    await page.waitForFunction(() => !["", "starting_camera", undefined].includes(document.querySelector("#hint").dataset.code), null, { timeout: 30000 });
    await page.screenshot({ path: `${ARTIFACTS}/2-capture.png` });
    await waitScreen(page, "result", 120000);
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

test("no-face video: stays on guidance, fails after the retries", async () => {
  const browser = await browserWith(NOFACE_VIDEO);
  try {
    const { page } = await openPage(browser, "?pid=demo&sid=sub_demo");
    await waitScreen(page, "start");
    await page.click("#start");
    await waitScreen(page, "capture");
    await page.waitForFunction(() => document.querySelector("#hint").dataset.code === "no_face", null, { timeout: 30000 });
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
