//! The server's own decision on an uploaded selfie: the device's prechecks re-run natively with
//! the same models and policy, plus the 1:1 face match against the registered face. The
//! device's claimed verdict plays no part. CPU work: call from a blocking thread.

use std::path::Path;

use liveform::frame::Frame;
use liveform::policy::{judge, Policy, Reason, Scores, Verdict};
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
    let verdict = judge(policy, &analysis, None);
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
        precheck: Some(verdict),
    })
}
