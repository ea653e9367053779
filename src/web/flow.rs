//! The capture flow for the page: the pure [`CaptureMachine`] plus the checker, so one call
//! per camera frame analyses it, judges it, advances the state and returns the view. The
//! flow keeps the pixels it needs (the best frame, the challenge's key frames) and the
//! liveness track itself, and seals them in one call: the page never handles a selfie.
//!
//! Frames are analysed by the [`Tracker`]: the detector once, then the face followed with
//! the mesh's own crop, the three per-face classifiers on key frames only (BENCHMARKS.md:
//! 15 ms instead of 205 ms per frame in the browser). The frame that is uploaded is analysed
//! in full again when it is sealed, so the device's claim never rests on tracked scores.

use crate::capture::{frame_score, is_virtual_camera_label, CaptureConfig, CaptureMachine, Phase};
use crate::error::{Error, ErrorCode};
use crate::frame::{Frame, FrameView};
use crate::liveness::{
    challenge_from_seed, ChallengeConfig, ChallengeLimits, LivenessTrack, PoseSample,
};
use crate::model::ModelKind;
use crate::policy::{self, LivenessMode};
use crate::upload::{
    CaptureSignals, ClaimedVerdict, EncodedFrame, FrameTiming, TrackSettings, UploadPayload,
};
use crate::vision::track::{Tracker, TrackerConfig};
use crate::vision::{self, AnalyzeOptions};
use crate::web::{js_error, to_js, Checker};
use wasm_bindgen::prelude::*;

/// JPEG quality of the uploaded frames.
const JPEG_QUALITY: u8 = 90;

/// A kept frame and when it was seen (ms since the camera started).
struct Kept {
    frame: Frame,
    at_ms: u64,
}

/// One capture session on the page.
#[wasm_bindgen]
pub struct CaptureFlow {
    machine: CaptureMachine,
    label: Option<String>,
    size: (u32, u32),
    analyzed: u32,
    /// `performance.now()` when the camera became ready: the capture clock's origin.
    t0_ms: f64,
    best: Option<Kept>,
    /// Slot 0: the challenge's neutral start; k + 1: the furthest point of step k.
    key_frames: Vec<Option<Kept>>,
    track: LivenessTrack,
    tracker: Tracker,
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
            t0_ms: 0.0,
            best: None,
            key_frames: Vec::new(),
            track: LivenessTrack::default(),
            tracker: Tracker::new(TrackerConfig::default()),
        }
    }

    /// Sets up the active-liveness challenge from the session's seed (hex, from the Start
    /// answer) when the checker's policy asks for active liveness; otherwise does nothing.
    /// Returns the step codes (e.g. `["turn_left","blink","turn_right"]`), empty without a
    /// challenge.
    #[wasm_bindgen(js_name = setChallenge)]
    pub fn set_challenge(&mut self, checker: &Checker, seed_hex: &str) -> Result<JsValue, JsValue> {
        if checker.policy.liveness_mode != LivenessMode::Active {
            self.machine
                .set_challenge(Vec::new(), ChallengeLimits::default());
            return to_js(&Vec::<&str>::new());
        }
        let seed = hex::decode(seed_hex.trim()).map_err(|_| {
            js_error(Error::new(
                ErrorCode::BadInput,
                "the challenge seed is not hex",
            ))
        })?;
        let steps = challenge_from_seed(&seed, &ChallengeConfig::default()).map_err(js_error)?;
        let codes: Vec<&str> = steps.iter().map(|s| s.code()).collect();
        self.key_frames = (0..=steps.len()).map(|_| None).collect();
        self.machine
            .set_challenge(steps, ChallengeLimits::default());
        to_js(&codes)
    }

    /// Start or Try again pressed.
    pub fn start(&mut self) -> Result<JsValue, JsValue> {
        self.tracker.reset();
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
        self.new_stream(now_ms, label, width, height);
        self.machine.camera_ready(now_ms);
        self.view()
    }

    /// The user picked another camera (`Camera.start` with its `deviceId`) during the
    /// capture: the attempt starts over on the new stream without being used up.
    #[wasm_bindgen(js_name = cameraSwitched)]
    pub fn camera_switched(
        &mut self,
        now_ms: f64,
        label: String,
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsValue> {
        self.new_stream(now_ms, label, width, height);
        self.machine.camera_switched(now_ms);
        self.view()
    }

    /// The camera failed with `code` (the `code` of the camera's error).
    #[wasm_bindgen(js_name = cameraFailed)]
    pub fn camera_failed(&mut self, code: &str) -> Result<JsValue, JsValue> {
        self.machine.camera_failed(code);
        self.view()
    }

    /// Analyses and judges one RGBA frame, advances the capture, returns the view
    /// `{ screen, hint, attempt, maxAttempts, passing, bestFrame, keyFrame?, challengeStep?,
    /// challengeSteps, error?, canRetry }`. The flow keeps the pixels it will upload.
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
        // Guidance starts with the detector and the mesh; the classifiers' measures join as
        // their models load, and until all have, no frame passes (`judge_live`).
        // The mesh points feed the liveness track; without a challenge there is none.
        let opts = AnalyzeOptions {
            keep_landmarks: !self.machine.challenge_steps().is_empty(),
            ..AnalyzeOptions::default()
        };
        let analysis = self
            .tracker
            .step(&checker.models, &frame, &opts)
            .map_err(js_error)?;
        let loaded = ModelKind::PRECHECKS.iter().all(|&k| checker.models.has(k));
        let verdict = policy::judge_live(&checker.policy, &analysis, loaded);
        let score = analysis.face.as_ref().map_or(f32::MIN, |f| {
            frame_score(f.quality.sharpness, f.quality.centre_offset)
        });
        let pose = analysis.face.as_ref().map(|f| PoseSample {
            t_ms: now_ms,
            yaw: f.pose.yaw,
            pitch: f.pose.pitch,
            eye_openness_min: f.eye_openness[0].min(f.eye_openness[1]),
        });
        self.analyzed += 1;
        let was_challenge = matches!(self.machine.phase(), Phase::Challenge { .. });
        self.machine.frame_with_pose(now_ms, &verdict, score, pose);
        let view = self.machine.view();
        let at_ms = (now_ms - self.t0_ms).max(0.0);
        if view.key_frame == Some(0) {
            self.track = LivenessTrack::default();
        }
        let in_challenge = matches!(self.machine.phase(), Phase::Challenge { .. });
        if was_challenge || in_challenge {
            if let Some(face) = &analysis.face {
                self.track.record(at_ms, face);
            }
        }
        if view.best_frame || view.key_frame.is_some() {
            let kept = || -> Result<Kept, JsValue> {
                Ok(Kept {
                    frame: Frame::from_rgba(width, height, rgba.to_vec()).map_err(js_error)?,
                    at_ms: at_ms.round() as u64,
                })
            };
            if view.best_frame {
                self.best = Some(kept()?);
            }
            if let Some(slot) = view
                .key_frame
                .and_then(|k| self.key_frames.get_mut(k as usize))
            {
                *slot = Some(kept()?);
            }
        }
        to_js(&view)
    }

    /// Seals the capture for upload: the best frame, the challenge's key frames and liveness
    /// track, the capture signals and the device's own verdict (a claim the backend never
    /// trusts), with HPKE to the project's public key, bound to the project, session, capture
    /// time (unix ms) and the checker's policy. Only after the view's screen is `upload`.
    pub fn seal(
        &self,
        checker: &Checker,
        public_key: &str,
        project_id: &str,
        session_id: &str,
        captured_at_ms: f64,
    ) -> Result<Vec<u8>, JsValue> {
        let bad = |m: &str| js_error(Error::new(ErrorCode::BadState, m));
        if self.machine.phase() != &Phase::Captured {
            return Err(bad("nothing captured yet"));
        }
        let best = self
            .best
            .as_ref()
            .ok_or_else(|| bad("no best frame kept"))?;
        let view = best.frame.view().map_err(js_error)?;
        let analysis = vision::analyze(&checker.models, &view, &AnalyzeOptions::default())
            .map_err(js_error)?;
        let verdict = policy::judge(&checker.policy, &analysis, None);
        let jpeg = best.frame.to_jpeg(JPEG_QUALITY).map_err(js_error)?;
        let mut payload = UploadPayload::new(
            EncodedFrame::new(jpeg, best.at_ms),
            ClaimedVerdict::from(&verdict),
        );
        let steps = self.machine.challenge_steps();
        for (slot, kept) in self.key_frames.iter().enumerate() {
            let Some(k) = kept else { continue };
            let label = match slot.checked_sub(1).and_then(|i| steps.get(i)) {
                Some(step) => step.code(),
                None => "neutral",
            };
            let jpeg = k.frame.to_jpeg(JPEG_QUALITY).map_err(js_error)?;
            payload
                .key_frames
                .push(EncodedFrame::new(jpeg, k.at_ms).with_label(label));
        }
        if !self.track.is_empty() {
            payload.liveness = Some(self.track.clone());
        }
        payload.signals = self.signals();
        checker.seal_payload(&payload, public_key, project_id, session_id, captured_at_ms)
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
        serde_json::to_string(&self.signals()).unwrap_or_default()
    }

    /// Whether the camera's label names a known virtual camera.
    #[wasm_bindgen(js_name = virtualCameraLabel)]
    pub fn virtual_camera_label(&self) -> bool {
        self.label.as_deref().is_some_and(is_virtual_camera_label)
    }
}

impl CaptureFlow {
    fn signals(&self) -> CaptureSignals {
        let t = self.machine.timing();
        CaptureSignals {
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
        }
    }
}

impl Default for CaptureFlow {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptureFlow {
    /// Forgets what was kept of the previous stream (its frames, track and key frames).
    fn new_stream(&mut self, now_ms: f64, label: String, width: u32, height: u32) {
        self.label = Some(label);
        self.size = (width, height);
        self.t0_ms = now_ms;
        self.best = None;
        self.track = LivenessTrack::default();
        self.tracker.reset();
        for k in &mut self.key_frames {
            *k = None;
        }
    }
}
