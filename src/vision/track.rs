//! Face tracking for the live capture loop: detect once, then follow the face with the mesh's
//! own ROI, and run the heavy per-face classifiers on key frames only.
//!
//! A full [`analyze`](crate::vision::analyze) runs the detector, the mesh and three per-face
//! models on every frame. Between two camera frames a face barely moves, so the mesh of one
//! frame gives the crop for the next (as MediaPipe's face mesh graph does), and the mask,
//! palm and anti-spoof scores of a recent key frame still hold. The [`Tracker`] re-detects:
//! - when it has no face, or the mesh says the crop no longer holds one (presence low);
//! - every [`TrackerConfig::redetect_every`] frames, so a second face entering the frame is
//!   seen (between detections the other faces of the last detection are reported as they were).
//!
//! It runs all the classifiers on the first frame of a track and on a frame asked for with
//! [`Tracker::force_key_frame`] (the frame to upload); in between it refreshes each one at
//! least every [`TrackerConfig::classify_every`] frames, one classifier per frame and spread
//! evenly (unless [`TrackerConfig::spread_classifiers`] is off), so no frame of the live loop
//! pays for all three; a classifier whose models are loaded after the track began runs on the
//! next frame. The output is the same [`Analysis`] as a full analysis, so the policy and the
//! capture state machine do not change.

use crate::error::Result;
use crate::frame::FrameView;
use crate::geometry::{Affine, BBox, Point};
use crate::model::ModelKind;
use crate::vision::detect::{self, Detection};
use crate::vision::mesh::{self, idx, FaceMesh};
use crate::vision::Models;
use crate::vision::{
    classify, classify_one, face_analysis, Analysis, AnalyzeOptions, Classifier, ClassifierScores,
};

/// When the tracker re-detects and re-classifies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Run the detector at least every this many frames (1 = every frame).
    pub redetect_every: u32,
    /// Refresh each per-face classifier's score at least every this many frames
    /// (1 = every frame).
    pub classify_every: u32,
    /// Refresh one classifier at a time, on frames spread over the period, rather than all
    /// three on one frame. Needs `classify_every` ≥ 3 (fewer: all at once).
    pub spread_classifiers: bool,
    /// Mesh face-presence below which the track is lost and the frame is re-detected.
    pub min_presence: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        // At 15–30 analysed frames a second, a new face is seen within about a second and the
        // classifier scores are at most half a second old.
        TrackerConfig {
            redetect_every: 30,
            classify_every: 10,
            spread_classifiers: true,
            min_presence: 0.5,
        }
    }
}

/// What the last frame did, for tests and for the benchmark's breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepKind {
    /// The detector ran on this frame.
    pub detected: bool,
    /// Which per-face classifiers ran on this frame: a [`Classifier::bit`] each (one whose
    /// model is not loaded costs nothing).
    pub classified: u8,
}

impl StepKind {
    /// Every classifier's bit.
    pub const ALL_CLASSIFIERS: u8 = 0b111;
}

/// The face being followed.
#[derive(Debug, Clone)]
struct Track {
    /// Crop for the next frame's mesh.
    roi: Affine,
    /// The detector's box relative to the mesh's bounding box, measured when last detected:
    /// (x offset, y offset, width, height), each a fraction of the mesh box's size. Keeps the
    /// box (and so quality and crops) on the detector's scale between detections.
    box_from_mesh: [f32; 4],
    score: f32,
    /// The face box in the last frame.
    last_box: BBox,
    /// Other faces of the last detection, reported as they were until the next one.
    others: Vec<Detection>,
    /// The classifiers' latest scores; `None` until the track's first classification.
    scores: Option<ClassifierScores>,
    since_detect: u32,
    /// Frames since the last classifier refresh.
    since_classify: u32,
    /// The classifier the next spread refresh runs (index into [`Classifier::ALL`]).
    next_classifier: usize,
}

/// Follows one face across frames (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    config: TrackerConfig,
    track: Option<Track>,
    force_key: bool,
    last: StepKind,
}

fn mesh_box(m: &FaceMesh) -> BBox {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &m.points {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    BBox {
        x: x0,
        y: y0,
        width: (x1 - x0).max(1e-3),
        height: (y1 - y0).max(1e-3),
    }
}

/// The detection keypoints (eyes, nose tip, mouth centre, ear tragions) read off the mesh.
fn keypoints_from_mesh(m: &FaceMesh) -> [Point; 6] {
    let p = |i: usize| Point::new(m.points[i].x, m.points[i].y);
    let mid = |a: usize, b: usize| Point::new((p(a).x + p(b).x) / 2.0, (p(a).y + p(b).y) / 2.0);
    [
        mid(idx::RIGHT_EYE[0], idx::RIGHT_EYE[1]),
        mid(idx::LEFT_EYE[0], idx::LEFT_EYE[1]),
        p(idx::NOSE_TIP),
        mid(idx::MOUTH[2], idx::MOUTH[3]),
        p(idx::RIGHT_CHEEK),
        p(idx::LEFT_CHEEK),
    ]
}

/// Runs the classifiers due on this frame into `t.scores`; returns their bits.
fn refresh_classifiers(
    t: &mut Track,
    cfg: &TrackerConfig,
    force: bool,
    models: &Models,
    frame: &FrameView,
    d: &Detection,
) -> Result<u8> {
    let period = cfg.classify_every.max(1);
    let n = Classifier::ALL.len() as u32;
    let spread = cfg.spread_classifiers && period >= n;
    // Spread: one classifier every period / n frames, so each is refreshed every
    // n * (period / n) <= period frames.
    let gap = if spread { period / n } else { period };
    let scores = match t.scores.as_mut() {
        Some(scores) if !force => scores,
        _ => {
            t.scores = Some(classify(models, frame, d)?);
            t.since_classify = 0;
            t.next_classifier = 0;
            return Ok(StepKind::ALL_CLASSIFIERS);
        }
    };
    // A classifier whose models arrived after the track began (the page loads them after the
    // first guidance) runs at once, one per frame, outside the schedule.
    if let Some(which) = Classifier::ALL
        .into_iter()
        .find(|&c| scores.get(c).is_none() && models.can_classify(c))
    {
        scores.set(which, classify_one(models, frame, d, which)?);
        t.since_classify = 0;
        return Ok(which.bit());
    }
    if t.since_classify + 1 < gap {
        t.since_classify += 1;
        return Ok(0);
    }
    t.since_classify = 0;
    if !spread {
        *scores = classify(models, frame, d)?;
        return Ok(StepKind::ALL_CLASSIFIERS);
    }
    let which = Classifier::ALL[t.next_classifier % Classifier::ALL.len()];
    t.next_classifier = (t.next_classifier + 1) % Classifier::ALL.len();
    scores.set(which, classify_one(models, frame, d, which)?);
    Ok(which.bit())
}

impl Tracker {
    /// A tracker with `config`.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            ..Default::default()
        }
    }

    /// Makes the next frame a key frame: detector and classifiers both run on it.
    pub fn force_key_frame(&mut self) {
        self.force_key = true;
    }

    /// Forgets the face (e.g. when the camera restarts).
    pub fn reset(&mut self) {
        self.track = None;
    }

    /// What the last [`Tracker::step`] ran.
    pub fn last_step(&self) -> StepKind {
        self.last
    }

    /// Analyses one frame, tracking the face from the previous frames.
    /// `opts.classifiers == false` never runs the classifiers (as in a full analysis).
    pub fn step(
        &mut self,
        models: &Models,
        frame: &FrameView,
        opts: &AnalyzeOptions,
    ) -> Result<Analysis> {
        let mesher = models.require(ModelKind::FaceMesh)?;
        let force = std::mem::take(&mut self.force_key);
        let cfg = self.config;
        let mut tracked = None;
        if let Some(t) = self
            .track
            .as_mut()
            .filter(|t| !force && t.since_detect + 1 < cfg.redetect_every.max(1))
        {
            let m = mesh::run_mesh(mesher, frame, &t.roi)?;
            if m.presence >= cfg.min_presence {
                t.since_detect += 1;
                tracked = Some(m);
            }
        }
        let (d, m, others, detected) = match tracked {
            Some(m) => {
                let t = self.track.as_ref().expect("tracked implies a track");
                let mb = mesh_box(&m);
                let [ox, oy, w, h] = t.box_from_mesh;
                let d = Detection {
                    score: t.score,
                    bbox: BBox {
                        x: mb.x + ox * mb.width,
                        y: mb.y + oy * mb.height,
                        width: w * mb.width,
                        height: h * mb.height,
                    },
                    keypoints: keypoints_from_mesh(&m),
                };
                (d, m, t.others.clone(), false)
            }
            None => {
                let detector = models.require(ModelKind::FaceDetector)?;
                let faces = detect::detect_faces(detector, frame, opts.min_face_score)?;
                let Some(first) = faces.first().cloned() else {
                    self.track = None;
                    self.last = StepKind::default();
                    self.last.detected = true;
                    return Ok(Analysis {
                        frame_width: frame.width(),
                        frame_height: frame.height(),
                        faces,
                        face: None,
                    });
                };
                let m = mesh::run_mesh(mesher, frame, &mesh::roi_from_detection(&first))?;
                let mb = mesh_box(&m);
                let box_from_mesh = [
                    (first.bbox.x - mb.x) / mb.width,
                    (first.bbox.y - mb.y) / mb.height,
                    first.bbox.width / mb.width,
                    first.bbox.height / mb.height,
                ];
                // The same face re-detected keeps its classifier scores; a face elsewhere (maybe
                // someone else) starts afresh.
                let kept = self
                    .track
                    .take()
                    .filter(|t| t.last_box.iou(&first.bbox) > 0.5)
                    .map(|t| (t.scores, t.since_classify, t.next_classifier));
                let (scores, since_classify, next_classifier) = kept.unwrap_or((None, 0, 0));
                self.track = Some(Track {
                    roi: mesh::roi_from_mesh(&m),
                    box_from_mesh,
                    score: first.score,
                    last_box: first.bbox,
                    others: faces[1..].to_vec(),
                    scores,
                    since_detect: 0,
                    since_classify,
                    next_classifier,
                });
                (first, m, faces[1..].to_vec(), true)
            }
        };
        let t = self.track.as_mut().expect("a track exists here");
        t.roi = mesh::roi_from_mesh(&m);
        t.last_box = d.bbox;
        let classified = if opts.classifiers {
            refresh_classifiers(t, &cfg, force, models, frame, &d)?
        } else {
            0
        };
        let scores = if opts.classifiers { t.scores } else { None };
        self.last = StepKind {
            detected,
            classified,
        };
        let face = face_analysis(frame, &d, &m, scores.as_ref(), opts);
        let mut faces = vec![d];
        faces.extend(others);
        Ok(Analysis {
            frame_width: frame.width(),
            frame_height: frame.height(),
            faces,
            face: Some(face),
        })
    }
}
