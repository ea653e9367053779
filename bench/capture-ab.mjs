// Frames analysed per second by the real page (the <liveform-capture> element, its Worker,
// the fake camera playing a face video), for two packages side by side: A B A B rounds, each
// a fresh browser context, so load on the machine hits both alike.
//
//   node bench/capture-ab.mjs LIVEFORM_BIN FACE_Y4M PKG_A PKG_B [ROUNDS]
//
// It starts one reference server per package (project "active": the challenge keeps the
// face on the capture screen), opens the page, presses Start, waits for the first challenge
// step, then counts the frames checked over 5 s (the element's data-frames-checked).
import { chromium } from "../tests/e2e/node_modules/playwright-core/index.mjs";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [bin, video, pkgA, pkgB, roundsArg] = process.argv.slice(2);
if (!pkgB) { console.error("usage: node bench/capture-ab.mjs LIVEFORM_BIN FACE_Y4M PKG_A PKG_B [ROUNDS]"); process.exit(2); }
const ROUNDS = Number(roundsArg || 5);
const WINDOW_MS = 5000;
const repo = new URL("..", import.meta.url).pathname;

async function server(pkg, port) {
  const dir = mkdtempSync(join(tmpdir(), "liveform-ab-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ projects: [{ id: "active", name: "A/B", status: "service",
    apiKey: "ab-api-key-1", policy: { livenessMode: "active" },
    submissions: [{ sid: "sub_demo", status: "approved", referenceImage: join(repo, "tests/data/astronaut.png") }] }] }));
  const child = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data", join(dir, "data"), "--config", join(dir, "config.json"),
    "--www", join(repo, "www"), "--pkg", pkg, "--models", join(repo, "models")], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) return child; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`server for ${pkg} did not start`);
}

async function framesPerSecond(browser, port) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/?pid=active&sid=sub_demo`);
  await page.click("#start", { timeout: 60000 });
  await page.waitForSelector('#hint[data-code$=":0"]', { timeout: 60000 });
  const count = () => page.evaluate(() => Number(document.querySelector("liveform-capture").dataset.framesChecked));
  const [n0, t0] = [await count(), Date.now()];
  await page.waitForTimeout(WINDOW_MS);
  const [n1, t1] = [await count(), Date.now()];
  const prechecks = await page.evaluate(() => document.querySelector("liveform-capture").dataset.prechecks);
  await context.close();
  return { fps: ((n1 - n0) * 1000) / (t1 - t0), prechecks };
}

const servers = [await server(pkgA, 18181), await server(pkgB, 18182)];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--headless=new", "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${video}`] });
const results = { A: [], B: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, port] of [["A", 18181], ["B", 18182]]) {
      const { fps, prechecks } = await framesPerSecond(browser, port);
      results[name].push(fps);
      console.log(`round ${r + 1} ${name}: ${fps.toFixed(2)} frames/s (${prechecks})`);
    }
  }
} finally {
  await browser.close();
  for (const s of servers) s.kill();
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const ratios = results.A.map((a, i) => results.B[i] / a);
console.log(`A ${pkgA}: median ${median(results.A).toFixed(2)} frames/s`);
console.log(`B ${pkgB}: median ${median(results.B).toFixed(2)} frames/s`);
console.log(`B/A: median of per-round ratios ${median(ratios).toFixed(2)}x`);
