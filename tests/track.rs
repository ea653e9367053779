//! The face tracker (detect once, follow with the mesh, classifiers on key frames) against
//! the full analysis on the same frames, and the benchmark stages on a real frame.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use liveform::capture::Hint;
use liveform::frame::Frame;
use liveform::model::ModelKind;
use liveform::policy::{judge, judge_live, Policy, Reason};
use liveform::vision::stages::{fit_frame, Prepared, Stage};
use liveform::vision::track::{StepKind, Tracker, TrackerConfig};
use liveform::vision::{analyze, Analysis, AnalyzeOptions, Classifier, Models};

fn camera_frame(name: &str) -> Frame {
    fit_frame(&photo(name), 640, 480).expect("fits")
}

fn full(frame: &Frame) -> Analysis {
    analyze(models(), &frame.view().unwrap(), &AnalyzeOptions::default()).unwrap()
}

fn step(t: &mut Tracker, frame: &Frame) -> Analysis {
    t.step(models(), &frame.view().unwrap(), &AnalyzeOptions::default())
        .unwrap()
}

const DETECT_AND_CLASSIFY: StepKind = StepKind {
    detected: true,
    classified: StepKind::ALL_CLASSIFIERS,
};
const TRACK_ONLY: StepKind = StepKind {
    detected: false,
    classified: 0,
};
const fn tracked_and(c: Classifier) -> StepKind {
    StepKind {
        detected: false,
        classified: c.bit(),
    }
}

#[test]
fn tracked_frames_agree_with_the_full_analysis() {
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let frame = camera_frame(name);
        let reference = full(&frame);
        let want = reference.face.as_ref().expect("a face");
        let mut t = Tracker::new(TrackerConfig::default());
        for i in 0..12 {
            let a = step(&mut t, &frame);
            let kind = t.last_step();
            // classify_every = 10, spread: all three on the first frame, then one every third
            // frame (each refreshed every 9 frames).
            let want_kind = match i {
                0 => DETECT_AND_CLASSIFY,
                3 => tracked_and(Classifier::Mask),
                6 => tracked_and(Classifier::Palm),
                9 => tracked_and(Classifier::Antispoof),
                _ => TRACK_ONLY,
            };
            assert_eq!(kind, want_kind, "{name}: frame {i}");
            let got = a.face.as_ref().expect("tracked face");
            assert_eq!(a.face_count(), 1);
            let iou = got.detection.bbox.iou(&want.detection.bbox);
            assert!(iou >= 0.8, "{name} frame {i}: box IoU {iou}");
            assert!(got.mesh_presence > 0.9, "{name} frame {i}");
            for (g, w) in [
                (got.pose.yaw, want.pose.yaw),
                (got.pose.pitch, want.pose.pitch),
                (got.pose.roll, want.pose.roll),
            ] {
                assert!((g - w).abs() < 5.0, "{name} frame {i}: pose {g} vs {w}");
            }
            let rel =
                (got.quality.sharpness - want.quality.sharpness).abs() / want.quality.sharpness;
            assert!(rel < 0.25, "{name} frame {i}: sharpness {rel}");
            assert!(got.passive_liveness.is_some() && got.occlusion.is_some());
            let (vg, vw) = (
                judge(&Policy::default(), &a, None),
                judge(&Policy::default(), &reference, None),
            );
            assert_eq!(vg.passed, vw.passed, "{name} frame {i}: {:?}", vg.reasons);
            assert_eq!(vg.reasons, vw.reasons, "{name} frame {i}");
        }
    }
}

#[test]
fn a_lost_face_is_re_detected_and_a_new_face_is_found() {
    let face = camera_frame("astronaut.png");
    let empty = canvas(640, 480, [110, 110, 110]);
    let mut t = Tracker::new(TrackerConfig::default());
    step(&mut t, &face);
    step(&mut t, &face);
    // The face is gone: the mesh's presence drops, the detector runs and finds nothing.
    let a = step(&mut t, &empty);
    assert_eq!(a.face_count(), 0);
    assert!(t.last_step().detected);
    // It comes back: detected again, classified afresh.
    let a = step(&mut t, &face);
    assert_eq!(a.face_count(), 1);
    assert_eq!(t.last_step(), DETECT_AND_CLASSIFY);
}

#[test]
fn re_detection_period_and_forced_key_frames() {
    let face = camera_frame("grace_hopper.jpg");
    let mut t = Tracker::new(TrackerConfig {
        redetect_every: 4,
        classify_every: 100,
        ..Default::default()
    });
    let kinds: Vec<StepKind> = (0..9)
        .map(|_| {
            step(&mut t, &face);
            t.last_step()
        })
        .collect();
    let detected: Vec<bool> = kinds.iter().map(|k| k.detected).collect();
    assert_eq!(
        detected,
        [true, false, false, false, true, false, false, false, true]
    );
    // The same face re-detected keeps its classifier scores: classified only once.
    assert_eq!(kinds.iter().filter(|k| k.classified != 0).count(), 1);
    t.force_key_frame();
    step(&mut t, &face);
    assert_eq!(t.last_step(), DETECT_AND_CLASSIFY);
}

/// Per classifier, the frames it ran on over `frames` tracker steps on `frame`.
fn classifier_frames(config: TrackerConfig, frame: &Frame, frames: usize) -> [Vec<usize>; 3] {
    let mut t = Tracker::new(config);
    let mut ran: [Vec<usize>; 3] = Default::default();
    for i in 0..frames {
        if i == 25 {
            t.force_key_frame(); // the upload frame: all three, and the schedule restarts
        }
        step(&mut t, frame);
        for (c, list) in Classifier::ALL.iter().zip(ran.iter_mut()) {
            if t.last_step().classified & c.bit() != 0 {
                list.push(i);
            }
        }
    }
    ran
}

#[test]
fn spread_classifiers_one_per_frame_each_within_its_period() {
    let face = camera_frame("astronaut.png");
    for period in [3, 7, 10] {
        let config = TrackerConfig {
            classify_every: period,
            redetect_every: u32::MAX,
            ..Default::default()
        };
        let ran = classifier_frames(config, &face, 50);
        for (c, list) in Classifier::ALL.iter().zip(&ran) {
            assert_eq!(list[0], 0, "{c:?} runs on the first frame");
            assert!(list.contains(&25), "{c:?} runs on the forced key frame");
            let worst = list.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            assert!(
                worst <= period as usize,
                "{c:?} period {period}: gap {worst}"
            );
            assert!(
                50 - list.last().unwrap() <= period as usize,
                "{c:?} period {period}"
            );
        }
        // Apart from the first and the forced frame, no frame runs two classifiers.
        for i in (1..50).filter(|&i| i != 25) {
            let n = ran.iter().filter(|l| l.contains(&i)).count();
            assert!(n <= 1, "period {period}: frame {i} ran {n} classifiers");
        }
    }
    // Batched: all three together on the same frames.
    let batched = TrackerConfig {
        classify_every: 10,
        redetect_every: u32::MAX,
        spread_classifiers: false,
        ..Default::default()
    };
    let ran = classifier_frames(batched, &face, 40);
    assert_eq!(ran[0], [0, 10, 20, 25, 35]);
    assert!(ran.iter().all(|l| *l == ran[0]));
}

#[test]
fn classifiers_loaded_after_the_first_guidance_run_on_the_next_frames() {
    let face = camera_frame("grace_hopper.jpg");
    let mut guidance = Models::default();
    for kind in ModelKind::GUIDANCE {
        guidance.load(kind, &model_bytes(kind)).unwrap();
    }
    let mut t = Tracker::new(TrackerConfig::default());
    let view = face.view().unwrap();
    let opts = AnalyzeOptions::default();
    // Only the detector and the mesh: guidance, but no frame can pass yet.
    let first = t.step(&guidance, &view, &opts).unwrap();
    let f = first.face.as_ref().expect("a face");
    assert!(f.occlusion.is_none() && f.passive_liveness.is_none());
    let v = judge_live(&Policy::default(), &first, false);
    assert!(!v.passed);
    assert_eq!(v.reasons, [Reason::MeasureMissing]);
    assert!(judge_live(&Policy::default(), &full(&face), true).passed);
    assert!(!judge_live(&Policy::default(), &full(&face), false).passed);
    assert_eq!(
        Hint::for_reason(Reason::MeasureMissing),
        Hint::HoldStill,
        "a face is there: not 'no face'"
    );
    t.step(&guidance, &view, &opts).unwrap();
    // The classifiers arrive: each runs on the next frames, one per frame, then the schedule.
    let kinds: Vec<u8> = (0..4)
        .map(|_| {
            t.step(models(), &view, &opts).unwrap();
            t.last_step().classified
        })
        .collect();
    assert_eq!(
        kinds,
        [
            Classifier::Mask.bit(),
            Classifier::Palm.bit(),
            Classifier::Antispoof.bit(),
            0
        ]
    );
    let a = t.step(models(), &view, &opts).unwrap();
    let want = full(&face);
    assert_eq!(
        judge(&Policy::default(), &a, None).reasons,
        judge(&Policy::default(), &want, None).reasons
    );
    assert!(a.face.unwrap().occlusion.is_some());
}

#[test]
fn a_second_face_stays_reported_between_detections() {
    let mut frame = canvas(640, 480, [90, 90, 90]);
    paste(
        &mut frame,
        &crop(&photo("astronaut.png"), 126, 30, 240, 240),
        40,
        120,
    );
    paste(
        &mut frame,
        &resize(
            &crop(&photo("grace_hopper.jpg"), 117, 92, 300, 300),
            240,
            240,
        ),
        360,
        120,
    );
    let mut t = Tracker::new(TrackerConfig::default());
    for _ in 0..3 {
        assert_eq!(step(&mut t, &frame).face_count(), 2);
    }
    assert!(!t.last_step().detected);
}

#[test]
fn classifiers_off_means_none_reported() {
    let face = camera_frame("astronaut.png");
    let mut t = Tracker::new(TrackerConfig::default());
    let opts = AnalyzeOptions {
        classifiers: false,
        ..Default::default()
    };
    let a = t.step(models(), &face.view().unwrap(), &opts).unwrap();
    let f = a.face.unwrap();
    assert!(f.passive_liveness.is_none() && f.occlusion.is_none());
    assert_eq!(t.last_step().classified, 0);
}

#[test]
fn every_stage_runs_and_model_inputs_match_the_stages() {
    let prepared = Prepared::new(models(), camera_frame("astronaut.png")).expect("a face");
    for stage in Stage::ALL {
        if stage == Stage::Descriptor {
            continue; // the descriptor is not among the precheck models
        }
        let v = prepared.run(models(), stage).expect("stage runs");
        assert!(v.is_finite(), "{stage:?}");
        assert_eq!(Stage::from_name(stage.name()), Some(stage));
    }
    // The anti-spoof stage is its model on the prepared input; the detector's raw output on
    // the prepared input gives the same top score as the detect stage.
    let spoof = Prepared::run_model(
        models(),
        ModelKind::Antispoof,
        prepared.input(ModelKind::Antispoof),
    )
    .unwrap();
    assert_eq!(
        spoof[0][0],
        prepared.run(models(), Stage::Antispoof).unwrap()
    );
    let det = Prepared::run_model(
        models(),
        ModelKind::FaceDetector,
        prepared.input(ModelKind::FaceDetector),
    )
    .unwrap();
    let best_logit = det
        .iter()
        .find(|o| o.len() == 896)
        .unwrap()
        .iter()
        .copied()
        .fold(f32::MIN, f32::max);
    let score = 1.0 / (1.0 + (-best_logit).exp());
    assert!((score - prepared.detection().score).abs() < 1e-5);
    for kind in ModelKind::PRECHECKS {
        let n: usize = kind.input_shape().iter().product();
        assert_eq!(prepared.input(kind).len(), n, "{kind:?}");
    }
}
