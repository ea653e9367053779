//! The upload: `fetch` POST of the sealed envelope with an idempotency key, retried with
//! exponential backoff and jitter on network errors, timeouts and 5xx, never on 4xx, with a
//! progress callback; an upload that finds the page offline waits for the `online` event.
//! The server stores one result per idempotency key, so a retry after a lost response
//! returns the first result instead of storing a second.

use crate::error::{Error, ErrorCode};
use crate::web::js_error;
use crate::webhook::{retry_delay_ms, RetryPolicy};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// Upload attempts in all, and the backoff between them (at most 1, 2, 4, 8 s …, capped).
const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay_ms: 1_000,
    max_delay_ms: 15_000,
};
/// One attempt is abandoned after this long.
const ATTEMPT_TIMEOUT_MS: i32 = 30_000;

fn upload_error(code: &str, message: String) -> JsValue {
    let err = js_error(Error::new(ErrorCode::BadState, message));
    let _ = js_sys::Reflect::set(&err, &"code".into(), &code.into());
    err
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Resolves when the browser says it is online again.
async fn wait_online() {
    let Some(window) = web_sys::window() else {
        return;
    };
    if window.navigator().on_line() {
        return;
    }
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let opts = web_sys::AddEventListenerOptions::new();
        opts.set_once(true);
        let _ = window.add_event_listener_with_callback_and_add_event_listener_options(
            "online", &resolve, &opts,
        );
    });
    let _ = JsFuture::from(promise).await;
}

fn report(progress: &Option<js_sys::Function>, attempt: u32, state: &str) {
    if let Some(f) = progress {
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"attempt".into(), &attempt.into());
        let _ = js_sys::Reflect::set(&o, &"maxAttempts".into(), &POLICY.max_attempts.into());
        let _ = js_sys::Reflect::set(&o, &"state".into(), &state.into());
        let _ = f.call1(&JsValue::NULL, &o);
    }
}

/// One attempt: `Ok(Some(json))` on 2xx, `Ok(None)` when worth retrying (network error,
/// timeout, 5xx, 408, 429), `Err` on any other answer.
async fn attempt(
    url: &str,
    body: &[u8],
    key: &str,
    captured_at_ms: f64,
) -> Result<Option<JsValue>, JsValue> {
    let init = RequestInit::new();
    init.set_method("POST");
    let array = js_sys::Uint8Array::from(body);
    init.set_body(&array);
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/octet-stream")?;
    headers.set("Idempotency-Key", key)?;
    headers.set(
        "X-Liveform-Captured-At",
        &format!("{}", captured_at_ms as u64),
    )?;
    init.set_headers(&headers);
    let controller = web_sys::AbortController::new()?;
    init.set_signal(Some(&controller.signal()));
    let request = Request::new_with_str_and_init(url, &init)?;
    let window =
        web_sys::window().ok_or_else(|| upload_error("upload_failed", "no window".into()))?;
    let abort = Closure::once_into_js(move || controller.abort());
    let timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            abort.unchecked_ref(),
            ATTEMPT_TIMEOUT_MS,
        )
        .unwrap_or(0);
    let result = JsFuture::from(window.fetch_with_request(&request)).await;
    window.clear_timeout_with_handle(timer);
    let Ok(response) = result else {
        return Ok(None);
    }; // network error or timeout
    let response: Response = response.unchecked_into();
    let status = response.status();
    let json = match response.json() {
        Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    match status {
        200..=299 => Ok(Some(json)),
        408 | 429 | 500..=599 => Ok(None),
        _ => {
            // The server's error body: { error: { code, message } }.
            let e = js_sys::Reflect::get(&json, &"error".into()).unwrap_or(JsValue::NULL);
            let code = js_sys::Reflect::get(&e, &"code".into())
                .ok()
                .and_then(|c| c.as_string());
            let msg = js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|c| c.as_string());
            Err(upload_error(
                code.as_deref().unwrap_or("upload_rejected"),
                msg.unwrap_or_else(|| format!("the server refused the upload (HTTP {status})")),
            ))
        }
    }
}

/// Uploads a sealed envelope to `url` and resolves with the server's JSON answer.
/// `progress` (optional) is called with `{ attempt, maxAttempts, state }` where state is
/// `sending`, `retrying` or `offline`. Rejects with `code` = the server's error code on a
/// 4xx, or `upload_failed` after the last attempt.
#[wasm_bindgen(js_name = uploadSealed)]
pub async fn upload_sealed(
    url: String,
    envelope: Vec<u8>,
    idempotency_key: String,
    captured_at_ms: f64,
    progress: Option<js_sys::Function>,
) -> Result<JsValue, JsValue> {
    let mut n = 1;
    while let Some(delay) = retry_delay_ms(
        &POLICY,
        n,
        (js_sys::Math::random() * u32::MAX as f64) as u64,
    ) {
        if delay > 0 {
            report(&progress, n, "retrying");
            sleep(delay as i32).await;
        }
        if web_sys::window().is_some_and(|w| !w.navigator().on_line()) {
            report(&progress, n, "offline");
            wait_online().await;
        }
        report(&progress, n, "sending");
        if let Some(answer) = attempt(&url, &envelope, &idempotency_key, captured_at_ms).await? {
            return Ok(answer);
        }
        n += 1;
    }
    Err(upload_error(
        "upload_failed",
        format!(
            "the upload failed {} times; check the connection",
            POLICY.max_attempts
        ),
    ))
}

/// A fresh idempotency key: 128 random bits, hex.
#[wasm_bindgen(js_name = newIdempotencyKey)]
pub fn new_idempotency_key() -> Result<String, JsValue> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| js_error(Error::new(ErrorCode::BadState, format!("randomness: {e}"))))?;
    Ok(hex::encode(b))
}
