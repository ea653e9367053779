//! The capture state machine and the user guidance, pure: time is passed in, no browser
//! inside. The page feeds it events (camera ready, a judged frame, tab hidden, …) and renders
//! the [`View`] it returns.
//!
//! ```text
//! Idle ─start→ RequestingCamera ─camera_ready→ Guiding(hint) ─passing streak→ Captured
//!                 │ camera_failed                  │ face-fit timeout   │ (challenge set)
//!                 ▼                                ▼                    ▼
//!              Failed(camera code)   Failed(capture_timeout |     Challenge(step) ─done→ Captured
//!                                      attempts_exhausted)            │ wrong/slow/no face
//!                                                                     ▼
//!                                                            Failed(challenge_failed)
//! ```
//! With an active-liveness challenge ([`CaptureMachine::set_challenge`]) the passing streak
//! (which picks the frontal best frame) is followed by the challenge steps, checked live on
//! the pose track by the same [`verify_challenge`] the backend runs.
//! `start` again after a failure begins a new attempt while attempts remain (the product's
//! rule: 3 attempts per submission). Events that do not apply in a state are ignored and
//! leave the state as it was; the view always says what to show.

use crate::liveness::challenge::{
    verify_challenge, ChallengeFailure, ChallengeLimits, PoseSample, Step,
};
use crate::policy::{Reason, Verdict};
use serde::{Deserialize, Serialize};

/// What the user is told. The snake_case codes are stable; the page maps them to text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    StartingCamera,
    NoFace,
    MultipleFaces,
    MoveCloser,
    MoveBack,
    CentreFace,
    TooDark,
    TooBright,
    LowContrast,
    HoldStill,
    RemoveMask,
    RemoveSunglasses,
    RemoveHand,
    RemoveHat,
    LookStraight,
    Captured,
    Paused,
}

impl Hint {
    /// The hint for a frame that failed for `reason`.
    pub fn for_reason(reason: Reason) -> Hint {
        match reason {
            Reason::NoFace => Hint::NoFace,
            // A face is there but a measure is not in yet (the classifiers still loading).
            Reason::MeasureMissing => Hint::HoldStill,
            Reason::MultipleFaces => Hint::MultipleFaces,
            Reason::FaceTooSmall => Hint::MoveCloser,
            Reason::FaceTooClose => Hint::MoveBack,
            Reason::FaceOffCentre => Hint::CentreFace,
            Reason::TooDark => Hint::TooDark,
            Reason::TooBright => Hint::TooBright,
            Reason::LowContrast => Hint::LowContrast,
            Reason::Blurred => Hint::HoldStill,
            Reason::NotLookingStraight => Hint::LookStraight,
            Reason::MaskOrLowerFaceCovered => Hint::RemoveMask,
            Reason::EyesCovered => Hint::RemoveSunglasses,
            Reason::HandOverFace => Hint::RemoveHand,
            Reason::HeadCovered => Hint::RemoveHat,
            // Not decided per frame; keep the user still while the rest is checked.
            Reason::LivenessLow | Reason::FaceMismatch => Hint::HoldStill,
        }
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Hint::StartingCamera => "starting_camera",
            Hint::NoFace => "no_face",
            Hint::MultipleFaces => "multiple_faces",
            Hint::MoveCloser => "move_closer",
            Hint::MoveBack => "move_back",
            Hint::CentreFace => "centre_face",
            Hint::TooDark => "too_dark",
            Hint::TooBright => "too_bright",
            Hint::LowContrast => "low_contrast",
            Hint::HoldStill => "hold_still",
            Hint::RemoveMask => "remove_mask",
            Hint::RemoveSunglasses => "remove_sunglasses",
            Hint::RemoveHand => "remove_hand",
            Hint::RemoveHat => "remove_hat",
            Hint::LookStraight => "look_straight",
            Hint::Captured => "captured",
            Hint::Paused => "paused",
        }
    }
}

/// Timing and retry rules of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CaptureConfig {
    /// An attempt fails when no passing streak is reached within this time (paused time
    /// does not count).
    pub face_fit_timeout_ms: u64,
    /// Attempts per submission.
    pub max_attempts: u32,
    /// Consecutive passing frames needed for a capture…
    pub passing_frames: u32,
    /// …spanning at least this long, so one lucky frame is not enough.
    pub passing_min_ms: u64,
    /// A new hint replaces the shown one only after it has held this long (no flicker).
    pub hint_stable_ms: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            face_fit_timeout_ms: 20_000,
            max_attempts: 3,
            passing_frames: 5,
            passing_min_ms: 500,
            hint_stable_ms: 400,
        }
    }
}

/// Where the capture is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Phase {
    Idle,
    RequestingCamera,
    Guiding,
    Paused,
    /// Performing the active challenge; `step` is the index of the current step.
    Challenge {
        step: usize,
    },
    /// A passing streak was reached; the best frame is ready to seal and upload.
    Captured,
    /// The attempt ended; `code` says why (a camera error code, `capture_timeout`,
    /// `attempts_exhausted` or `cancelled`).
    Failed {
        code: String,
    },
}

/// What the page shows, derived from the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// `start`, `capture`, `upload` or `error`.
    pub screen: &'static str,
    pub hint: &'static str,
    pub attempt: u32,
    pub max_attempts: u32,
    /// The current frame is part of a passing streak (the oval turns green).
    pub passing: bool,
    /// The frame just given is the best so far: keep its pixels for the upload.
    pub best_frame: bool,
    /// The error code on the error screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// During the challenge: the current step (0-based) and the number of steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_step: Option<u32>,
    pub challenge_steps: u32,
    /// Keep this frame's pixels as key frame number `key_frame` (0: the challenge's neutral
    /// start; k + 1: the furthest point of step k so far, replacing an earlier one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_frame: Option<u32>,
    /// Whether the error screen offers another attempt.
    pub can_retry: bool,
}

/// Frame arrival statistics (for injected-stream detection: a virtual camera or a replayed
/// file often delivers frames with unnaturally regular or irregular timing).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameTimingStats {
    pub frames: u32,
    pub first_ms: f64,
    pub last_ms: f64,
    /// Mean and standard deviation of the interval between frames, in ms.
    pub mean_interval_ms: f64,
    pub jitter_ms: f64,
    pub max_interval_ms: f64,
    /// Frames whose timestamp did not advance.
    pub repeated: u32,
    #[serde(skip)]
    sum_sq: f64,
}

impl FrameTimingStats {
    /// Adds a frame seen at `t_ms`.
    pub fn add(&mut self, t_ms: f64) {
        if !t_ms.is_finite() {
            return;
        }
        if self.frames == 0 {
            self.first_ms = t_ms;
        } else {
            let d = t_ms - self.last_ms;
            if d <= 0.0 {
                self.repeated += 1;
            }
            let n = self.frames as f64; // intervals so far + 1
            let prev_mean = self.mean_interval_ms;
            self.mean_interval_ms += (d - prev_mean) / n;
            self.sum_sq += (d - prev_mean) * (d - self.mean_interval_ms);
            self.jitter_ms = if n > 1.0 {
                (self.sum_sq / (n - 1.0)).max(0.0).sqrt()
            } else {
                0.0
            };
            self.max_interval_ms = self.max_interval_ms.max(d);
        }
        self.last_ms = t_ms;
        self.frames += 1;
    }
}

/// Camera names of common virtual cameras (screen/video injectors). A signal for the
/// backend, not a decision: a label is easy to fake.
pub fn is_virtual_camera_label(label: &str) -> bool {
    const NAMES: [&str; 10] = [
        "obs",
        "virtual",
        "manycam",
        "snap camera",
        "xsplit",
        "droidcam",
        "e2esoft",
        "splitcam",
        "camtwist",
        "fake",
    ];
    let l = label.to_lowercase();
    NAMES.iter().any(|n| l.contains(n))
}

/// The capture state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureMachine {
    config: CaptureConfig,
    phase: Phase,
    attempt: u32,
    /// When the current attempt's face-fit clock started (moved on by paused time).
    attempt_started_ms: f64,
    paused_at_ms: f64,
    hint: Hint,
    pending: Option<(Hint, f64)>,
    streak: u32,
    streak_started_ms: f64,
    best_score: Option<f32>,
    best_now: bool,
    timing: FrameTimingStats,
    steps: Vec<Step>,
    limits: ChallengeLimits,
    poses: Vec<PoseSample>,
    challenge_started_ms: f64,
    /// Furthest excursion of each step so far (for its key frame).
    step_peaks: Vec<f32>,
    key_now: Option<u32>,
    challenge_failure: Option<ChallengeFailure>,
}

impl CaptureMachine {
    pub fn new(config: CaptureConfig) -> Self {
        CaptureMachine {
            config,
            phase: Phase::Idle,
            attempt: 0,
            attempt_started_ms: 0.0,
            paused_at_ms: 0.0,
            hint: Hint::StartingCamera,
            pending: None,
            streak: 0,
            streak_started_ms: 0.0,
            best_score: None,
            best_now: false,
            timing: FrameTimingStats::default(),
            steps: Vec::new(),
            limits: ChallengeLimits::default(),
            poses: Vec::new(),
            challenge_started_ms: 0.0,
            step_peaks: Vec::new(),
            key_now: None,
            challenge_failure: None,
        }
    }

    /// Asks for an active challenge after the passing streak (the steps come from the
    /// session's seed, see `liveness::challenge_from_seed`). Empty `steps`: no challenge.
    pub fn set_challenge(&mut self, steps: Vec<Step>, limits: ChallengeLimits) {
        self.steps = steps;
        self.limits = limits;
    }

    /// The challenge's steps (empty without a challenge).
    pub fn challenge_steps(&self) -> &[Step] {
        &self.steps
    }

    /// The pose track of the current (or last) challenge, capture-clock times.
    pub fn challenge_track(&self) -> &[PoseSample] {
        &self.poses
    }

    /// Why the last challenge failed, if it did.
    pub fn challenge_failure(&self) -> Option<ChallengeFailure> {
        self.challenge_failure
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    pub fn hint(&self) -> Hint {
        self.hint
    }
    pub fn timing(&self) -> FrameTimingStats {
        self.timing
    }

    fn attempts_left(&self) -> bool {
        self.attempt < self.config.max_attempts
    }

    /// The user pressed Start (or Try again): ask for the camera. Ignored while a capture
    /// runs, after a capture, or when no attempt is left.
    pub fn start(&mut self) {
        let can = match &self.phase {
            Phase::Idle => true,
            Phase::Failed { code } => code != "attempts_exhausted" && self.attempts_left(),
            _ => false,
        };
        if can {
            self.phase = Phase::RequestingCamera;
            self.hint = Hint::StartingCamera;
        }
    }

    /// The camera stream is live: a new attempt begins.
    pub fn camera_ready(&mut self, now_ms: f64) {
        if self.phase != Phase::RequestingCamera {
            return;
        }
        self.attempt += 1;
        self.guide_from(now_ms);
    }

    /// Guiding from `now_ms` on: the face-fit clock, hint, passing streak and best frame start
    /// over.
    fn guide_from(&mut self, now_ms: f64) {
        self.phase = Phase::Guiding;
        self.attempt_started_ms = now_ms;
        self.hint = Hint::NoFace;
        self.pending = None;
        self.streak = 0;
        self.best_score = None;
    }

    /// The user picked another camera while the capture runs: the attempt goes on (it is not
    /// used up) but starts over on the new stream — face-fit clock, hint, passing streak, best
    /// frame, challenge progress and frame timing. Ignored in any other phase.
    pub fn camera_switched(&mut self, now_ms: f64) {
        if !matches!(self.phase, Phase::Guiding | Phase::Challenge { .. }) {
            return;
        }
        self.guide_from(now_ms);
        self.best_now = false;
        self.timing = FrameTimingStats::default();
        self.poses.clear();
        self.step_peaks.clear();
        self.key_now = None;
        self.challenge_failure = None;
    }

    /// The camera could not start or stopped (`code`: camera_permission_denied,
    /// camera_not_found, camera_in_use, camera_constraints, camera_ended, camera_failed).
    /// Does not use up an attempt that never got a picture.
    pub fn camera_failed(&mut self, code: &str) {
        if matches!(
            self.phase,
            Phase::RequestingCamera | Phase::Guiding | Phase::Paused | Phase::Challenge { .. }
        ) {
            self.phase = Phase::Failed {
                code: code.to_string(),
            };
        }
    }

    /// A judged frame. `quality_score` ranks passing frames for the upload (higher is
    /// better; see [`frame_score`]).
    pub fn frame(&mut self, now_ms: f64, verdict: &Verdict, quality_score: f32) {
        self.frame_with_pose(now_ms, verdict, quality_score, None);
    }

    /// A judged frame with the head pose measured on it (`None` without a face), stamped on
    /// the `now_ms` clock. The pose drives the challenge; outside it this is
    /// [`frame`](Self::frame).
    pub fn frame_with_pose(
        &mut self,
        now_ms: f64,
        verdict: &Verdict,
        quality_score: f32,
        pose: Option<PoseSample>,
    ) {
        self.best_now = false;
        self.key_now = None;
        if let Phase::Challenge { .. } = self.phase {
            self.timing.add(now_ms);
            self.challenge_frame(now_ms, pose);
            return;
        }
        if self.phase != Phase::Guiding {
            return;
        }
        self.timing.add(now_ms);
        if now_ms - self.attempt_started_ms > self.config.face_fit_timeout_ms as f64 {
            self.phase = Phase::Failed {
                code: if self.attempts_left() {
                    "capture_timeout"
                } else {
                    "attempts_exhausted"
                }
                .into(),
            };
            return;
        }
        if verdict.passed {
            if self.streak == 0 {
                self.streak_started_ms = now_ms;
            }
            self.streak += 1;
            if self.best_score.is_none_or(|b| quality_score >= b) {
                self.best_score = Some(quality_score);
                self.best_now = true;
            }
            self.propose(Hint::HoldStill, now_ms);
            if self.streak >= self.config.passing_frames
                && now_ms - self.streak_started_ms >= self.config.passing_min_ms as f64
            {
                if self.steps.is_empty() {
                    self.phase = Phase::Captured;
                    self.hint = Hint::Captured;
                } else {
                    self.phase = Phase::Challenge { step: 0 };
                    self.poses.clear();
                    self.step_peaks = vec![0.0; self.steps.len()];
                    self.challenge_started_ms = now_ms;
                    self.challenge_failure = None;
                    self.pending = None;
                    // This passing frame is the neutral start of the track.
                    if let Some(p) = pose {
                        self.poses.push(p);
                        self.key_now = Some(0);
                    }
                }
            }
        } else {
            self.streak = 0;
            self.best_score = None; // the upload's frame must come from the passing streak
            let hint = verdict
                .reasons
                .first()
                .map_or(Hint::NoFace, |r| Hint::for_reason(*r));
            self.propose(hint, now_ms);
        }
    }

    /// One frame of the challenge: extend the track, re-verify it, move on or fail.
    fn challenge_frame(&mut self, now_ms: f64, pose: Option<PoseSample>) {
        let Phase::Challenge { step } = self.phase else {
            return;
        };
        if let Some(p) = pose {
            if self.poses.last().is_none_or(|l| p.t_ms > l.t_ms) {
                if self.poses.is_empty() {
                    self.key_now = Some(0);
                }
                self.poses.push(p);
            }
        }
        let failure = if self.poses.is_empty() {
            // No face since the challenge began.
            (now_ms - self.challenge_started_ms > self.limits.step_timeout_ms)
                .then_some(ChallengeFailure::TooSlow)
        } else {
            let r = verify_challenge(&self.steps, &self.poses, &self.limits);
            if r.passed {
                self.phase = Phase::Captured;
                self.hint = Hint::Captured;
                return;
            }
            match r.reason {
                Some(ChallengeFailure::StepMissing) => {
                    let k = r.completed.len().min(self.steps.len() - 1);
                    let last_done = r.completed.last().map(|c| c.done_ms);
                    let since = last_done.unwrap_or(self.poses[0].t_ms);
                    // A step whose samples stopped coming (face lost) still times out.
                    if now_ms - since > self.limits.step_timeout_ms {
                        Some(ChallengeFailure::TooSlow)
                    } else {
                        if k != step {
                            self.phase = Phase::Challenge { step: k };
                        }
                        if pose.is_some() {
                            self.track_peak(k, r.baseline_yaw, r.baseline_pitch);
                        }
                        None
                    }
                }
                other => other,
            }
        };
        if let Some(why) = failure {
            self.challenge_failure = Some(why);
            self.phase = Phase::Failed {
                code: if self.attempts_left() {
                    "challenge_failed"
                } else {
                    "attempts_exhausted"
                }
                .into(),
            };
        }
    }

    /// Flags this frame as step `k`'s key frame when it is the furthest along so far.
    fn track_peak(&mut self, k: usize, base_yaw: f32, base_pitch: f32) {
        let Some(p) = self.poses.last() else { return };
        let excursion = match self.steps[k] {
            Step::TurnLeft => p.yaw - base_yaw,
            Step::TurnRight => base_yaw - p.yaw,
            Step::LookUp => p.pitch - base_pitch,
            Step::LookDown => base_pitch - p.pitch,
            Step::Blink => return,
        };
        if excursion > self.step_peaks[k] {
            self.step_peaks[k] = excursion;
            self.key_now = Some(k as u32 + 1);
        }
    }

    /// Shows `hint` once it has held for `hint_stable_ms`.
    fn propose(&mut self, hint: Hint, now_ms: f64) {
        if hint == self.hint {
            self.pending = None;
            return;
        }
        match self.pending {
            Some((h, since)) if h == hint => {
                if now_ms - since >= self.config.hint_stable_ms as f64 {
                    self.hint = hint;
                    self.pending = None;
                }
            }
            _ => self.pending = Some((hint, now_ms)),
        }
    }

    /// The tab was hidden: pause (the camera may be throttled; time stops counting).
    /// A challenge in progress restarts after the pause (its track would have a gap).
    pub fn hidden(&mut self, now_ms: f64) {
        if matches!(self.phase, Phase::Guiding | Phase::Challenge { .. }) {
            self.phase = Phase::Paused;
            self.paused_at_ms = now_ms;
            self.streak = 0;
        }
    }

    /// The tab is visible again: resume where it was.
    pub fn visible(&mut self, now_ms: f64) {
        if self.phase == Phase::Paused {
            self.phase = Phase::Guiding;
            self.attempt_started_ms += (now_ms - self.paused_at_ms).max(0.0);
        }
    }

    /// The user cancelled: the attempt ends (it counts, so cancelling cannot be used to get
    /// unlimited tries).
    pub fn cancel(&mut self) {
        if matches!(
            self.phase,
            Phase::Guiding | Phase::Paused | Phase::RequestingCamera | Phase::Challenge { .. }
        ) {
            let code = if self.attempts_left() {
                "cancelled"
            } else {
                "attempts_exhausted"
            };
            self.phase = Phase::Failed { code: code.into() };
        }
    }

    /// What the page shows now.
    pub fn view(&self) -> View {
        let (screen, error, can_retry) = match &self.phase {
            Phase::Idle => ("start", None, false),
            Phase::RequestingCamera | Phase::Guiding | Phase::Paused | Phase::Challenge { .. } => {
                ("capture", None, false)
            }
            Phase::Captured => ("upload", None, false),
            Phase::Failed { code } => {
                let retry = code != "attempts_exhausted" && self.attempts_left();
                ("error", Some(code.clone()), retry)
            }
        };
        View {
            screen,
            hint: match self.phase {
                Phase::Paused => Hint::Paused.code(),
                Phase::Challenge { step } => {
                    self.steps.get(step).map_or("hold_still", |s| s.code())
                }
                _ => self.hint.code(),
            },
            attempt: self.attempt.max(1),
            max_attempts: self.config.max_attempts,
            passing: self.streak > 0,
            best_frame: self.best_now,
            error,
            can_retry,
            challenge_step: match self.phase {
                Phase::Challenge { step } => Some(step as u32),
                _ => None,
            },
            challenge_steps: self.steps.len() as u32,
            key_frame: self.key_now,
        }
    }
}

/// Ranks a passing frame for the upload: sharpness (log-scaled, so one very sharp frame
/// does not dominate) minus a penalty for being off-centre.
pub fn frame_score(sharpness: f32, centre_offset: f32) -> f32 {
    if !(sharpness.is_finite() && centre_offset.is_finite()) {
        return f32::MIN;
    }
    (1.0 + sharpness.max(0.0)).ln() - 4.0 * centre_offset.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Policy, Scores};

    fn verdict(reasons: &[Reason]) -> Verdict {
        Verdict {
            passed: reasons.is_empty(),
            reasons: reasons.to_vec(),
            scores: Scores::default(),
            policy: Policy::default(),
        }
    }

    fn guiding() -> CaptureMachine {
        let mut m = CaptureMachine::new(CaptureConfig::default());
        m.start();
        assert_eq!(m.view().screen, "capture");
        assert_eq!(m.view().hint, "starting_camera");
        m.camera_ready(0.0);
        assert_eq!(m.phase(), &Phase::Guiding);
        m
    }

    #[test]
    fn every_reason_has_a_hint() {
        for (r, h) in [
            (Reason::NoFace, "no_face"),
            (Reason::MultipleFaces, "multiple_faces"),
            (Reason::FaceTooSmall, "move_closer"),
            (Reason::FaceTooClose, "move_back"),
            (Reason::FaceOffCentre, "centre_face"),
            (Reason::TooDark, "too_dark"),
            (Reason::TooBright, "too_bright"),
            (Reason::LowContrast, "low_contrast"),
            (Reason::Blurred, "hold_still"),
            (Reason::NotLookingStraight, "look_straight"),
            (Reason::MaskOrLowerFaceCovered, "remove_mask"),
            (Reason::EyesCovered, "remove_sunglasses"),
            (Reason::HandOverFace, "remove_hand"),
            (Reason::HeadCovered, "remove_hat"),
        ] {
            let mut m = guiding();
            m.frame(10.0, &verdict(&[r]), 0.0);
            m.frame(500.0, &verdict(&[r]), 0.0);
            assert_eq!(m.view().hint, h, "{r:?}");
        }
    }

    #[test]
    fn switching_cameras_restarts_the_attempt_without_using_it_up() {
        let mut m = guiding();
        let ok = verdict(&[]);
        m.frame(0.0, &ok, 1.0);
        m.frame(100.0, &ok, 1.0);
        assert!(m.view().passing);
        m.camera_switched(15_000.0);
        assert_eq!(m.phase(), &Phase::Guiding);
        assert_eq!(m.attempt(), 1, "the attempt is not used up");
        assert_eq!(m.view().hint, "no_face");
        assert!(!m.view().passing, "the streak starts over");
        assert_eq!(m.timing().frames, 0, "a new stream's timing");
        // The face-fit clock restarted: 15 s after the switch is still inside the 20 s limit.
        m.frame(30_000.0, &verdict(&[Reason::TooDark]), 0.0);
        assert_eq!(m.phase(), &Phase::Guiding);
        // Nothing happens outside a running capture.
        let mut idle = CaptureMachine::new(CaptureConfig::default());
        idle.camera_switched(0.0);
        assert_eq!(idle.phase(), &Phase::Idle);
    }

    #[test]
    fn hints_do_not_flicker() {
        let mut m = guiding();
        m.frame(0.0, &verdict(&[Reason::TooDark]), 0.0);
        m.frame(300.0, &verdict(&[Reason::TooDark]), 0.0);
        assert_eq!(m.view().hint, "no_face", "not yet stable");
        m.frame(350.0, &verdict(&[Reason::FaceTooSmall]), 0.0);
        m.frame(700.0, &verdict(&[Reason::TooDark]), 0.0);
        assert_eq!(
            m.view().hint,
            "no_face",
            "an interruption restarts the clock"
        );
        m.frame(1100.0, &verdict(&[Reason::TooDark]), 0.0);
        assert_eq!(m.view().hint, "too_dark");
    }

    #[test]
    fn a_passing_streak_captures_and_remembers_the_best_frame() {
        let mut m = guiding();
        let ok = verdict(&[]);
        m.frame(0.0, &ok, 1.0);
        assert!(m.view().best_frame && m.view().passing);
        m.frame(100.0, &ok, 0.5);
        assert!(!m.view().best_frame);
        m.frame(200.0, &ok, 2.0);
        assert!(m.view().best_frame);
        m.frame(300.0, &ok, 1.0);
        m.frame(400.0, &ok, 1.0);
        assert_eq!(m.phase(), &Phase::Guiding, "5 frames but only 400 ms");
        m.frame(500.0, &ok, 1.0);
        assert_eq!(m.phase(), &Phase::Captured);
        assert_eq!(m.view().screen, "upload");
        // Nothing moves it from Captured but a new machine.
        m.frame(600.0, &verdict(&[Reason::NoFace]), 0.0);
        m.start();
        assert_eq!(m.phase(), &Phase::Captured);
    }

    #[test]
    fn a_failing_frame_breaks_the_streak() {
        let mut m = guiding();
        for t in 0..4 {
            m.frame(t as f64 * 200.0, &verdict(&[]), 1.0);
        }
        m.frame(900.0, &verdict(&[Reason::Blurred]), 0.0);
        assert!(!m.view().passing);
        m.frame(1000.0, &verdict(&[]), 1.0);
        assert_eq!(m.phase(), &Phase::Guiding);
    }

    #[test]
    fn three_attempts_then_exhausted() {
        let mut m = guiding();
        for attempt in 1..=3 {
            assert_eq!(m.attempt(), attempt);
            m.frame(1000.0, &verdict(&[Reason::NoFace]), 0.0);
            m.frame(25_000.0, &verdict(&[Reason::NoFace]), 0.0);
            let v = m.view();
            assert_eq!(v.screen, "error");
            if attempt < 3 {
                assert_eq!(v.error.as_deref(), Some("capture_timeout"));
                assert!(v.can_retry);
                m.start();
                m.camera_ready(0.0);
            } else {
                assert_eq!(v.error.as_deref(), Some("attempts_exhausted"));
                assert!(!v.can_retry);
            }
        }
        m.start();
        assert_eq!(
            m.view().error.as_deref(),
            Some("attempts_exhausted"),
            "no fourth attempt"
        );
    }

    #[test]
    fn camera_failures_are_distinct_and_do_not_use_an_attempt() {
        for code in [
            "camera_permission_denied",
            "camera_not_found",
            "camera_in_use",
            "camera_constraints",
        ] {
            let mut m = CaptureMachine::new(CaptureConfig::default());
            m.start();
            m.camera_failed(code);
            let v = m.view();
            assert_eq!(
                (v.screen, v.error.as_deref(), v.can_retry),
                ("error", Some(code), true)
            );
            assert_eq!(m.attempt(), 0);
            m.start();
            m.camera_ready(0.0);
            assert_eq!(m.attempt(), 1);
        }
        let mut m = guiding();
        m.camera_failed("camera_ended");
        assert_eq!(m.view().error.as_deref(), Some("camera_ended"));
    }

    #[test]
    fn hidden_tab_pauses_the_clock() {
        let mut m = guiding();
        m.hidden(1_000.0);
        assert_eq!(m.view().hint, "paused");
        m.frame(2_000.0, &verdict(&[]), 1.0); // ignored while paused
        assert!(!m.view().passing);
        m.visible(60_000.0);
        m.frame(61_000.0, &verdict(&[Reason::NoFace]), 0.0);
        assert_eq!(
            m.phase(),
            &Phase::Guiding,
            "59 s hidden do not count toward the timeout"
        );
    }

    #[test]
    fn cancel_counts_as_an_attempt() {
        let mut m = guiding();
        m.cancel();
        assert_eq!(m.view().error.as_deref(), Some("cancelled"));
        assert!(m.view().can_retry);
    }

    #[test]
    fn out_of_order_events_are_ignored() {
        let mut m = CaptureMachine::new(CaptureConfig::default());
        m.camera_ready(0.0);
        m.frame(0.0, &verdict(&[]), 1.0);
        m.visible(0.0);
        m.cancel();
        assert_eq!(m.phase(), &Phase::Idle);
        assert_eq!(m.view().screen, "start");
    }

    #[test]
    fn frame_timing_statistics() {
        let mut s = FrameTimingStats::default();
        for (i, t) in [0.0, 33.0, 67.0, 100.0, 100.0, 140.0].iter().enumerate() {
            s.add(*t);
            assert_eq!(s.frames as usize, i + 1);
        }
        assert_eq!(s.repeated, 1);
        assert!((s.mean_interval_ms - 28.0).abs() < 1e-9);
        assert_eq!(s.max_interval_ms, 40.0);
        assert!(s.jitter_ms > 10.0);
        let mut regular = FrameTimingStats::default();
        for i in 0..30 {
            regular.add(i as f64 * 33.0);
        }
        assert!(
            regular.jitter_ms < 1e-6,
            "perfectly regular timing has no jitter"
        );
    }

    #[test]
    fn virtual_camera_labels() {
        assert!(is_virtual_camera_label("OBS Virtual Camera"));
        assert!(is_virtual_camera_label("ManyCam Video Source"));
        assert!(!is_virtual_camera_label("FaceTime HD Camera"));
        assert!(!is_virtual_camera_label(""));
    }

    /// A machine with `steps` as its challenge, guided through a passing streak of neutral
    /// frames at 0..800 ms, so the challenge starts with the last one.
    fn challenged(steps: &[Step]) -> CaptureMachine {
        let mut m = guiding();
        m.set_challenge(steps.to_vec(), ChallengeLimits::default());
        let neutral = |t: f64| PoseSample {
            t_ms: t,
            yaw: 2.0,
            pitch: 6.0,
            eye_openness_min: 0.3,
        };
        for i in 0..5 {
            let t = i as f64 * 200.0;
            m.frame_with_pose(t, &verdict(&[]), 1.0, Some(neutral(t)));
        }
        assert_eq!(m.phase(), &Phase::Challenge { step: 0 });
        assert_eq!(
            m.view().key_frame,
            Some(0),
            "the neutral start is key frame 0"
        );
        m
    }

    /// Feeds a synthetic track performing `performed`, shifted to start after 800 ms.
    fn perform(m: &mut CaptureMachine, performed: &[Step]) -> Vec<View> {
        use crate::liveness::challenge::synth;
        let track = synth::perform(performed, &synth::TrackOpts::default());
        let mut views = Vec::new();
        for p in track {
            let p = PoseSample {
                t_ms: p.t_ms - 1000.0 + 850.0,
                ..p
            };
            m.frame_with_pose(p.t_ms, &verdict(&[]), 1.0, Some(p));
            views.push(m.view());
            if m.phase() == &Phase::Captured || m.view().screen == "error" {
                break;
            }
        }
        views
    }

    #[test]
    fn the_challenge_follows_the_passing_streak_and_captures_when_performed() {
        let steps = [Step::TurnLeft, Step::Blink, Step::TurnRight];
        let mut m = challenged(&steps);
        let v = m.view();
        assert_eq!(
            (v.screen, v.hint, v.challenge_step, v.challenge_steps),
            ("capture", "turn_left", Some(0), 3)
        );
        let views = perform(&mut m, &steps);
        assert_eq!(m.phase(), &Phase::Captured, "{:?}", m.challenge_failure());
        assert_eq!(m.view().screen, "upload");
        // Every step was shown in order, and each turn got key frames.
        let shown: Vec<&str> = views.iter().map(|v| v.hint).collect();
        let mut order: Vec<&str> = shown.clone();
        order.dedup();
        assert_eq!(order, ["turn_left", "blink", "turn_right", "captured"]);
        let keys: std::collections::BTreeSet<u32> =
            views.iter().filter_map(|v| v.key_frame).collect();
        assert_eq!(keys, [1, 3].into(), "turn steps 0 and 2 flag key frames");
        assert!(m.challenge_track().len() > 50);
    }

    #[test]
    fn a_challenge_done_in_the_wrong_order_fails_the_attempt() {
        let mut m = challenged(&[Step::TurnLeft, Step::TurnRight]);
        perform(&mut m, &[Step::TurnRight, Step::TurnLeft]);
        let v = m.view();
        assert_eq!(
            (v.screen, v.error.as_deref(), v.can_retry),
            ("error", Some("challenge_failed"), true)
        );
        assert_eq!(m.challenge_failure(), Some(ChallengeFailure::WrongOrder));
    }

    #[test]
    fn a_face_lost_during_the_challenge_times_out() {
        let mut m = challenged(&[Step::TurnLeft, Step::Blink]);
        m.frame_with_pose(3000.0, &verdict(&[Reason::NoFace]), 0.0, None);
        assert_eq!(m.phase(), &Phase::Challenge { step: 0 });
        m.frame_with_pose(6000.0, &verdict(&[Reason::NoFace]), 0.0, None);
        assert_eq!(m.view().error.as_deref(), Some("challenge_failed"));
        assert_eq!(m.challenge_failure(), Some(ChallengeFailure::TooSlow));
    }

    #[test]
    fn hiding_the_tab_restarts_the_challenge_after_a_new_streak() {
        let mut m = challenged(&[Step::TurnLeft, Step::Blink]);
        m.hidden(900.0);
        assert_eq!(m.view().hint, "paused");
        m.visible(5000.0);
        assert_eq!(m.phase(), &Phase::Guiding);
        assert_eq!(m.view().challenge_step, None);
        // A camera failure or a cancel during the challenge ends the attempt as usual.
        let mut m = challenged(&[Step::TurnLeft, Step::Blink]);
        m.cancel();
        assert_eq!(m.view().error.as_deref(), Some("cancelled"));
    }

    #[test]
    fn frame_score_prefers_sharp_and_centred() {
        assert!(frame_score(400.0, 0.05) > frame_score(100.0, 0.05));
        assert!(frame_score(200.0, 0.0) > frame_score(200.0, 0.2));
        assert_eq!(frame_score(f32::NAN, 0.0), f32::MIN);
    }
}
