//! The handoff in the browser: the QR code, the device's facts, the placement decision and
//! the desktop's state machine. The page wires `fetch` and `EventSource` to [`HandoffDesk`]
//! and renders its views; every decision is in [`crate::handoff`].
//!
//! Errors carry the handoff's own stable codes (`handoff_link_too_long`,
//! `malformed_handoff_ticket`, `bad_handoff_event`, …) as `code`.

use crate::error::{Error, ErrorCode};
use crate::handoff::desk::{DeskConfig, DeskMachine};
use crate::handoff::device::{self, DeviceFacts, HandoffMode, Pointer};
use crate::handoff::{self, HandoffError};
use crate::web::{js_error, to_js};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// A handoff error as a JavaScript `Error` whose `code` is the handoff code.
fn handoff_error(e: HandoffError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

/// The QR code of `link` as an SVG document (error correction M, 4-module quiet zone, only a
/// `viewBox`, so it is crisp at any CSS size).
#[wasm_bindgen(js_name = qrSvg)]
pub fn qr_svg(link: &str) -> Result<String, JsValue> {
    handoff::qr_svg(link).map_err(handoff_error)
}

/// The ticket of an opened handoff link's query (`location.search`).
#[wasm_bindgen(js_name = handoffTicketFromQuery)]
pub fn handoff_ticket_from_query(query: &str) -> Result<String, JsValue> {
    handoff::parse_handoff_query(query).map_err(handoff_error)
}

/// Gathers the device's facts: primary pointer (`matchMedia`), `maxTouchPoints`, UA client
/// hints' `mobile`, whether a video input is listed, and whether the page was opened from a
/// handoff link. Never fails: what cannot be read stays unknown.
pub async fn gather_device_facts() -> DeviceFacts {
    let Some(window) = web_sys::window() else {
        return DeviceFacts::default();
    };
    let matches = |q: &str| {
        window
            .match_media(q)
            .ok()
            .flatten()
            .is_some_and(|m| m.matches())
    };
    let pointer = if matches("(pointer: fine)") {
        Pointer::Fine
    } else if matches("(pointer: coarse)") {
        Pointer::Coarse
    } else if matches("(pointer: none)") {
        Pointer::None
    } else {
        Pointer::Unknown
    };
    let navigator = window.navigator();
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok();
    let ua_mobile = get(&navigator, "userAgentData")
        .filter(|d| d.is_object())
        .and_then(|d| get(&d, "mobile"))
        .and_then(|m| m.as_bool());
    let search = window.location().search().unwrap_or_default();
    DeviceFacts {
        pointer,
        max_touch_points: u32::try_from(navigator.max_touch_points()).unwrap_or(0),
        ua_mobile,
        has_camera: camera_listed(&navigator).await,
        opened_from_handoff: !matches!(
            handoff::parse_handoff_query(&search),
            Err(HandoffError::MissingTicket)
        ),
    }
}

/// Whether `enumerateDevices()` lists a video input (labels are not needed, so no
/// permission is asked). No `mediaDevices` (an insecure context) means no usable camera.
async fn camera_listed(navigator: &web_sys::Navigator) -> Option<bool> {
    let devices = js_sys::Reflect::get(navigator, &"mediaDevices".into()).ok()?;
    if !devices.is_object() {
        return Some(false);
    }
    let enumerate: js_sys::Function = js_sys::Reflect::get(&devices, &"enumerateDevices".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: js_sys::Promise = enumerate.call0(&devices).ok()?.dyn_into().ok()?;
    let list = JsFuture::from(promise).await.ok()?;
    let list: js_sys::Array = list.dyn_into().ok()?;
    Some(list.iter().any(|d| {
        js_sys::Reflect::get(&d, &"kind".into())
            .ok()
            .and_then(|k| k.as_string())
            .as_deref()
            == Some("videoinput")
    }))
}

/// The device's facts as a plain object: `{ pointer, maxTouchPoints, uaMobile, hasCamera,
/// openedFromHandoff }`.
#[wasm_bindgen(js_name = detectDevice)]
pub async fn detect_device() -> Result<JsValue, JsValue> {
    to_js(&gather_device_facts().await)
}

/// Where to capture: `capture_here`, `offer_handoff` or `handoff_only`, for the project's
/// handoff `mode` (`off`, `auto`, `always`) and the device's `facts` (as `detectDevice`
/// gives them).
#[wasm_bindgen(js_name = handoffPlacement)]
pub fn handoff_placement(mode: &str, facts: JsValue) -> Result<String, JsValue> {
    let mode = HandoffMode::parse(mode).ok_or_else(|| handoff_error(HandoffError::BadMode))?;
    let facts: DeviceFacts = serde_wasm_bindgen::from_value(facts).map_err(|e| {
        js_error(Error::new(
            ErrorCode::BadInput,
            format!("device facts: {e}"),
        ))
    })?;
    Ok(device::placement(mode, &facts).as_str().to_owned())
}

/// The desktop while a phone takes the selfie. Each method returns the view: `{ screen,
/// state, link, qrSvg, action, error, canRestart, allowLocal, result }`. `action` is given
/// once: `mint` (POST `/api/sessions/{id}/handoff`, then `ticketIssued` or `ticketFailed`),
/// `close_events`, `restart`, `use_local`, or `none`.
#[wasm_bindgen]
pub struct HandoffDesk {
    machine: DeskMachine,
}

fn duration_ms(v: f64) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 {
        Ok(v as u64)
    } else {
        Err(handoff_error(HandoffError::BadTtl { ttl_ms: 0 }))
    }
}

#[wasm_bindgen]
impl HandoffDesk {
    /// A desktop handoff; `allow_local`: "use this device instead" is offered.
    #[wasm_bindgen(constructor)]
    pub fn new(allow_local: bool) -> HandoffDesk {
        HandoffDesk {
            machine: DeskMachine::new(DeskConfig::default(), allow_local),
        }
    }

    /// The handoff screen opened (asks for the first ticket).
    pub fn begin(&mut self, now_ms: f64) -> Result<JsValue, JsValue> {
        self.machine.begin(now_ms);
        self.step()
    }

    /// The server's mint answer: its `link` and `expiresInMs`.
    #[wasm_bindgen(js_name = ticketIssued)]
    pub fn ticket_issued(
        &mut self,
        now_ms: f64,
        link: &str,
        expires_in_ms: f64,
    ) -> Result<JsValue, JsValue> {
        self.machine
            .ticket_issued(now_ms, link, duration_ms(expires_in_ms)?)
            .map_err(handoff_error)?;
        self.step()
    }

    /// The mint failed with the server's error `code` (or `network`).
    #[wasm_bindgen(js_name = ticketFailed)]
    pub fn ticket_failed(&mut self, now_ms: f64, code: &str) -> Result<JsValue, JsValue> {
        self.machine.ticket_failed(now_ms, code);
        self.step()
    }

    /// Time passed (call about once a second).
    pub fn tick(&mut self, now_ms: f64) -> Result<JsValue, JsValue> {
        self.machine.tick(now_ms);
        self.step()
    }

    /// One `message` of the event stream (`event.data`).
    #[wasm_bindgen(js_name = serverEvent)]
    pub fn server_event(&mut self, now_ms: f64, data: &str) -> Result<JsValue, JsValue> {
        self.machine
            .server_event(now_ms, data)
            .map_err(handoff_error)?;
        self.step()
    }

    /// The event stream closed for good (`EventSource.readyState === CLOSED`).
    #[wasm_bindgen(js_name = eventsClosed)]
    pub fn events_closed(&mut self, now_ms: f64) -> Result<JsValue, JsValue> {
        self.machine.events_closed(now_ms);
        self.step()
    }

    /// "Start again" pressed.
    #[wasm_bindgen(js_name = startAgain)]
    pub fn start_again(&mut self) -> Result<JsValue, JsValue> {
        self.machine.start_again();
        self.step()
    }

    /// "Use this device instead" pressed.
    #[wasm_bindgen(js_name = useThisDevice)]
    pub fn use_this_device(&mut self) -> Result<JsValue, JsValue> {
        self.machine.use_this_device();
        self.step()
    }

    /// The current view, without any pending action.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        to_js(&self.machine.view())
    }

    fn step(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.machine.take_view())
    }
}
