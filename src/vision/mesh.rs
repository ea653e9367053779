//! The 468-point face mesh on a detected face: a square crop around the detection, turned so
//! the eye line is horizontal (MediaPipe's ROI: box side × 1.5), the mesh model on it, and the
//! points mapped back to the frame. From the mesh: head pose and eye openness.

use crate::error::{Error, ErrorCode, Result};
use crate::frame::FrameView;
use crate::geometry::{Affine, Point};
use crate::model::Model;
use crate::vision::detect::Detection;
use serde::{Deserialize, Serialize};

/// Model input side in pixels.
pub const INPUT: u32 = 192;
/// Number of mesh points.
pub const POINTS: usize = 468;
/// ROI side relative to the detection box's longer side.
pub const ROI_SCALE: f32 = 1.5;

/// Mesh indices used below (MediaPipe's face mesh topology).
pub mod idx {
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
    pub const NOSE_TIP: usize = 1;
    pub const RIGHT_CHEEK: usize = 234;
    pub const LEFT_CHEEK: usize = 454;
    /// Subject's right eye: outer corner, inner corner, upper lid, lower lid.
    pub const RIGHT_EYE: [usize; 4] = [33, 133, 159, 145];
    /// Subject's left eye: inner corner, outer corner, upper lid, lower lid.
    pub const LEFT_EYE: [usize; 4] = [362, 263, 386, 374];
    /// Mouth corners and lips.
    pub const MOUTH: [usize; 4] = [61, 291, 13, 14];
}

/// A 3-D mesh point in frame pixels (z: depth, same scale as x; smaller is nearer).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

impl Point3 {
    fn sub(self, o: Point3) -> Point3 {
        Point3 {
            x: self.x - o.x,
            y: self.y - o.y,
            z: self.z - o.z,
        }
    }
    fn dot(self, o: Point3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    fn scale(self, s: f32) -> Point3 {
        Point3 {
            x: self.x * s,
            y: self.y * s,
            z: self.z * s,
        }
    }
    fn norm(self) -> f32 {
        self.dot(self).sqrt()
    }
    fn xy(self) -> Point {
        Point::new(self.x, self.y)
    }
}

/// Head pose in degrees, for the unmirrored frame: yaw > 0 when the nose points to the
/// image's right, pitch > 0 when the nose points up, roll > 0 when the head tilts clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// A face mesh in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceMesh {
    pub points: Vec<Point3>,
    /// The model's face-presence probability, 0..1: low when the crop holds no face.
    pub presence: f32,
}

/// The crop the mesh model sees: frame points from crop pixels.
pub fn roi_from_detection(d: &Detection) -> Affine {
    let c = d.bbox.center();
    let side = d.bbox.width.max(d.bbox.height) * ROI_SCALE;
    let (re, le) = (d.keypoints[0], d.keypoints[1]);
    let ex = unit(Point::new(le.x - re.x, le.y - re.y));
    Affine::square_roi(c, side, ex, INPUT)
}

/// The crop for the next frame from this frame's mesh (tracking without re-detecting).
pub fn roi_from_mesh(mesh: &FaceMesh) -> Affine {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &mesh.points {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    let c = Point::new((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let re = mesh.points[idx::RIGHT_EYE[0]].xy();
    let le = mesh.points[idx::LEFT_EYE[1]].xy();
    let ex = unit(Point::new(le.x - re.x, le.y - re.y));
    // The mesh spans the whole face; MediaPipe pads it by 1.5 like the detector's box.
    Affine::square_roi(c, (x1 - x0).max(y1 - y0) * ROI_SCALE, ex, INPUT)
}

fn unit(v: Point) -> Point {
    let n = (v.x * v.x + v.y * v.y).sqrt();
    if n > 1e-6 && n.is_finite() {
        Point::new(v.x / n, v.y / n)
    } else {
        Point::new(1.0, 0.0)
    }
}

/// Runs the mesh model on the crop `roi` and maps the points back to the frame.
pub fn run_mesh(model: &Model, frame: &FrameView, roi: &Affine) -> Result<FaceMesh> {
    // The mesh model takes RGB in [0, 1].
    let input = frame.sample_square(roi, INPUT, 1.0 / 255.0, 0.0);
    let outputs = model.run(input)?;
    let coords = outputs
        .iter()
        .find(|o| o.len() == POINTS * 3)
        .ok_or_else(|| Error::new(ErrorCode::Inference, "face mesh: no 1404-value output"))?;
    let presence_logit = outputs
        .iter()
        .find(|o| o.len() == 1)
        .map(|o| o[0])
        .unwrap_or(0.0);
    // z is in crop pixels like x; the crop's scale carries it to frame pixels.
    let zscale = roi.a.hypot(roi.d);
    let points = coords
        .chunks_exact(3)
        .map(|c| {
            let p = roi.apply(Point::new(c[0], c[1]));
            Point3 {
                x: p.x,
                y: p.y,
                z: c[2] * zscale,
            }
        })
        .collect();
    let presence = 1.0 / (1.0 + (-presence_logit.clamp(-100.0, 100.0)).exp());
    Ok(FaceMesh { points, presence })
}

impl FaceMesh {
    /// Head pose from the mesh's own 3-D shape: the cheek-to-cheek and forehead-to-chin axes.
    pub fn pose(&self) -> HeadPose {
        let p = &self.points;
        let x = p[idx::LEFT_CHEEK].sub(p[idx::RIGHT_CHEEK]);
        let y = p[idx::CHIN].sub(p[idx::FOREHEAD]);
        let xn = x.norm().max(1e-6);
        let xu = x.scale(1.0 / xn);
        // Forehead→chin, made orthogonal to the cheek axis.
        let yo = y.sub(xu.scale(y.dot(xu)));
        let yu = yo.scale(1.0 / yo.norm().max(1e-6));
        HeadPose {
            yaw: xu.z.atan2(xu.x).to_degrees(),
            pitch: (-yu.z).atan2(yu.y).to_degrees(),
            roll: xu.y.atan2(xu.x).to_degrees(),
        }
    }

    /// Eye openness per eye (right, left): lid gap over eye width, about 0.25–0.35 when open
    /// and under 0.1 when closed.
    pub fn eye_openness(&self) -> (f32, f32) {
        let ear = |e: [usize; 4]| {
            let p = &self.points;
            let w = p[e[0]].xy().dist(p[e[1]].xy());
            if w < 1e-3 {
                0.0
            } else {
                p[e[2]].xy().dist(p[e[3]].xy()) / w
            }
        };
        (ear(idx::RIGHT_EYE), ear(idx::LEFT_EYE))
    }

    /// The 2-D points in frame pixels.
    pub fn points_2d(&self) -> Vec<Point> {
        self.points.iter().map(|p| p.xy()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    #[test]
    fn roi_is_upright_for_level_eyes() {
        let d = Detection {
            score: 0.9,
            bbox: BBox {
                x: 100.0,
                y: 100.0,
                width: 100.0,
                height: 100.0,
            },
            keypoints: [
                Point::new(130.0, 130.0),
                Point::new(170.0, 130.0),
                Point::default(),
                Point::default(),
                Point::default(),
                Point::default(),
            ],
        };
        let roi = roi_from_detection(&d);
        let centre = roi.apply(Point::new(96.0, 96.0));
        assert!((centre.x - 150.0).abs() < 1e-3 && (centre.y - 150.0).abs() < 1e-3);
        let tl = roi.apply(Point::new(0.0, 0.0));
        assert!(
            (tl.x - 75.0).abs() < 1e-3 && (tl.y - 75.0).abs() < 1e-3,
            "{tl:?}"
        );
    }

    #[test]
    fn roi_turns_with_the_eye_line() {
        let mut d = Detection {
            score: 0.9,
            bbox: BBox {
                x: 0.0,
                y: 0.0,
                width: 100.0,
                height: 100.0,
            },
            keypoints: [Point::default(); 6],
        };
        d.keypoints[0] = Point::new(30.0, 30.0);
        d.keypoints[1] = Point::new(30.0, 70.0); // eye line pointing down: 90° clockwise
        let roi = roi_from_detection(&d);
        let right = roi.apply_vec(Point::new(1.0, 0.0));
        assert!(right.x.abs() < 1e-6 && right.y > 0.0);
    }
}
