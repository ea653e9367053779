//! Each precheck stage runnable on its own, for benchmarks: the native criterion benches
//! (`benches/prechecks.rs`) and the browser bench page (`bench/`, through `web::bench`) run
//! this same code on the same frames, so their times compare stage by stage.
//!
//! [`Prepared`] runs detection and the mesh once on a frame and keeps what the later stages
//! need (the face, its mesh, every model's exact input tensor), so a stage can be timed
//! without the stages before it. Nothing here reads a clock: the caller times the calls.

use crate::error::{Error, ErrorCode, Result};
use crate::frame::{Frame, FrameView};
use crate::model::{Model, ModelKind};
use crate::vision::detect::{self, Detection, FACE_SSD};
use crate::vision::mesh::{self, FaceMesh};
use crate::vision::occlusion::{self, PALM_SSD};
use crate::vision::{descriptor, quality, AnalyzeOptions, Models};

/// One stage of the prechecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Face detection on the whole frame (letterbox, BlazeFace, decode, NMS).
    Detect,
    /// The face mesh on the detection's ROI (crop, model, points back to the frame).
    Mesh,
    /// Head pose and eye openness from the mesh.
    PoseEyes,
    /// Quality measures on the face box (brightness, contrast, sharpness, …).
    Quality,
    /// Occlusion cues from region statistics under the mesh (no model).
    Regions,
    /// The mask classifier on the face crop.
    Mask,
    /// The palm detector on the whole frame.
    Palm,
    /// The passive anti-spoof model on the tight face crop.
    Antispoof,
    /// The face descriptor (the backend's 1:1 match; not run on the device).
    Descriptor,
    /// The whole analysis with the per-face classifiers (what the capture loop runs today).
    AnalyzeFull,
    /// The whole analysis without the per-face classifiers.
    AnalyzeLight,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 11] = [
        Stage::Detect,
        Stage::Mesh,
        Stage::PoseEyes,
        Stage::Quality,
        Stage::Regions,
        Stage::Mask,
        Stage::Palm,
        Stage::Antispoof,
        Stage::Descriptor,
        Stage::AnalyzeFull,
        Stage::AnalyzeLight,
    ];

    /// The stable snake_case name (used by the bench page and the criterion ids).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Detect => "detect",
            Stage::Mesh => "mesh",
            Stage::PoseEyes => "pose_eyes",
            Stage::Quality => "quality",
            Stage::Regions => "regions",
            Stage::Mask => "mask",
            Stage::Palm => "palm",
            Stage::Antispoof => "antispoof",
            Stage::Descriptor => "descriptor",
            Stage::AnalyzeFull => "analyze_full",
            Stage::AnalyzeLight => "analyze_light",
        }
    }

    /// Parses [`Stage::name`].
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The model the stage needs besides detection and mesh, if any.
    pub fn model(self) -> Option<ModelKind> {
        match self {
            Stage::Mask => Some(ModelKind::MaskClassifier),
            Stage::Palm => Some(ModelKind::PalmDetector),
            Stage::Antispoof => Some(ModelKind::Antispoof),
            Stage::Descriptor => Some(ModelKind::FaceDescriptor),
            _ => None,
        }
    }
}

/// Fits a decoded photo into a `width`×`height` frame, centred on mid grey and scaled to
/// fit (bilinear), as `liveform make-video` makes the end-to-end camera frames.
pub fn fit_frame(photo: &Frame, width: u32, height: u32) -> Result<Frame> {
    let img = image::RgbaImage::from_raw(photo.width, photo.height, photo.rgba.clone())
        .ok_or_else(|| Error::new(ErrorCode::BadImage, "RGBA buffer size mismatch"))?;
    let s = (width as f32 / photo.width as f32).min(height as f32 / photo.height as f32);
    let nw = ((photo.width as f32 * s) as u32).clamp(1, width);
    let nh = ((photo.height as f32 * s) as u32).clamp(1, height);
    let small = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbaImage::from_pixel(width, height, image::Rgba([110, 110, 110, 255]));
    image::imageops::overlay(
        &mut canvas,
        &small,
        ((width - nw) / 2) as i64,
        ((height - nh) / 2) as i64,
    );
    Frame::from_rgba(width, height, canvas.into_raw())
}

/// A frame with its face found once, ready for timing any single stage.
#[derive(Debug, Clone)]
pub struct Prepared {
    frame: Frame,
    detection: Detection,
    mesh: FaceMesh,
}

fn model(models: &Models, kind: ModelKind) -> Result<&Model> {
    models.get(kind).ok_or_else(|| {
        Error::new(
            ErrorCode::BadState,
            format!("model {} is not loaded", kind.name()),
        )
    })
}

impl Prepared {
    /// Detects the main face and runs the mesh once. Fails when the frame has no face.
    pub fn new(models: &Models, frame: Frame) -> Result<Prepared> {
        let view = frame.view()?;
        let detection = detect::detect_faces(
            model(models, ModelKind::FaceDetector)?,
            &view,
            detect::MIN_SCORE,
        )?
        .into_iter()
        .next()
        .ok_or_else(|| Error::new(ErrorCode::BadInput, "no face in the benchmark frame"))?;
        let mesh = mesh::run_mesh(
            model(models, ModelKind::FaceMesh)?,
            &view,
            &mesh::roi_from_detection(&detection),
        )?;
        Ok(Prepared {
            frame,
            detection,
            mesh,
        })
    }

    /// The frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The main face as detected.
    pub fn detection(&self) -> &Detection {
        &self.detection
    }

    /// The main face's mesh.
    pub fn mesh(&self) -> &FaceMesh {
        &self.mesh
    }

    fn view(&self) -> FrameView<'_> {
        // The frame was checked when it was built.
        FrameView::new(self.frame.width, self.frame.height, &self.frame.rgba)
            .expect("a Frame is always a valid view")
    }

    /// The exact NHWC input tensor the prechecks give model `kind` on this frame (the
    /// pre-processing alone), so another engine can be fed the same numbers.
    pub fn input(&self, kind: ModelKind) -> Vec<f32> {
        let v = self.view();
        let d = &self.detection;
        let crop = |scale, size| {
            occlusion::face_crop(&d.bbox, d.keypoints[0], d.keypoints[1], scale, size)
        };
        match kind {
            ModelKind::FaceDetector => {
                let map = detect::letterbox(v.width(), v.height(), FACE_SSD.input);
                v.sample_square(&map, FACE_SSD.input, 2.0 / 255.0, -1.0)
            }
            ModelKind::FaceMesh => {
                v.sample_square(&mesh::roi_from_detection(d), mesh::INPUT, 1.0 / 255.0, 0.0)
            }
            ModelKind::Antispoof => v.sample_square(
                &crop(occlusion::ANTISPOOF_CROP_SCALE, 128),
                128,
                1.0 / 255.0,
                0.0,
            ),
            ModelKind::MaskClassifier => v.sample_square(
                &crop(occlusion::FACE_CROP_SCALE, 224),
                224,
                2.0 / 255.0,
                -1.0,
            ),
            ModelKind::PalmDetector => {
                let map = detect::letterbox(v.width(), v.height(), PALM_SSD.input);
                v.sample_square(&map, PALM_SSD.input, 1.0 / 255.0, 0.0)
            }
            ModelKind::FaceDescriptor => {
                v.sample_square(&crop(occlusion::FACE_CROP_SCALE, 224), 224, 1.0, 0.0)
            }
        }
    }

    /// Runs model `kind` alone on `input` (inference only, no pre- or post-processing).
    pub fn run_model(models: &Models, kind: ModelKind, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        model(models, kind)?.run(input)
    }

    /// Runs one stage and returns a number from its result (so the work cannot be skipped,
    /// and so engines can be compared on it).
    pub fn run(&self, models: &Models, stage: Stage) -> Result<f32> {
        let v = self.view();
        let d = &self.detection;
        let crop = |scale, size| {
            occlusion::face_crop(&d.bbox, d.keypoints[0], d.keypoints[1], scale, size)
        };
        Ok(match stage {
            Stage::Detect => detect::detect_faces(
                model(models, ModelKind::FaceDetector)?,
                &v,
                detect::MIN_SCORE,
            )?
            .first()
            .map_or(0.0, |f| f.score),
            Stage::Mesh => {
                mesh::run_mesh(
                    model(models, ModelKind::FaceMesh)?,
                    &v,
                    &mesh::roi_from_detection(d),
                )?
                .presence
            }
            Stage::PoseEyes => {
                let (r, l) = self.mesh.eye_openness();
                self.mesh.pose().yaw + r + l
            }
            Stage::Quality => quality::measure(&v, &d.bbox).sharpness,
            Stage::Regions => occlusion::region_cues(&v, &self.mesh).eye_luma_ratio,
            Stage::Mask => occlusion::mask_probability(
                model(models, ModelKind::MaskClassifier)?,
                &v,
                &crop(occlusion::FACE_CROP_SCALE, 224),
            )?,
            Stage::Palm => {
                occlusion::palm_over_face(model(models, ModelKind::PalmDetector)?, &v, &d.bbox)?
            }
            Stage::Antispoof => {
                let out =
                    model(models, ModelKind::Antispoof)?.run(self.input(ModelKind::Antispoof))?;
                out.first().and_then(|o| o.first()).copied().unwrap_or(0.0)
            }
            Stage::Descriptor => {
                descriptor::describe(model(models, ModelKind::FaceDescriptor)?, &v, d)?.0[0]
            }
            Stage::AnalyzeFull | Stage::AnalyzeLight => {
                let opts = AnalyzeOptions {
                    classifiers: stage == Stage::AnalyzeFull,
                    ..Default::default()
                };
                crate::vision::analyze(models, &v, &opts)?
                    .face
                    .map_or(0.0, |f| f.quality.sharpness)
            }
        })
    }
}
