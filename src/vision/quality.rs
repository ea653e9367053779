//! Image-quality measures on the face region. Each is a plain number with a unit; the limits
//! live in [`crate::policy::QualityLimits`].

use crate::frame::{luma, FrameView};
use crate::geometry::{Affine, BBox, Point};
use serde::{Deserialize, Serialize};

/// Side of the face crop on which sharpness is measured, so the value does not depend on
/// how large the face is in the frame.
const SHARPNESS_SIDE: u32 = 112;

/// Quality of one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Quality {
    /// Face box's longer side over the frame's shorter side (0..~1). Small: too far.
    pub face_size: f32,
    /// Distance of the face centre from the frame centre, each axis divided by that frame
    /// side: 0 is centred, 0.5 is on an edge.
    pub centre_offset: f32,
    /// Mean luma of the face box, 0..255.
    pub brightness: f32,
    /// Share of face-box pixels with luma ≥ 250 (blown out), 0..1.
    pub overexposed: f32,
    /// Standard deviation of luma in the face box, 0..255.
    pub contrast: f32,
    /// Variance of the Laplacian of the face resampled to 112×112 luma; blur lowers it.
    pub sharpness: f32,
}

/// Measures the face inside `bbox` (frame pixels).
pub fn measure(frame: &FrameView, bbox: &BBox) -> Quality {
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    let c = bbox.center();
    let face_size = bbox.width.max(bbox.height) / w.min(h);
    let centre_offset = (((c.x - w / 2.0) / w).powi(2) + ((c.y - h / 2.0) / h).powi(2)).sqrt();

    let (lum, _, _) = frame.luma_region(bbox);
    let n = lum.len().max(1) as f32;
    let brightness = lum.iter().sum::<f32>() / n;
    let contrast = (lum.iter().map(|v| (v - brightness).powi(2)).sum::<f32>() / n).sqrt();
    let overexposed = lum.iter().filter(|v| **v >= 250.0).count() as f32 / n;

    Quality {
        face_size,
        centre_offset,
        brightness,
        overexposed,
        contrast,
        sharpness: sharpness(frame, bbox),
    }
}

/// Variance of the 4-neighbour Laplacian over the face resampled to a fixed size.
pub fn sharpness(frame: &FrameView, bbox: &BBox) -> f32 {
    let side = bbox.width.max(bbox.height);
    if !(side.is_finite() && side > 1.0) {
        return 0.0;
    }
    let n = SHARPNESS_SIDE as usize;
    let map = Affine::square_roi(bbox.center(), side, Point::new(1.0, 0.0), SHARPNESS_SIDE);
    let mut img = vec![0f32; n * n];
    for v in 0..n {
        for u in 0..n {
            let p = map.apply(Point::new(u as f32 + 0.5, v as f32 + 0.5));
            img[v * n + u] = luma(frame.sample(p));
        }
    }
    let mut sum = 0.0f64;
    let mut sum2 = 0.0f64;
    let mut count = 0.0f64;
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let i = y * n + x;
            let l = (img[i - 1] + img[i + 1] + img[i - n] + img[i + n] - 4.0 * img[i]) as f64;
            sum += l;
            sum2 += l * l;
            count += 1.0;
        }
    }
    let mean = sum / count;
    (sum2 / count - mean * mean) as f32
}
