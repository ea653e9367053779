//! The project policy and the verdict: `Policy` + `Analysis` → `Verdict { passed, reasons,
//! scores, policy }`. Defaults follow the product documents: face match 98 points, liveness
//! 70 points, occlusion blocking with an optional head (helmet) or face (mask) tolerance —
//! never both.

use crate::error::{Error, ErrorCode, Result};
use crate::vision::Analysis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Default face match threshold in points (seeds: recommended 98).
pub const DEFAULT_FACE_MATCH: f32 = 98.0;
/// Default liveness threshold in points (seeds: recommended 70).
pub const DEFAULT_LIVENESS: f32 = 70.0;
/// An occlusion score at or above this blocks, unless the region is tolerated.
pub const OCCLUSION_BLOCK_AT: f32 = 50.0;

/// How liveness is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LivenessMode {
    /// Passive signals on the captured frames only.
    #[default]
    Passive,
    /// Passive signals plus a randomised challenge (head turns, blink).
    Active,
}

/// Occlusion policy. Head and face tolerance are separate variants, so both at once cannot
/// be expressed (the seeds: they "cannot be used simultaneously").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum OcclusionMode {
    /// Occlusion is measured and reported but never blocks.
    Off,
    /// Any occluded region blocks.
    #[default]
    BlockAny,
    /// Head covers (helmet, hat) are tolerated up to `threshold` points; the rest blocks.
    TolerateHead { threshold: f32 },
    /// Lower-face covers (mask) are tolerated up to `threshold` points; the rest blocks.
    TolerateFace { threshold: f32 },
}

/// Limits for the quality measures (see [`crate::vision::quality::Quality`] for units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityLimits {
    /// Below this face size: "move closer".
    pub min_face_size: f32,
    /// Above this: "move back".
    pub max_face_size: f32,
    /// Above this centre offset: "centre your face".
    pub max_centre_offset: f32,
    /// Mean face luma below this: too dark.
    pub min_brightness: f32,
    /// Mean face luma above this, or more than `max_overexposed` of the face blown out.
    pub max_brightness: f32,
    pub max_overexposed: f32,
    /// Face luma standard deviation below this: flat, washed out.
    pub min_contrast: f32,
    /// Laplacian variance below this: blurred.
    pub min_sharpness: f32,
    /// Largest |yaw|, |pitch|, |roll| in degrees for "looking straight".
    pub max_yaw: f32,
    pub max_pitch: f32,
    pub max_roll: f32,
    /// Mesh face-presence probability below this: not a face after all.
    pub min_mesh_presence: f32,
}

impl Default for QualityLimits {
    fn default() -> Self {
        QualityLimits {
            min_face_size: 0.15,
            max_face_size: 0.80,
            max_centre_offset: 0.30,
            min_brightness: 60.0,
            max_brightness: 215.0,
            max_overexposed: 0.25,
            min_contrast: 15.0,
            min_sharpness: 20.0,
            max_yaw: 25.0,
            max_pitch: 25.0,
            max_roll: 25.0,
            min_mesh_presence: 0.5,
        }
    }
}

/// A project's policy. Every verdict carries the snapshot it was judged under.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Face match threshold in points (0..100) for the backend's 1:1 match.
    pub face_match_threshold: f32,
    /// Liveness threshold in points (0..100).
    pub liveness_threshold: f32,
    pub liveness_mode: LivenessMode,
    pub occlusion: OcclusionMode,
    pub quality: QualityLimits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            face_match_threshold: DEFAULT_FACE_MATCH,
            liveness_threshold: DEFAULT_LIVENESS,
            liveness_mode: LivenessMode::Passive,
            occlusion: OcclusionMode::BlockAny,
            quality: QualityLimits::default(),
        }
    }
}

/// The policy as a project stores it, with the two tolerances as separate optional fields
/// the way a settings screen has them; [`Policy::from_json`] rejects setting both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicySettings {
    face_match_threshold: Option<f32>,
    liveness_threshold: Option<f32>,
    liveness_mode: Option<LivenessMode>,
    /// Occlusion blocking on (default) or off.
    occlusion_blocking: Option<bool>,
    head_occlusion_threshold: Option<f32>,
    face_occlusion_threshold: Option<f32>,
    quality: Option<QualityLimits>,
}

fn points(name: &str, v: Option<f32>, default: f32) -> Result<f32> {
    match v {
        None => Ok(default),
        Some(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        Some(v) => Err(Error::new(
            ErrorCode::BadPolicy,
            format!("{name} {v} is outside 0..100"),
        )),
    }
}

impl Policy {
    /// Parses project settings JSON (camelCase; every field optional, defaults from the seeds).
    pub fn from_json(json: &str) -> Result<Policy> {
        let s: PolicySettings = serde_json::from_str(json)
            .map_err(|e| Error::new(ErrorCode::BadPolicy, format!("policy JSON: {e}")))?;
        let occlusion = match (
            s.occlusion_blocking.unwrap_or(true),
            s.head_occlusion_threshold,
            s.face_occlusion_threshold,
        ) {
            (_, Some(_), Some(_)) => {
                return Err(Error::new(
                    ErrorCode::BadPolicy,
                    "head and face occlusion thresholds cannot be used together",
                ))
            }
            (false, None, None) => OcclusionMode::Off,
            (false, _, _) => {
                return Err(Error::new(
                    ErrorCode::BadPolicy,
                    "an occlusion threshold needs occlusion blocking on",
                ))
            }
            (true, Some(t), None) => OcclusionMode::TolerateHead {
                threshold: points("headOcclusionThreshold", Some(t), 0.0)?,
            },
            (true, None, Some(t)) => OcclusionMode::TolerateFace {
                threshold: points("faceOcclusionThreshold", Some(t), 0.0)?,
            },
            (true, None, None) => OcclusionMode::BlockAny,
        };
        let policy = Policy {
            face_match_threshold: points(
                "faceMatchThreshold",
                s.face_match_threshold,
                DEFAULT_FACE_MATCH,
            )?,
            liveness_threshold: points(
                "livenessThreshold",
                s.liveness_threshold,
                DEFAULT_LIVENESS,
            )?,
            liveness_mode: s.liveness_mode.unwrap_or_default(),
            occlusion,
            quality: s.quality.unwrap_or_default(),
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Parses a policy snapshot as the backend serves it with a session (this type's own
    /// serde form), and validates it.
    pub fn from_snapshot_json(json: &str) -> Result<Policy> {
        let policy: Policy = serde_json::from_str(json)
            .map_err(|e| Error::new(ErrorCode::BadPolicy, format!("policy snapshot JSON: {e}")))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks that every number is finite and every range is ordered.
    pub fn validate(&self) -> Result<()> {
        let q = &self.quality;
        let all = [
            self.face_match_threshold,
            self.liveness_threshold,
            q.min_face_size,
            q.max_face_size,
            q.max_centre_offset,
            q.min_brightness,
            q.max_brightness,
            q.max_overexposed,
            q.min_contrast,
            q.min_sharpness,
            q.max_yaw,
            q.max_pitch,
            q.max_roll,
            q.min_mesh_presence,
        ];
        if all.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::new(
                ErrorCode::BadPolicy,
                "policy values must be finite and ≥ 0",
            ));
        }
        if q.min_face_size >= q.max_face_size || q.min_brightness >= q.max_brightness {
            return Err(Error::new(
                ErrorCode::BadPolicy,
                "a minimum is not below its maximum",
            ));
        }
        Ok(())
    }

    /// sha256 of the canonical JSON of this policy: binds a sealed upload to the policy the
    /// device judged it under.
    pub fn hash(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json).into()
    }
}

/// Why a frame did not pass. The snake_case names are stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    FaceTooClose,
    FaceOffCentre,
    TooDark,
    TooBright,
    LowContrast,
    Blurred,
    NotLookingStraight,
    MaskOrLowerFaceCovered,
    EyesCovered,
    HandOverFace,
    HeadCovered,
    LivenessLow,
    FaceMismatch,
    /// A measure the policy needs could not be made (its model is not loaded).
    MeasureMissing,
}

impl Reason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NoFace => "no_face",
            Reason::MultipleFaces => "multiple_faces",
            Reason::FaceTooSmall => "face_too_small",
            Reason::FaceTooClose => "face_too_close",
            Reason::FaceOffCentre => "face_off_centre",
            Reason::TooDark => "too_dark",
            Reason::TooBright => "too_bright",
            Reason::LowContrast => "low_contrast",
            Reason::Blurred => "blurred",
            Reason::NotLookingStraight => "not_looking_straight",
            Reason::MaskOrLowerFaceCovered => "mask_or_lower_face_covered",
            Reason::EyesCovered => "eyes_covered",
            Reason::HandOverFace => "hand_over_face",
            Reason::HeadCovered => "head_covered",
            Reason::LivenessLow => "liveness_low",
            Reason::FaceMismatch => "face_mismatch",
            Reason::MeasureMissing => "measure_missing",
        }
    }
}

/// Scores against their thresholds, as the dashboard and webhook report them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// Passive liveness, 0..100 (absent when not measured).
    pub liveness: Option<f32>,
    /// Highest occlusion region score, 0..100.
    pub occlusion: Option<f32>,
    /// Face match in points, 0..100 (set by the backend).
    pub face_match: Option<f32>,
}

/// The verdict on one frame, with the policy snapshot it was judged under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Every failed rule, most fundamental first (the first is the hint to show).
    pub reasons: Vec<Reason>,
    pub scores: Scores,
    pub policy: Policy,
}

/// Judges one live frame as [`judge`] does for guidance, but while some precheck model is
/// still loading (`all_models_loaded` false: the page loads the classifiers after the first
/// guidance) no frame passes: `measure_missing` is added after the other reasons, so the
/// guidance they give comes first.
pub fn judge_live(policy: &Policy, a: &Analysis, all_models_loaded: bool) -> Verdict {
    let mut v = judge(policy, a, None);
    if !all_models_loaded && !v.reasons.contains(&Reason::MeasureMissing) {
        v.reasons.push(Reason::MeasureMissing);
        v.passed = false;
    }
    v
}

/// Judges one frame's analysis: face count, quality, pose and occlusion.
///
/// `liveness` is the combined liveness score (0..100) of the capture it belongs to, when
/// known; it is checked against the policy threshold. One still frame cannot show liveness
/// (the passive model alone is too weak to decide), so live guidance passes `None` and the
/// capture's final decision passes the combined score of the capture's liveness signals. The frame's passive score is reported in `scores` either way.
pub fn judge(policy: &Policy, a: &Analysis, liveness: Option<f32>) -> Verdict {
    let check_liveness = liveness.is_some();
    let mut reasons = Vec::new();
    let mut scores = Scores::default();
    let q = &policy.quality;
    match (a.faces.len(), &a.face) {
        (0, _) | (_, None) => reasons.push(Reason::NoFace),
        (n, Some(f)) => {
            if n > 1 {
                reasons.push(Reason::MultipleFaces);
            }
            let m = &f.quality;
            if m.face_size < q.min_face_size {
                reasons.push(Reason::FaceTooSmall);
            }
            if m.face_size > q.max_face_size {
                reasons.push(Reason::FaceTooClose);
            }
            if m.centre_offset > q.max_centre_offset {
                reasons.push(Reason::FaceOffCentre);
            }
            if m.brightness < q.min_brightness {
                reasons.push(Reason::TooDark);
            }
            if m.brightness > q.max_brightness || m.overexposed > q.max_overexposed {
                reasons.push(Reason::TooBright);
            }
            if m.contrast < q.min_contrast {
                reasons.push(Reason::LowContrast);
            }
            if m.sharpness < q.min_sharpness {
                reasons.push(Reason::Blurred);
            }
            let p = &f.pose;
            if p.yaw.abs() > q.max_yaw || p.pitch.abs() > q.max_pitch || p.roll.abs() > q.max_roll {
                reasons.push(Reason::NotLookingStraight);
            }
            match &f.occlusion {
                Some(o) => {
                    scores.occlusion = Some(o.lower_face.max(o.eyes).max(o.hand).max(o.head));
                    // A region blocks at OCCLUSION_BLOCK_AT; a tolerated region only above
                    // the project's threshold (never stricter than the default).
                    let blocks =
                        |score: f32, tolerated: Option<f32>| match (policy.occlusion, tolerated) {
                            (OcclusionMode::Off, _) => false,
                            (_, Some(t)) => score > t.max(OCCLUSION_BLOCK_AT),
                            (_, None) => score >= OCCLUSION_BLOCK_AT,
                        };
                    let (head_tolerance, face_tolerance) = match policy.occlusion {
                        OcclusionMode::TolerateHead { threshold } => (Some(threshold), None),
                        OcclusionMode::TolerateFace { threshold } => (None, Some(threshold)),
                        _ => (None, None),
                    };
                    if blocks(o.lower_face, face_tolerance) {
                        reasons.push(Reason::MaskOrLowerFaceCovered);
                    }
                    if blocks(o.eyes, None) {
                        reasons.push(Reason::EyesCovered);
                    }
                    if blocks(o.hand, None) {
                        reasons.push(Reason::HandOverFace);
                    }
                    if blocks(o.head, head_tolerance) {
                        reasons.push(Reason::HeadCovered);
                    }
                }
                None if policy.occlusion != OcclusionMode::Off && check_liveness => {
                    reasons.push(Reason::MeasureMissing)
                }
                None => {}
            }
            // The detector saw a face the mesh cannot confirm: either something covers it
            // (an occlusion reason already says what) or it was not a face after all.
            let occluded = reasons.iter().any(|r| {
                matches!(
                    r,
                    Reason::MaskOrLowerFaceCovered
                        | Reason::EyesCovered
                        | Reason::HandOverFace
                        | Reason::HeadCovered
                )
            });
            if f.mesh_presence < q.min_mesh_presence && !occluded {
                reasons.insert(0, Reason::NoFace);
            }
            scores.liveness = liveness.or(f.passive_liveness);
            if let Some(l) = liveness {
                if l.is_nan() || l < policy.liveness_threshold {
                    reasons.push(Reason::LivenessLow);
                }
            }
        }
    }
    reasons.dedup();
    Verdict {
        passed: reasons.is_empty(),
        reasons,
        scores,
        policy: *policy,
    }
}
