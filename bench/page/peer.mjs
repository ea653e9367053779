// The peer: onnxruntime-web (wasm SIMD, one thread) running the same models with the same
// pre- and post-processing as liveform's Rust core (src/vision/detect.rs, mesh.rs,
// occlusion.rs, frame.rs), written here from the model facts in models/MODELS.md.
//
// Conventions as in the core: continuous pixel coordinates (pixel i covers [i, i+1), centre
// i + 0.5), bilinear sampling with black outside the frame, NHWC RGB input tensors.

/** An affine map p ↦ (a·x + b·y + c, d·x + e·y + f) from model-input pixels to frame points. */
const apply = (m, x, y) => [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];

/** The letterbox map: the longer frame side fits `input`, the shorter is padded equally. */
export function letterbox(w, h, input) {
  const side = Math.max(w, h);
  const s = side / input;
  return { a: s, b: 0, c: -(side - w) / 2, d: 0, e: s, f: -(side - h) / 2 };
}

/** The map from a size×size input onto a square of `side` centred on (cx, cy), x axis along (ux, uy). */
export function squareRoi(cx, cy, side, ux, uy, size) {
  const s = side / size;
  const [ax, ay, bx, by] = [ux * s, uy * s, -uy * s, ux * s];
  const half = size / 2;
  return { a: ax, b: bx, c: cx - half * (ax + bx), d: ay, e: by, f: cy - half * (ay + by) };
}

/** Samples an NHWC RGB tensor of size×size through `map`, value·scale + offset. */
export function sampleSquare(rgba, w, h, map, size, scale, offset) {
  const out = new Float32Array(size * size * 3);
  let o = 0;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const [px, py] = apply(map, u + 0.5, v + 0.5);
      const fx = px - 0.5, fy = py - 0.5;
      const x0 = Math.floor(fx), y0 = Math.floor(fy);
      const tx = fx - x0, ty = fy - y0;
      for (let ch = 0; ch < 3; ch++) {
        const at = (x, y) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : rgba[(y * w + x) * 4 + ch]);
        const top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * tx;
        const bot = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * tx;
        out[o++] = (top + (bot - top) * ty) * scale + offset;
      }
    }
  }
  return out;
}

const sigmoid = (x) => 1 / (1 + Math.exp(-Math.min(100, Math.max(-100, x))));

/** SSD anchor centres (normalised) for grids of [cells per side, anchors per cell]. */
function anchors(grids) {
  const out = [];
  for (const [grid, per] of grids) {
    for (let y = 0; y < grid; y++) {
      for (let x = 0; x < grid; x++) {
        for (let k = 0; k < per; k++) out.push([(x + 0.5) / grid, (y + 0.5) / grid]);
      }
    }
  }
  return out;
}

const FACE = { input: 128, grids: [[16, 2], [8, 6]], keypoints: 6 };
const FACE_ANCHORS = anchors(FACE.grids);

function iou(p, q) {
  const x0 = Math.max(p.x, q.x), y0 = Math.max(p.y, q.y);
  const x1 = Math.min(p.x + p.w, q.x + q.w), y1 = Math.min(p.y + p.h, q.y + q.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = Math.max(0, p.w) * Math.max(0, p.h) + Math.max(0, q.w) * Math.max(0, q.h) - inter;
  return union <= 0 ? 0 : inter / union;
}

/** BlazeFace decode + score-weighted NMS (IoU 0.3), mapped back to frame pixels, best first. */
export function decodeFaces(regressors, logits, map, minScore = 0.5) {
  const nr = 4 + 2 * FACE.keypoints;
  const s = FACE.input;
  let cands = [];
  for (let i = 0; i < FACE_ANCHORS.length; i++) {
    const score = sigmoid(logits[i]);
    if (!(score >= minScore)) continue;
    const [ax, ay] = FACE_ANCHORS[i];
    const r = regressors.subarray(i * nr, (i + 1) * nr);
    const cx = ax + r[0] / s, cy = ay + r[1] / s, bw = r[2] / s, bh = r[3] / s;
    const kp = [];
    for (let k = 0; k < FACE.keypoints; k++) kp.push([ax + r[4 + 2 * k] / s, ay + r[5 + 2 * k] / s]);
    cands.push({ score, box: { x: cx - bw / 2, y: cy - bh / 2, w: bw, h: bh }, kp });
  }
  cands.sort((p, q) => q.score - p.score);
  const merged = [];
  while (cands.length) {
    const best = cands[0];
    const cluster = cands.filter((c) => c === best || iou(c.box, best.box) > 0.3);
    cands = cands.filter((c) => !cluster.includes(c));
    const total = cluster.reduce((t, c) => t + c.score, 0);
    const m = { score: best.score, box: { ...best.box }, kp: best.kp.map((p) => [...p]) };
    if (total > 0 && cluster.length > 1) {
      const avg = (f) => cluster.reduce((t, c) => t + f(c) * c.score, 0) / total;
      m.box = { x: avg((c) => c.box.x), y: avg((c) => c.box.y), w: avg((c) => c.box.w), h: avg((c) => c.box.h) };
      m.kp = m.kp.map((_, k) => [avg((c) => c.kp[k][0]), avg((c) => c.kp[k][1])]);
    }
    merged.push(m);
  }
  const toFrame = ([x, y]) => apply(map, x * s, y * s);
  return merged.map((c) => {
    const [x0, y0] = toFrame([c.box.x, c.box.y]);
    const [x1, y1] = toFrame([c.box.x + c.box.w, c.box.y + c.box.h]);
    return { score: c.score, bbox: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, keypoints: c.kp.map(toFrame) };
  });
}

function unit(x, y) {
  const n = Math.hypot(x, y);
  return n > 1e-6 && Number.isFinite(n) ? [x / n, y / n] : [1, 0];
}

/** The mesh ROI (MediaPipe's): the detection box's longer side × 1.5, turned by the eye line. */
export function meshRoi(d) {
  const cx = d.bbox.x + d.bbox.width / 2, cy = d.bbox.y + d.bbox.height / 2;
  const [re, le] = d.keypoints;
  const [ux, uy] = unit(le[0] - re[0], le[1] - re[1]);
  return squareRoi(cx, cy, Math.max(d.bbox.width, d.bbox.height) * 1.5, ux, uy, 192);
}

/** The upright face crop of the per-face classifiers (anti-spoof: scale 0.8, 128 px). */
export function faceCrop(d, scale, size) {
  const cx = d.bbox.x + d.bbox.width / 2, cy = d.bbox.y + d.bbox.height / 2;
  const [re, le] = d.keypoints;
  const n = Math.hypot(le[0] - re[0], le[1] - re[1]);
  const [ux, uy] = n > 1e-3 ? [(le[0] - re[0]) / n, (le[1] - re[1]) / n] : [1, 0];
  return squareRoi(cx, cy, Math.max(d.bbox.width, d.bbox.height) * scale, ux, uy, size);
}

/** onnxruntime-web sessions for the compared models, with the stages built on them. */
export class Peer {
  static async create(ort, fetchModel, names) {
    const peer = new Peer();
    peer.ort = ort;
    peer.sessions = {};
    peer.startMs = {};
    for (const [name, file] of names) {
      const bytes = await fetchModel(file);
      const t0 = performance.now();
      peer.sessions[name] = await ort.InferenceSession.create(bytes, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
      peer.startMs[name] = performance.now() - t0;
    }
    return peer;
  }

  /** Runs model `name` on an NHWC tensor; returns every output concatenated in graph order. */
  async run(name, input) {
    const s = this.sessions[name];
    const dims = { face_detector: 128, face_mesh: 192, antispoof: 128, mask_classifier: 224, palm_detector: 192 }[name];
    const t = new this.ort.Tensor("float32", input, [1, dims, dims, 3]);
    const out = await s.run({ [s.inputNames[0]]: t });
    const parts = s.outputNames.map((n) => out[n].data);
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return { all, parts };
  }

  /** Detection stage: letterbox, BlazeFace, decode, NMS → faces in frame pixels. */
  async detect(rgba, w, h) {
    const map = letterbox(w, h, 128);
    const { parts } = await this.run("face_detector", sampleSquare(rgba, w, h, map, 128, 2 / 255, -1));
    const [reg, logit] = parts[0].length >= parts[1].length ? parts : [parts[1], parts[0]];
    return decodeFaces(reg, logit, map);
  }

  /** Mesh stage: ROI crop, face mesh, 468 points back in frame pixels + presence. */
  async mesh(rgba, w, h, d) {
    const roi = meshRoi(d);
    const { parts } = await this.run("face_mesh", sampleSquare(rgba, w, h, roi, 192, 1 / 255, 0));
    const coords = parts.find((p) => p.length === 1404);
    const logit = parts.find((p) => p.length === 1)[0];
    const zs = Math.hypot(roi.a, roi.d);
    const pts = new Float32Array(1404);
    for (let i = 0; i < 468; i++) {
      const [x, y] = apply(roi, coords[3 * i], coords[3 * i + 1]);
      pts[3 * i] = x; pts[3 * i + 1] = y; pts[3 * i + 2] = coords[3 * i + 2] * zs;
    }
    return { points: pts, presence: sigmoid(logit) };
  }

  /** Anti-spoof stage: tight upright crop, model, "real" score 0..1. */
  async antispoof(rgba, w, h, d) {
    const { all } = await this.run("antispoof", sampleSquare(rgba, w, h, faceCrop(d, 0.8, 128), 128, 1 / 255, 0));
    return all[0];
  }
}
