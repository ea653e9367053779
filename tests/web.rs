//! Browser tests (wasm-bindgen-test in headless Chromium, run by scripts/test.sh):
//! - the prechecks through the wasm-bindgen exports give the native verdict and scores;
//! - the fake camera opens through getUserMedia, gives real frames, and stops;
//! - the handoff QR code, drawn by the browser at several sizes and read back from the
//!   canvas pixels, decodes (rqrr) to the exact link; device facts and placement.
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
/// The NNEF forms, which the browser build loads (`ModelFormat::LOADED`).
const MODELS: [(&str, &[u8]); 5] = [
    (
        "face_detector",
        include_bytes!("../models/face_detection_short_range.nnef.tar"),
    ),
    (
        "face_mesh",
        include_bytes!("../models/face_landmark.nnef.tar"),
    ),
    (
        "antispoof",
        include_bytes!("../models/human_antispoof.nnef.tar"),
    ),
    (
        "mask_classifier",
        include_bytes!("../models/face_mask_detector.nnef.tar"),
    ),
    (
        "palm_detector",
        include_bytes!("../models/mphands_palm_detection_lite.nnef.tar"),
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

/// Rasterises an SVG document the way the page shows it (an `<img>`), drawn onto a
/// `size`×`size` canvas; returns the canvas's pixels as luma.
async fn rasterise_svg(svg: &str, size: u32) -> Vec<u8> {
    use base64::Engine as _;
    let document = web_sys::window().unwrap().document().unwrap();
    let img: web_sys::HtmlImageElement = document.create_element("img").unwrap().unchecked_into();
    img.set_src(&format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ));
    JsFuture::from(img.decode()).await.expect("the SVG loads");
    let canvas: web_sys::HtmlCanvasElement =
        document.create_element("canvas").unwrap().unchecked_into();
    canvas.set_width(size);
    canvas.set_height(size);
    let ctx: web_sys::CanvasRenderingContext2d =
        canvas.get_context("2d").unwrap().unwrap().unchecked_into();
    let s = f64::from(size);
    ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, s, s)
        .unwrap();
    let rgba = ctx.get_image_data(0.0, 0.0, s, s).unwrap().data();
    rgba.chunks_exact(4)
        .map(|p| {
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        })
        .collect()
}

#[wasm_bindgen_test]
async fn the_qr_code_drawn_by_the_browser_decodes_to_the_exact_link() {
    use liveform::handoff::{handoff_link, HandoffTicket};
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).unwrap();
    let ticket = HandoffTicket::with_default_ttl(&random, "ses_browser", 0).unwrap();
    let links = [
        handoff_link("https://verify.example.com/liveform", &ticket.id).unwrap(),
        handoff_link("http://127.0.0.1:8080", &ticket.id).unwrap(),
    ];
    for link in &links {
        // The export the page calls.
        let svg = liveform::web::handoff::qr_svg(link).expect("qrSvg");
        // 41 modules (version 4 with the quiet zone) at ~3.7, ~7.3 and ~12.6 px per module:
        // none a whole number, so the browser must place module edges between pixels.
        // (The page shows the code at 280 CSS px or 72vw, at least ~6.8 px per module.)
        for size in [150u32, 300, 517] {
            let luma = rasterise_svg(&svg, size).await;
            let n = size as usize;
            // Crisp: the modules are drawn as pure black and white, no grey seams.
            let grey = luma.iter().filter(|&&v| v > 16 && v < 240).count();
            assert!(grey * 100 <= luma.len(), "{size}px: {grey} grey pixels");
            let mut img = rqrr::PreparedImage::prepare_from_greyscale(n, n, |x, y| luma[y * n + x]);
            let grids = img.detect_grids();
            assert_eq!(grids.len(), 1, "{size}px: one QR code found");
            let (_meta, content) = grids[0].decode().expect("decodes");
            assert_eq!(&content, link, "{size}px");
        }
    }
    // Bad input is a typed error, not a panic.
    let err = liveform::web::handoff::qr_svg(&"h".repeat(600)).unwrap_err();
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("handoff_link_too_long"));
}

#[wasm_bindgen_test]
async fn device_facts_and_placement_in_the_browser() {
    use liveform::handoff::device::{placement, HandoffMode, Placement};
    use liveform::web::handoff::{gather_device_facts, handoff_placement};
    let facts = gather_device_facts().await;
    // The test browser has Chromium's fake camera and no touch screen.
    assert_eq!(facts.has_camera, Some(true), "{facts:?}");
    assert_eq!(facts.max_touch_points, 0, "{facts:?}");
    assert!(!facts.opened_from_handoff);
    let js = liveform::web::handoff::detect_device().await.unwrap();
    let round: liveform::handoff::device::DeviceFacts =
        serde_wasm_bindgen::from_value(js.clone()).unwrap();
    assert_eq!(round, facts);
    for mode in ["off", "auto", "always"] {
        let got = handoff_placement(mode, js.clone()).unwrap();
        let want = placement(HandoffMode::parse(mode).unwrap(), &facts);
        assert_eq!(got, want.as_str());
    }
    assert_eq!(
        handoff_placement("auto", js.clone()).unwrap(),
        Placement::OfferHandoff.as_str(),
        "a desktop with a camera is offered the phone"
    );
    let err = handoff_placement("sometimes", js).unwrap_err();
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("bad_handoff_mode"));
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
