//! Face detection with BlazeFace short-range: letterboxed 128×128 input, 896 SSD anchors,
//! sigmoid scores, weighted non-maximum suppression, results in frame pixels.
//!
//! Decoding facts (MediaPipe's published graph configuration): 4 SSD layers with strides
//! 8, 16, 16, 16; 2 anchors per cell per layer; anchor offset 0.5 and a fixed anchor size, so
//! the 896 anchors are 16×16×2 then 8×8×6, row-major. Each of the 16 regressor values per
//! anchor is [dx, dy, w, h, then 6 keypoints × (x, y)] in input pixels.

use crate::error::Result;
use crate::frame::FrameView;
use crate::geometry::{Affine, BBox, Point};
use crate::model::Model;
use serde::{Deserialize, Serialize};

/// Model input side in pixels.
pub const INPUT: u32 = 128;
/// MediaPipe's default minimum score.
pub const MIN_SCORE: f32 = 0.5;
/// IoU above which overlapping detections are merged.
pub const NMS_IOU: f32 = 0.3;

/// The layout of a MediaPipe SSD detector (BlazeFace, palm detection): input side, anchor
/// grids as (cells per side, anchors per cell) in output order, and keypoints per anchor.
#[derive(Debug, Clone, Copy)]
pub struct SsdSpec {
    pub input: u32,
    pub grids: &'static [(usize, usize)],
    pub keypoints: usize,
}

/// BlazeFace short-range: 16×16×2 + 8×8×6 = 896 anchors, 6 keypoints.
pub const FACE_SSD: SsdSpec = SsdSpec {
    input: INPUT,
    grids: &[(16, 2), (8, 6)],
    keypoints: 6,
};

impl SsdSpec {
    fn anchors(&self) -> Vec<(f32, f32)> {
        let mut out = Vec::new();
        for &(grid, per_cell) in self.grids {
            for y in 0..grid {
                for x in 0..grid {
                    let c = (
                        (x as f32 + 0.5) / grid as f32,
                        (y as f32 + 0.5) / grid as f32,
                    );
                    out.extend(std::iter::repeat_n(c, per_cell));
                }
            }
        }
        out
    }
    fn regressors(&self) -> usize {
        4 + 2 * self.keypoints
    }
}

/// A decoded SSD candidate: score, box and keypoints (in whatever space it was mapped to).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub score: f32,
    pub bbox: BBox,
    pub keypoints: Vec<Point>,
}

/// One detected face, in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Detector confidence, 0..1.
    pub score: f32,
    pub bbox: BBox,
    /// Right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
    /// (the subject's right and left).
    pub keypoints: [Point; 6],
}

/// The letterbox map from the `input`×`input` model input to the frame: the longer side
/// fits, the shorter is padded equally on both sides.
pub fn letterbox(width: u32, height: u32, input: u32) -> Affine {
    let side = width.max(height) as f32;
    let s = side / input as f32;
    Affine {
        a: s,
        b: 0.0,
        c: -(side - width as f32) / 2.0,
        d: 0.0,
        e: s,
        f: -(side - height as f32) / 2.0,
    }
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// Decodes raw outputs (regressors anchors×(4+2k), logits per anchor) into candidates in
/// normalised input coordinates, keeping those with score ≥ `min_score`.
pub fn decode(
    spec: &SsdSpec,
    regressors: &[f32],
    logits: &[f32],
    min_score: f32,
) -> Vec<Candidate> {
    let anchors = spec.anchors();
    let nr = spec.regressors();
    let mut out = Vec::new();
    if regressors.len() < anchors.len() * nr || logits.len() < anchors.len() {
        return out;
    }
    let scale = spec.input as f32;
    for (i, (ax, ay)) in anchors.into_iter().enumerate() {
        let score = sigmoid(logits[i]);
        if score.is_nan() || score < min_score {
            continue;
        }
        let r = &regressors[i * nr..(i + 1) * nr];
        let bbox = BBox::from_center(
            ax + r[0] / scale,
            ay + r[1] / scale,
            r[2] / scale,
            r[3] / scale,
        );
        let keypoints = (0..spec.keypoints)
            .map(|k| Point::new(ax + r[4 + 2 * k] / scale, ay + r[5 + 2 * k] / scale))
            .collect();
        out.push(Candidate {
            score,
            bbox,
            keypoints,
        });
    }
    out
}

/// Weighted non-maximum suppression: overlapping candidates are averaged, weighted by score,
/// which steadies the box from frame to frame more than plain NMS.
pub fn weighted_nms(mut candidates: Vec<Candidate>, iou: f32) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (cluster, rest): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|c| c.bbox.iou(&best.bbox) > iou || c == &best);
        candidates = rest;
        let total: f32 = cluster.iter().map(|c| c.score).sum();
        let mut merged = best.clone();
        if total > 0.0 && cluster.len() > 1 {
            let avg = |f: &dyn Fn(&Candidate) -> f32| {
                cluster.iter().map(|c| f(c) * c.score).sum::<f32>() / total
            };
            merged.bbox = BBox {
                x: avg(&|c| c.bbox.x),
                y: avg(&|c| c.bbox.y),
                width: avg(&|c| c.bbox.width),
                height: avg(&|c| c.bbox.height),
            };
            for k in 0..merged.keypoints.len() {
                let kx = avg(&|c| c.keypoints.get(k).map_or(0.0, |p| p.x));
                let ky = avg(&|c| c.keypoints.get(k).map_or(0.0, |p| p.y));
                merged.keypoints[k] = Point::new(kx, ky);
            }
        }
        out.push(merged);
    }
    out
}

/// Runs an SSD detector on the letterboxed frame and returns NMS-merged candidates in frame
/// pixels, best first. `scale`/`offset` map 0..255 to the model's input range.
pub fn run_ssd(
    model: &Model,
    spec: &SsdSpec,
    frame: &FrameView,
    scale: f32,
    offset: f32,
    min_score: f32,
) -> Result<Vec<Candidate>> {
    let map = letterbox(frame.width(), frame.height(), spec.input);
    let input = frame.sample_square(&map, spec.input, scale, offset);
    let outputs = model.run(input)?;
    let (regressors, logits) = match outputs.as_slice() {
        [a, b, ..] if a.len() >= b.len() => (a, b),
        [a, b, ..] => (b, a),
        _ => return Ok(Vec::new()),
    };
    let s = spec.input as f32;
    let to_frame = |q: Point| map.apply(Point::new(q.x * s, q.y * s));
    Ok(
        weighted_nms(decode(spec, regressors, logits, min_score), NMS_IOU)
            .into_iter()
            .map(|c| {
                let tl = to_frame(Point::new(c.bbox.x, c.bbox.y));
                let br = to_frame(Point::new(
                    c.bbox.x + c.bbox.width,
                    c.bbox.y + c.bbox.height,
                ));
                Candidate {
                    score: c.score,
                    bbox: BBox {
                        x: tl.x,
                        y: tl.y,
                        width: br.x - tl.x,
                        height: br.y - tl.y,
                    },
                    keypoints: c.keypoints.into_iter().map(to_frame).collect(),
                }
            })
            .collect(),
    )
}

/// Detects faces in a frame of any size and aspect ratio, best first.
pub fn detect_faces(model: &Model, frame: &FrameView, min_score: f32) -> Result<Vec<Detection>> {
    // BlazeFace takes RGB in [-1, 1].
    let found = run_ssd(model, &FACE_SSD, frame, 2.0 / 255.0, -1.0, min_score)?;
    Ok(found
        .into_iter()
        .map(|c| {
            let mut keypoints = [Point::default(); 6];
            for (k, p) in keypoints.iter_mut().zip(c.keypoints) {
                *k = p;
            }
            Detection {
                score: c.score,
                bbox: c.bbox,
                keypoints,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_896_in_grid_order() {
        let a = FACE_SSD.anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], (1.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[512], (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[895], (7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn letterbox_centres_the_short_side() {
        let m = letterbox(640, 480, 128);
        // Input centre maps to frame centre; input top edge sits 80 px above the frame.
        assert_eq!(m.apply(Point::new(64.0, 64.0)), Point::new(320.0, 240.0));
        assert_eq!(m.apply(Point::new(0.0, 0.0)), Point::new(0.0, -80.0));
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let det = |x: f32, s: f32| Candidate {
            score: s,
            bbox: BBox {
                x,
                y: 0.0,
                width: 10.0,
                height: 10.0,
            },
            keypoints: vec![Point::new(x, 0.0)],
        };
        let out = weighted_nms(vec![det(0.0, 0.9), det(1.0, 0.6), det(50.0, 0.8)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert!(
            out[0].bbox.x > 0.0 && out[0].bbox.x < 1.0,
            "merged box is score-weighted"
        );
        assert_eq!(out[1].bbox.x, 50.0);
    }

    #[test]
    fn decode_ignores_short_outputs() {
        assert!(decode(&FACE_SSD, &[0.0; 10], &[0.0; 10], 0.5).is_empty());
    }
}
