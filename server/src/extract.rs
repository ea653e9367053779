//! Request extractors that refuse in the API's error shape instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::{AppState, Project};

/// A JSON body. Bad JSON is `400 bad_json`; a body over the route's limit is
/// `413 body_too_large`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(r.status()))?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            let mut detail = e.to_string();
            detail.truncate(200);
            ApiError::bad_request(
                "bad_json",
                format!("the request body is not valid: {detail}"),
            )
        })
    }
}

/// Maps a failed body read to the API's error shape.
pub fn body_rejection(status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
    } else {
        ApiError::bad_request("bad_body", "the request body could not be read")
    }
}

/// The API-key header.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The project the `X-Api-Key` header authenticates: `401 api_key_missing` /
/// `401 api_key_invalid`.
pub fn api_project<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<&'a Project, ApiError> {
    let key = headers
        .get(API_KEY_HEADER)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "api_key_missing",
                "the X-Api-Key header is required",
            )
        })?
        .to_str()
        .unwrap_or("");
    state.project_by_api_key(key).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "the API key is not valid",
        )
    })
}

/// Like [`api_project`], and the key must be the one of project `pid` (another project's key
/// gets `403 api_key_wrong_project`).
pub fn api_project_for<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    pid: &str,
) -> Result<&'a Project, ApiError> {
    let p = api_project(state, headers)?;
    if p.id != pid {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "api_key_wrong_project",
            "the API key does not belong to this project",
        ));
    }
    Ok(p)
}
