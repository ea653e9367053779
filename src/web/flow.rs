//! The capture flow for the page: the pure [`CaptureMachine`] plus the checker, so one call
//! per camera frame analyses it, judges it, advances the state and returns the view.

use crate::capture::{frame_score, is_virtual_camera_label, CaptureConfig, CaptureMachine};
use crate::frame::FrameView;
use crate::policy;
use crate::upload::{CaptureSignals, FrameTiming, TrackSettings};
use crate::vision::{self, AnalyzeOptions};
use crate::web::{js_error, to_js, Checker};
use wasm_bindgen::prelude::*;

/// One capture session on the page.
#[wasm_bindgen]
pub struct CaptureFlow {
    machine: CaptureMachine,
    label: Option<String>,
    size: (u32, u32),
    analyzed: u32,
}

#[wasm_bindgen]
impl CaptureFlow {
    /// A flow with the default rules (3 attempts, 20 s face-fit timeout).
    #[wasm_bindgen(constructor)]
    pub fn new() -> CaptureFlow {
        CaptureFlow {
            machine: CaptureMachine::new(CaptureConfig::default()),
            label: None,
            size: (0, 0),
            analyzed: 0,
        }
    }

    /// Start or Try again pressed.
    pub fn start(&mut self) -> Result<JsValue, JsValue> {
        self.machine.start();
        self.view()
    }

    /// The camera stream is live.
    #[wasm_bindgen(js_name = cameraReady)]
    pub fn camera_ready(
        &mut self,
        now_ms: f64,
        label: String,
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsValue> {
        self.label = Some(label);
        self.size = (width, height);
        self.machine.camera_ready(now_ms);
        self.view()
    }

    /// The camera failed with `code` (the `code` of the camera's error).
    #[wasm_bindgen(js_name = cameraFailed)]
    pub fn camera_failed(&mut self, code: &str) -> Result<JsValue, JsValue> {
        self.machine.camera_failed(code);
        self.view()
    }

    /// Analyses and judges one RGBA frame, advances the capture, returns the view.
    /// `view.bestFrame` says to keep this frame's pixels for the upload.
    #[wasm_bindgen(js_name = checkFrame)]
    pub fn check_frame(
        &mut self,
        checker: &Checker,
        now_ms: f64,
        width: u32,
        height: u32,
        rgba: &[u8],
    ) -> Result<JsValue, JsValue> {
        let frame = FrameView::new(width, height, rgba).map_err(js_error)?;
        // Live guidance skips the heavier per-face classifiers only when they are not loaded.
        let analysis = vision::analyze(&checker.models, &frame, &AnalyzeOptions::default())
            .map_err(js_error)?;
        let verdict = policy::judge(&checker.policy, &analysis, None);
        let score = analysis.face.as_ref().map_or(f32::MIN, |f| {
            frame_score(f.quality.sharpness, f.quality.centre_offset)
        });
        self.analyzed += 1;
        self.machine.frame(now_ms, &verdict, score);
        self.view()
    }

    /// The tab was hidden.
    pub fn hidden(&mut self, now_ms: f64) -> Result<JsValue, JsValue> {
        self.machine.hidden(now_ms);
        self.view()
    }

    /// The tab is visible again.
    pub fn visible(&mut self, now_ms: f64) -> Result<JsValue, JsValue> {
        self.machine.visible(now_ms);
        self.view()
    }

    /// The user cancelled.
    pub fn cancel(&mut self) -> Result<JsValue, JsValue> {
        self.machine.cancel();
        self.view()
    }

    /// The current view: `{ screen, hint, attempt, maxAttempts, passing, bestFrame, error?, canRetry }`.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&self.machine.view())
    }

    /// The capture signals for the upload, as JSON text.
    #[wasm_bindgen(js_name = signalsJson)]
    pub fn signals_json(&self) -> String {
        let t = self.machine.timing();
        let signals = CaptureSignals {
            camera_label: self.label.clone(),
            track: Some(TrackSettings {
                width: Some(self.size.0),
                height: Some(self.size.1),
                ..Default::default()
            }),
            timing: Some(FrameTiming {
                duration_ms: (t.last_ms - t.first_ms).max(0.0) as u64,
                frames_seen: t.frames,
                frames_analyzed: self.analyzed,
                mean_interval_ms: t.mean_interval_ms,
                max_interval_ms: t.max_interval_ms,
            }),
        };
        serde_json::to_string(&signals).unwrap_or_default()
    }

    /// Whether the camera's label names a known virtual camera.
    #[wasm_bindgen(js_name = virtualCameraLabel)]
    pub fn virtual_camera_label(&self) -> bool {
        self.label.as_deref().is_some_and(is_virtual_camera_label)
    }
}

impl Default for CaptureFlow {
    fn default() -> Self {
        Self::new()
    }
}
