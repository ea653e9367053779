//! Static files: the page (`www/` at `/`), the wasm-pack output (`pkg/` at `/pkg`) and the
//! models (`models/` at `/models`), with the right MIME types (`application/wasm` for
//! streaming compilation), an `ETag` on every file so a returning browser revalidates with
//! a 304 instead of downloading again, and the security headers every response carries.

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

async fn serve_from(
    root: Option<&Path>,
    rel: &str,
    cache: &'static str,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    let (Some(root), Some(rel)) = (root, safe_relative(rel)) else {
        return not_found();
    };
    let mut path = root.join(rel);
    let mut opened = open_with_metadata(&path).await;
    if opened.as_ref().is_some_and(|(_, meta)| meta.is_dir()) {
        path.push("index.html");
        opened = open_with_metadata(&path).await;
    }
    let Some((mut file, meta)) = opened.filter(|(_, meta)| meta.is_file()) else {
        return not_found();
    };
    let etag = entity_tag(&meta);
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(mime_type(&path)),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, etag.clone()),
    ];
    // A returning browser revalidates with the tag it holds; an unchanged file answers 304, so
    // the browser keeps its copy and, for the wasm, V8's cached compiled code with it.
    if if_none_match.is_some_and(|v| etag_matches(v, &etag)) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    match tokio::io::AsyncReadExt::read_to_end(&mut file, &mut bytes).await {
        Ok(_) => (StatusCode::OK, headers, bytes).into_response(),
        Err(_) => not_found(),
    }
}

/// The file at `path`, opened, and its metadata (one open and one stat per request).
async fn open_with_metadata(path: &Path) -> Option<(tokio::fs::File, std::fs::Metadata)> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    Some((file, meta))
}

/// A validator for a file as it is on disk, from its length and modification time (what a
/// rebuild changes): `"<mtime ns hex>-<length hex>"`.
fn entity_tag(meta: &std::fs::Metadata) -> HeaderValue {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    // Hex digits and quotes always make a valid header value.
    HeaderValue::from_str(&format!("\"{mtime_ns:x}-{:x}\"", meta.len()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 §13.1.2 asks
/// for GET and HEAD), or is `*`.
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag.to_str().unwrap_or_default());
    list.split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == ours)
}

/// Everything that is not another route: `/api/…` gets the API's JSON 404, the rest is the
/// page from `www/`, `/pkg/…` and `/models/…`.
pub async fn fallback(State(state): State<SharedState>, method: Method, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let if_none_match = req.headers().get(header::IF_NONE_MATCH);
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
        return serve_from(dirs.pkg.as_deref(), rest, "no-cache", if_none_match).await;
    }
    if let Some(rest) = path.strip_prefix("/models/") {
        // Models are verified by sha256 on load, so a cached copy is safe to keep.
        return serve_from(
            dirs.models.as_deref(),
            rest,
            "public, max-age=86400",
            if_none_match,
        )
        .await;
    }
    serve_from(dirs.www.as_deref(), &path, "no-cache", if_none_match).await
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

    #[test]
    fn if_none_match_lists() {
        let tag = HeaderValue::from_static("\"18c-2a\"");
        let matches = |v: &'static str| etag_matches(&HeaderValue::from_static(v), &tag);
        assert!(matches("\"18c-2a\""));
        assert!(matches("W/\"18c-2a\""));
        assert!(matches("\"x\", \"18c-2a\""));
        assert!(matches("*"));
        assert!(!matches("\"18c-2b\""));
        assert!(!matches("18c-2a"));
        assert!(!matches(""));
    }
}
