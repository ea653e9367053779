//! The server's own decision on an uploaded selfie: the device's prechecks re-run natively with
//! the same models and policy, liveness from the signals the server measures itself, and the
//! 1:1 face match against the registered face. The device's claimed verdict plays no part.
//! CPU work: call from a blocking thread.
//!
//! Liveness here is [`liveness::combine`] (configured by
//! [`LivenessConfig::for_policy`]) over what the uploaded frame shows: the passive model's
//! score and the screen/print cues (moiré, glare, gamut) on the face. The upload does not yet
//! carry the multi-frame tracks (pose, landmarks) the challenge and the 3-D evidence are
//! computed from, so a policy in Active liveness mode, which requires both, rejects every
//! upload (`challenge_missing`) until it does.

use std::path::Path;

use liveform::frame::{Frame, FrameView};
use liveform::liveness::{self, cues, LivenessConfig, LivenessResult, LivenessSignals};
use liveform::policy::{judge, LivenessMode, Policy, Reason, Scores, Verdict};
use liveform::vision::descriptor::{self, Descriptor};
use liveform::vision::{analyze, detect, AnalyzeOptions, FaceAnalysis, Models};
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

/// Judges a selfie (JPEG or PNG bytes) under `policy` against `reference`.
///
/// A missing reference (no usable registered face) is a `measure_missing` rejection, never an
/// approval.
pub fn decide(
    models: &Models,
    policy: &Policy,
    image: &[u8],
    reference: Option<&Descriptor>,
) -> Result<Decision, ApiError> {
    let frame = Frame::decode(image)?;
    let view = frame.view()?;
    let analysis = analyze(models, &view, &AnalyzeOptions::default())?;
    let live = analysis
        .face
        .as_ref()
        .map(|f| server_liveness(&view, f, policy));
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

/// Liveness from the uploaded frame alone: the passive score and the cues on the face box.
fn server_liveness(view: &FrameView, face: &FaceAnalysis, policy: &Policy) -> LivenessResult {
    let bbox = &face.detection.bbox;
    let (luma, w, h) = view.luma_region(bbox);
    let (w, h) = (w as usize, h as usize);
    // A cue that cannot be measured (e.g. a face box under 64 px for moiré) is left out.
    let moire = cues::moire(&luma, w, h).ok().map(|m| m.moire_score);
    let glare = cues::glare(&luma, w, h).ok().map(|g| g.glare_share);
    let gamut = cues::gamut(&face_rgba(view, bbox), 4)
        .ok()
        .map(|g| g.chroma_spread);
    let signals = LivenessSignals {
        passive: face.passive_liveness,
        moire,
        glare,
        gamut,
        ..LivenessSignals::default()
    };
    let cfg = LivenessConfig::for_policy(
        policy.liveness_threshold,
        policy.liveness_mode == LivenessMode::Active,
    );
    liveness::combine(&signals, &cfg)
}

/// The RGBA pixels inside a box, row by row.
fn face_rgba(view: &FrameView, bbox: &liveform::geometry::BBox) -> Vec<u8> {
    let (x0, y0, x1, y1) = bbox.clamp_pixels(view.width(), view.height());
    let stride = view.width() as usize * 4;
    let rgba = view.rgba();
    let mut out = Vec::with_capacity((x1 - x0) as usize * (y1 - y0) as usize * 4);
    for y in y0 as usize..y1 as usize {
        let row = y * stride;
        if let Some(px) = rgba.get(row + x0 as usize * 4..row + x1 as usize * 4) {
            out.extend_from_slice(px);
        }
    }
    out
}
