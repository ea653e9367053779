//! The upload: `fetch` POST of the sealed envelope with an idempotency key, retried with
//! exponential backoff and jitter on network errors, timeouts, 408, 5xx, `429 rate_limited`
//! and `409 upload_in_progress`, never on other 4xx (the decision and the schedule are the
//! core's [`crate::upload::retry`]), with a progress callback; an upload that finds the page
//! offline waits for the `online` event. The server stores one result per idempotency key,
//! so a retry after a lost response returns the first result instead of storing a second.

use crate::error::{Error, ErrorCode};
use crate::upload::retry::UPLOAD_RETRY as POLICY;
use crate::upload::retry::{next_step, parse_retry_after_ms, AttemptOutcome, NextStep};
use crate::web::js_error;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

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

/// What one attempt came to: the outcome the retry decision reads, and the answer's JSON
/// (`NULL` without one).
struct Attempt {
    status: Option<u16>,
    code: Option<String>,
    retry_after_ms: Option<u64>,
    json: JsValue,
}

impl Attempt {
    fn outcome(&self) -> AttemptOutcome<'_> {
        match self.status {
            None => AttemptOutcome::NoAnswer,
            Some(status) => AttemptOutcome::Answer {
                status,
                code: self.code.as_deref(),
                retry_after_ms: self.retry_after_ms,
            },
        }
    }

    /// The refusal as a JavaScript error with the server's code.
    fn refusal(&self) -> JsValue {
        let e = js_sys::Reflect::get(&self.json, &"error".into()).unwrap_or(JsValue::NULL);
        let msg = js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|c| c.as_string());
        upload_error(
            self.code.as_deref().unwrap_or("upload_rejected"),
            msg.unwrap_or_else(|| {
                format!(
                    "the server refused the upload (HTTP {})",
                    self.status.unwrap_or(0)
                )
            }),
        )
    }
}

/// One attempt. `Err` only when the request cannot even be built.
async fn attempt(
    url: &str,
    body: &[u8],
    key: &str,
    captured_at_ms: f64,
) -> Result<Attempt, JsValue> {
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
    let no_answer = Attempt {
        status: None,
        code: None,
        retry_after_ms: None,
        json: JsValue::NULL,
    };
    let Ok(response) = result else {
        window.clear_timeout_with_handle(timer);
        return Ok(no_answer); // network error or timeout
    };
    let response: Response = response.unchecked_into();
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| parse_retry_after_ms(&v));
    // The body is read under the same timer: a connection cut mid-body is no answer.
    let json = match response.json() {
        Ok(p) => JsFuture::from(p).await,
        Err(e) => Err(e),
    };
    window.clear_timeout_with_handle(timer);
    let json = match json {
        Ok(j) => j,
        Err(_) if (200..300).contains(&status) => return Ok(no_answer),
        Err(_) => JsValue::NULL,
    };
    // The server's error body: { error: { code, message } }.
    let code = js_sys::Reflect::get(&json, &"error".into())
        .ok()
        .and_then(|e| js_sys::Reflect::get(&e, &"code".into()).ok())
        .and_then(|c| c.as_string());
    Ok(Attempt {
        status: Some(status),
        code,
        retry_after_ms,
        json,
    })
}

/// Uploads a sealed envelope to `url` and resolves with the server's JSON answer.
/// `progress` (optional) is called with `{ attempt, maxAttempts, state }` where state is
/// `sending`, `retrying` or `offline`. Rejects with `code` = the server's error code on a
/// refusal, or `upload_failed` after the last attempt.
#[wasm_bindgen(js_name = uploadSealed)]
pub async fn upload_sealed(
    url: String,
    envelope: Vec<u8>,
    idempotency_key: String,
    captured_at_ms: f64,
    progress: Option<js_sys::Function>,
) -> Result<JsValue, JsValue> {
    let mut n = 1;
    loop {
        if web_sys::window().is_some_and(|w| !w.navigator().on_line()) {
            report(&progress, n, "offline");
            wait_online().await;
        }
        report(&progress, n, "sending");
        let a = attempt(&url, &envelope, &idempotency_key, captured_at_ms).await?;
        let random = (js_sys::Math::random() * u32::MAX as f64) as u64;
        match next_step(&POLICY, n, &a.outcome(), random) {
            NextStep::Done => return Ok(a.json),
            NextStep::Refused => return Err(a.refusal()),
            NextStep::GaveUp => break,
            NextStep::RetryAfter(delay) => {
                n += 1;
                report(&progress, n, "retrying");
                sleep(i32::try_from(delay).unwrap_or(i32::MAX)).await;
            }
        }
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
