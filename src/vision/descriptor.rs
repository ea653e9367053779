//! Face descriptor for the backend's 1:1 match of a new selfie against the registered face,
//! and the mapping from cosine similarity to the 0..100 "points" the project policy uses.

use crate::error::{Error, ErrorCode, Result};
use crate::frame::FrameView;
use crate::model::Model;
use crate::vision::detect::Detection;
use crate::vision::occlusion::{face_crop, FACE_CROP_SCALE};

/// Descriptor length of human's faceres model.
pub const DIM: usize = 1024;

/// An L2-normalised face descriptor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Descriptor(pub Vec<f32>);

/// Computes the descriptor of the detected face (upright 224×224 crop, raw 0..255 input).
pub fn describe(model: &Model, frame: &FrameView, d: &Detection) -> Result<Descriptor> {
    let crop = face_crop(
        &d.bbox,
        d.keypoints[0],
        d.keypoints[1],
        FACE_CROP_SCALE,
        224,
    );
    let out = model.run(frame.sample_square(&crop, 224, 1.0, 0.0))?;
    let v = out.into_iter().find(|o| o.len() == DIM).ok_or_else(|| {
        Error::new(
            ErrorCode::Inference,
            "face descriptor: no 1024-value output",
        )
    })?;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(n > 0.0 && n.is_finite()) {
        return Err(Error::new(
            ErrorCode::Inference,
            "face descriptor is zero or not finite",
        ));
    }
    Ok(Descriptor(v.into_iter().map(|x| x / n).collect()))
}

impl Descriptor {
    /// Cosine similarity, -1..1 (both are unit length).
    pub fn cosine(&self, o: &Descriptor) -> f32 {
        self.0.iter().zip(&o.0).map(|(a, b)| a * b).sum()
    }
}

/// Cosine below which two faces are treated as certainly different people (0 points).
pub const COSINE_FLOOR: f32 = 0.5;
/// Cosine at and above which the match is 100 points.
pub const COSINE_CEIL: f32 = 0.9;

/// Maps cosine similarity to policy points 0..100.
///
/// The seeds' threshold of 98 points is meant to be strict. Measured on this model,
/// different people score around 0.49 and the same face (mirrored) 0.95, so the map is
/// linear from 0.5 (0 points) to 0.9 (100 points): 98 points needs cosine ≥ 0.892, well
/// above what different people reach and below a clean same-person pair. The map is
/// monotonic, so a threshold in points is always a threshold in cosine.
pub fn similarity_points(cosine: f32) -> f32 {
    if !cosine.is_finite() {
        return 0.0;
    }
    ((cosine - COSINE_FLOOR) / (COSINE_CEIL - COSINE_FLOOR)).clamp(0.0, 1.0) * 100.0
}
