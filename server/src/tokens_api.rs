//! The Token API (`X-Api-Key`): register, query and delete private-mode Token IDs.
//!
//! - `POST /api/projects/{pid}/tokens` `{"tokenIds":["tok_1", …]}` → `201 {"registered":n,"live":m}`
//! - `GET /api/projects/{pid}/tokens?tokenId=tok_1` → `{"token":{…}}`
//! - `GET /api/projects/{pid}/tokens?limit=100&after=tok_1` → `{"tokens":[…],"next":…,"live":m}`
//! - `DELETE /api/projects/{pid}/tokens/{tokenId}` → `{"deleted":1}`
//! - `DELETE /api/projects/{pid}/tokens` `{"tokenIds":[…]}` → `{"deleted":n}`
//!
//! Deletion is soft (the row stays, marked deleted) so a deleted token is refused with
//! `token_deleted` rather than `token_unknown`, and an ID is never registered twice.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use liveform::params;
use liveform::tokens::{self, TokenError, TokenExpiry, TokenRecord, TokenStatus};
use rusqlite::{Connection, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::db::is_unique_violation;
use crate::error::{ApiError, ApiResult};
use crate::extract::{api_project_for, ApiJson};
use crate::sessions::load_token;
use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, to_sql_ms};

/// Most tokens in one list page.
pub const MAX_PAGE: usize = 1000;

/// A registration or bulk deletion request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenIds {
    /// The Token IDs.
    pub token_ids: Vec<String>,
}

/// A token as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// The Token ID.
    pub token_id: String,
    /// Registered (unix ms).
    pub registered_at_ms: u64,
    /// First Start (unix ms).
    pub first_start_ms: Option<u64>,
    /// Its state now under the project's expiry.
    pub status: TokenStatus,
}

fn view(r: TokenRecord, expiry: TokenExpiry, now: u64) -> TokenView {
    TokenView {
        status: tokens::status(&r, expiry, now),
        token_id: r.id,
        registered_at_ms: r.registered_at_ms,
        first_start_ms: r.first_start_ms,
    }
}

fn live_count(c: &Connection, pid: &str) -> Result<usize, ApiError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM tokens WHERE project_id = ?1 AND deleted = 0",
        [pid],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// `POST /api/projects/{pid}/tokens`.
pub async fn register(
    State(state): State<SharedState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TokenIds>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let project = api_project_for(&state, &headers, &pid)?;
    if req.token_ids.is_empty() {
        return Err(ApiError::bad_request("no_token_ids", "tokenIds is empty"));
    }
    // Cheap checks before touching the database (the count is checked again inside).
    tokens::validate_registration(&req.token_ids, 0)?;
    let pid = project.id.clone();
    let now = now_ms();
    let (registered, live) = state
        .db
        .call(move |c| {
            // IMMEDIATE: the count and the inserts are one step, so two concurrent
            // registrations cannot both squeeze under the limit.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let live = live_count(&tx, &pid)?;
            tokens::check_capacity(live, req.token_ids.len())?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO tokens (project_id, token_id, registered_at_ms) VALUES (?1, ?2, ?3)",
                )?;
                for id in &req.token_ids {
                    if let Err(e) = insert.execute(rusqlite::params![pid, id, to_sql_ms(now)]) {
                        if is_unique_violation(&e) {
                            return Err(ApiError::conflict(
                                "token_exists",
                                format!("the Token ID {id} is already registered (or was deleted)"),
                            ));
                        }
                        return Err(e.into());
                    }
                }
            }
            tx.commit()?;
            Ok((req.token_ids.len(), live + req.token_ids.len()))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "registered": registered, "live": live })),
    ))
}

/// `GET /api/projects/{pid}/tokens`.
pub async fn query(
    State(state): State<SharedState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<serde_json::Value>> {
    let project = api_project_for(&state, &headers, &pid)?;
    let pairs = params::split_query(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("bad_query", e.to_string()))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let expiry = project.token_expiry;
    let pid = project.id.clone();
    let now = now_ms();
    if let Some(token_id) = get("tokenId") {
        tokens::validate_token_id(&token_id)?;
        let rec = state
            .db
            .call(move |c| load_token(c, &pid, &token_id))
            .await?
            .ok_or_else(|| ApiError::not_found("token_unknown", TokenError::Unknown.to_string()))?;
        return Ok(Json(
            serde_json::json!({ "token": view(rec.0, expiry, now) }),
        ));
    }
    let limit = match get("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("bad_query", format!("limit must be 1 to {MAX_PAGE}"))
            })?,
    };
    let after = get("after").unwrap_or_default();
    let (rows, live) = state
        .db
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT token_id, registered_at_ms, first_start_ms, deleted FROM tokens
                 WHERE project_id = ?1 AND token_id > ?2 ORDER BY token_id LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(
                    rusqlite::params![pid, after, i64::try_from(limit).unwrap_or(100)],
                    |r| {
                        Ok(TokenRecord {
                            id: r.get(0)?,
                            registered_at_ms: from_sql_ms(r.get(1)?),
                            first_start_ms: r.get::<_, Option<i64>>(2)?.map(from_sql_ms),
                            deleted: r.get::<_, i64>(3)? != 0,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, live_count(c, &pid)?))
        })
        .await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let tokens: Vec<TokenView> = rows.into_iter().map(|r| view(r, expiry, now)).collect();
    Ok(Json(
        serde_json::json!({ "tokens": tokens, "next": next, "live": live }),
    ))
}

fn delete_ids(c: &mut Connection, pid: &str, ids: &[String], now: u64) -> ApiResult<usize> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = 0;
    {
        let mut stmt = tx.prepare(
            "UPDATE tokens SET deleted = 1, deleted_at_ms = ?1
             WHERE project_id = ?2 AND token_id = ?3 AND deleted = 0",
        )?;
        for id in ids {
            n += stmt.execute(rusqlite::params![to_sql_ms(now), pid, id])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

/// `DELETE /api/projects/{pid}/tokens/{tokenId}`.
pub async fn delete_one(
    State(state): State<SharedState>,
    Path((pid, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let project = api_project_for(&state, &headers, &pid)?;
    tokens::validate_token_id(&token_id)?;
    let pid = project.id.clone();
    let now = now_ms();
    let deleted = state
        .db
        .call(move |c| {
            if load_token(c, &pid, &token_id)?.is_none() {
                return Err(ApiError::not_found(
                    "token_unknown",
                    TokenError::Unknown.to_string(),
                ));
            }
            delete_ids(c, &pid, &[token_id], now)
        })
        .await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

/// `DELETE /api/projects/{pid}/tokens` with `{"tokenIds":[…]}`.
pub async fn delete_many(
    State(state): State<SharedState>,
    Path(pid): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TokenIds>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = api_project_for(&state, &headers, &pid)?;
    if req.token_ids.len() > tokens::MAX_TOKENS_PER_PROJECT {
        return Err(TokenError::TokenLimitReached {
            registered: 0,
            adding: req.token_ids.len(),
            max: tokens::MAX_TOKENS_PER_PROJECT,
        }
        .into());
    }
    for id in &req.token_ids {
        tokens::validate_token_id(id)?;
    }
    let pid = project.id.clone();
    let now = now_ms();
    let deleted = state
        .db
        .call(move |c| delete_ids(c, &pid, &req.token_ids, now))
        .await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}
