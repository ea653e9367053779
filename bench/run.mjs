// The benchmark runner: serves the bench page locally, drives the system Chromium (headless,
// playwright-core), collects every measurement, merges the native criterion figures when
// present, prints the tables and writes bench/results/latest.json.
//
//   node bench/run.mjs            (scripts/bench.sh builds the package and runs this)
//
// Environment: LIVEFORM_PKG (default pkg/), LIVEFORM_PKG_B (a second package whose cold
// starts are interleaved with the first's, round by round, for an A/B of two builds),
// CHROMIUM (default /usr/bin/chromium), BENCH_RUNS (timed runs per measurement, default 40), BENCH_COLD (cold starts per engine,
// default 5), CRITERION_DIR (default $CARGO_TARGET_DIR/criterion or target/criterion),
// BENCH_ONLY (a comma list of sections to run: cold, stages, models, peer, pipeline, worker,
// profile, loads, seal, capture; default all), BENCH_JS_FLAGS (V8 flags for a diagnostic run,
// e.g. "--no-liftoff"; printed with the results, never the default).
// Benchmarks, not tests: nothing here judges a time.
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync, mkdtempSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, dirname } from "node:path";
import { tmpdir, cpus, totalmem, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const PKG = process.env.LIVEFORM_PKG || join(ROOT, "pkg");
const PKG_B = process.env.LIVEFORM_PKG_B || "";
const RUNS = Number(process.env.BENCH_RUNS || 40);
const COLD = Number(process.env.BENCH_COLD || 5);
const CRITERION = process.env.CRITERION_DIR
  || join(process.env.CARGO_TARGET_DIR || join(ROOT, "target"), "criterion");
const ORT_DIST = join(HERE, "node_modules/onnxruntime-web/dist");
const OUT = process.env.BENCH_OUT || join(HERE, "results/latest.json");
const SECTIONS = ["cold", "stages", "models", "peer", "pipeline", "worker", "profile", "loads", "seal", "capture"];
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",").map((x) => x.trim()) : SECTIONS;
for (const s of ONLY) if (!SECTIONS.includes(s)) throw new Error(`BENCH_ONLY: unknown section ${s} (known: ${SECTIONS.join(", ")})`);
const run = (section) => ONLY.includes(section);
const JS_FLAGS = process.env.BENCH_JS_FLAGS || "";

const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-first-run", "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
  ...(JS_FLAGS ? [`--js-flags=${JS_FLAGS}`] : []),
];

const log = (...a) => console.error("[bench]", ...a);
const f2 = (x) => (x === undefined || x === null || Number.isNaN(x) ? "–" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = (head, rows) => [
  `| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`),
].join("\n");

/** The criterion median (ms) of `group/id/frame`, if `cargo bench` has been run. */
function native(path) {
  const f = join(CRITERION, path, "new/estimates.json");
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, "utf8")).median.point_estimate / 1e6;
}

async function launch(extra = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...ARGS, ...extra], headless: true });
}

async function openPage(browser, url, ready) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(ready, null, { timeout: 600000 }).catch((e) => {
    throw new Error(`${url}: ${e.message}\n${errors.join("\n")}`);
  });
  return { ctx, page, errors };
}

async function main() {
  const wasm = join(PKG, "liveform_bg.wasm");
  if (!existsSync(wasm)) throw new Error(`${wasm} not found: build the package first (scripts/build-pkg.sh release)`);
  const server = await serve({
    "/pkg/": PKG, ...(PKG_B ? { "/pkg-b/": PKG_B } : {}), "/models/": join(ROOT, "models"), "/data/": join(ROOT, "tests/data"),
    "/ort/": ORT_DIST, "/": join(HERE, "page"),
  });
  const R = { date: new Date().toISOString(), runs: RUNS, machine: {}, sizes: {} };
  const cpu = cpus()[0];
  R.machine = { cpu: cpu && cpu.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvgBefore: loadavg() };

  // Sizes.
  const size = (file) => { const b = readFileSync(file); return { raw: b.length, gzip: gzipSync(b, { level: 9 }).length }; };
  R.sizes.liveform = size(wasm);
  if (PKG_B) R.sizes.liveformB = size(join(PKG_B, "liveform_bg.wasm"));
  R.sections = ONLY;
  R.jsFlags = JS_FLAGS;
  R.pkg = PKG;
  if (PKG_B) R.pkgB = PKG_B;
  R.sizes.ort = size(join(ORT_DIST, "ort-wasm-simd-threaded.wasm"));
  R.sizes.ortJs = size(join(ORT_DIST, "ort.wasm.min.mjs"));

  let browser = await launch();
  R.machine.chromium = browser.version();
  try {
    // Cold start, engines interleaved round by round, each in a fresh context (cold caches).
    // "returning": the same page opened a second time in one context, with the package and
    // models served cacheable (/cached/…: max-age; /revalidated/…: no-cache + ETag → 304, as
    // liveform's server does): what a returning visitor gets from the HTTP cache and V8's
    // cache of compiled wasm code.
    if (run("cold")) {
      log(`cold start × ${COLD}`);
      const modes = [
        ["guidance", "engine=liveform&models=guidance"], ["all", "engine=liveform&models=all"],
        ["ort", "engine=ort"], ["guidance, returning visitor", "engine=liveform&models=guidance&cached=1", "returning"],
        ["guidance, returning visitor, revalidated (304)", "engine=liveform&models=guidance&cached=revalidate", "returning"],
      ];
      if (PKG_B) {
        modes.push(["guidance, package B", "engine=liveform&models=guidance&pkg=b"],
          ["all, package B", "engine=liveform&models=all&pkg=b"],
          ["guidance, returning visitor, revalidated (304), package B", "engine=liveform&models=guidance&cached=revalidate&pkg=b", "returning"]);
      }
      R.cold = Object.fromEntries(modes.map(([k]) => [k, []]));
      for (let i = 0; i < COLD; i++) {
        for (const [key, q, returning] of modes) {
          const url = `${server.url}/cold.html?${q}`;
          const ready = () => window.coldResult !== undefined;
          const { ctx, page } = await openPage(browser, url, ready);
          if (returning) {
            // Give V8 time to tier up and write its code cache, then come back.
            await page.waitForTimeout(3000);
            await page.goto("about:blank");
            await page.goto(url);
            await page.waitForFunction(ready, null, { timeout: 600000 });
          }
          const r = await page.evaluate(() => window.coldResult);
          await ctx.close();
          if (r.error) throw new Error(`cold ${key}: ${r.error}`);
          R.cold[key].push(r);
        }
      }
    }

    log("bench page setup");
    const { page } = await openPage(browser, `${server.url}/index.html`, () => window.benchReady === true);
    R.setup = await page.evaluate(() => window.bench.setup());
    if (run("stages")) { log("stages"); R.stages = await page.evaluate((n) => window.bench.stages(n), RUNS); }
    if (run("models")) { log("models vs onnxruntime-web"); R.models = await page.evaluate((n) => window.bench.models(n), RUNS); }
    if (run("peer")) { log("stages vs onnxruntime-web"); R.peerStages = await page.evaluate((n) => window.bench.peerStages(n), RUNS); }
    if (run("pipeline")) {
      R.pipeline = {};
      for (const mode of ["full", "light", "tracker", "tracker-batched"]) {
        log(`pipeline ${mode} (main thread)`);
        R.pipeline[mode] = await page.evaluate(([m, n]) => window.bench.pipelineMain(m, n), [mode, mode.startsWith("tracker") ? 3 * RUNS : RUNS]);
      }
    }
    if (run("worker")) { log("pipeline tracker (worker)"); R.worker = await page.evaluate((n) => window.bench.pipelineWorker("tracker", n), 3 * RUNS); }
    if (run("profile")) { log("profile by operator"); R.profile = await page.evaluate((n) => window.bench.profile(n), 10); }
    if (run("loads")) { log("model loading"); R.loads = await page.evaluate((n) => window.bench.loads(n), 5); }
    if (run("seal")) { log("seal"); R.seal = await page.evaluate((n) => window.bench.seal(n), Math.max(10, RUNS / 2)); }
    const y4m = run("capture") ? Uint8Array.from(await page.evaluate(() => window.bench.y4m())) : null;
    await browser.close();

    // The capture loop on the fake camera showing the first bench frame.
    if (y4m) {
      const dir = mkdtempSync(join(tmpdir(), "liveform-bench-"));
      const video = join(dir, "face.y4m");
      writeFileSync(video, y4m);
      browser = await launch(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", `--use-file-for-fake-video-capture=${video}`]);
      R.capture = {};
      for (const mode of ["flow", "tracker", "worker"]) {
        log(`capture loop ${mode}`);
        const { ctx, page: p } = await openPage(browser, `${server.url}/capture.html`, () => window.captureReady === true);
        R.capture[mode] = await p.evaluate((m) => window.capture(m, 6), mode);
        await ctx.close();
      }
    }
  } finally {
    await browser.close().catch(() => {});
    await server.close();
  }
  R.machine.loadAvgAfter = loadavg();
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(R, null, 2));
  console.log(report(R));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function report(R) {
  const out = [];
  out.push(`liveform ${R.setup.version} (pkg ${R.pkg}, models as NNEF) — ${R.date} — ${R.machine.cpu} (${R.machine.cores} cores), Chromium ${R.machine.chromium}, node ${R.machine.node}; ${R.runs} timed runs per figure; crossOriginIsolated=${R.setup.crossOriginIsolated}; load average before ${R.machine.loadAvgBefore.map((x) => x.toFixed(1)).join("/")}, after ${R.machine.loadAvgAfter.map((x) => x.toFixed(1)).join("/")}${R.jsFlags ? `; V8 flags ${R.jsFlags}` : ""}${R.sections.length < SECTIONS.length ? `; sections ${R.sections.join(", ")}` : ""}`);
  const frames = ["astronaut", "grace_hopper"];

  if (R.stages) {
    out.push("\n### Per stage, one 640×480 frame (ms, wasm in Chromium vs native criterion)\n");
    const stageRows = [];
    const stageNames = [...new Set(Object.keys(R.stages).map((k) => k.split("/")[0]))];
    for (const s of stageNames) {
      for (const f of frames) {
        const w = R.stages[`${s}/${f}`];
        const n = native(`stage/${s}/${f}`);
        stageRows.push([s, f, f2(w.median), f2(w.p95), f2(n), n ? f2(w.median / n) + "×" : "–"]);
      }
    }
    out.push(table(["stage", "frame", "wasm median", "wasm p95", "native median", "wasm/native"], stageRows));
  }

  if (R.models) {
    out.push("\n### Models alone vs onnxruntime-web (same input tensor, interleaved A B A B; ms)\n");
    const mrows = [];
    for (const [k, v] of Object.entries(R.models)) {
      const [m, f] = k.split("/");
      const n = f === "astronaut" ? native(`model/${m}/${f}`) : undefined;
      mrows.push([m, f, f2(v.ours.median), f2(v.ours.p95), f2(v.peer.median), f2(v.peer.p95), f2(v.ratios) + "×", f2(n), v.maxAbsDiff.toExponential(1)]);
    }
    out.push(table(["model", "frame", "liveform median", "p95", "ORT median", "p95", "ours/ORT (median of pair ratios)", "native median", "max |Δ| output"], mrows));
  }

  if (R.peerStages) {
    out.push("\n### Stages with pre/post-processing vs onnxruntime-web + the same pre/post in JS (interleaved; ms)\n");
    const prow = [];
    for (const [k, v] of Object.entries(R.peerStages)) {
      if (k.startsWith("agreement/")) continue;
      const [s, f] = k.split("/");
      prow.push([s, f, f2(v.ours.median), f2(v.peer.median), f2(v.ratios) + "×"]);
    }
    out.push(table(["stage", "frame", "liveform median", "ORT median", "ours/ORT"], prow));
    for (const f of frames) {
      const a = R.peerStages[`agreement/${f}`];
      out.push(`\nagreement (${f}): detector score |Δ| ${a.scoreDiff.toExponential(1)}, box |Δ| ${f2(a.boxDiff)} px, mesh max |Δ| ${f2(a.meshMaxDiffPx)} px, anti-spoof ORT ${a.antispoof[0].toFixed(4)} vs ours ${a.antispoof[1].toFixed(4)}`);
    }
  }

  if (R.profile) {
    out.push("\n### Where the time goes in wasm (engine steps by operator, ms per run, astronaut; the five largest)\n");
    out.push(table(["model", "total", "operators"], Object.entries(R.profile).map(([m, ops]) => [
      m, f2(ops.reduce((t, [, ms]) => t + ms, 0)), ops.slice(0, 5).map(([op, ms]) => `${op} ${f2(ms)}`).join("; "),
    ])));
  }

  if (R.pipeline || R.worker) {
    out.push("\n### Steady-state pipeline per frame (frame passed in each call; ms)\n");
    const nat = { full: "stage/analyze_full", light: "stage/analyze_light", tracker: "pipeline/tracker_default", "tracker-batched": "pipeline/tracker_batched" };
    const rows = [];
    for (const [mode, v] of Object.entries(R.pipeline || {})) {
      for (const f of frames) {
        const n = native(`${nat[mode]}/${f}`);
        rows.push([`${mode} (main thread)`, f, f2(v[f].median), f2(v[f].p95), f2(v[f].mean), f2(n)]);
      }
    }
    for (const f of R.worker ? frames : []) {
      const w = R.worker[f];
      rows.push(["tracker (worker): in worker", f, f2(w.inWorker.median), f2(w.inWorker.p95), f2(w.inWorker.mean), ""]);
      rows.push(["tracker (worker): round trip", f, f2(w.roundTrip.median), f2(w.roundTrip.p95), f2(w.roundTrip.mean), ""]);
      rows.push(["tracker (worker): main thread", f, f2(w.mainThread.median), f2(w.mainThread.p95), f2(w.mainThread.mean), ""]);
    }
    out.push(table(["pipeline", "frame", "median", "p95", "mean", "native (criterion median)"], rows));
  }

  if (R.capture) {
    out.push("\n### Capture loop on the fake camera (30 fps .y4m of the astronaut frame, 6 s)\n");
    out.push(table(["loop", "frames analysed / s", "camera frames / s", "main thread per frame median", "p95", "main thread busy"],
      Object.values(R.capture).map((c) => [c.mode, f2(c.analysedFps), f2(c.videoFps), f2(c.mainThreadPerFrame.median), f2(c.mainThreadPerFrame.p95), `${(100 * c.mainThreadBusy).toFixed(0)}%`])));
  }

  if (R.cold) {
    out.push("\n### Cold start (fresh context each; median of runs; ms)\n");
    const crow = [];
    for (const [k, runs] of Object.entries(R.cold)) {
      const keys = Object.keys(runs[0].steps);
      crow.push([k, f2(median(runs.map((r) => r.total))), f2(median(runs.map((r) => r.sinceNavigation))),
        keys.map((s) => `${s} ${f2(median(runs.map((r) => r.steps[s])))}`).join("; ")]);
    }
    out.push(table(["what", "script start → first result", "navigation → first result", "steps (medians)"], crow));
  }

  if (R.loads) {
    out.push("\n### Model loading in a warm page (ms per load, median of 5; native criterion median)\n");
    const lrows = [];
    for (const [k, v] of Object.entries(R.loads)) {
      const [m, fmt] = k.split("/");
      lrows.push([m, fmt, f2(v.median), f2(native(`load/${m}/${fmt}`))]);
    }
    out.push(table(["model", "format", "wasm", "native"], lrows));
  }

  out.push("\n### Sizes and sealing\n");
  const kb = (b) => `${(b / 1024).toFixed(0)} KiB`;
  out.push(table(["what", "raw", "gzip -9"], [
    ["liveform_bg.wasm", kb(R.sizes.liveform.raw), kb(R.sizes.liveform.gzip)],
    ...(R.sizes.liveformB ? [["liveform_bg.wasm, package B", kb(R.sizes.liveformB.raw), kb(R.sizes.liveformB.gzip)]] : []),
    ["onnxruntime-web ort-wasm-simd-threaded.wasm", kb(R.sizes.ort.raw), kb(R.sizes.ort.gzip)],
    ["onnxruntime-web ort.wasm.min.mjs", kb(R.sizes.ortJs.raw), kb(R.sizes.ortJs.gzip)],
  ]));
  if (R.seal) {
    out.push("");
    const srows = Object.entries(R.seal).map(([k, v]) => [k, f2(v.median), f2(v.p95), v.envelopeBytes ? kb(v.envelopeBytes) : "300 KiB in"]);
    const ns = native("seal/hpke_300KiB");
    srows.push(["hpke/300KiB native", f2(ns), "", ""]);
    out.push(table(["seal", "median ms", "p95 ms", "envelope"], srows));
  }
  return out.join("\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
