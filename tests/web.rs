//! Browser tests (wasm-bindgen-test in headless Chromium, run by scripts/test.sh):
//! - the prechecks through the wasm-bindgen exports give the native verdict and scores;
//! - the fake camera opens through getUserMedia, gives real frames, and stops.
//!
//! The native reference is written by `tests/prechecks.rs` (run the native tests first).
#![cfg(target_arch = "wasm32")]

use liveform::frame::Frame;
use liveform::web::camera::Camera;
use liveform::web::Checker;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const ASTRONAUT: &[u8] = include_bytes!("data/astronaut.png");
const NATIVE_REFERENCE: &str = include_str!(".generated/native-reference.json");
const MODELS: [(&str, &[u8]); 5] = [
    (
        "face_detector",
        include_bytes!("../models/face_detection_short_range.onnx"),
    ),
    ("face_mesh", include_bytes!("../models/face_landmark.onnx")),
    (
        "antispoof",
        include_bytes!("../models/human_antispoof.onnx"),
    ),
    (
        "mask_classifier",
        include_bytes!("../models/face_mask_detector.onnx"),
    ),
    (
        "palm_detector",
        include_bytes!("../models/mphands_palm_detection_lite.onnx"),
    ),
];

/// Compares two JSON trees: same shape, same strings and booleans, numbers within 1e-3
/// (relative to the magnitude for values above 1). Returns the first difference.
fn diff(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            ((x - y).abs() > 1e-3 * x.abs().max(1.0))
                .then(|| format!("{path}: wasm {x} vs native {y}"))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: keys differ"));
            }
            x.iter().find_map(|(k, v)| match y.get(k) {
                Some(w) => diff(&format!("{path}.{k}"), v, w),
                None => Some(format!("{path}.{k}: missing natively")),
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: lengths {} vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| diff(&format!("{path}[{i}]"), v, w))
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

#[wasm_bindgen_test]
fn prechecks_in_wasm_match_native() {
    let mut checker = Checker::new();
    for (name, bytes) in MODELS {
        checker
            .load_model(name, bytes)
            .expect("model loads in wasm");
        assert!(checker.has_model(name));
    }
    let frame = Frame::decode(ASTRONAUT).unwrap();
    let out = checker
        .check(frame.width, frame.height, &frame.rgba, false)
        .expect("check runs");
    let wasm: Value = serde_wasm_bindgen::from_value(out).unwrap();
    let native: Value = serde_json::from_str(NATIVE_REFERENCE).unwrap();
    assert_eq!(wasm["verdict"]["passed"], Value::Bool(true));
    if let Some(d) = diff("", &wasm, &native) {
        panic!("wasm and native differ at {d}");
    }
}

#[wasm_bindgen_test]
fn a_corrupt_model_is_a_typed_error_not_a_panic() {
    let mut checker = Checker::new();
    let mut bytes = MODELS[0].1.to_vec();
    bytes[1000] ^= 1;
    let err = checker.load_model("face_detector", &bytes).unwrap_err();
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("model_checksum"));
    let err = checker.check(2, 2, &[0; 15], false).unwrap_err();
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("bad_image"));
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

#[wasm_bindgen_test]
async fn fake_camera_streams_real_frames_and_stops() {
    let document = web_sys::window().unwrap().document().unwrap();
    let video: web_sys::HtmlVideoElement =
        document.create_element("video").unwrap().unchecked_into();
    let mut camera = Camera::start(video, None)
        .await
        .expect("fake camera starts");
    for _ in 0..100 {
        if camera.width() > 0 {
            break;
        }
        sleep(50).await;
    }
    let (w, h) = (camera.width(), camera.height());
    assert!(w >= 320 && h >= 240, "frame size {w}x{h}");
    let frame = camera.grab_frame().expect("a frame");
    assert_eq!(frame.len(), (w * h * 4) as usize);
    // Chromium's fake device draws a coloured test pattern: many distinct pixel values.
    let mut distinct: Vec<[u8; 3]> = frame
        .chunks_exact(4)
        .step_by(97)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 8,
        "only {} distinct colours: not a real frame",
        distinct.len()
    );
    assert!(camera.is_live());
    camera.stop();
    assert!(!camera.is_live(), "stop() releases every track");
}

/// A track that ends from outside (unplugged, revoked, taken by the OS) is seen as not live,
/// and the capture flow turns it into the `camera_ended` error screen with a retry.
#[wasm_bindgen_test]
async fn a_camera_track_ended_from_outside_ends_the_attempt_with_a_retry() {
    use liveform::web::flow::CaptureFlow;
    let document = web_sys::window().unwrap().document().unwrap();
    let video: web_sys::HtmlVideoElement =
        document.create_element("video").unwrap().unchecked_into();
    let camera = Camera::start(video.clone(), None)
        .await
        .expect("fake camera starts");
    let mut flow = CaptureFlow::new();
    flow.start().unwrap();
    flow.camera_ready(0.0, camera.label(), 640, 480).unwrap();
    assert!(camera.is_live());
    // End the track the way the browser does when the device goes away: not via stop().
    let stream: web_sys::MediaStream = video.src_object().unwrap().unchecked_into();
    for t in stream.get_video_tracks().iter() {
        t.unchecked_into::<web_sys::MediaStreamTrack>().stop();
    }
    assert!(!camera.is_live(), "an ended track is not live");
    let view: Value =
        serde_wasm_bindgen::from_value(flow.camera_failed("camera_ended").unwrap()).unwrap();
    assert_eq!(view["screen"], "error");
    assert_eq!(view["error"], "camera_ended");
    assert_eq!(view["canRetry"], true, "{view}");
    // The retry asks for the camera again without using up an attempt.
    let view: Value = serde_wasm_bindgen::from_value(flow.start().unwrap()).unwrap();
    assert_eq!(
        (view["screen"].as_str(), view["attempt"].as_u64()),
        (Some("capture"), Some(1))
    );
}
