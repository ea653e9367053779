//! The on-device prechecks: detection → mesh → quality → occlusion → passive liveness, each
//! a pure function of the frame and the models. [`Analyzer`] runs them in order on one frame.

pub mod descriptor;
pub mod detect;
pub mod mesh;
pub mod occlusion;
pub mod quality;
pub mod stages;
pub mod track;

use crate::error::{Error, ErrorCode, Result};
use crate::frame::FrameView;
use crate::model::{Model, ModelKind};
use detect::Detection;
use mesh::{FaceMesh, HeadPose};
use occlusion::{Occlusion, OcclusionCues};
use quality::Quality;
use serde::{Deserialize, Serialize};

/// The loaded models. The detector and mesh are required; the others are optional so the
/// browser can start guiding before the heavier models arrive (a missing model's measure is
/// reported as absent, and the policy treats an absent required measure as a failure).
#[derive(Debug, Default)]
pub struct Models {
    pub face_detector: Option<Model>,
    pub face_mesh: Option<Model>,
    pub antispoof: Option<Model>,
    pub mask_classifier: Option<Model>,
    pub palm_detector: Option<Model>,
    pub face_descriptor: Option<Model>,
}

impl Models {
    /// Verifies and loads one model into its slot, from the file of the form this build
    /// loads ([`crate::model::ModelFormat::LOADED`]: NNEF in the browser, ONNX natively).
    pub fn load(&mut self, kind: ModelKind, bytes: &[u8]) -> Result<()> {
        let model = Model::load(kind, bytes)?;
        *self.slot(kind) = Some(model);
        Ok(())
    }

    /// Puts an already loaded model into its slot (e.g. one from [`Model::load_nnef`] in a
    /// native build).
    pub fn insert(&mut self, model: Model) {
        let kind = model.kind();
        *self.slot(kind) = Some(model);
    }

    fn slot(&mut self, kind: ModelKind) -> &mut Option<Model> {
        match kind {
            ModelKind::FaceDetector => &mut self.face_detector,
            ModelKind::FaceMesh => &mut self.face_mesh,
            ModelKind::Antispoof => &mut self.antispoof,
            ModelKind::MaskClassifier => &mut self.mask_classifier,
            ModelKind::PalmDetector => &mut self.palm_detector,
            ModelKind::FaceDescriptor => &mut self.face_descriptor,
        }
    }

    /// Whether every model `which` needs is loaded.
    pub fn can_classify(&self, which: Classifier) -> bool {
        which.models().iter().all(|&k| self.has(k))
    }

    /// The loaded model of `kind`, or a `bad_state` error naming it.
    pub fn require(&self, kind: ModelKind) -> Result<&Model> {
        self.get(kind).ok_or_else(|| {
            Error::new(
                ErrorCode::BadState,
                format!("model {} is not loaded", kind.name()),
            )
        })
    }

    /// Whether `kind` is loaded.
    pub fn has(&self, kind: ModelKind) -> bool {
        self.get(kind).is_some()
    }

    /// The loaded model of `kind`, if any.
    pub fn get(&self, kind: ModelKind) -> Option<&Model> {
        match kind {
            ModelKind::FaceDetector => self.face_detector.as_ref(),
            ModelKind::FaceMesh => self.face_mesh.as_ref(),
            ModelKind::Antispoof => self.antispoof.as_ref(),
            ModelKind::MaskClassifier => self.mask_classifier.as_ref(),
            ModelKind::PalmDetector => self.palm_detector.as_ref(),
            ModelKind::FaceDescriptor => self.face_descriptor.as_ref(),
        }
    }

    /// Loads every model from a directory of files named as [`ModelKind::file_name`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(dir: &std::path::Path, kinds: &[ModelKind]) -> Result<Models> {
        let mut models = Models::default();
        for &kind in kinds {
            let path = dir.join(kind.file_name());
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::new(
                    ErrorCode::ModelInvalid,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            models.load(kind, &bytes)?;
        }
        Ok(models)
    }
}

/// Everything measured on the main face of a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceAnalysis {
    pub detection: Detection,
    /// Mesh face-presence probability, 0..1.
    pub mesh_presence: f32,
    pub pose: HeadPose,
    /// Eye openness (lid gap / eye width), subject's right and left.
    pub eye_openness: [f32; 2],
    pub quality: Quality,
    /// Occlusion per region, 0..100; absent when its models were not loaded.
    pub occlusion: Option<Occlusion>,
    pub occlusion_cues: Option<OcclusionCues>,
    /// Passive anti-spoof "real face" score 0..100; absent without the model.
    pub passive_liveness: Option<f32>,
    /// The mesh points (x, y, z) in frame pixels, flattened; kept for multi-frame liveness.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub landmarks: Vec<f32>,
}

/// The analysis of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub frame_width: u32,
    pub frame_height: u32,
    /// Faces found, best first (only the first is analysed further).
    pub faces: Vec<Detection>,
    /// The main face's measures, when there is a face.
    pub face: Option<FaceAnalysis>,
}

impl Analysis {
    pub fn face_count(&self) -> usize {
        self.faces.len()
    }
}

/// Options for one analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzeOptions {
    /// Minimum detector score for a face to count.
    pub min_face_score: f32,
    /// Run the per-face classifiers (mask, palm, anti-spoof). Live guidance can skip them on
    /// most frames and run them on key frames only.
    pub classifiers: bool,
    /// Keep the mesh points in the result.
    pub keep_landmarks: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            min_face_score: detect::MIN_SCORE,
            classifiers: true,
            keep_landmarks: false,
        }
    }
}

/// Runs the prechecks on one frame.
pub fn analyze(models: &Models, frame: &FrameView, opts: &AnalyzeOptions) -> Result<Analysis> {
    let detector = models.require(ModelKind::FaceDetector)?;
    let mesher = models.require(ModelKind::FaceMesh)?;
    let faces = detect::detect_faces(detector, frame, opts.min_face_score)?;
    let face = match faces.first() {
        None => None,
        Some(d) => Some(analyze_face(models, mesher, frame, d, opts)?),
    };
    Ok(Analysis {
        frame_width: frame.width(),
        frame_height: frame.height(),
        faces,
        face,
    })
}

fn analyze_face(
    models: &Models,
    mesher: &Model,
    frame: &FrameView,
    d: &Detection,
    opts: &AnalyzeOptions,
) -> Result<FaceAnalysis> {
    let mesh: FaceMesh = mesh::run_mesh(mesher, frame, &mesh::roi_from_detection(d))?;
    let scores = if opts.classifiers {
        Some(classify(models, frame, d)?)
    } else {
        None
    };
    Ok(face_analysis(frame, d, &mesh, scores.as_ref(), opts))
}

/// The heavy per-face models. The tracker refreshes them on separate frames, so no single
/// frame pays for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classifier {
    /// The mask classifier (lower-face occlusion); needs the palm detector too.
    Mask,
    /// The palm detector over the face (a hand in front of it); needs the mask classifier too.
    Palm,
    /// The passive anti-spoof model.
    Antispoof,
}

impl Classifier {
    /// Every classifier, in the order the tracker refreshes them.
    pub const ALL: [Classifier; 3] = [Classifier::Mask, Classifier::Palm, Classifier::Antispoof];

    /// This classifier's bit in [`track::StepKind::classified`].
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The models it needs (the occlusion score needs the mask and palm models both).
    pub const fn models(self) -> &'static [ModelKind] {
        match self {
            Classifier::Mask | Classifier::Palm => {
                &[ModelKind::MaskClassifier, ModelKind::PalmDetector]
            }
            Classifier::Antispoof => &[ModelKind::Antispoof],
        }
    }
}

/// What the heavy per-face models said about one face (each absent when its model is not
/// loaded). The tracker keeps these from key frames for the frames in between.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassifierScores {
    /// Mask classifier's "mask" probability, 0..1.
    pub mask: Option<f32>,
    /// Palm detector's best score over the face, 0..1.
    pub palm: Option<f32>,
    /// Passive anti-spoof "real face" score 0..100.
    pub passive_liveness: Option<f32>,
}

impl ClassifierScores {
    /// One classifier's score.
    pub fn get(&self, which: Classifier) -> Option<f32> {
        match which {
            Classifier::Mask => self.mask,
            Classifier::Palm => self.palm,
            Classifier::Antispoof => self.passive_liveness,
        }
    }

    /// Sets one classifier's score.
    pub fn set(&mut self, which: Classifier, score: Option<f32>) {
        let slot = match which {
            Classifier::Mask => &mut self.mask,
            Classifier::Palm => &mut self.palm,
            Classifier::Antispoof => &mut self.passive_liveness,
        };
        *slot = score;
    }
}

/// Runs one per-face classifier; `None` when its model is not loaded. The mask and palm
/// models run only when both are loaded: the occlusion score needs the two.
pub fn classify_one(
    models: &Models,
    frame: &FrameView,
    d: &Detection,
    which: Classifier,
) -> Result<Option<f32>> {
    if !models.can_classify(which) {
        return Ok(None);
    }
    let crop =
        |scale, size| occlusion::face_crop(&d.bbox, d.keypoints[0], d.keypoints[1], scale, size);
    Ok(Some(match which {
        Classifier::Mask => occlusion::mask_probability(
            models.require(ModelKind::MaskClassifier)?,
            frame,
            &crop(occlusion::FACE_CROP_SCALE, 224),
        )?,
        Classifier::Palm => {
            occlusion::palm_over_face(models.require(ModelKind::PalmDetector)?, frame, &d.bbox)?
        }
        Classifier::Antispoof => {
            // The anti-spoof model takes RGB in [0, 1] and gives a sigmoid "real" score.
            let o = models
                .require(ModelKind::Antispoof)?
                .run(frame.sample_square(
                    &crop(occlusion::ANTISPOOF_CROP_SCALE, 128),
                    128,
                    1.0 / 255.0,
                    0.0,
                ))?;
            let real = o.first().and_then(|o| o.first()).copied().unwrap_or(0.0);
            real.clamp(0.0, 1.0) * 100.0
        }
    }))
}

/// Runs the per-face classifiers (mask, palm, anti-spoof) that are loaded.
pub fn classify(models: &Models, frame: &FrameView, d: &Detection) -> Result<ClassifierScores> {
    let mut out = ClassifierScores::default();
    for which in Classifier::ALL {
        out.set(which, classify_one(models, frame, d, which)?);
    }
    Ok(out)
}

/// The measures of one face from its mesh, plus the classifiers' scores when given.
pub fn face_analysis(
    frame: &FrameView,
    d: &Detection,
    mesh: &FaceMesh,
    scores: Option<&ClassifierScores>,
    opts: &AnalyzeOptions,
) -> FaceAnalysis {
    let (er, el) = mesh.eye_openness();
    let quality = quality::measure(frame, &d.bbox);
    let (mut occ, mut cues) = (None, None);
    if let Some((mask_probability, palm_score)) = scores.and_then(|s| s.mask.zip(s.palm)) {
        let mut c = occlusion::region_cues(frame, mesh);
        c.mask_probability = mask_probability;
        c.palm_score = palm_score;
        c.mesh_presence = mesh.presence;
        occ = Some(occlusion::score(&c));
        cues = Some(c);
    }
    let landmarks = if opts.keep_landmarks {
        mesh.points.iter().flat_map(|p| [p.x, p.y, p.z]).collect()
    } else {
        Vec::new()
    };
    FaceAnalysis {
        detection: d.clone(),
        mesh_presence: mesh.presence,
        pose: mesh.pose(),
        eye_openness: [er, el],
        quality,
        occlusion: occ,
        occlusion_cues: cues,
        passive_liveness: scores.and_then(|s| s.passive_liveness),
        landmarks,
    }
}
