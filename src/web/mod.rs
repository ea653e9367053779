//! The browser edge (wasm32 only): wasm-bindgen exports that move data between JavaScript
//! and the core. No decision is made here.
//!
//! Errors reach JavaScript as `Error` objects with a stable `code` property (see
//! [`crate::ErrorCode`]); no Rust panic crosses the boundary because nothing here unwraps.

pub mod bench;
pub mod camera;
pub mod flow;
pub mod handoff;
pub mod upload;

use crate::error::{Error, ErrorCode};
use crate::frame::FrameView;
use crate::model::{ModelFormat, ModelKind};
use crate::policy::{self, Policy};
use crate::vision::{self, AnalyzeOptions, Models};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Turns an SDK error into a JavaScript `Error` with `code` set.
pub(crate) fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code.as_str().into());
    err.into()
}

pub(crate) fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    v.serialize(&ser).map_err(|e| {
        js_error(Error::new(
            ErrorCode::BadInput,
            format!("serialising result: {e}"),
        ))
    })
}

/// The SDK version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The models the SDK uses, in the form the browser loads (NNEF, `models/*.nnef.tar`):
/// `[{ name, file, sha256, bytes, guidance, source }]`, for the page to fetch.
#[wasm_bindgen(js_name = modelFiles)]
pub fn model_files() -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Entry {
        name: &'static str,
        file: &'static str,
        sha256: &'static str,
        bytes: u64,
        /// Needed for the first guidance (load first).
        guidance: bool,
        /// The ONNX file this form was converted from (what another engine would load).
        source: &'static str,
    }
    // The 1:1 match (descriptor) runs on the backend only.
    let list: Vec<Entry> = ModelKind::PRECHECKS
        .iter()
        .filter_map(|k| {
            let file = k.file(ModelFormat::LOADED)?;
            Some(Entry {
                name: k.name(),
                file: file.name,
                sha256: file.sha256,
                bytes: file.byte_len,
                guidance: ModelKind::GUIDANCE.contains(k),
                source: k.file_name(),
            })
        })
        .collect();
    to_js(&list)
}

/// The on-device checker: loaded models plus the project policy.
#[wasm_bindgen]
#[derive(Default)]
pub struct Checker {
    pub(crate) models: Models,
    pub(crate) policy: Policy,
}

#[wasm_bindgen]
impl Checker {
    /// A checker with no models and the default policy.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Verifies (sha256) and loads a model by its name (see `modelFiles()`).
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&mut self, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        let kind = ModelKind::from_name(name).ok_or_else(|| {
            js_error(Error::new(
                ErrorCode::BadInput,
                format!("unknown model {name:?}"),
            ))
        })?;
        self.models.load(kind, bytes).map_err(js_error)
    }

    /// Whether a model is loaded.
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self, name: &str) -> bool {
        ModelKind::from_name(name).is_some_and(|k| self.models.has(k))
    }

    /// Sets the policy from project settings JSON (camelCase, as the backend serves it).
    #[wasm_bindgen(js_name = setPolicy)]
    pub fn set_policy(&mut self, json: &str) -> Result<(), JsValue> {
        self.policy = Policy::from_json(json).map_err(js_error)?;
        Ok(())
    }

    /// Sets the policy from the snapshot the backend sent with the session (its JSON text).
    #[wasm_bindgen(js_name = setPolicySnapshot)]
    pub fn set_policy_snapshot(&mut self, json: &str) -> Result<(), JsValue> {
        self.policy = Policy::from_snapshot_json(json).map_err(js_error)?;
        Ok(())
    }

    /// Hex sha256 of the policy in force (must equal the session's `policyHash`).
    #[wasm_bindgen(js_name = policyHash)]
    pub fn policy_hash(&self) -> String {
        hex::encode(self.policy.hash())
    }

    /// Seals the chosen frame for upload: re-checks it, encodes it as JPEG, builds the upload
    /// payload (the device's verdict is carried as a claim, never trusted), and seals it with
    /// HPKE to the project's public key, bound to the project, session, capture time and
    /// policy. `signals_json` is the capture signals object as JSON text (or empty).
    #[wasm_bindgen(js_name = sealCapture)]
    #[allow(clippy::too_many_arguments)]
    pub fn seal_capture(
        &self,
        width: u32,
        height: u32,
        rgba: &[u8],
        public_key: &str,
        project_id: &str,
        session_id: &str,
        captured_at_ms: f64,
        signals_json: &str,
    ) -> Result<Vec<u8>, JsValue> {
        use crate::upload::{CaptureSignals, ClaimedVerdict, EncodedFrame, UploadPayload};
        let bad = |m: String| js_error(Error::new(ErrorCode::BadInput, m));
        let frame =
            crate::frame::Frame::from_rgba(width, height, rgba.to_vec()).map_err(js_error)?;
        let analysis = vision::analyze(
            &self.models,
            &frame.view().map_err(js_error)?,
            &AnalyzeOptions::default(),
        )
        .map_err(js_error)?;
        let verdict = policy::judge(&self.policy, &analysis, None);
        let jpeg = frame.to_jpeg(90).map_err(js_error)?;
        let mut payload =
            UploadPayload::new(EncodedFrame::new(jpeg, 0), ClaimedVerdict::from(&verdict));
        if !signals_json.is_empty() {
            payload.signals = serde_json::from_str::<CaptureSignals>(signals_json)
                .map_err(|e| bad(format!("capture signals JSON: {e}")))?;
        }
        self.seal_payload(&payload, public_key, project_id, session_id, captured_at_ms)
    }

    /// The policy in force, as a plain object.
    pub fn policy(&self) -> Result<JsValue, JsValue> {
        to_js(&self.policy)
    }

    /// Analyses one RGBA frame and judges it: `{ analysis, verdict }`.
    /// `final` applies the liveness threshold (for the frame to upload).
    pub fn check(
        &self,
        width: u32,
        height: u32,
        rgba: &[u8],
        is_final: bool,
    ) -> Result<JsValue, JsValue> {
        let frame = FrameView::new(width, height, rgba).map_err(js_error)?;
        let opts = AnalyzeOptions {
            classifiers: is_final || self.models.has(ModelKind::MaskClassifier),
            ..Default::default()
        };
        let analysis = vision::analyze(&self.models, &frame, &opts).map_err(js_error)?;
        let verdict = policy::judge(&self.policy, &analysis, None);
        #[derive(Serialize)]
        struct Out<'a> {
            analysis: &'a vision::Analysis,
            verdict: &'a policy::Verdict,
        }
        to_js(&Out {
            analysis: &analysis,
            verdict: &verdict,
        })
    }
}

impl Checker {
    /// Seals an upload payload with HPKE to the project's public key, bound to the project,
    /// session, capture time (unix ms) and this checker's policy.
    pub(crate) fn seal_payload(
        &self,
        payload: &crate::upload::UploadPayload,
        public_key: &str,
        project_id: &str,
        session_id: &str,
        captured_at_ms: f64,
    ) -> Result<Vec<u8>, JsValue> {
        use crate::envelope::{seal_with_os_rng, PublicKey, SealContext};
        let plaintext = payload.to_vec().map_err(|e| js_error(e.into()))?;
        let key: PublicKey = public_key
            .parse()
            .map_err(|e: crate::envelope::EnvelopeError| js_error(e.into()))?;
        if !(captured_at_ms.is_finite() && captured_at_ms >= 0.0) {
            return Err(js_error(Error::new(
                ErrorCode::BadInput,
                "capturedAtMs must be a non-negative time in ms",
            )));
        }
        let ctx = SealContext::new(
            project_id,
            session_id,
            captured_at_ms as u64,
            self.policy.hash(),
        );
        seal_with_os_rng(&key, &ctx, &plaintext).map_err(|e| js_error(e.into()))
    }
}
