//! The one error shape of the HTTP API: a status and `{"error":{"code","message"}}`, where
//! `code` is stable (the core modules' codes, or the server's own listed here).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use liveform::envelope::EnvelopeError;
use liveform::params::ParamsError;
use liveform::tokens::TokenError;
use liveform::upload::UploadError;
use serde::Serialize;

/// An API refusal or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code.
    pub code: &'static str,
    /// A human-readable message (never echoes request data that may be personal).
    pub message: String,
    /// Seconds to send as `Retry-After` (rate limits, timeouts, a busy database).
    pub retry_after_s: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// The same error with a `Retry-After` of `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_s = Some(secs);
        self
    }

    /// `503 database_busy`: another writer held the database longer than the busy timeout.
    /// Nothing was stored; the request may be sent again.
    pub fn database_busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_busy",
            "the database is busy; retry shortly",
        )
        .with_retry_after(1)
    }

    /// `503 storage_full`: the disk under the database is full. The write was rolled back,
    /// so nothing was stored; the request may be sent again once an operator frees space.
    pub fn storage_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_full",
            "the server's storage is full; nothing was stored, retry later",
        )
        .with_retry_after(5)
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500 `internal`: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        eprintln!("liveform: internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request",
        )
    }

    /// The JSON body of this error.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| String::from(r#"{"error":{"code":"internal","message":""}}"#))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_s {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            eprintln!("liveform: database busy: {e}");
            return ApiError::database_busy();
        }
        if is_full(&e) {
            eprintln!("liveform: storage full: {e}");
            return ApiError::storage_full();
        }
        ApiError::internal(format_args!("database: {e}"))
    }
}

/// Whether a database error means "locked by another connection, try later" rather than a
/// fault (`SQLITE_BUSY` after the busy timeout, or `SQLITE_LOCKED`).
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
    )
}

/// Whether a database error means the disk (or the database's size limit) is full
/// (`SQLITE_FULL`): SQLite has rolled the write back.
pub fn is_full(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull
    )
}

impl From<ParamsError> for ApiError {
    fn from(e: ParamsError) -> Self {
        let status = match e {
            ParamsError::PidUnknown | ParamsError::SidUnknown => StatusCode::NOT_FOUND,
            ParamsError::ProjectClosed | ParamsError::SidNotApproved => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let status = match e {
            // A refused `tokenid=`: the visitor may not proceed.
            TokenError::Unknown | TokenError::Deleted | TokenError::Spent | TokenError::Expired => {
                StatusCode::FORBIDDEN
            }
            TokenError::TokenLimitReached { .. } => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<EnvelopeError> for ApiError {
    fn from(e: EnvelopeError) -> Self {
        // Every envelope problem is the sender's; the codes say which part is wrong.
        ApiError::bad_request(e.code(), e.to_string())
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let status = match e {
            UploadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UploadError::Serialize => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<liveform::Error> for ApiError {
    fn from(e: liveform::Error) -> Self {
        use liveform::ErrorCode as C;
        match e.code {
            C::BadImage => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_image", e.message),
            C::BadInput => ApiError::bad_request("bad_input", e.message),
            _ => ApiError::internal(e),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_stable() {
        let e = ApiError::bad_request("missing_pid", "the pid parameter is missing");
        assert_eq!(
            e.body_json(),
            r#"{"error":{"code":"missing_pid","message":"the pid parameter is missing"}}"#
        );
    }

    #[test]
    fn core_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(ParamsError::PidUnknown).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(ParamsError::ProjectClosed).code,
            "project_closed"
        );
        assert_eq!(
            ApiError::from(TokenError::Spent).status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ApiError::from(EnvelopeError::OpenFailed).code,
            "envelope_open_failed"
        );
        assert_eq!(
            ApiError::from(UploadError::TooLarge { len: 2, max: 1 }).status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn busy_database_is_a_retryable_503() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = ApiError::from(busy);
        assert_eq!(
            (e.status, e.code, e.retry_after_s),
            (StatusCode::SERVICE_UNAVAILABLE, "database_busy", Some(1))
        );
        let res = e.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let e = ApiError::from(full);
        assert_eq!(
            (e.status, e.code, e.retry_after_s),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_full", Some(5))
        );
        let other = ApiError::from(rusqlite::Error::QueryReturnedNoRows);
        assert_eq!(other.code, "internal");
    }
}
