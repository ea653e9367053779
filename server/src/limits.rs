//! Request limits: rates per client IP and per session, failed checks per submission, and
//! request timeouts. Every refusal is the API's error shape with a stable code and a
//! `Retry-After` in seconds:
//!
//! | limit | refusal |
//! |---|---|
//! | API requests per client IP (`perIp`, sliding window) | `429 rate_limited` |
//! | `POST`s per session, Start and upload attempts (`perSession`, sliding window) | `429 rate_limited` |
//! | rejected decisions per (project, submission) (`failedChecks`, exact sliding window over the stored results) | `429 too_many_failed_checks` at session creation and upload |
//! | request headers not received within `headerTimeoutMs` | the connection is closed |
//! | request body not received within `requestTimeoutMs` | `408 request_timeout` |
//! | no answer within `requestTimeoutMs` | `503 server_timeout` (an upload goes on being decided; a retry with its key collects the answer) |
//!
//! Body sizes are capped per route (`413 body_too_large` / `413 upload_too_large`, see
//! [`crate::app`]).
//!
//! The seeds limit submissions with a "Window Sliding method", allow 3 retries per
//! submission, and block abusive users; AWS advises at most 5 failed face checks per 3
//! minutes. The defaults follow: 5 rejected decisions per submission in any 3 minutes, and
//! rates generous enough for people behind one NAT.
//!
//! The rate windows are exact sliding logs: a key keeps the times of its last `max` events
//! (so a client at the limit costs `8 · max` bytes, an occasional one a few), and idle keys are
//! dropped. They live in memory, per process; the failed-check window is read from the
//! database, so it holds across restarts and processes too.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, to_sql_ms};

/// At most `max` events in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Events allowed per window (at least 1).
    pub max: u32,
    /// The window, in milliseconds (at least 1).
    pub window_ms: u64,
}

/// The limits section of the config (`"limits": {…}`); a rate set to `null` is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsConfig {
    /// API requests per client IP (IPv6 by /64). Default 300 per minute.
    #[serde(default = "default_per_ip")]
    pub per_ip: Option<RateLimit>,
    /// `POST`s per session (Start and upload attempts, replays included). Default 20 per
    /// minute: the page needs one Start and at most 8 upload attempts.
    #[serde(default = "default_per_session")]
    pub per_session: Option<RateLimit>,
    /// Rejected decisions per (project, submission). Default 5 per 3 minutes.
    #[serde(default = "default_failed_checks")]
    pub failed_checks: Option<RateLimit>,
    /// Longest time from the end of the request headers to the answer. Default 30 s (the
    /// page abandons an attempt after 30 s).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Longest time to receive a request's headers. Default 10 s.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// Behind a reverse proxy: the header it puts the client's address in (e.g.
    /// `x-forwarded-for`, whose last entry is taken, or `x-real-ip`). Only set it when every
    /// request comes through that proxy, or clients can pick their own address.
    #[serde(default)]
    pub client_ip_header: Option<String>,
}

fn default_per_ip() -> Option<RateLimit> {
    Some(RateLimit {
        max: 300,
        window_ms: 60_000,
    })
}

fn default_per_session() -> Option<RateLimit> {
    Some(RateLimit {
        max: 20,
        window_ms: 60_000,
    })
}

fn default_failed_checks() -> Option<RateLimit> {
    Some(RateLimit {
        max: 5,
        window_ms: 3 * 60_000,
    })
}

fn default_request_timeout() -> u64 {
    30_000
}

fn default_header_timeout() -> u64 {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_ip: default_per_ip(),
            per_session: default_per_session(),
            failed_checks: default_failed_checks(),
            request_timeout_ms: default_request_timeout(),
            header_timeout_ms: default_header_timeout(),
            client_ip_header: None,
        }
    }
}

impl LimitsConfig {
    /// No rate limits (load tests, fault tests); the default timeouts.
    pub fn no_rate_limits() -> Self {
        LimitsConfig {
            per_ip: None,
            per_session: None,
            failed_checks: None,
            ..LimitsConfig::default()
        }
    }

    /// Checks the values (at start-up).
    pub fn validate(&self) -> Result<(), String> {
        for (name, l) in [
            ("perIp", self.per_ip),
            ("perSession", self.per_session),
            ("failedChecks", self.failed_checks),
        ] {
            if let Some(l) = l {
                if l.max == 0 || l.window_ms == 0 {
                    return Err(format!(
                        "limits.{name}: max and windowMs must be at least 1 (null turns it off)"
                    ));
                }
            }
        }
        if self.request_timeout_ms == 0 || self.header_timeout_ms == 0 {
            return Err("limits: requestTimeoutMs and headerTimeoutMs must be at least 1".into());
        }
        if let Some(h) = &self.client_ip_header {
            header::HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("limits.clientIpHeader: {h:?} is not a header name"))?;
        }
        Ok(())
    }
}

/// A sliding-window rate over many keys: each key keeps the times of its events in the last
/// window (at most `max` of them), so "at most `max` in any window" holds exactly. Time is
/// passed in.
#[derive(Debug)]
pub struct SlidingWindow<K> {
    limit: RateLimit,
    keys: HashMap<K, VecDeque<u64>>,
    last_prune: u64,
}

impl<K: std::hash::Hash + Eq> SlidingWindow<K> {
    /// An empty window set for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        SlidingWindow {
            limit,
            keys: HashMap::new(),
            last_prune: 0,
        }
    }

    /// Counts one event for `key` at `now` (ms) when fewer than `max` happened in the window
    /// before it; otherwise counts nothing and returns how many milliseconds until one more
    /// would be allowed (at least 1).
    pub fn hit(&mut self, key: K, now: u64) -> Result<(), u64> {
        let w = self.limit.window_ms.max(1);
        let max = self.limit.max.max(1) as usize;
        self.prune(now, w);
        let times = self.keys.entry(key).or_default();
        // Events in (now − w, now] count; a clock that went back keeps what it had.
        while times.front().is_some_and(|&t| t.saturating_add(w) <= now) {
            times.pop_front();
        }
        if times.len() < max {
            times.push_back(now);
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err(oldest.saturating_add(w).saturating_sub(now).max(1))
    }

    /// Drops keys with no event in the last window, at most once a window.
    fn prune(&mut self, now: u64, w: u64) {
        if now.saturating_sub(self.last_prune) < w {
            return;
        }
        self.last_prune = now;
        self.keys
            .retain(|_, t| t.back().is_some_and(|&last| last.saturating_add(w) > now));
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The in-memory rate state of a running server.
#[derive(Debug)]
pub struct Limiters {
    /// The configuration.
    pub config: LimitsConfig,
    per_ip: Option<Mutex<SlidingWindow<IpAddr>>>,
    per_session: Option<Mutex<SlidingWindow<String>>>,
}

impl Limiters {
    /// Limiters for a configuration.
    pub fn new(config: LimitsConfig) -> Self {
        Limiters {
            per_ip: config.per_ip.map(|l| Mutex::new(SlidingWindow::new(l))),
            per_session: config
                .per_session
                .map(|l| Mutex::new(SlidingWindow::new(l))),
            config,
        }
    }

    fn check<K: std::hash::Hash + Eq>(
        w: &Option<Mutex<SlidingWindow<K>>>,
        key: K,
        now: u64,
        what: &str,
    ) -> ApiResult<()> {
        let Some(w) = w else { return Ok(()) };
        // A poisoned lock only means a panic elsewhere; the counts are still usable.
        let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
        w.hit(key, now).map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests {what}; retry later"),
            )
            .with_retry_after(ceil_secs(wait))
        })
    }
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// The client address a request is counted under: the configured proxy header's (last)
/// address when there is one, else the peer's; IPv6 addresses by their /64 network, since one
/// subscriber usually holds a whole /64.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, header: Option<&str>) -> IpAddr {
    let from_header = header
        .and_then(|h| headers.get_all(h).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    let ip = from_header
        .or(peer)
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
        v4 => v4,
    }
}

/// The session id of `/api/sessions/{id}/…`.
fn session_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/sessions/")?;
    let (id, tail) = rest.split_once('/')?;
    (!id.is_empty() && !tail.is_empty()).then_some(id)
}

/// The middleware: rate limits on `/api/` (the health check excepted), then the request
/// timeout on everything.
pub async fn guard(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let limiters = &state.limiters;
    let path = req.uri().path();
    if path.starts_with("/api/") && path != "/api/health" {
        let now = now_ms();
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(
            req.headers(),
            peer,
            limiters.config.client_ip_header.as_deref(),
        );
        let mut checked = Limiters::check(&limiters.per_ip, ip, now, "from this address");
        // Session actions (Start, upload) count; reads such as status polling do not.
        let action = req.method() == axum::http::Method::POST;
        if let (Ok(()), true, Some(id)) = (&checked, action, session_of(path)) {
            checked = Limiters::check(
                &limiters.per_session,
                id.to_owned(),
                now,
                "for this session",
            );
        }
        if let Err(e) = checked {
            return e.into_response();
        }
    }
    let timeout = Duration::from_millis(limiters.config.request_timeout_ms);
    let (parts, body) = req.into_parts();
    let done = Arc::new(AtomicBool::new(false));
    let body = Body::new(TrackedBody::new(body, Arc::clone(&done)));
    match tokio::time::timeout(timeout, next.run(Request::from_parts(parts, body))).await {
        Ok(res) => res,
        Err(_) if !done.load(Ordering::Acquire) => {
            let mut res = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
            .with_retry_after(1)
            .into_response();
            // The rest of the body is not read: this connection cannot carry another request.
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            res
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_timeout",
            "the server did not answer in time; retry (an upload is not stored twice)",
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// A request body that records when it has been read to the end.
struct TrackedBody {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl TrackedBody {
    fn new(inner: Body, done: Arc<AtomicBool>) -> Self {
        use http_body::Body as _;
        if inner.is_end_stream() {
            done.store(true, Ordering::Release);
        }
        TrackedBody { inner, done }
    }
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = &polled {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Refuses with `429 too_many_failed_checks` when (project, submission) already has
/// `limit.max` rejected decisions in the last `limit.window_ms`. Counted from the stored
/// results, so the window is exact and survives restarts. The upload checks before deciding
/// (no work for a blocked submission) and again before storing a rejection, inside the
/// write transaction, so concurrent uploads cannot store more than the limit.
pub fn check_failed_checks(
    c: &Connection,
    limit: Option<RateLimit>,
    project_id: &str,
    sid: &str,
    now: u64,
) -> ApiResult<()> {
    let Some(limit) = limit else { return Ok(()) };
    let since = now.saturating_sub(limit.window_ms);
    let mut stmt = c.prepare_cached(
        "SELECT decided_at_ms FROM results
         WHERE project_id = ?1 AND sid = ?2 AND status = 'rejected' AND decided_at_ms > ?3
         ORDER BY decided_at_ms DESC LIMIT ?4",
    )?;
    let times = stmt
        .query_map(
            rusqlite::params![project_id, sid, to_sql_ms(since), i64::from(limit.max)],
            |r| r.get::<_, i64>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    if times.len() < limit.max as usize {
        return Ok(());
    }
    // The oldest of the last `max` leaves the window first.
    let oldest = times.last().map_or(now, |t| from_sql_ms(*t));
    let free_at = oldest.saturating_add(limit.window_ms);
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_checks",
        "too many failed checks for this submission; wait before trying again",
    )
    .with_retry_after(ceil_secs(free_at.saturating_sub(now))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(max: u32, window_ms: u64) -> SlidingWindow<&'static str> {
        SlidingWindow::new(RateLimit { max, window_ms })
    }

    #[test]
    fn allows_max_per_window_then_refuses_with_a_wait() {
        let mut w = window(3, 1000);
        for t in [10, 20, 30] {
            assert_eq!(w.hit("a", t), Ok(()));
        }
        // The first of the three leaves the window at 1010.
        assert_eq!(w.hit("a", 40), Err(970));
        // Another key is not affected.
        assert_eq!(w.hit("b", 40), Ok(()));
        // Refused hits count nothing: waiting as told is enough, and not a moment less.
        assert_eq!(w.hit("a", 1009), Err(1));
        assert_eq!(w.hit("a", 1010), Ok(()));
        assert_eq!(w.hit("a", 1011), Err(9));
    }

    #[test]
    fn never_more_than_max_in_any_window_under_steady_pressure() {
        // A client trying every 7 ms for 20 windows: no window of 1000 ms, at any offset,
        // holds more than max, and the client gets max per window on average.
        let mut w = window(50, 1000);
        let mut allowed = Vec::new();
        for t in (0..20_000).step_by(7) {
            if w.hit("a", t).is_ok() {
                allowed.push(t);
            }
        }
        for start in 0..19_000 {
            let n = allowed
                .iter()
                .filter(|&&t| t >= start && t < start + 1000)
                .count();
            assert!(n <= 50, "{n} in [{start}, {})", start + 1000);
        }
        let per_window = allowed.len() as f64 / 20.0;
        assert!((48.0..=50.0).contains(&per_window), "{per_window}");
    }

    #[test]
    fn idle_keys_are_pruned() {
        let mut w = window(1, 1000);
        for i in 0..100u64 {
            let key: &'static str = Box::leak(format!("k{i}").into_boxed_str());
            assert_eq!(w.hit(key, 1_000 + i), Ok(()));
        }
        assert_eq!(w.len(), 100);
        assert_eq!(w.hit("x", 10_000), Ok(()));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn extreme_times_and_limits_do_not_panic() {
        let mut w = window(u32::MAX, u64::MAX);
        assert_eq!(w.hit("a", u64::MAX), Ok(()));
        assert_eq!(w.hit("a", 0), Ok(()));
        let mut w = window(1, 1);
        assert_eq!(w.hit("a", 1_000), Ok(()));
        assert_eq!(w.hit("a", 1_000), Err(1));
        // A clock that went back: still limited, never a panic.
        assert_eq!(w.hit("a", 0), Err(1_001));
        let mut w = window(0, 0);
        assert_eq!(w.hit("a", 5), Ok(()));
        assert_eq!(w.hit("a", 5), Err(1));
    }

    #[test]
    fn client_ip_rules() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(&h, Some(peer), Some("x-forwarded-for")), peer);
        h.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        // Without the setting the header is ignored (a client could write anything).
        assert_eq!(client_ip(&h, Some(peer), None), peer);
        assert_eq!(
            client_ip(&h, Some(peer), Some("x-forwarded-for")),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(&h, Some(peer), Some("x-forwarded-for")), peer);
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(v6), None),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(mapped), None),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn session_paths() {
        assert_eq!(session_of("/api/sessions/ses_1/upload"), Some("ses_1"));
        assert_eq!(session_of("/api/sessions/ses_1/start"), Some("ses_1"));
        assert_eq!(session_of("/api/sessions"), None);
        assert_eq!(session_of("/api/sessions/"), None);
        assert_eq!(session_of("/api/sessions/x"), None);
        assert_eq!(session_of("/api/results/a"), None);
    }

    #[test]
    fn config_defaults_and_nulls() {
        let c: LimitsConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, LimitsConfig::default());
        assert_eq!(c.failed_checks.unwrap().max, 5);
        assert_eq!(c.failed_checks.unwrap().window_ms, 180_000);
        let c: LimitsConfig =
            serde_json::from_str(r#"{"perIp":null,"perSession":{"max":2,"windowMs":10}}"#).unwrap();
        assert_eq!(c.per_ip, None);
        assert_eq!(c.per_session.unwrap().max, 2);
        c.validate().unwrap();
        let bad: LimitsConfig =
            serde_json::from_str(r#"{"perIp":{"max":0,"windowMs":10}}"#).unwrap();
        assert!(bad.validate().is_err());
        let bad: LimitsConfig = serde_json::from_str(r#"{"clientIpHeader":"a b"}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<LimitsConfig>(r#"{"bogus":1}"#).is_err());
    }
}
