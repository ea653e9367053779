//! Static files: the page (`www/` at `/`), the wasm-pack output (`pkg/` at `/pkg`) and the
//! models (`models/` at `/models`), with the right MIME types (`application/wasm` for
//! streaming compilation) and the security headers every response carries.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SharedState;

/// The Content-Security-Policy of every response. `'wasm-unsafe-eval'` allows compiling
/// WebAssembly and nothing else eval-like; `blob:`/`mediastream:` let the camera preview play.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
connect-src 'self'; worker-src 'self' blob:; font-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to a response.
pub async fn security_headers(req: Request, next: axum::middleware::Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The MIME type of a file, by extension.
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// A request path below a mount point as a safe relative path: no `..`, no hidden segments,
/// no backslashes or percent-escapes (the assets need none), so it cannot leave the root.
pub fn safe_relative(rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for seg in rel.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg.starts_with('.')
            || seg.contains(['\\', '%', '\0', ':'])
            || seg.chars().any(char::is_control)
        {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

async fn serve_from(root: Option<&Path>, rel: &str, cache: &'static str) -> Response {
    let (Some(root), Some(rel)) = (root, safe_relative(rel)) else {
        return not_found();
    };
    let mut path = root.join(rel);
    if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
        path.push("index.html");
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, mime_type(&path)),
                (header::CACHE_CONTROL, cache),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

/// Everything that is not another route: `/api/…` gets the API's JSON 404, the rest is the
/// page from `www/`, `/pkg/…` and `/models/…`.
pub async fn fallback(State(state): State<SharedState>, method: Method, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found("not_found", "no such API endpoint").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let dirs = &state.dirs;
    if let Some(rest) = path.strip_prefix("/pkg/") {
        return serve_from(dirs.pkg.as_deref(), rest, "no-cache").await;
    }
    if let Some(rest) = path.strip_prefix("/models/") {
        // Models are verified by sha256 on load, so a cached copy is safe to keep.
        return serve_from(dirs.models.as_deref(), rest, "public, max-age=86400").await;
    }
    serve_from(dirs.www.as_deref(), &path, "no-cache").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape() {
        assert_eq!(safe_relative("/a/b.js"), Some(PathBuf::from("a/b.js")));
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/a/../../x"), None);
        assert_eq!(safe_relative("/.git/config"), None);
        assert_eq!(safe_relative("/a%2e%2e/x"), None);
        assert_eq!(safe_relative("/a\\..\\x"), None);
        assert_eq!(safe_relative("/c:/x"), None);
    }

    #[test]
    fn mime_types() {
        assert_eq!(
            mime_type(Path::new("x/liveform_bg.wasm")),
            "application/wasm"
        );
        assert_eq!(
            mime_type(Path::new("liveform.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            mime_type(Path::new("index.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(mime_type(Path::new("m.onnx")), "application/octet-stream");
    }
}
