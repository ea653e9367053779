//! `POST /api/sessions/{id}/upload`: open the sealed selfie, decide on it natively, store the
//! result once, queue the webhook.
//!
//! Headers: `Idempotency-Key` (required, 1–128 visible ASCII characters) and
//! `X-Liveform-Captured-At` (unix ms, as sealed into the envelope's context). Body: the
//! envelope bytes, at most `maxUploadBytes` (`413 upload_too_large`).
//!
//! # Exactly once
//!
//! The key is claimed by inserting `(session, key)` into `uploads` (its primary key): a second
//! request with the same key cannot insert and instead reads the row — the stored response
//! when it is done (replayed as it was), `409 upload_in_progress` while the first still runs,
//! `422 idempotency_key_reused` when the body differs. The result row has `UNIQUE(session_id)`,
//! so two different keys racing on one session store one result; the loser gets
//! `409 session_decided`. The result, the session's decision, the webhook outbox row and the
//! stored response are written in one transaction. A failed attempt releases its key, so the
//! client may retry. The decision runs in a task of its own, so a client that hangs up does
//! not cancel it halfway; its retry gets the stored answer.
//!
//! A submission with too many recent rejections is refused before any work
//! (`429 too_many_failed_checks`, see [`crate::limits`]); a busy database is
//! `503 database_busy` and a full disk `503 storage_full`, and nothing is stored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use liveform::envelope::{self, SealContext};
use liveform::returnurl::{self, ReturnFields};
use liveform::upload::UploadPayload;
use liveform::vision::descriptor::Descriptor;
use liveform::webhook::{AuthStatus, FaceAuthWebhook};
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::is_unique_violation;
use crate::decide::{decide, reference_descriptor, Decision, Evidence};
use crate::error::{ApiError, ApiResult};
use crate::instances;
use crate::limits::check_failed_checks;
use crate::results::{AuthResult, ScoreReport, Timeline};
use crate::sessions::{check_open, load_session, SessionRow};
use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, random_bytes, random_id, to_sql_ms};

/// The idempotency header.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The capture-time header (bound into the seal context).
pub const CAPTURED_AT_HEADER: &str = "x-liveform-captured-at";
/// Set on a response replayed from an earlier request with the same key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest Idempotency-Key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// How far the claimed capture time may be ahead of the server clock, or before the session.
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// A key still "processing" after this long belongs to a request that died; it may be taken
/// over.
pub const STALE_CLAIM_MS: u64 = 2 * 60 * 1000;

/// The answer to an upload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadResponse {
    /// The Auth ID.
    pub auth_id: String,
    /// `approved` or `rejected`.
    pub status: liveform::webhook::AuthStatus,
    /// Where the page sends the user (absent when the project has no Return URL).
    pub return_url: Option<String>,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let v = headers.get(IDEMPOTENCY_HEADER).ok_or_else(|| {
        ApiError::bad_request(
            "idempotency_key_missing",
            "the Idempotency-Key header is required",
        )
    })?;
    let ok = !v.is_empty()
        && v.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
    if !ok {
        return Err(ApiError::bad_request(
            "bad_idempotency_key",
            format!("the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(v.to_str().unwrap_or_default().to_owned())
}

fn captured_at(headers: &HeaderMap) -> ApiResult<u64> {
    let bad = || {
        ApiError::bad_request(
            "bad_captured_at",
            "X-Liveform-Captured-At must be the capture time in unix milliseconds",
        )
    };
    let v = headers.get(CAPTURED_AT_HEADER).ok_or_else(bad)?;
    let s = v.to_str().map_err(|_| bad())?;
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut res = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if replayed {
        res.headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    res
}

/// What claiming the key found.
enum Claim {
    /// The key is ours; go on with this session.
    Fresh(Box<SessionRow>),
    /// The key already has a response: send it again.
    Replay(u16, String),
}

/// `POST /api/sessions/{id}/upload`.
pub async fn upload(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Decided in a task of its own: a client that hangs up (or the request timeout) must not
    // cancel an upload between claiming its key and storing its answer, which would leave the
    // key claimed until it goes stale. The answer waits in the database for the retry.
    match tokio::spawn(handle(state, session_id, headers, body)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format_args!("upload task: {e}")).into_response(),
    }
}

async fn handle(
    state: SharedState,
    session_id: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!(
                    "the upload is larger than the {} bytes allowed",
                    state.settings.max_upload_bytes
                ),
            )
        } else {
            ApiError::bad_request("bad_body", "the upload body could not be read")
        }
    })?;
    let key = idempotency_key(&headers)?;
    let captured_at_ms = captured_at(&headers)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the upload body is empty",
        ));
    }
    let body_hash: [u8; 32] = Sha256::digest(&body).into();
    let received_at_ms = now_ms();

    let session = match claim(&state, &session_id, &key, body_hash, received_at_ms).await? {
        Claim::Replay(status, json) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return Ok(json_response(status, json, true));
        }
        Claim::Fresh(s) => *s,
    };
    match process(
        &state,
        &session,
        &key,
        &body,
        captured_at_ms,
        received_at_ms,
    )
    .await
    {
        Ok(json) => Ok(json_response(StatusCode::OK, json, false)),
        Err(e) => {
            release(&state, &session.id, &key, received_at_ms).await;
            Err(e)
        }
    }
}

/// Claims the Idempotency-Key for this session (see the module docs).
async fn claim(
    state: &SharedState,
    session_id: &str,
    key: &str,
    body_hash: [u8; 32],
    now: u64,
) -> ApiResult<Claim> {
    let st = Arc::clone(state);
    let (session_id, key) = (session_id.to_owned(), key.to_owned());
    state
        .db
        .call(move |c| {
            let s = load_session(c, &session_id)?
                .ok_or_else(|| ApiError::not_found("session_unknown", "no such session"))?;
            let me = st.instance_id.as_str();
            let inserted = c.execute(
                "INSERT INTO uploads (session_id, idempotency_key, body_sha256, state, created_at_ms, owner)
                 VALUES (?1, ?2, ?3, 'processing', ?4, ?5)",
                rusqlite::params![s.id, key, &body_hash[..], to_sql_ms(now), me],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    let (state_text, hash, status, json, created, owner): (
                        String,
                        Vec<u8>,
                        Option<i64>,
                        Option<String>,
                        i64,
                        Option<String>,
                    ) = c.query_row(
                        "SELECT state, body_sha256, http_status, response_json, created_at_ms, owner
                         FROM uploads WHERE session_id = ?1 AND idempotency_key = ?2",
                        [&s.id, &key],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                            ))
                        },
                    )?;
                    if hash != body_hash {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "idempotency_key_reused",
                            "this Idempotency-Key was used with a different body",
                        ));
                    }
                    if state_text == "done" {
                        let status = status.and_then(|v| u16::try_from(v).ok()).unwrap_or(200);
                        return Ok(Claim::Replay(status, json.unwrap_or_default()));
                    }
                    // Still processing: only a claim left by a request that died (its server
                    // stopped beating, or it is very old) is taken over, and only by one taker
                    // (the conditional UPDATE).
                    let stale = from_sql_ms(created).saturating_add(STALE_CLAIM_MS) <= now;
                    let dead = stale || instances::owner_is_dead(c, owner.as_deref(), me, now)?;
                    let taken = dead
                        && c.execute(
                            "UPDATE uploads SET created_at_ms = ?1, owner = ?2
                             WHERE session_id = ?3 AND idempotency_key = ?4
                               AND state = 'processing' AND created_at_ms = ?5 AND owner IS ?6",
                            rusqlite::params![to_sql_ms(now), me, s.id, key, created, owner],
                        )? == 1;
                    if !taken {
                        return Err(ApiError::conflict(
                            "upload_in_progress",
                            "an upload with this Idempotency-Key is being processed; retry shortly",
                        ));
                    }
                }
                Err(e) => return Err(e.into()),
            }
            let open = check_open(&s, st.project(&s.project_id), now)
                .and_then(|()| {
                    if s.started_at_ms.is_none() {
                        Err(ApiError::conflict(
                            "session_not_started",
                            "Start was not pressed for this session",
                        ))
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| {
                    check_failed_checks(c, st.settings.failed_checks, &s.project_id, &s.sid, now)
                });
            if let Err(e) = open {
                c.execute(
                    &format!(
                        "DELETE FROM uploads WHERE session_id = ?1 AND idempotency_key = ?2 {OURS}"
                    ),
                    rusqlite::params![s.id, key, me, to_sql_ms(now)],
                )?;
                return Err(e);
            }
            Ok(Claim::Fresh(Box::new(s)))
        })
        .await
}

/// The claim this request made (parameters 3 and 4: the instance and the claim time): a
/// claim taken over by another request is not ours to release or complete.
const OURS: &str = "AND state = 'processing' AND owner = ?3 AND created_at_ms = ?4";

/// Gives a claimed key back after a failure: a key left claimed answers
/// `409 upload_in_progress` until it goes stale ([`STALE_CLAIM_MS`]). A busy database or a
/// full disk is retried a few times here, so the client's retry usually finds the key free;
/// then, without holding up the answer, in the background until the claim would be stale
/// anyway — space freed on a full disk frees the key within [`BACKGROUND_RELEASE_PAUSE`].
async fn release(state: &SharedState, session_id: &str, key: &str, claimed_at_ms: u64) {
    let mut pause = std::time::Duration::from_millis(50);
    for _ in 0..INLINE_RELEASE_ATTEMPTS {
        match try_release(state, session_id, key, claimed_at_ms).await {
            Ok(()) => return,
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                eprintln!("liveform: could not release an idempotency key: {e}");
                return;
            }
        }
    }
    let (state, session_id, key) = (Arc::clone(state), session_id.to_owned(), key.to_owned());
    tokio::spawn(async move {
        while now_ms() < claimed_at_ms.saturating_add(STALE_CLAIM_MS) {
            tokio::time::sleep(BACKGROUND_RELEASE_PAUSE).await;
            match try_release(&state, &session_id, &key, claimed_at_ms).await {
                Ok(()) => return,
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    eprintln!("liveform: could not release an idempotency key: {e}");
                    return;
                }
            }
        }
        eprintln!("liveform: could not release an idempotency key before it went stale");
    });
}

/// Deletes this request's claim of the key (a claim taken over by another is left alone).
async fn try_release(
    state: &SharedState,
    session_id: &str,
    key: &str,
    claimed_at_ms: u64,
) -> ApiResult<()> {
    let (session_id, key) = (session_id.to_owned(), key.to_owned());
    let me = state.instance_id.clone();
    state
        .db
        .call(move |c| {
            c.execute(
                &format!(
                    "DELETE FROM uploads WHERE session_id = ?1 AND idempotency_key = ?2 {OURS}"
                ),
                rusqlite::params![session_id, key, me, to_sql_ms(claimed_at_ms)],
            )?;
            Ok(())
        })
        .await
}

/// A database that will take the write later: busy with another writer, or out of space.
fn is_transient(e: &ApiError) -> bool {
    matches!(e.code, "database_busy" | "storage_full")
}

/// Quick release attempts before the answer goes out (50 ms doubling: 1.55 s in all, plus
/// each attempt's busy timeout at most).
const INLINE_RELEASE_ATTEMPTS: usize = 5;
/// Between background release attempts.
const BACKGROUND_RELEASE_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// The registered face of (pid, sid), computed once and cached.
async fn reference(
    state: &SharedState,
    pid: &str,
    sid: &str,
) -> ApiResult<Option<Arc<Descriptor>>> {
    let cache_key = (pid.to_owned(), sid.to_owned());
    let cached = || {
        state
            .references
            .lock()
            .ok()
            .and_then(|m| m.get(&cache_key).cloned())
    };
    if let Some(d) = cached() {
        return Ok(Some(d));
    }
    // One computation at a time: the first uploads of a busy submission would otherwise each
    // compute the same descriptor (a few hundred ms of CPU apiece) at once.
    let _computing = state.reference_lock.lock().await;
    if let Some(d) = cached() {
        return Ok(Some(d));
    }
    let (p, s) = cache_key.clone();
    let path: Option<String> = state
        .db
        .call(move |c| {
            Ok(c.query_row(
                "SELECT reference_image FROM submissions WHERE project_id = ?1 AND sid = ?2",
                [&p, &s],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
        .await?;
    let Some(path) = path else {
        return Ok(None);
    };
    let models = Arc::clone(&state.models);
    let computed = tokio::task::spawn_blocking(move || {
        reference_descriptor(&models, std::path::Path::new(&path))
    })
    .await
    .map_err(|e| ApiError::internal(format_args!("reference task: {e}")))?;
    match computed {
        Ok(d) => {
            let d = Arc::new(d);
            if let Ok(mut m) = state.references.lock() {
                m.insert(cache_key, Arc::clone(&d));
            }
            Ok(Some(d))
        }
        Err(e) => {
            // A configuration problem: logged, and the selfie cannot be approved.
            eprintln!("liveform: reference face of {pid}/{sid} unusable: {e}");
            Ok(None)
        }
    }
}

/// Opens, decides and stores; returns the response JSON.
async fn process(
    state: &SharedState,
    session: &SessionRow,
    key: &str,
    body: &Bytes,
    captured_at_ms: u64,
    received_at_ms: u64,
) -> ApiResult<String> {
    if captured_at_ms.saturating_add(CLOCK_SKEW_MS) < session.created_at_ms
        || captured_at_ms > received_at_ms.saturating_add(CLOCK_SKEW_MS)
    {
        return Err(ApiError::bad_request(
            "bad_captured_at",
            "the capture time is outside this session's lifetime",
        ));
    }
    let project = state
        .project(&session.project_id)
        .ok_or_else(|| ApiError::internal("session of an unconfigured project"))?;
    let reference = reference(state, &session.project_id, &session.sid).await?;

    // CPU work on the blocking pool, at most one per core at a time.
    let _permit = state
        .cpu
        .acquire()
        .await
        .map_err(|e| ApiError::internal(format_args!("cpu semaphore: {e}")))?;
    let st = Arc::clone(state);
    let (pid, sid_, policy, challenge_seed) = (
        session.project_id.clone(),
        session.id.clone(),
        session.policy,
        session.challenge_seed.clone(),
    );
    let body = body.clone();
    let (payload, decision) = tokio::task::spawn_blocking(move || {
        let project = st
            .project(&pid)
            .ok_or_else(|| ApiError::internal("project vanished"))?;
        let context = SealContext::new(pid.as_str(), sid_.as_str(), captured_at_ms, policy.hash());
        let plaintext = envelope::open(&project.private_key, &context, &body)?;
        let payload = UploadPayload::from_slice(&plaintext)?;
        let seed = hex::decode(&challenge_seed).ok();
        let evidence = Evidence {
            track: payload.liveness.as_ref(),
            key_frames: &payload.key_frames,
            challenge_seed: seed.as_deref(),
        };
        let decision = decide(
            &st.models,
            &policy,
            &payload.best_frame.jpeg,
            evidence,
            reference.as_deref(),
        )?;
        Ok::<(UploadPayload, Decision), ApiError>((payload, decision))
    })
    .await
    .map_err(|e| ApiError::internal(format_args!("analysis task: {e}")))??;
    drop(_permit);

    let decided_at_ms = now_ms();
    let auth_id = random_id("auth_").map_err(ApiError::internal)?;
    let status = decision.status;
    let return_url = match &project.return_url {
        None => None,
        Some(url) => {
            let fields = ReturnFields::from_params(&session.params, status, &auth_id);
            let nonce = random_bytes::<12>().map_err(ApiError::internal)?;
            let seal = match (&project.query_key, project.return_url_encryption) {
                (Some(k), true) => Some((k, &nonce)),
                _ => None,
            };
            Some(
                returnurl::build_return_url(url, &fields, seal)
                    .map_err(|e| ApiError::internal(format_args!("return URL: {e}")))?,
            )
        }
    };
    let scores = ScoreReport::new(&session.policy, &decision.scores, &decision.reasons);
    let precheck_passed = decision.precheck.as_ref().is_some_and(|v| v.passed);
    let result = AuthResult {
        auth_id: auth_id.clone(),
        project_id: session.project_id.clone(),
        submission_id: session.sid.clone(),
        session_id: session.id.clone(),
        status,
        reasons: decision.reasons.clone(),
        scores,
        cosine: decision.cosine,
        liveness: decision.liveness.clone(),
        face_count: decision.face_count,
        policy: session.policy,
        timeline: Timeline {
            created_at_ms: session.created_at_ms,
            opened_at_ms: session.started_at_ms,
            captured_at_ms,
            received_at_ms,
            decided_at_ms,
        },
        claim_agrees: payload.claimed.passed == precheck_passed,
        claimed: payload.claimed,
        signals: payload.signals,
        sdk_version: payload.sdk_version,
        key_frames: payload.key_frames.len(),
        params_source: session.params.source,
        user_id: session.params.user_id.clone(),
        cf1: session.params.cf1.clone(),
        cf2: session.params.cf2.clone(),
        cf3: session.params.cf3.clone(),
        return_url: return_url.clone(),
    };
    let result_json = serde_json::to_string(&result).map_err(ApiError::internal)?;
    let response_json = serde_json::to_string(&UploadResponse {
        auth_id: auth_id.clone(),
        status,
        return_url,
    })
    .map_err(ApiError::internal)?;
    let webhook = match &project.webhook {
        None => None,
        Some((url, _)) => {
            let body = FaceAuthWebhook::new(
                &auth_id,
                &session.sid,
                status,
                scores.webhook_scores(),
                decided_at_ms,
            )
            .and_then(|w| w.with_params(&session.params).to_json())
            .map_err(|e| ApiError::internal(format_args!("webhook payload: {e}")))?;
            Some((url.clone(), body))
        }
    };

    let (sid, pid, session_id, key_owned, resp) = (
        session.sid.clone(),
        session.project_id.clone(),
        session.id.clone(),
        key.to_owned(),
        response_json.clone(),
    );
    let queued = webhook.is_some();
    let (me, claimed_at) = (state.instance_id.clone(), to_sql_ms(received_at_ms));
    let failed_checks = state.settings.failed_checks;
    let stored = state
        .db
        .call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if status == AuthStatus::Rejected {
                // Checked again where writers are serialised: uploads that passed the claim's
                // check together cannot store more failed checks than the limit.
                check_failed_checks(&tx, failed_checks, &pid, &sid, decided_at_ms)?;
            }
            let inserted = tx.execute(
                "INSERT INTO results (auth_id, project_id, session_id, sid, status, result_json, decided_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    auth_id,
                    pid,
                    session_id,
                    sid,
                    status.as_str(),
                    result_json,
                    to_sql_ms(decided_at_ms)
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    // Decided already. When that was this very key (our claim was taken over
                    // by a retry on a server that thought us dead), its answer is ours too.
                    let done: Option<String> = tx
                        .query_row(
                            "SELECT response_json FROM uploads
                             WHERE session_id = ?1 AND idempotency_key = ?2 AND state = 'done'",
                            [&session_id, &key_owned],
                            |r| r.get(0),
                        )
                        .optional()?
                        .flatten();
                    return done.map(Some).ok_or_else(|| {
                        ApiError::conflict("session_decided", "this session already has a result")
                    });
                }
                Err(e) => return Err(e.into()),
            }
            tx.execute(
                "UPDATE sessions SET decided_at_ms = ?1, auth_id = ?2 WHERE id = ?3",
                rusqlite::params![to_sql_ms(decided_at_ms), auth_id, session_id],
            )?;
            if let Some((url, body)) = webhook {
                tx.execute(
                    "INSERT INTO webhook_outbox (project_id, auth_id, url, body, state, attempts,
                                                 next_attempt_at_ms, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
                    rusqlite::params![pid, auth_id, url, body, to_sql_ms(decided_at_ms)],
                )?;
            }
            let completed = tx.execute(
                &format!(
                    "UPDATE uploads SET state = 'done', http_status = 200, response_json = ?5
                     WHERE session_id = ?1 AND idempotency_key = ?2 {OURS}"
                ),
                rusqlite::params![session_id, key_owned, me, claimed_at, resp],
            )?;
            if completed != 1 {
                // Our claim was taken over and is being decided elsewhere: store nothing
                // (the transaction rolls back); the retry collects the other decision.
                return Err(ApiError::conflict(
                    "upload_in_progress",
                    "an upload with this Idempotency-Key is being processed; retry shortly",
                ));
            }
            tx.commit()?;
            Ok(None)
        })
        .await?;
    if let Some(json) = stored {
        return Ok(json);
    }
    if queued {
        state.webhook_wake.notify_one();
    }
    state.events.changed(&session.id); // a desktop following a handoff shows the result
    Ok(response_json)
}
