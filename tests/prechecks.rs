//! The on-device prechecks on real photos and on transformations of them made here:
//! each case must give its reason code, and the clean photo must pass the default policy.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use liveform::frame::Frame;
use liveform::geometry::{BBox, Point};
use liveform::policy::{judge, Policy, Reason, Verdict};
use liveform::vision::{analyze, Analysis, AnalyzeOptions};

/// The astronaut's face box as measured once with the reference decoder
/// (../shared/MODELS.md: (179, 82)–(274, 177) on the 512×512 image).
const ASTRONAUT_BOX: BBox = BBox {
    x: 179.0,
    y: 82.0,
    width: 95.0,
    height: 95.0,
};

fn check(frame: &Frame) -> (Analysis, Verdict) {
    let a = analyze(models(), &frame.view().unwrap(), &AnalyzeOptions::default())
        .expect("analysis runs");
    let v = judge(&Policy::default(), &a, None);
    (a, v)
}

fn assert_reason(frame: &Frame, reason: Reason) -> Analysis {
    let (a, v) = check(frame);
    assert!(
        v.reasons.contains(&reason),
        "expected {:?}, got {:?}\nanalysis: {}",
        reason,
        v.reasons,
        serde_json::to_string(&a.face).unwrap()
    );
    a
}

fn astronaut() -> Frame {
    photo("astronaut.png")
}

#[test]
fn clean_photos_pass_and_the_box_matches_the_reference() {
    let (a, v) = check(&astronaut());
    assert!(v.passed, "astronaut: {:?} {:?}", v.reasons, a.face);
    assert_eq!(a.face_count(), 1);
    let f = a.face.as_ref().unwrap();
    let iou = f.detection.bbox.iou(&ASTRONAUT_BOX);
    assert!(
        iou >= 0.7,
        "IoU {iou} with the reference box; got {:?}",
        f.detection.bbox
    );
    // The six keypoints fall inside the face box, eyes above the mouth.
    let k = f.detection.keypoints;
    assert!(k[0].y < k[3].y && k[1].y < k[3].y);
    assert!(
        k[0].x < k[1].x,
        "the subject's right eye is on the image's left"
    );

    let (a, v) = check(&photo("grace_hopper.jpg"));
    assert!(v.passed, "grace hopper: {:?} {:?}", v.reasons, a.face);
}

#[test]
fn the_verdict_carries_the_policy_snapshot() {
    let policy =
        Policy::from_json(r#"{"livenessThreshold": 85, "faceMatchThreshold": 99}"#).unwrap();
    let a = analyze(
        models(),
        &astronaut().view().unwrap(),
        &AnalyzeOptions::default(),
    )
    .unwrap();
    let v = judge(&policy, &a, Some(50.0));
    assert_eq!(v.policy, policy);
    assert_eq!(v.reasons, vec![Reason::LivenessLow]);
    assert!(judge(&policy, &a, Some(90.0)).passed);
}

#[test]
fn no_face() {
    // The astronaut photo's lower right: suit, flag and background, no face.
    let frame = crop(&astronaut(), 300, 300, 212, 212);
    let (a, v) = check(&frame);
    assert_eq!(a.face_count(), 0, "{:?}", a.faces);
    assert_eq!(v.reasons, vec![Reason::NoFace]);
    let (_, v) = check(&canvas(640, 480, [128, 128, 128]));
    assert_eq!(v.reasons, vec![Reason::NoFace]);
}

#[test]
fn two_faces() {
    // Two faces side by side: a crop around each photo's face.
    let mut frame = canvas(400, 200, [90, 90, 90]);
    paste(&mut frame, &crop(&astronaut(), 126, 30, 200, 200), 0, 0);
    paste(
        &mut frame,
        &resize(
            &crop(&photo("grace_hopper.jpg"), 117, 92, 300, 300),
            200,
            200,
        ),
        200,
        0,
    );
    let a = assert_reason(&frame, Reason::MultipleFaces);
    assert_eq!(a.face_count(), 2);
}

#[test]
fn too_small() {
    // The photo shrunk to 62% in the middle of a grey frame: still detected, too far.
    let mut frame = canvas(512, 512, [120, 120, 120]);
    paste(&mut frame, &resize(&astronaut(), 320, 320), 96, 96);
    assert_reason(&frame, Reason::FaceTooSmall);
}

#[test]
fn too_close() {
    // A crop barely larger than the face.
    let b = ASTRONAUT_BOX;
    let frame = crop(&astronaut(), b.x as u32 - 5, b.y as u32 - 8, 106, 110);
    assert_reason(&frame, Reason::FaceTooClose);
}

#[test]
fn off_centre() {
    // A crop that leaves the face in the top-left corner.
    let frame = crop(&astronaut(), 165, 60, 347, 347);
    let (_, v) = check(&frame);
    assert!(
        v.reasons.contains(&Reason::FaceOffCentre),
        "{:?}",
        v.reasons
    );
    assert!(
        !v.reasons.contains(&Reason::FaceTooSmall),
        "{:?}",
        v.reasons
    );
}

#[test]
fn too_dark() {
    assert_reason(&map_pixels(&astronaut(), |v| v * 0.3), Reason::TooDark);
}

#[test]
fn too_bright() {
    assert_reason(
        &map_pixels(&astronaut(), |v| v * 1.2 + 60.0),
        Reason::TooBright,
    );
}

#[test]
fn blurred() {
    assert_reason(&blur(&astronaut(), 4.0), Reason::Blurred);
}

/// Analysis of the clean photo, for placing occluders on its landmarks.
fn clean_face() -> liveform::vision::FaceAnalysis {
    let opts = AnalyzeOptions {
        keep_landmarks: true,
        ..Default::default()
    };
    let a = analyze(models(), &astronaut().view().unwrap(), &opts).unwrap();
    a.face.unwrap()
}

fn landmark(f: &liveform::vision::FaceAnalysis, i: usize) -> Point {
    Point::new(f.landmarks[i * 3], f.landmarks[i * 3 + 1])
}

#[test]
fn painted_mask() {
    let f = clean_face();
    let nose = landmark(&f, 1);
    let chin = landmark(&f, 152);
    let (l, r) = (landmark(&f, 234), landmark(&f, 454));
    let mut frame = astronaut();
    // A pale blue surgical mask from just under the nose tip to below the chin, ear to ear.
    let top = nose.y - 4.0;
    paint(&mut frame, [150, 190, 230], |x, y| {
        y >= top && y <= chin.y + 6.0 && x >= l.x + 3.0 && x <= r.x - 3.0
    });
    assert_reason(&frame, Reason::MaskOrLowerFaceCovered);
}

#[test]
fn painted_sunglasses() {
    let f = clean_face();
    let (re, le) = (landmark(&f, 159), landmark(&f, 386));
    let (ro, li) = (landmark(&f, 33), landmark(&f, 263));
    let eye_w = (landmark(&f, 133).x - ro.x).abs();
    let rc = Point::new(
        (ro.x + landmark(&f, 133).x) / 2.0,
        (re.y + landmark(&f, 145).y) / 2.0,
    );
    let lc = Point::new(
        (li.x + landmark(&f, 362).x) / 2.0,
        (le.y + landmark(&f, 374).y) / 2.0,
    );
    let mut frame = astronaut();
    paint(&mut frame, [20, 20, 25], |x, y| {
        in_ellipse(x, y, rc, eye_w * 0.85, eye_w * 0.6)
            || in_ellipse(x, y, lc, eye_w * 0.85, eye_w * 0.6)
            || (y > rc.y - 2.0 && y < rc.y + 1.0 && x > rc.x && x < lc.x)
    });
    assert_reason(&frame, Reason::EyesCovered);
}

#[test]
fn hand_over_the_face() {
    let f = clean_face();
    let mouth = landmark(&f, 13);
    let face_w = landmark(&f, 454).x - landmark(&f, 234).x;
    // Skin colour taken from the subject's own cheek, as a real hand would be.
    let cheek = landmark(&f, 50);
    let skin = mean_rgb(&astronaut(), &BBox::from_center(cheek.x, cheek.y, 6.0, 6.0));
    let shade = skin.map(|c| (c as f32 * 0.85) as u8);
    let palm = Point::new(mouth.x, mouth.y + face_w * 0.05);
    let mut frame = astronaut();
    let fw = face_w * 0.09;
    paint(&mut frame, skin, |x, y| {
        // A palm across the mouth and chin, four fingers up over the cheek and nose, a thumb.
        in_ellipse(x, y, palm, face_w * 0.38, face_w * 0.26)
            || (0..4).any(|i| {
                let cx = palm.x - face_w * 0.27 + i as f32 * face_w * 0.18;
                in_box(
                    x,
                    y,
                    &BBox {
                        x: cx - fw / 2.0,
                        y: palm.y - face_w * 0.62,
                        width: fw,
                        height: face_w * 0.5,
                    },
                )
            })
            || in_ellipse(
                x,
                y,
                Point::new(palm.x + face_w * 0.42, palm.y + face_w * 0.05),
                face_w * 0.16,
                fw * 0.6,
            )
    });
    // Finger creases, so the hand is not one flat patch.
    paint(&mut frame, shade, |x, y| {
        (0..3).any(|i| {
            let cx = palm.x - face_w * 0.18 + i as f32 * face_w * 0.18;
            (x - cx).abs() < 1.0 && y > palm.y - face_w * 0.6 && y < palm.y - face_w * 0.15
        })
    });
    assert_reason(&frame, Reason::HandOverFace);
}

/// The astronaut with a yellow hard hat painted down to just above the brows.
fn hard_hat() -> Frame {
    let f = clean_face();
    let brow = landmark(&f, 9);
    let mut frame = astronaut();
    let (l, r) = (landmark(&f, 234).x - 15.0, landmark(&f, 454).x + 15.0);
    paint(&mut frame, [235, 190, 30], |x, y| {
        y < brow.y - 3.0 && y > brow.y - 90.0 && x > l && x < r
    });
    frame
}

#[test]
fn head_cover() {
    assert_reason(&hard_hat(), Reason::HeadCovered);
}

#[test]
fn occlusion_modes_tolerate_what_the_project_allows() {
    let frame = hard_hat();
    let a = analyze(models(), &frame.view().unwrap(), &AnalyzeOptions::default()).unwrap();
    let helmet_ok = Policy::from_json(r#"{"headOcclusionThreshold": 100}"#).unwrap();
    assert!(!judge(&helmet_ok, &a, None)
        .reasons
        .contains(&Reason::HeadCovered));
    let mask_ok = Policy::from_json(r#"{"faceOcclusionThreshold": 100}"#).unwrap();
    assert!(judge(&mask_ok, &a, None)
        .reasons
        .contains(&Reason::HeadCovered));
    let off = Policy::from_json(r#"{"occlusionBlocking": false}"#).unwrap();
    let v = judge(&off, &a, None);
    assert!(v.passed, "{:?}", v.reasons);
}

/// Writes the astronaut's native analysis and verdict for the browser test (tests/web.rs),
/// which runs the same pipeline in wasm and compares. scripts/test.sh runs this first.
#[test]
fn native_reference_for_the_browser_test() {
    let (a, v) = check(&astronaut());
    assert!(v.passed);
    let json = serde_json::json!({ "analysis": a, "verdict": v });
    let path = root().join("tests/.generated/native-reference.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}
