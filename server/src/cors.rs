//! Embedding the capture in another site (`<liveform-capture>` on `https://shop.example`):
//! cross-origin requests, allowed per project.
//!
//! - The package and the models (`/pkg/…`, `/models/…`) are public files: any origin may load
//!   them (`Access-Control-Allow-Origin: *`, no credentials). The models are sha256-checked
//!   by whoever loads them, the package is what npm publishes anyway.
//! - The API answers a cross-origin request only for an origin some project lists in
//!   `embedOrigins` (preflights included), and opening a session from another origin needs
//!   that session's project to list it ([`check_session_origin`]); every later call carries
//!   the session ID the opener got. Same-origin pages (the reference page) need nothing.
//! - No cookies are used, so `Access-Control-Allow-Credentials` is never sent.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::{Project, SharedState};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_S: &str = "600";
/// The request headers the page sends to the API (the upload's idempotency key and capture
/// time included).
const ALLOWED_HEADERS: &str = "content-type, idempotency-key, x-liveform-captured-at";

/// The canonical form of an origin as a browser sends it: `scheme://host[:port]`, lower
/// case, `http` or `https`, no path, query, user or trailing slash, no default port.
pub fn normalize_origin(text: &str) -> Result<String, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or_else(|| format!("{text:?} is not an origin (scheme://host[:port])"))?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Err(format!("{text:?}: the scheme must be http or https")),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', '\\']) {
        return Err(format!(
            "{text:?} is not an origin: only scheme://host[:port], no path"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        // `[::1]:8080`, `host:8080`; a bare IPv6 literal ends in `]`.
        Some((h, p)) if !p.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if !host_ok {
        return Err(format!("{text:?}: the host is not valid"));
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(p) if p == default_port => Ok(format!("{scheme}://{host}")),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('0') => {
            Ok(format!("{scheme}://{host}:{p}"))
        }
        Some(_) => Err(format!("{text:?}: the port is not valid")),
    }
}

/// The request's `Origin`, normalised, when it names another site than the server's own
/// (the `Host` the request was sent to). `None` for same-origin requests and requests
/// without an `Origin` (servers, curl).
pub fn foreign_origin(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    // `Origin: null` (sandboxed frames, file: pages) is foreign and never listed.
    let Ok(origin) = normalize_origin(origin) else {
        return Some("null".into());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    // The Host header carries the port only when it is not the scheme's default, as the
    // normalised origin does.
    if host.is_some() && origin_host == host.as_deref() {
        None
    } else {
        Some(origin)
    }
}

/// Refuses to open a session of `project` for a page on a site the project does not list.
pub fn check_session_origin(project: &Project, headers: &HeaderMap) -> Result<(), ApiError> {
    match foreign_origin(headers) {
        Some(origin) if !project.embed_origins.contains(&origin) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this project does not allow its capture to be embedded on this site (embedOrigins)",
        )),
        _ => Ok(()),
    }
}

/// The middleware: preflights, and the CORS headers of cross-origin answers.
pub async fn layer(
    State(state): State<SharedState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let public_file = path.starts_with("/pkg/") || path.starts_with("/models/");
    let is_api = path.starts_with("/api/");
    let listed = foreign_origin(req.headers())
        .filter(|o| state.projects.values().any(|p| p.embed_origins.contains(o)));
    if is_api && req.method() == Method::OPTIONS {
        let Some(origin) = listed else {
            // Not a listed site: no CORS headers, so the browser refuses the real request.
            return (StatusCode::NO_CONTENT, [(header::VARY, "Origin")]).into_response();
        };
        let mut res = StatusCode::NO_CONTENT.into_response();
        let h = res.headers_mut();
        allow_origin(h, &origin);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE_S),
        );
        return res;
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if public_file {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    } else if is_api {
        // The answer depends on the Origin whether or not it is listed.
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = listed {
            allow_origin(h, &origin);
            // The page reads the retry hint of a refused upload.
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("retry-after"),
            );
        }
    }
    res
}

fn allow_origin(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        for (text, want) in [
            ("https://Shop.Example", "https://shop.example"),
            ("https://shop.example:443", "https://shop.example"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost:80", "http://localhost"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("https://[::1]", "https://[::1]"),
        ] {
            assert_eq!(normalize_origin(text).as_deref(), Ok(want), "{text}");
        }
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "https://user@shop.example",
            "https://shop.example:0",
            "https://shop.example:65536",
            "https://shop.example:08",
            "https://",
            "https://a..b",
            "https://[zz]:1",
            "null",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad} accepted");
        }
    }

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_and_originless_requests_are_not_foreign() {
        assert_eq!(foreign_origin(&headers(None, "id.example")), None);
        assert_eq!(
            foreign_origin(&headers(Some("https://id.example"), "id.example")),
            None
        );
        assert_eq!(
            foreign_origin(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")),
            None
        );
        assert_eq!(
            foreign_origin(&headers(Some("http://127.0.0.1:9000"), "127.0.0.1:8080")).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            foreign_origin(&headers(Some("null"), "id.example")).as_deref(),
            Some("null")
        );
    }
}
