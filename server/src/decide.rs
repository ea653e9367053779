//! The server's own decision on an uploaded selfie: the device's prechecks re-run natively with
//! the same models and policy, liveness from the signals the server measures itself, and the
//! 1:1 face match against the registered face. The device's claimed verdict plays no part.
//! CPU work: call from a blocking thread.
//!
//! Liveness is [`liveness::assess`] (configured by [`LivenessConfig::for_policy`]): the
//! passive model's score and the screen/print cues (moiré, glare, gamut) on the best frame's
//! face; and, when the upload carries a liveness track, the 3-D evidence of its landmarks,
//! the key frames' agreement with it (the mesh re-run here on their pixels), and — in Active
//! mode — the challenge re-derived from the seed this server issued at Start and re-verified
//! on the pose track. Active mode without a track fails (`challenge_missing`).

use std::path::Path;

use liveform::frame::{Frame, FrameView};
use liveform::liveness::parallax::ParallaxConfig;
use liveform::liveness::{
    self, ChallengeConfig, ChallengeLimits, IssuedChallenge, KeyFrameLimits, LivenessConfig,
    LivenessResult, LivenessTrack, SequenceInput,
};
use liveform::policy::{judge, LivenessMode, Policy, Reason, Scores, Verdict};
use liveform::upload::EncodedFrame;
use liveform::vision::descriptor::{self, Descriptor};
use liveform::vision::{analyze, detect, AnalyzeOptions, Models};
use liveform::webhook::AuthStatus;
use serde::Serialize;

use crate::error::ApiError;

/// The outcome for one selfie.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Approved only when every check passed, the face match included.
    pub status: AuthStatus,
    /// Every failed rule (the core's stable codes).
    pub reasons: Vec<Reason>,
    /// Scores (face match set here).
    pub scores: Scores,
    /// Faces the detector found.
    pub face_count: usize,
    /// Cosine similarity behind the face-match points.
    pub cosine: Option<f32>,
    /// The liveness decision with its signals (absent without a face).
    pub liveness: Option<LivenessResult>,
    /// The verdict of the prechecks alone, before the face match.
    #[serde(skip)]
    pub precheck: Option<Verdict>,
}

/// Computes the descriptor of the main face of a registered reference image.
pub fn reference_descriptor(models: &Models, path: &Path) -> Result<Descriptor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let frame = Frame::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let view = frame.view().map_err(|e| e.to_string())?;
    let detector = models
        .face_detector
        .as_ref()
        .ok_or("the face detector is not loaded")?;
    let model = models
        .face_descriptor
        .as_ref()
        .ok_or("the face descriptor model is not loaded")?;
    let faces =
        detect::detect_faces(detector, &view, detect::MIN_SCORE).map_err(|e| e.to_string())?;
    let face = faces
        .first()
        .ok_or_else(|| format!("{}: no face in the reference image", path.display()))?;
    descriptor::describe(model, &view, face).map_err(|e| e.to_string())
}

/// The multi-frame liveness evidence of an upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// The per-frame track recorded during the challenge.
    pub track: Option<&'a LivenessTrack>,
    /// The key frames that back the track.
    pub key_frames: &'a [EncodedFrame],
    /// The challenge seed this server issued for the session.
    pub challenge_seed: Option<&'a [u8]>,
}

/// Judges a selfie (JPEG or PNG bytes) and its liveness evidence under `policy` against
/// `reference`.
///
/// A missing reference (no usable registered face) is a `measure_missing` rejection, never an
/// approval.
pub fn decide(
    models: &Models,
    policy: &Policy,
    image: &[u8],
    evidence: Evidence,
    reference: Option<&Descriptor>,
) -> Result<Decision, ApiError> {
    let frame = Frame::decode(image)?;
    let view = frame.view()?;
    let analysis = analyze(models, &view, &AnalyzeOptions::default())?;
    let live = match &analysis.face {
        Some(face) => Some(server_liveness(models, &view, face, policy, evidence)?),
        None => None,
    };
    let verdict = judge(policy, &analysis, live.as_ref().map(|l| l.score));
    let mut reasons = verdict.reasons.clone();
    let mut scores = verdict.scores;
    let mut cosine = None;
    if let Some(face) = &analysis.face {
        match (models.face_descriptor.as_ref(), reference) {
            (Some(model), Some(reference)) => {
                let d = descriptor::describe(model, &view, &face.detection)?;
                let cos = d.cosine(reference);
                let points = descriptor::similarity_points(cos);
                cosine = Some(cos);
                scores.face_match = Some(points);
                if points < policy.face_match_threshold {
                    reasons.push(Reason::FaceMismatch);
                }
            }
            _ => reasons.push(Reason::MeasureMissing),
        }
    }
    reasons.sort();
    reasons.dedup();
    let status = if reasons.is_empty() {
        AuthStatus::Approved
    } else {
        AuthStatus::Rejected
    };
    Ok(Decision {
        status,
        reasons,
        scores,
        face_count: analysis.face_count(),
        cosine,
        liveness: live,
        precheck: Some(verdict),
    })
}

/// Liveness of the upload (see the module docs).
fn server_liveness(
    models: &Models,
    view: &FrameView,
    face: &liveform::vision::FaceAnalysis,
    policy: &Policy,
    evidence: Evidence,
) -> Result<LivenessResult, ApiError> {
    let active = policy.liveness_mode == LivenessMode::Active;
    let empty = LivenessTrack::default();
    let track = evidence.track.unwrap_or(&empty);
    let (key_frames, texture) = if track.is_empty() {
        (None, None)
    } else {
        // The neutral key frame first: it is the reference of the pixel parallax.
        let mut frames = evidence
            .key_frames
            .iter()
            .map(|k| Ok((k.at_ms as f64, Frame::decode(&k.jpeg)?)))
            .collect::<Result<Vec<_>, liveform::Error>>()?;
        frames.sort_by(|a, b| a.0.total_cmp(&b.0));
        let views = frames
            .iter()
            .map(|(t, f)| Ok((*t, f.view()?)))
            .collect::<Result<Vec<_>, liveform::Error>>()?;
        let check = liveness::check_key_frames(models, track, &views, &KeyFrameLimits::default())?;
        let refs: Vec<(f64, &FrameView)> = views.iter().map(|(t, v)| (*t, v)).collect();
        let texture = liveness::texture_evidence(track, &refs, &ParallaxConfig::default());
        (Some(check), texture)
    };
    let (config, limits) = (ChallengeConfig::default(), ChallengeLimits::default());
    let challenge = match (active, evidence.challenge_seed) {
        (true, Some(seed)) if !track.is_empty() => Some(IssuedChallenge {
            seed,
            config: &config,
            limits: &limits,
        }),
        _ => None,
    };
    let input = SequenceInput {
        track,
        challenge,
        best_face: Some(face),
        best_view: Some(view),
        key_frames,
        texture,
    };
    Ok(liveness::assess(
        &input,
        &LivenessConfig::for_policy(policy.liveness_threshold, active),
    )?)
}
