//! Occlusion per face region, each a score 0..100 (100: certainly covered).
//!
//! - lower face (mask): the mask classifier on the upright face crop;
//! - hand: the palm detector over the frame, where a palm overlaps the face; and a lower-face
//!   cover whose colour is the subject's own skin colour (a hand, not a mask);
//! - eyes (sunglasses): no model exists offline, so the eye regions outlined by the mesh are
//!   compared with the cheeks — sunglasses are much darker than skin and nearly flat;
//! - head (helmet, hat): the forehead patch under the mesh's top is compared with the cheeks.

use crate::error::Result;
use crate::frame::{luma, FrameView};
use crate::geometry::{Affine, BBox, Point};
use crate::model::Model;
use crate::vision::detect::{run_ssd, SsdSpec};
use crate::vision::mesh::{idx, FaceMesh};
use serde::{Deserialize, Serialize};

/// MediaPipe palm detection lite: 24×24×2 + 12×12×6 = 2016 anchors, 7 keypoints.
pub const PALM_SSD: SsdSpec = SsdSpec {
    input: 192,
    grids: &[(24, 2), (12, 6)],
    keypoints: 7,
};

/// Mesh points at the centre of each cheek and of the forehead.
const RIGHT_CHEEK_CENTRE: usize = 50;
const LEFT_CHEEK_CENTRE: usize = 280;
const FOREHEAD_CENTRE: usize = 151;
/// Mesh points around each eye (corners and lids, upper and lower contour).
const RIGHT_EYE_RING: [usize; 8] = [33, 133, 159, 145, 158, 153, 160, 144];
const LEFT_EYE_RING: [usize; 8] = [362, 263, 386, 374, 385, 380, 387, 373];

/// Occlusion scores, 0..100 each.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Occlusion {
    /// Lower face covered (mask).
    pub lower_face: f32,
    /// Eyes covered (sunglasses).
    pub eyes: f32,
    /// A hand over the face.
    pub hand: f32,
    /// Head covered down to the forehead (helmet, hat).
    pub head: f32,
}

/// Raw cues behind the scores, kept for the analysis report and for tuning.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct OcclusionCues {
    /// Mask classifier's probability of "mask", 0..1.
    pub mask_probability: f32,
    /// Best palm detection score overlapping the face, 0..1.
    pub palm_score: f32,
    /// Chroma distance of the lower face from the cheeks (normalised rg).
    pub lower_face_chroma: f32,
    /// Eye regions' luma over the cheeks' luma.
    pub eye_luma_ratio: f32,
    /// Eye regions' luma standard deviation, 0..255.
    pub eye_texture: f32,
    /// Chroma distance of the forehead from the cheeks (normalised rg).
    pub forehead_chroma: f32,
    /// Forehead's luma over the cheeks' luma.
    pub forehead_luma_ratio: f32,
    /// The face mesh's presence probability, 0..1 (a hand over the face lowers it).
    #[serde(default)]
    pub mesh_presence: f32,
}

/// Mean colour statistics of a patch.
#[derive(Debug, Clone, Copy, Default)]
struct Patch {
    rgb: [f32; 3],
    luma: f32,
    luma_sd: f32,
}

impl Patch {
    fn chroma(&self) -> (f32, f32) {
        let s = (self.rgb[0] + self.rgb[1] + self.rgb[2]).max(1.0);
        (self.rgb[0] / s, self.rgb[1] / s)
    }
    fn chroma_dist(&self, o: &Patch) -> f32 {
        let (a, b) = (self.chroma(), o.chroma());
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }
}

fn patch(frame: &FrameView, b: &BBox) -> Patch {
    let (x0, y0, x1, y1) = b.clamp_pixels(frame.width(), frame.height());
    let mut sum = [0f64; 3];
    let mut lum = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            let c = frame.sample(Point::new(x as f32 + 0.5, y as f32 + 0.5));
            for k in 0..3 {
                sum[k] += c[k] as f64;
            }
            lum.push(luma(c));
        }
    }
    let n = lum.len().max(1) as f32;
    let mean_l = lum.iter().sum::<f32>() / n;
    let sd = (lum.iter().map(|v| (v - mean_l).powi(2)).sum::<f32>() / n).sqrt();
    Patch {
        rgb: sum.map(|v| v as f32 / n),
        luma: mean_l,
        luma_sd: sd,
    }
}

fn around(points: &[Point], pad: f32) -> BBox {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    BBox {
        x: x0 - pad,
        y: y0 - pad,
        width: x1 - x0 + 2.0 * pad,
        height: y1 - y0 + 2.0 * pad,
    }
}

/// Crop scale for the mask classifier and the descriptor: the face with some margin.
pub const FACE_CROP_SCALE: f32 = 1.2;
/// Crop scale for the anti-spoof model: tight on the face. Measured on real portraits, its
/// "real" score falls off quickly with margin (astronaut 81 at 0.8, 71 at 1.2, 46 at 1.5).
pub const ANTISPOOF_CROP_SCALE: f32 = 0.8;

/// The upright square crop used by the per-face classifiers: the face box's longer side ×
/// `scale`, turned by the eye line.
pub fn face_crop(bbox: &BBox, eye_right: Point, eye_left: Point, scale: f32, size: u32) -> Affine {
    let v = Point::new(eye_left.x - eye_right.x, eye_left.y - eye_right.y);
    let n = (v.x * v.x + v.y * v.y).sqrt();
    let ex = if n > 1e-3 {
        Point::new(v.x / n, v.y / n)
    } else {
        Point::new(1.0, 0.0)
    };
    Affine::square_roi(bbox.center(), bbox.width.max(bbox.height) * scale, ex, size)
}

/// Probability of "mask" from the mask classifier (RGB in [-1, 1], outputs [mask, no mask]).
pub fn mask_probability(model: &Model, frame: &FrameView, crop: &Affine) -> Result<f32> {
    let input = frame.sample_square(crop, 224, 2.0 / 255.0, -1.0);
    let out = model.run(input)?;
    Ok(out
        .first()
        .and_then(|o| o.first())
        .copied()
        .unwrap_or(0.0)
        .clamp(0.0, 1.0))
}

/// Best palm score among palms that overlap the face box by at least a fifth of the palm.
pub fn palm_over_face(model: &Model, frame: &FrameView, face: &BBox) -> Result<f32> {
    // The palm detector takes RGB in [0, 1].
    let palms = run_ssd(model, &PALM_SSD, frame, 1.0 / 255.0, 0.0, 0.3)?;
    Ok(palms
        .iter()
        .filter(|p| {
            let b = &p.bbox;
            let ix = ((b.x + b.width).min(face.x + face.width) - b.x.max(face.x)).max(0.0);
            let iy = ((b.y + b.height).min(face.y + face.height) - b.y.max(face.y)).max(0.0);
            ix * iy >= 0.2 * b.area()
        })
        .map(|p| p.score)
        .fold(0.0, f32::max))
}

/// Region-statistics cues from the mesh.
pub fn region_cues(frame: &FrameView, mesh: &FaceMesh) -> OcclusionCues {
    let p = mesh.points_2d();
    let face_w = p[idx::RIGHT_CHEEK].dist(p[idx::LEFT_CHEEK]).max(1.0);
    let r = face_w * 0.06;
    let at = |i: usize| BBox::from_center(p[i].x, p[i].y, 2.0 * r, 2.0 * r);
    let cheeks = {
        let (a, b) = (
            patch(frame, &at(RIGHT_CHEEK_CENTRE)),
            patch(frame, &at(LEFT_CHEEK_CENTRE)),
        );
        Patch {
            rgb: [0, 1, 2].map(|k| (a.rgb[k] + b.rgb[k]) / 2.0),
            luma: (a.luma + b.luma) / 2.0,
            luma_sd: (a.luma_sd + b.luma_sd) / 2.0,
        }
    };
    let ring = |ids: &[usize]| ids.iter().map(|&i| p[i]).collect::<Vec<_>>();
    let eyes = [
        around(&ring(&RIGHT_EYE_RING), r * 0.5),
        around(&ring(&LEFT_EYE_RING), r * 0.5),
    ]
    .map(|b| patch(frame, &b));
    let eye_luma = (eyes[0].luma + eyes[1].luma) / 2.0;
    let eye_texture = (eyes[0].luma_sd + eyes[1].luma_sd) / 2.0;
    let forehead = patch(frame, &at(FOREHEAD_CENTRE));
    let mouth = patch(frame, &around(&ring(&idx::MOUTH), r));
    let cheek_l = cheeks.luma.max(1.0);
    OcclusionCues {
        mask_probability: 0.0,
        palm_score: 0.0,
        lower_face_chroma: mouth.chroma_dist(&cheeks),
        eye_luma_ratio: eye_luma / cheek_l,
        eye_texture,
        forehead_chroma: forehead.chroma_dist(&cheeks),
        forehead_luma_ratio: forehead.luma / cheek_l,
        mesh_presence: 0.0,
    }
}

/// Maps `v` linearly from [lo, hi] to [0, 100], clamped.
fn ramp(v: f32, lo: f32, hi: f32) -> f32 {
    if !v.is_finite() {
        return 100.0;
    }
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 100.0
}

/// Combines the cues into region scores.
pub fn score(c: &OcclusionCues) -> Occlusion {
    let covered = c.mask_probability;
    // A lower-face cover in the subject's own skin colour is a hand, not a mask.
    let skin_like = c.lower_face_chroma < 0.03;
    let lower_face = if skin_like {
        covered * 40.0
    } else {
        covered * 100.0
    };
    let hand_from_colour = if skin_like && covered >= 0.5 {
        covered * 100.0
    } else {
        0.0
    };
    // The palm detector scores a bare chin and mouth up to 0.5 (Grace Hopper's photo
    // re-framed as a selfie: 0.48-0.50), so on a clearly seen face palms count from
    // MediaPipe's own palm threshold of 0.5 up; when the mesh itself is unsure of the face
    // (presence < 0.5, as under a hand) a mid score (0.25-0.45) corroborates it.
    let palm = if c.mesh_presence < 0.5 {
        ramp(c.palm_score, 0.25, 0.45)
    } else {
        ramp(c.palm_score, 0.5, 0.75)
    };
    let hand = palm.max(hand_from_colour);
    // Sunglasses: eyes far darker than the cheeks and flat (open eyes show bright sclera).
    let eyes =
        ramp(0.55 - c.eye_luma_ratio, 0.0, 0.25).min(ramp(30.0 - c.eye_texture, 0.0, 15.0) + 50.0);
    // Helmet or hat: the forehead is not skin (colour far from the cheeks, or much darker).
    let head = ramp(c.forehead_chroma, 0.04, 0.10).max(ramp(0.6 - c.forehead_luma_ratio, 0.0, 0.3));
    Occlusion {
        lower_face,
        eyes,
        hand,
        head,
    }
}
