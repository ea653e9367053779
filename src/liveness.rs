//! Liveness: is a live person in front of the camera, rather than a print, a screen or a
//! replayed video? Pure logic on plain numbers (landmark tracks, pose samples, pixel crops);
//! no model runs here, no clock is read and no randomness is drawn — the challenge seed
//! comes from the server, the timestamps from the capture.
//!
//! The passive anti-spoof model on hand is small and unproven (see models/MODELS.md), so the
//! decision rests on evidence a flat picture cannot fake cheaply, each reported separately:
//!
//! - [`planarity`] — multi-frame 3-D evidence: during a head turn a flat picture's landmarks
//!   follow one homography; a real face's do not (nose-vs-cheek parallax).
//! - [`challenge`] — an active challenge (turns, look up, blink) whose order comes from a
//!   server-issued seed, checked for order and timing; the backend re-checks it with the seed
//!   it issued.
//! - [`cues`] — cheap single-frame screen/print cues: moiré, glare, colour gamut.
//! - [`combine`] — the documented combination into a 0..100 score with stable reason codes.
//!
//! The result is for the backend, the dashboard and the webhook — never shown to the end
//! user, who only gets generic guidance (an attacker must not learn which cue fired).
//!
//! ## What the capture must carry for the backend to re-verify
//! The backend recomputes everything from what it receives and trusts no client verdict:
//! the challenge seed is its own; the upload carries the pose track ([`challenge::PoseSample`]
//! per frame) and the landmark track ([`planarity::LandmarkFrame`], the [`planarity::TRACK_POINTS`]
//! subset of the mesh per frame), plus key frames (JPEG) at least at the start, at each
//! turn's extreme and at the end, so the backend can re-run the mesh on them and check that
//! the uploaded tracks agree with the pixels (a client can fabricate numbers, not easily
//! pixels that match them).

pub mod challenge;
pub mod cues;
pub mod linalg;
pub mod parallax;
pub mod planarity;
pub mod rng;
pub mod sequence;

pub use challenge::{
    challenge_from_seed, seed_tag, verify_challenge, verify_challenge_for_seed, ChallengeConfig,
    ChallengeFailure, ChallengeLimits, ChallengeResult, PoseSample, Step,
};
pub use cues::{gamut, glare, moire, CueThresholds, GamutMeasure, GlareMeasure, MoireMeasure};
pub use planarity::{
    planarity_evidence, select_track_points, LandmarkFrame, PlanarityConfig, PlanarityEvidence,
    PlanarityVerdict, TrackLayout, TRACK_LAYOUT, TRACK_POINTS,
};
pub use sequence::{
    assess, check_key_frames, face_cues, judge_sequence, texture_evidence, IssuedChallenge,
    KeyFrameCheck, KeyFrameLimits, LivenessTrack, SequenceInput, SequenceReport, MAX_TRACK_SAMPLES,
};

use cues::ramp;
use serde::{Deserialize, Serialize};

/// Everything measured for one capture. Absent signals were not measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessSignals {
    /// The passive anti-spoof model's "real" probability × 100 (0..100).
    pub passive: Option<f32>,
    pub planarity: Option<PlanarityEvidence>,
    pub challenge: Option<ChallengeResult>,
    /// [`MoireMeasure::moire_score`], 0..1.
    pub moire: Option<f32>,
    /// [`GlareMeasure::glare_share`], 0..1.
    pub glare: Option<f32>,
    /// [`GamutMeasure::chroma_spread`], chromaticity units.
    pub gamut: Option<f32>,
    /// Whether the uploaded key frames show what the track says (backend only).
    pub key_frames: Option<KeyFrameCheck>,
    /// Pixel-true 3-D evidence of the turn ([`parallax`]); when conclusive it decides the
    /// 3-D question instead of the landmark test, which a print can fool.
    pub texture: Option<parallax::TextureParallax>,
}

/// Weights of the weighted mean (renormalised over the signals present).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    pub planarity: f32,
    pub challenge: f32,
    pub moire: f32,
    pub passive: f32,
    pub gamut: f32,
    pub glare: f32,
}

impl Default for Weights {
    /// 3-D evidence 0.40, challenge 0.20, moiré 0.15, passive model 0.10, gamut 0.10,
    /// glare 0.05: the passive model is deliberately small (unproven), the two multi-frame
    /// signals carry most of the weight.
    fn default() -> Self {
        Weights {
            planarity: 0.40,
            challenge: 0.20,
            moire: 0.15,
            passive: 0.10,
            gamut: 0.10,
            glare: 0.05,
        }
    }
}

/// How the signals are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessConfig {
    /// Pass at or above this score (the policy's liveness threshold, default 70).
    pub threshold: f32,
    /// A (passed) challenge is required (`LivenessMode::Active`).
    pub require_challenge: bool,
    /// Conclusive 3-D evidence is required (default in active mode: every challenge holds a
    /// turn).
    pub require_3d: bool,
    /// Without conclusive 3-D evidence the score is capped here (below the default
    /// threshold: single-frame signals alone do not make a pass at the default policy).
    pub cap_without_3d: f32,
    /// A hard failure (veto, required signal missing) caps the score here.
    pub veto_cap: f32,
    /// Passive model below this: reason `passive_low` (informational).
    pub passive_low: f32,
    pub cues: CueThresholds,
    pub weights: Weights,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            threshold: 70.0,
            require_challenge: false,
            require_3d: false,
            cap_without_3d: 60.0,
            veto_cap: 20.0,
            passive_low: 30.0,
            cues: CueThresholds::default(),
            weights: Weights::default(),
        }
    }
}

impl LivenessConfig {
    /// The configuration for a policy: its liveness threshold, and whether its liveness mode
    /// is active (then a passed challenge and conclusive 3-D evidence are required).
    ///
    /// Passive mode is, by the product's definition, judged on the captured frames alone, so
    /// the missing 3-D evidence does not cap its score; `no_3d_evidence` is still reported,
    /// and projects that need resistance to replayed photos choose Active mode.
    pub fn for_policy(threshold: f32, active: bool) -> Self {
        let default = LivenessConfig::default();
        LivenessConfig {
            threshold,
            require_challenge: active,
            require_3d: active,
            cap_without_3d: if active {
                default.cap_without_3d
            } else {
                100.0
            },
            ..default
        }
    }
}

/// Why liveness was not (fully) established. The snake_case names are stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessReason {
    /// Veto: enough head turn and no parallax — a flat picture.
    #[serde(rename = "flat_3d")]
    Flat3d,
    /// Veto: the challenge was not performed as issued (its own reason says how).
    ChallengeFailed,
    /// Veto: strong periodic (screen/halftone) pattern.
    ScreenMoire,
    /// Veto: a key frame's own face mesh disagrees with the uploaded track at that instant
    /// (the numbers were not measured on these pixels).
    TrackMismatch,
    /// Required and absent: no challenge result.
    ChallengeMissing,
    /// No conclusive 3-D evidence (absent, too little turn, too few frames); a failure when
    /// required, otherwise the score is capped.
    #[serde(rename = "no_3d_evidence")]
    No3dEvidence,
    /// Some parallax but below the clear level.
    ParallaxWeak,
    /// The mesh reported a turn the nose did not follow.
    TurnWithoutParallax,
    MoireSuspicious,
    GlareHigh,
    GamutLow,
    PassiveLow,
    /// A signal value was not a finite number in range; it was ignored.
    BadSignal,
    /// No hard failure, but the score is below the threshold.
    ScoreBelowThreshold,
}

impl LivenessReason {
    pub fn code(self) -> &'static str {
        match self {
            LivenessReason::Flat3d => "flat_3d",
            LivenessReason::ChallengeFailed => "challenge_failed",
            LivenessReason::ScreenMoire => "screen_moire",
            LivenessReason::TrackMismatch => "track_mismatch",
            LivenessReason::ChallengeMissing => "challenge_missing",
            LivenessReason::No3dEvidence => "no_3d_evidence",
            LivenessReason::ParallaxWeak => "parallax_weak",
            LivenessReason::TurnWithoutParallax => "turn_without_parallax",
            LivenessReason::MoireSuspicious => "moire_suspicious",
            LivenessReason::GlareHigh => "glare_high",
            LivenessReason::GamutLow => "gamut_low",
            LivenessReason::PassiveLow => "passive_low",
            LivenessReason::BadSignal => "bad_signal",
            LivenessReason::ScoreBelowThreshold => "score_below_threshold",
        }
    }
}

/// Each signal's 0..100 sub-score (100 = looks live), when it counted.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SignalScores {
    pub passive: Option<f32>,
    pub planarity: Option<f32>,
    pub challenge: Option<f32>,
    pub moire: Option<f32>,
    pub glare: Option<f32>,
    pub gamut: Option<f32>,
}

/// The liveness decision for one capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessResult {
    /// 0..100.
    pub score: f32,
    pub passed: bool,
    pub threshold: f32,
    /// The weighted mean before caps.
    pub weighted: f32,
    /// Hard failures first, then the soft ones; sorted, no duplicates.
    pub reasons: Vec<LivenessReason>,
    pub scores: SignalScores,
    /// The measured values the decision was made from.
    pub signals: LivenessSignals,
}

/// Combines the signals:
///
/// 1. Each present, valid signal gets a 0..100 sub-score: passive as is; the 3-D evidence
///    its score (the pixel parallax when conclusive, else the landmark planarity when
///    conclusive); challenge 100 when passed; moiré 100 at ≤
///    `moire_clean` falling to 0 at `moire_suspicious`; glare 100 at ≤ `glare_ok` to 0 at
///    `glare_high`; gamut 0 at ≤ `gamut_low` rising to 100 at `gamut_ok`.
/// 2. Score = their weighted mean ([`Weights`], renormalised over the present ones).
/// 3. Hard failures cap the score at `veto_cap` and fail: flat 3-D evidence, a failed
///    challenge, moiré ≥ `moire_veto`, key frames that disagree with the track, a required
///    challenge or 3-D evidence missing.
/// 4. Without conclusive 3-D evidence (and not required) the score is capped at
///    `cap_without_3d`.
/// 5. Passed = no hard failure and score ≥ threshold.
pub fn combine(signals: &LivenessSignals, cfg: &LivenessConfig) -> LivenessResult {
    use LivenessReason as R;
    let mut reasons = Vec::new();
    let mut hard = false;
    let mut scores = SignalScores::default();
    let t = &cfg.cues;

    let valid = |v: Option<f32>, lo: f32, hi: f32, reasons: &mut Vec<LivenessReason>| match v {
        Some(x) if x.is_finite() && x >= lo && x <= hi => Some(x),
        Some(_) => {
            reasons.push(R::BadSignal);
            None
        }
        None => None,
    };

    if let Some(p) = valid(signals.passive, 0.0, 100.0, &mut reasons) {
        scores.passive = Some(p);
        if p < cfg.passive_low {
            reasons.push(R::PassiveLow);
        }
    }

    let mut has_3d = false;
    // Measured pixel parallax decides the 3-D question; the landmark test, which a print
    // can fool, counts only when the pixels were not measured at all.
    if let Some(t) = signals.texture {
        if t.verdict == parallax::ParallaxVerdict::Inconclusive {
            // No 3-D evidence (reported below).
        } else if !t.score.is_finite() || !t.residual_norm.is_finite() {
            reasons.push(R::BadSignal);
        } else if t.verdict == parallax::ParallaxVerdict::Flat {
            hard = true;
            reasons.push(R::Flat3d);
            scores.planarity = Some(0.0);
        } else {
            has_3d = true;
            scores.planarity = Some(t.score.clamp(0.0, 100.0));
            if t.verdict == parallax::ParallaxVerdict::Uncertain {
                reasons.push(R::ParallaxWeak);
            }
        }
    } else if let Some(e) = &signals.planarity {
        if !e.score.is_finite() || !e.parallax_norm.is_finite() {
            reasons.push(R::BadSignal);
        } else {
            match e.verdict {
                PlanarityVerdict::Flat => {
                    hard = true;
                    reasons.push(R::Flat3d);
                    scores.planarity = Some(0.0);
                }
                PlanarityVerdict::Inconclusive => {}
                PlanarityVerdict::Uncertain | PlanarityVerdict::ThreeD => {
                    has_3d = true;
                    scores.planarity = Some(e.score.clamp(0.0, 100.0));
                    if e.verdict == PlanarityVerdict::Uncertain {
                        reasons.push(R::ParallaxWeak);
                    }
                }
            }
            if !e.pose_consistent {
                reasons.push(R::TurnWithoutParallax);
            }
        }
    }
    let flat = reasons.contains(&R::Flat3d);
    if !has_3d && !flat {
        reasons.push(R::No3dEvidence);
        if cfg.require_3d {
            hard = true;
        }
    }

    match &signals.challenge {
        Some(c) if c.passed => scores.challenge = Some(100.0),
        Some(_) => {
            hard = true;
            reasons.push(R::ChallengeFailed);
            scores.challenge = Some(0.0);
        }
        None if cfg.require_challenge => {
            hard = true;
            reasons.push(R::ChallengeMissing);
        }
        None => {}
    }

    if let Some(m) = valid(signals.moire, 0.0, 1.0, &mut reasons) {
        scores.moire = Some(100.0 * (1.0 - ramp(m, t.moire_clean, t.moire_suspicious)));
        if m >= t.moire_veto {
            hard = true;
            reasons.push(R::ScreenMoire);
        } else if m >= t.moire_suspicious {
            reasons.push(R::MoireSuspicious);
        }
    }
    if let Some(g) = valid(signals.glare, 0.0, 1.0, &mut reasons) {
        scores.glare = Some(100.0 * (1.0 - ramp(g, t.glare_ok, t.glare_high)));
        if g >= t.glare_high {
            reasons.push(R::GlareHigh);
        }
    }
    if let Some(c) = valid(signals.gamut, 0.0, 1.0, &mut reasons) {
        scores.gamut = Some(100.0 * ramp(c, t.gamut_low, t.gamut_ok));
        if c <= t.gamut_low {
            reasons.push(R::GamutLow);
        }
    }

    if let Some(k) = &signals.key_frames {
        if !k.consistent() {
            hard = true;
            reasons.push(R::TrackMismatch);
        }
    }

    let w = &cfg.weights;
    let parts = [
        (scores.planarity, w.planarity),
        (scores.challenge, w.challenge),
        (scores.moire, w.moire),
        (scores.passive, w.passive),
        (scores.gamut, w.gamut),
        (scores.glare, w.glare),
    ];
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (s, wt) in parts {
        if let Some(s) = s {
            let wt = if wt.is_finite() { wt.max(0.0) } else { 0.0 };
            num += wt * s;
            den += wt;
        }
    }
    let weighted = if den > 0.0 {
        (num / den).clamp(0.0, 100.0)
    } else {
        0.0
    };
    let mut score = weighted;
    if !has_3d {
        score = score.min(cfg.cap_without_3d);
    }
    if hard {
        score = score.min(cfg.veto_cap);
    }
    let passed = !hard && score >= cfg.threshold;
    if !hard && !passed {
        reasons.push(R::ScoreBelowThreshold);
    }
    reasons.sort();
    reasons.dedup();
    LivenessResult {
        score,
        passed,
        threshold: cfg.threshold,
        weighted,
        reasons,
        scores,
        signals: signals.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::planarity::synth::{flat_turn, real_turn};
    use super::*;

    fn evidence(real: bool) -> PlanarityEvidence {
        let frames = if real {
            real_turn(24, 25.0, 1.0, 1)
        } else {
            flat_turn(24, 25.0, 1.0, 1, 1.0)
        };
        planarity_evidence(&frames, &TRACK_LAYOUT, &PlanarityConfig::default()).unwrap()
    }

    fn challenge(passed: bool) -> ChallengeResult {
        let steps = [Step::TurnLeft, Step::Blink];
        let track = challenge::synth::perform(
            if passed {
                &steps
            } else {
                &[Step::Blink, Step::TurnLeft]
            },
            &Default::default(),
        );
        let r = verify_challenge(&steps, &track, &ChallengeLimits::default());
        assert_eq!(r.passed, passed);
        r
    }

    fn live() -> LivenessSignals {
        LivenessSignals {
            passive: Some(65.0),
            planarity: Some(evidence(true)),
            challenge: Some(challenge(true)),
            moire: Some(0.01),
            glare: Some(0.0),
            gamut: Some(0.05),
            key_frames: None,
            texture: None,
        }
    }

    fn active() -> LivenessConfig {
        LivenessConfig::for_policy(70.0, true)
    }

    #[test]
    fn a_live_capture_passes_with_all_signals() {
        let r = combine(&live(), &active());
        assert!(r.passed, "{r:?}");
        assert!(r.reasons.is_empty(), "{:?}", r.reasons);
        // 0.4·100 + 0.2·100 + 0.15·100 + 0.1·65 + 0.1·100 + 0.05·100 = 96.5
        assert!((r.score - 96.5).abs() < 1e-3, "{}", r.score);
        assert_eq!(r.scores.planarity, Some(100.0));
        assert_eq!(r.signals, live());
    }

    #[test]
    fn the_passive_model_cannot_carry_or_sink_the_decision() {
        // A flat picture that fools the passive model completely still fails.
        let mut s = live();
        s.planarity = Some(evidence(false));
        s.passive = Some(100.0);
        let r = combine(&s, &active());
        assert!(!r.passed);
        assert!(r.reasons.contains(&LivenessReason::Flat3d));
        assert!(r.score <= 20.0);
        // A live capture the passive model dislikes still passes (with the reason noted).
        let mut s = live();
        s.passive = Some(0.0);
        let r = combine(&s, &active());
        assert!(r.passed, "{r:?}");
        assert_eq!(r.reasons, vec![LivenessReason::PassiveLow]);
        // With the 3-D cap in force, passive and single-frame cues alone cannot reach 70.
        let s = LivenessSignals {
            passive: Some(100.0),
            moire: Some(0.0),
            glare: Some(0.0),
            gamut: Some(0.1),
            ..Default::default()
        };
        let capped = LivenessConfig {
            threshold: 70.0,
            ..LivenessConfig::default()
        };
        let r = combine(&s, &capped);
        assert!(!r.passed && r.score == 60.0 && r.weighted == 100.0, "{r:?}");
        assert!(
            r.reasons.contains(&LivenessReason::No3dEvidence)
                && r.reasons.contains(&LivenessReason::ScoreBelowThreshold)
        );
        // Passive mode judges the frames alone: no cap, but the missing evidence is recorded.
        let r = combine(&s, &LivenessConfig::for_policy(70.0, false));
        assert!(r.passed && r.score == 100.0, "{r:?}");
        assert_eq!(r.reasons, vec![LivenessReason::No3dEvidence]);
    }

    #[test]
    fn vetoes() {
        let cfg = active();
        let mut s = live();
        s.challenge = Some(challenge(false));
        let r = combine(&s, &cfg);
        assert!(!r.passed && r.score <= cfg.veto_cap && r.weighted > 70.0);
        assert_eq!(r.reasons, vec![LivenessReason::ChallengeFailed]);

        let mut s = live();
        s.moire = Some(0.5);
        let r = combine(&s, &cfg);
        assert!(!r.passed);
        assert_eq!(r.reasons, vec![LivenessReason::ScreenMoire]);

        // Suspicious moiré is no veto: it only costs its weight.
        let mut s = live();
        s.moire = Some(0.25);
        let r = combine(&s, &cfg);
        assert!(
            r.passed && r.reasons == vec![LivenessReason::MoireSuspicious],
            "{r:?}"
        );
        assert!((r.score - (96.5 - 15.0)).abs() < 1e-3);

        // Required but missing.
        let mut s = live();
        s.challenge = None;
        let r = combine(&s, &cfg);
        assert!(!r.passed && r.reasons == vec![LivenessReason::ChallengeMissing]);
        assert!(combine(&s, &LivenessConfig::for_policy(70.0, false)).passed);
        let mut s = live();
        s.planarity = None;
        let r = combine(&s, &cfg);
        assert!(
            !r.passed && r.reasons == vec![LivenessReason::No3dEvidence],
            "{r:?}"
        );
        // Inconclusive evidence (too little turn) counts as missing.
        let mut s = live();
        s.planarity = Some(
            planarity_evidence(
                &real_turn(20, 5.0, 1.0, 1),
                &TRACK_LAYOUT,
                &PlanarityConfig::default(),
            )
            .unwrap(),
        );
        assert_eq!(
            s.planarity.as_ref().unwrap().verdict,
            PlanarityVerdict::Inconclusive
        );
        let r = combine(&s, &cfg);
        assert!(!r.passed && r.reasons.contains(&LivenessReason::No3dEvidence));
        // Several hard failures are all reported, in a stable order.
        let mut s = live();
        s.planarity = Some(evidence(false));
        s.challenge = Some(challenge(false));
        s.moire = Some(0.9);
        let r = combine(&s, &cfg);
        // (the photo's claimed 25° turn moved no nose: turn_without_parallax as well)
        assert_eq!(
            r.reasons,
            vec![
                LivenessReason::Flat3d,
                LivenessReason::ChallengeFailed,
                LivenessReason::ScreenMoire,
                LivenessReason::TurnWithoutParallax
            ]
        );
        for reason in r.reasons {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.code());
        }
    }

    #[test]
    fn thresholds_and_soft_cues() {
        let mut s = live();
        s.glare = Some(0.05);
        s.gamut = Some(0.005);
        s.passive = Some(10.0);
        // 40 + 20 + 15 + 1 + 0 + 0 = 76 (of 100)
        let r = combine(&s, &active());
        assert!((r.score - 76.0).abs() < 1e-3, "{r:?}");
        assert!(r.passed);
        assert_eq!(
            r.reasons,
            vec![
                LivenessReason::GlareHigh,
                LivenessReason::GamutLow,
                LivenessReason::PassiveLow
            ]
        );
        let strict = LivenessConfig {
            threshold: 80.0,
            ..active()
        };
        let r = combine(&s, &strict);
        assert!(!r.passed);
        assert!(r.reasons.contains(&LivenessReason::ScoreBelowThreshold));
        // Exactly at the threshold passes.
        let at = LivenessConfig {
            threshold: r.score,
            ..active()
        };
        assert!(combine(&s, &at).passed);
        // A NaN threshold never passes.
        assert!(
            !combine(
                &live(),
                &LivenessConfig {
                    threshold: f32::NAN,
                    ..active()
                }
            )
            .passed
        );
    }

    #[test]
    fn bad_values_are_ignored_and_reported() {
        let mut s = live();
        s.passive = Some(f32::NAN);
        s.moire = Some(7.0);
        let r = combine(&s, &active());
        assert!(r.reasons.contains(&LivenessReason::BadSignal));
        assert_eq!(r.scores.passive, None);
        assert_eq!(r.scores.moire, None);
        assert!(r.passed, "the other signals still decide: {r:?}");
        // Nothing at all: fails, score 0.
        let r = combine(&LivenessSignals::default(), &active());
        assert!(!r.passed && r.score == 0.0);
        assert_eq!(
            r.reasons,
            vec![
                LivenessReason::ChallengeMissing,
                LivenessReason::No3dEvidence
            ]
        );
        assert_eq!(
            serde_json::to_value(LivenessReason::No3dEvidence).unwrap(),
            "no_3d_evidence"
        );
    }

    #[test]
    fn every_reason_serialises_as_its_code() {
        use LivenessReason as R;
        for r in [
            R::Flat3d,
            R::ChallengeFailed,
            R::ScreenMoire,
            R::TrackMismatch,
            R::ChallengeMissing,
            R::No3dEvidence,
            R::ParallaxWeak,
            R::TurnWithoutParallax,
            R::MoireSuspicious,
            R::GlareHigh,
            R::GamutLow,
            R::PassiveLow,
            R::BadSignal,
            R::ScoreBelowThreshold,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
            assert_eq!(
                serde_json::from_value::<R>(serde_json::Value::from(r.code())).unwrap(),
                r
            );
        }
    }

    #[test]
    fn weak_parallax_counts_partially() {
        let mut e = evidence(true);
        e.verdict = PlanarityVerdict::Uncertain;
        e.score = 40.0;
        let mut s = live();
        s.planarity = Some(e);
        let r = combine(&s, &active());
        // 0.4·40 + 20 + 15 + 6.5 + 10 + 5 = 72.5
        assert!((r.score - 72.5).abs() < 1e-3 && r.passed, "{r:?}");
        assert_eq!(r.reasons, vec![LivenessReason::ParallaxWeak]);
    }

    #[test]
    fn result_round_trips_as_json_with_stable_codes() {
        let mut s = live();
        s.planarity = Some(evidence(false));
        let r = combine(&s, &active());
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["reasons"][0], "flat_3d");
        assert_eq!(j["signals"]["planarity"]["verdict"], "flat");
        assert_eq!(LivenessReason::Flat3d.code(), "flat_3d");
        let back: LivenessResult = serde_json::from_value(j).unwrap();
        assert_eq!(back, r);
        // Signals deserialise with any field missing.
        let partial: LivenessSignals = serde_json::from_str(r#"{"passive":50}"#).unwrap();
        assert_eq!(partial.passive, Some(50.0));
        assert!(partial.planarity.is_none());
    }
}
