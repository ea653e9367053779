//! Benchmark exports for the bench page (`bench/`): run one precheck stage, one model alone,
//! or the tracked capture pipeline on a frame kept inside wasm memory, so the page's timings
//! hold no copy of the frame across the JavaScript boundary. The page reads the clock; these
//! only run the core ([`crate::vision::stages`], [`crate::vision::track`]).

use crate::error::{Error, ErrorCode};
use crate::frame::{Frame, FrameView};
use crate::model::ModelKind;
use crate::vision::stages::{fit_frame, Prepared, Stage};
use crate::vision::track::{Tracker, TrackerConfig};
use crate::vision::{self, AnalyzeOptions};
use crate::web::{js_error, Checker};
use wasm_bindgen::prelude::*;

fn bad(m: String) -> JsValue {
    js_error(Error::new(ErrorCode::BadInput, m))
}

fn kind(name: &str) -> Result<ModelKind, JsValue> {
    ModelKind::from_name(name).ok_or_else(|| bad(format!("unknown model {name:?}")))
}

/// A benchmark frame: a photo fitted into `width`×`height` (as the fake camera shows it),
/// with its face detected and meshed once.
#[wasm_bindgen]
pub struct BenchFrame {
    prepared: Prepared,
}

#[wasm_bindgen]
impl BenchFrame {
    /// Decodes a PNG or JPEG, fits it into `width`×`height` on grey and finds its face with
    /// the checker's detector and mesh (which must be loaded).
    #[wasm_bindgen(constructor)]
    pub fn new(
        checker: &Checker,
        photo: &[u8],
        width: u32,
        height: u32,
    ) -> Result<BenchFrame, JsValue> {
        let decoded = Frame::decode(photo).map_err(js_error)?;
        let frame = fit_frame(&decoded, width, height).map_err(js_error)?;
        let prepared = Prepared::new(&checker.models, frame).map_err(js_error)?;
        Ok(BenchFrame { prepared })
    }

    /// The frame's RGBA pixels (for the peer engine and the fake-camera video).
    pub fn rgba(&self) -> Vec<u8> {
        self.prepared.frame().rgba.clone()
    }

    /// The frame as one YUV4MPEG2 frame with its header (`fps` frames per second), for
    /// Chromium's fake camera.
    pub fn y4m(&self, fps: u32) -> Result<Vec<u8>, JsValue> {
        let f = self.prepared.frame();
        let mut out = crate::y4m::header(f.width, f.height, fps);
        out.extend(crate::y4m::encode_frame(f).map_err(js_error)?);
        Ok(out)
    }

    /// The detected face: `{ score, bbox, keypoints }` in frame pixels.
    pub fn detection(&self) -> Result<JsValue, JsValue> {
        crate::web::to_js(self.prepared.detection())
    }

    /// The mesh points (x, y, z) in frame pixels, flattened, then the presence probability.
    #[wasm_bindgen(js_name = meshPoints)]
    pub fn mesh_points(&self) -> Vec<f32> {
        let m = self.prepared.mesh();
        let mut out: Vec<f32> = m.points.iter().flat_map(|p| [p.x, p.y, p.z]).collect();
        out.push(m.presence);
        out
    }

    /// The exact input tensor the prechecks give model `name` on this frame (NHWC, f32).
    pub fn input(&self, name: &str) -> Result<Vec<f32>, JsValue> {
        Ok(self.prepared.input(kind(name)?))
    }

    /// Runs stage `name` (see `Stage::name`: detect, mesh, quality, …) once; returns a number
    /// from its result.
    pub fn stage(&self, checker: &Checker, name: &str) -> Result<f32, JsValue> {
        let stage = Stage::from_name(name).ok_or_else(|| bad(format!("unknown stage {name:?}")))?;
        self.prepared.run(&checker.models, stage).map_err(js_error)
    }
}

/// Runs model `name` alone on `input` (inference only) and returns its outputs concatenated
/// in graph order.
#[wasm_bindgen(js_name = benchRunModel)]
pub fn bench_run_model(
    checker: &Checker,
    name: &str,
    input: Vec<f32>,
) -> Result<Vec<f32>, JsValue> {
    let out = Prepared::run_model(&checker.models, kind(name)?, input).map_err(js_error)?;
    Ok(out.concat())
}

/// The tracked capture pipeline (detect once, follow with the mesh, classifiers on key
/// frames) as the capture loop would run it, one `step` per camera frame.
#[wasm_bindgen]
pub struct BenchTracker {
    tracker: Tracker,
}

#[wasm_bindgen]
impl BenchTracker {
    /// A tracker re-detecting every `redetect_every` frames and refreshing each classifier
    /// every `classify_every` frames, one per frame (`spread`) or all three at once.
    #[wasm_bindgen(constructor)]
    pub fn new(redetect_every: u32, classify_every: u32, spread: bool) -> BenchTracker {
        BenchTracker {
            tracker: Tracker::new(TrackerConfig {
                redetect_every,
                classify_every,
                spread_classifiers: spread,
                ..Default::default()
            }),
        }
    }

    /// Analyses and judges one RGBA frame; returns 0 for no face, 1 for a face, plus 2 when
    /// the detector ran, 4 when any classifier ran and 8 when the frame passed.
    pub fn step(
        &mut self,
        checker: &Checker,
        width: u32,
        height: u32,
        rgba: &[u8],
    ) -> Result<u32, JsValue> {
        let frame = FrameView::new(width, height, rgba).map_err(js_error)?;
        let analysis = self
            .tracker
            .step(&checker.models, &frame, &AnalyzeOptions::default())
            .map_err(js_error)?;
        // The verdict is part of the per-frame work the capture loop does.
        let verdict = crate::policy::judge(&checker.policy, &analysis, None);
        let k = self.tracker.last_step();
        Ok(u32::from(analysis.face.is_some())
            | u32::from(k.detected) << 1
            | u32::from(k.classified != 0) << 2
            | u32::from(verdict.passed) << 3)
    }
}

/// Analyses and judges one RGBA frame with the full pipeline as `Checker.check` does, but
/// returns only whether it passed (no result object), to time the work without the
/// serialisation. With `classifiers` false the per-face models are skipped.
#[wasm_bindgen(js_name = benchAnalyze)]
pub fn bench_analyze(
    checker: &Checker,
    width: u32,
    height: u32,
    rgba: &[u8],
    classifiers: bool,
) -> Result<bool, JsValue> {
    let frame = FrameView::new(width, height, rgba).map_err(js_error)?;
    let opts = AnalyzeOptions {
        classifiers,
        ..Default::default()
    };
    let analysis = vision::analyze(&checker.models, &frame, &opts).map_err(js_error)?;
    Ok(crate::policy::judge(&checker.policy, &analysis, None).passed)
}

/// A fresh X25519 public key (base64url) to seal to in the benchmark.
#[wasm_bindgen(js_name = benchPublicKey)]
pub fn bench_public_key() -> Result<String, JsValue> {
    let pair = crate::envelope::generate_keypair_with_os_rng(crate::envelope::Suite::default())
        .map_err(|e| js_error(e.into()))?;
    Ok(pair.public_key.to_base64())
}

/// Seals `bytes` alone (HPKE: X25519, HKDF-SHA256, AES-256-GCM; no analysis, no JPEG) to
/// `public_key`; returns the envelope's length.
#[wasm_bindgen(js_name = benchSeal)]
pub fn bench_seal(public_key: &str, bytes: &[u8]) -> Result<usize, JsValue> {
    use crate::envelope::{seal_with_os_rng, PublicKey, SealContext};
    let key: PublicKey = public_key
        .parse()
        .map_err(|e: crate::envelope::EnvelopeError| js_error(e.into()))?;
    let ctx = SealContext::new("bench", "bench", 0, [0; 32]);
    let sealed = seal_with_os_rng(&key, &ctx, bytes).map_err(|e| js_error(e.into()))?;
    Ok(sealed.len())
}

/// Profiles model `name` on `input` over `runs` runs: `[[operator, ms per run], …]`, the
/// slowest operator kind first (clock: `performance.now()`).
#[wasm_bindgen(js_name = benchProfile)]
pub fn bench_profile(
    checker: &Checker,
    name: &str,
    input: Vec<f32>,
    runs: u32,
) -> Result<JsValue, JsValue> {
    let kind = kind(name)?;
    let model = match kind {
        ModelKind::FaceDetector => &checker.models.face_detector,
        ModelKind::FaceMesh => &checker.models.face_mesh,
        ModelKind::Antispoof => &checker.models.antispoof,
        ModelKind::MaskClassifier => &checker.models.mask_classifier,
        ModelKind::PalmDetector => &checker.models.palm_detector,
        ModelKind::FaceDescriptor => &checker.models.face_descriptor,
    }
    .as_ref()
    .ok_or_else(|| bad(format!("model {name} is not loaded")))?;
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into())?;
    let now_fn: js_sys::Function = js_sys::Reflect::get(&perf, &"now".into())?.into();
    let mut now = || {
        now_fn
            .call0(&perf)
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    let mut totals: std::collections::BTreeMap<String, f64> = Default::default();
    let runs = runs.max(1);
    for _ in 0..runs {
        for (op, ms) in model.profile(input.clone(), &mut now).map_err(js_error)? {
            *totals.entry(op).or_default() += ms / runs as f64;
        }
    }
    let mut v: Vec<(String, f64)> = totals.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    crate::web::to_js(&v)
}
