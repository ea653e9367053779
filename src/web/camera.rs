//! The camera: a live `getUserMedia` stream (never a file), frames grabbed through a canvas
//! into one reused RGBA buffer, and `stop()` releasing every track.

use crate::error::{Error, ErrorCode};
use crate::web::js_error;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, MediaStream,
    MediaStreamConstraints, MediaStreamTrack,
};

/// Why the camera could not start; the string form is the stable code the page maps to a
/// screen with a way out.
fn camera_error(e: JsValue) -> JsValue {
    let name = js_sys::Reflect::get(&e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    let (code, msg) = match name.as_str() {
        "NotAllowedError" | "SecurityError" => {
            ("camera_permission_denied", "camera permission was denied")
        }
        "NotFoundError" | "DevicesNotFoundError" => ("camera_not_found", "no camera found"),
        "OverconstrainedError" => (
            "camera_constraints",
            "no camera satisfies the requested resolution",
        ),
        "NotReadableError" | "AbortError" => (
            "camera_in_use",
            "the camera is in use by another application",
        ),
        _ => ("camera_failed", "the camera could not be started"),
    };
    let err = js_error(Error::new(ErrorCode::BadState, format!("{msg} ({name})")));
    let _ = js_sys::Reflect::set(&err, &"code".into(), &code.into());
    err
}

/// A running camera bound to a `<video>` element.
#[wasm_bindgen]
pub struct Camera {
    stream: MediaStream,
    video: HtmlVideoElement,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    buffer: Vec<u8>,
}

#[wasm_bindgen]
impl Camera {
    /// Opens the front camera (ideal 1280×720, 640×480 accepted) and plays it in `video`.
    /// `device_id` picks a specific camera.
    pub async fn start(
        video: HtmlVideoElement,
        device_id: Option<String>,
    ) -> Result<Camera, JsValue> {
        let window = web_sys::window()
            .ok_or_else(|| js_error(Error::new(ErrorCode::BadState, "no window")))?;
        let devices = window.navigator().media_devices().map_err(|_| {
            js_error(Error::new(
                ErrorCode::BadState,
                "camera API unavailable (needs https)",
            ))
        })?;
        let video_c = js_sys::Object::new();
        let set = |o: &js_sys::Object, k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(o, &k.into(), &v);
        };
        let ideal = |n: f64, min: f64| {
            let o = js_sys::Object::new();
            set(&o, "ideal", n.into());
            set(&o, "min", min.into());
            o
        };
        set(&video_c, "width", ideal(1280.0, 640.0).into());
        set(&video_c, "height", ideal(720.0, 480.0).into());
        match device_id {
            Some(id) => {
                let exact = js_sys::Object::new();
                set(&exact, "exact", id.into());
                set(&video_c, "deviceId", exact.into());
            }
            None => set(&video_c, "facingMode", "user".into()),
        }
        let constraints = MediaStreamConstraints::new();
        constraints.set_video(&video_c);
        constraints.set_audio(&JsValue::FALSE);
        let promise = devices
            .get_user_media_with_constraints(&constraints)
            .map_err(camera_error)?;
        let stream: MediaStream = JsFuture::from(promise)
            .await
            .map_err(camera_error)?
            .unchecked_into();
        video.set_muted(true);
        let _ = video.set_attribute("playsinline", "");
        video.set_src_object(Some(&stream));
        if let Ok(p) = video.play() {
            JsFuture::from(p).await.map_err(camera_error)?;
        }
        let document = window
            .document()
            .ok_or_else(|| js_error(Error::new(ErrorCode::BadState, "no document")))?;
        let canvas: HtmlCanvasElement = document.create_element("canvas")?.unchecked_into();
        let opts = js_sys::Object::new();
        set(&opts, "willReadFrequently", JsValue::TRUE);
        let ctx: CanvasRenderingContext2d = canvas
            .get_context_with_context_options("2d", &opts)?
            .ok_or_else(|| js_error(Error::new(ErrorCode::BadState, "no 2d canvas")))?
            .unchecked_into();
        Ok(Camera {
            stream,
            video,
            canvas,
            ctx,
            buffer: Vec::new(),
        })
    }

    /// Current frame width in pixels (0 until the first frame).
    pub fn width(&self) -> u32 {
        self.video.video_width()
    }

    /// Current frame height in pixels.
    pub fn height(&self) -> u32 {
        self.video.video_height()
    }

    /// Grabs the current frame as RGBA into the reused buffer and returns a copy for JS.
    /// Fails with `camera_no_frame` before the first frame has arrived.
    #[wasm_bindgen(js_name = grabFrame)]
    pub fn grab_frame(&mut self) -> Result<Vec<u8>, JsValue> {
        self.grab()?;
        Ok(self.buffer.clone())
    }

    /// Whether every track is live.
    #[wasm_bindgen(js_name = isLive)]
    pub fn is_live(&self) -> bool {
        let tracks = self.stream.get_tracks();
        tracks.length() > 0
            && tracks.iter().all(|t| {
                t.dyn_into::<MediaStreamTrack>()
                    .map(|t| t.ready_state() == web_sys::MediaStreamTrackState::Live)
                    .unwrap_or(false)
            })
    }

    /// The camera's label (for the injection signals; may be empty before permission).
    pub fn label(&self) -> String {
        self.stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map(|t| t.label())
            .unwrap_or_default()
    }

    /// Stops every track and detaches the stream from the video element.
    pub fn stop(&self) {
        for t in self.stream.get_tracks().iter() {
            if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                t.stop();
            }
        }
        self.video.set_src_object(None);
    }
}

impl Camera {
    /// Grabs the current frame into the internal buffer (width × height × 4 bytes).
    pub fn grab(&mut self) -> Result<&[u8], JsValue> {
        let (w, h) = (self.video.video_width(), self.video.video_height());
        if w == 0 || h == 0 {
            let err = js_error(Error::new(ErrorCode::BadState, "no camera frame yet"));
            let _ = js_sys::Reflect::set(&err, &"code".into(), &"camera_no_frame".into());
            return Err(err);
        }
        if self.canvas.width() != w || self.canvas.height() != h {
            self.canvas.set_width(w);
            self.canvas.set_height(h);
        }
        self.ctx
            .draw_image_with_html_video_element(&self.video, 0.0, 0.0)?;
        let data = self.ctx.get_image_data(0.0, 0.0, w as f64, h as f64)?;
        self.buffer = data.data().0;
        Ok(&self.buffer)
    }
}
