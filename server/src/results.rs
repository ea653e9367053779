//! The stored result of one FACE AUTH (an Auth ID) and `GET /api/results/{authId}`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use liveform::params::ParamsSource;
use liveform::policy::{OcclusionMode, Policy, Reason};
use liveform::upload::{CaptureSignals, ClaimedVerdict};
use liveform::webhook::{AuthStatus, FaceAuthScores, OcclusionResult};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::api_project;
use crate::state::SharedState;

/// One score against its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measure {
    /// The score, 0..100 (absent when it could not be measured).
    pub score: Option<f32>,
    /// The policy's threshold.
    pub threshold: f32,
    /// Whether the score met the threshold.
    pub passed: bool,
}

/// The occlusion check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OcclusionReport {
    /// Highest region score, 0..100.
    pub score: Option<f32>,
    /// Pass or fail; absent when the policy does not check occlusion.
    pub result: Option<OcclusionResult>,
}

/// Scores against thresholds, as the dashboard shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreReport {
    /// Similarity between the registered face and the selfie.
    pub face_match: Measure,
    /// Liveness of the selfie.
    pub liveness: Measure,
    /// Face occlusion.
    pub occlusion: OcclusionReport,
}

impl ScoreReport {
    /// The report for a decision's scores and reasons under `policy`.
    pub fn new(policy: &Policy, scores: &liveform::policy::Scores, reasons: &[Reason]) -> Self {
        let measure = |score: Option<f32>, threshold: f32| Measure {
            score,
            threshold,
            passed: score.is_some_and(|s| s >= threshold),
        };
        let occluded = reasons.iter().any(|r| {
            matches!(
                r,
                Reason::MaskOrLowerFaceCovered
                    | Reason::EyesCovered
                    | Reason::HandOverFace
                    | Reason::HeadCovered
            )
        });
        let occlusion_result = match policy.occlusion {
            OcclusionMode::Off => None,
            _ if occluded || scores.occlusion.is_none() => Some(OcclusionResult::Fail),
            _ => Some(OcclusionResult::Pass),
        };
        ScoreReport {
            face_match: measure(scores.face_match, policy.face_match_threshold),
            liveness: measure(scores.liveness, policy.liveness_threshold),
            occlusion: OcclusionReport {
                score: scores.occlusion,
                result: occlusion_result,
            },
        }
    }

    /// The webhook's form (an absent score is reported as 0).
    pub fn webhook_scores(&self) -> FaceAuthScores {
        let pts = |v: Option<f32>| f64::from(v.unwrap_or(0.0)).clamp(0.0, 100.0);
        FaceAuthScores {
            face_similarity: pts(self.face_match.score),
            liveness: pts(self.liveness.score),
            occlusion: self.occlusion.result,
        }
    }
}

/// When things happened (unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// The session was created (the page opened).
    pub created_at_ms: u64,
    /// Start was pressed.
    pub opened_at_ms: Option<u64>,
    /// The device took the selfie (as it says; bound into the envelope).
    pub captured_at_ms: u64,
    /// The upload arrived.
    pub received_at_ms: u64,
    /// The result was decided.
    pub decided_at_ms: u64,
}

/// One stored result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthResult {
    /// The Auth ID.
    pub auth_id: String,
    /// The add-on project.
    pub project_id: String,
    /// The eKYC submission compared against.
    pub submission_id: String,
    /// The session.
    pub session_id: String,
    /// Approved or rejected.
    pub status: AuthStatus,
    /// Why not approved (empty when approved).
    pub reasons: Vec<Reason>,
    /// Scores against thresholds.
    pub scores: ScoreReport,
    /// Cosine similarity behind the face-match points.
    pub cosine: Option<f32>,
    /// The server's liveness decision: score, reasons, and each signal's sub-score.
    pub liveness: Option<liveform::liveness::LivenessResult>,
    /// Faces found in the selfie.
    pub face_count: usize,
    /// The policy snapshot it was judged under.
    pub policy: Policy,
    /// When things happened.
    pub timeline: Timeline,
    /// The device's claimed verdict (recorded, not trusted).
    pub claimed: ClaimedVerdict,
    /// Whether the device's claim agrees with the server's re-run prechecks.
    pub claim_agrees: bool,
    /// What the browser reported about the capture.
    pub signals: CaptureSignals,
    /// The SDK version that built the upload.
    pub sdk_version: String,
    /// Extra key frames in the upload.
    pub key_frames: usize,
    /// How the liveform parameters arrived.
    pub params_source: ParamsSource,
    /// From the liveform URL.
    pub user_id: Option<String>,
    /// Custom field 1.
    pub cf1: Option<String>,
    /// Custom field 2.
    pub cf2: Option<String>,
    /// Custom field 3.
    pub cf3: Option<String>,
    /// Where the user was sent.
    pub return_url: Option<String>,
}

/// `GET /api/results/{authId}` (`X-Api-Key` of the result's project).
pub async fn get(
    State(state): State<SharedState>,
    Path(auth_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project = api_project(&state, &headers)?;
    let pid = project.id.clone();
    let json: Option<String> = state
        .db
        .call(move |c| {
            Ok(c.query_row(
                "SELECT result_json FROM results WHERE auth_id = ?1 AND project_id = ?2",
                [&auth_id, &pid],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await?;
    // Another project's result is reported as unknown, so keys cannot probe for Auth IDs.
    let json = json.ok_or_else(|| ApiError::not_found("result_unknown", "no such result"))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}
