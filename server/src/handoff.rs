//! Desktop → phone handoff: tickets, the phone's claim, and the desktop's event stream.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `POST /api/sessions/{id}/handoff` | desktop | mint a ticket → `{ticket, link, expiresAtMs, expiresInMs}` |
//! | `POST /api/handoff/claim` `{"ticket":"…"}` | phone | claim it once → the session, as `POST /api/sessions` answers |
//! | `GET /api/sessions/{id}/handoff/events` | desktop | server-sent events: the session's [`ServerState`] |
//! | `POST /api/sessions/{id}/handoff/failed` `{"code":"…"}` | phone | the phone gave up (e.g. `attempts_exhausted`) |
//!
//! # Tickets
//!
//! 128 random bits, minted for a live session, claimable once, for the project's
//! `handoff.ticketTtlMs` (default 5 minutes; never beyond the session's own expiry). Minting
//! a new ticket retires the session's unclaimed ones (a refreshed QR code replaces the old
//! one). The link is `{base}/?handoff=<ticket>` and carries nothing else — no session ID,
//! Token ID, `sid` or key: the phone learns the session only by claiming. Only the ticket's
//! sha256 is stored.
//!
//! A claim is one conditional `UPDATE … SET claimed_at_ms = now WHERE id_hash = ? AND
//! claimed_at_ms IS NULL AND expires_at_ms > now`: of any number of concurrent claims
//! exactly one changes the row; the others read it again and are told
//! `handoff_already_claimed` (409). A unique partial index allows one claimed ticket per
//! session, so two tickets of one session cannot both be claimed either. A late claim is
//! `handoff_expired` (410), an unknown ticket `handoff_unknown` (404).
//!
//! # Why server-sent events, not polling
//!
//! The desktop waits minutes for a few state changes that it should show at once. SSE gives
//! that with one plain HTTP GET that stays open: the server writes an event when the state
//! changes, so there is neither a polling interval to trade against latency nor a request
//! per interval per waiting desktop. `EventSource` is built into every browser, reconnects
//! by itself after a network blip (the server then replays the current state, and the
//! desktop's state machine ignores anything that is not progress), passes the page's
//! `connect-src 'self'` CSP and ordinary HTTP/1.1 proxies, and needs no upgrade handshake
//! as a WebSocket would — and the desktop never needs to send anything back on it. The
//! stream re-reads the state from the database whenever a handler in this process reports
//! a change, and every [`RECHECK`] in any case (session expiry; another server process on
//! the same database file).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use liveform::handoff::desk::{HandoffResult, ServerState};
use liveform::handoff::device::HandoffMode;
use liveform::handoff::{self, HandoffError, HandoffTicket};
use liveform::params::ParamsError;
use liveform::webhook::AuthStatus;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch};

use crate::config::HandoffSettings;
use crate::db::is_unique_violation;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::sessions::{check_open, load_session, ProjectView, SessionCreated, SessionRow};
use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, random_bytes, to_sql_ms};

/// Most tickets one session may mint (a 30-minute session refreshing a 5-minute ticket
/// needs 7); bounds what a misbehaving client can write.
pub const MAX_TICKETS_PER_SESSION: i64 = 64;
/// How often an event stream re-reads the state without being told of a change.
pub const RECHECK: Duration = Duration::from_secs(2);
/// The reconnection delay the stream asks `EventSource` for.
pub const RETRY: Duration = Duration::from_secs(3);
/// A comment is sent after this long without an event, so proxies keep the stream open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

impl From<HandoffError> for ApiError {
    fn from(e: HandoffError) -> Self {
        let status = match e {
            HandoffError::Expired => StatusCode::GONE,
            HandoffError::AlreadyClaimed => StatusCode::CONFLICT,
            HandoffError::MissingTicket
            | HandoffError::MalformedTicket
            | HandoffError::BadBaseUrl => StatusCode::BAD_REQUEST,
            // Everything else is ours: configuration is checked at start, IDs are random.
            _ => return ApiError::internal(format_args!("handoff: {e}")),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Checks a project's handoff settings at start-up.
pub fn validate_settings(s: &HandoffSettings) -> Result<(), String> {
    if s.ticket_ttl_ms == 0 || s.ticket_ttl_ms > handoff::MAX_TTL_MS {
        return Err(format!(
            "ticketTtlMs must be 1 to {}, got {}",
            handoff::MAX_TTL_MS,
            s.ticket_ttl_ms
        ));
    }
    if let Some(base) = &s.base_url {
        // A ticket of the longest shape, so any real link fits too.
        let widest = "A".repeat(22);
        handoff::handoff_link(base, &widest).map_err(|e| format!("baseUrl: {e}"))?;
    }
    Ok(())
}

/// Tells event streams that a session changed; ends them when the server stops.
#[derive(Debug)]
pub struct EventHub {
    changes: broadcast::Sender<Arc<str>>,
    stop: watch::Sender<bool>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    /// A hub with no listeners.
    pub fn new() -> Self {
        // A stream that falls behind sees `Lagged` and simply re-reads, so a small buffer
        // is enough.
        let (changes, _) = broadcast::channel(256);
        let (stop, _) = watch::channel(false);
        EventHub { changes, stop }
    }

    /// Session `session_id` changed (claimed, started, decided, failed).
    pub fn changed(&self, session_id: &str) {
        let _ = self.changes.send(Arc::from(session_id));
    }

    /// Ends every stream (graceful shutdown would otherwise wait for them forever).
    pub fn close(&self) {
        self.stop.send_replace(true);
    }
}

fn ticket_hash(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

fn session_unknown() -> ApiError {
    ApiError::not_found("session_unknown", "no such session")
}

/// The answer to a mint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Minted {
    /// The ticket ID.
    pub ticket: String,
    /// The link to show as a QR code: `{base}/?handoff=<ticket>`.
    pub link: String,
    /// When it stops being claimable (unix ms, server clock).
    pub expires_at_ms: u64,
    /// The same as a duration from now, for clients whose clock differs from the server's.
    pub expires_in_ms: u64,
}

/// `POST /api/sessions/{id}/handoff`: a fresh ticket for this live session.
pub async fn mint(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Minted>)> {
    let now = now_ms();
    let random = random_bytes::<16>().map_err(ApiError::internal)?;
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let st = Arc::clone(&state);
    let minted = state
        .db
        .call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let s = load_session(&tx, &session_id)?.ok_or_else(session_unknown)?;
            let project = st.project(&s.project_id);
            check_open(&s, project, now)?;
            let project = project.ok_or(ParamsError::PidUnknown)?;
            if project.handoff.mode == HandoffMode::Off {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "handoff_disabled",
                    "this project does not hand off to a phone",
                ));
            }
            if claimed_ticket(&tx, &s.id)?.is_some() {
                return Err(HandoffError::AlreadyClaimed.into());
            }
            if s.started_at_ms.is_some() {
                return Err(session_started());
            }
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM handoff_tickets WHERE session_id = ?1",
                [&s.id],
                |r| r.get(0),
            )?;
            if count >= MAX_TICKETS_PER_SESSION {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "handoff_ticket_limit",
                    "this session has asked for too many handoff codes; start again",
                ));
            }
            let mut ticket =
                HandoffTicket::new(&random, &s.id, now, project.handoff.ticket_ttl_ms)?;
            ticket.expires_at_ms = ticket.expires_at_ms.min(s.expires_at_ms);
            // A site embedding the capture is not where the phone goes: an embedding
            // project needs `handoff.baseUrl`.
            let origin = origin.filter(|o| {
                crate::cors::normalize_origin(o)
                    .map_or(true, |o| !project.embed_origins.contains(&o))
            });
            let base = project.handoff.base_url.clone().or(origin).ok_or_else(|| {
                ApiError::bad_request(
                    "handoff_base_unknown",
                    "no handoff.baseUrl is configured and the request has no Origin",
                )
            })?;
            let link = ticket.link(&base)?;
            // The new code replaces the old ones.
            tx.execute(
                "UPDATE handoff_tickets SET expires_at_ms = MIN(expires_at_ms, ?1)
                 WHERE session_id = ?2 AND claimed_at_ms IS NULL",
                rusqlite::params![to_sql_ms(now), s.id],
            )?;
            tx.execute(
                "INSERT INTO handoff_tickets (id_hash, session_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    ticket_hash(&ticket.id),
                    s.id,
                    to_sql_ms(now),
                    to_sql_ms(ticket.expires_at_ms)
                ],
            )?;
            tx.commit()?;
            Ok(Minted {
                expires_in_ms: ticket.expires_at_ms.saturating_sub(now),
                expires_at_ms: ticket.expires_at_ms,
                ticket: ticket.id,
                link,
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(minted)))
}

fn session_started() -> ApiError {
    ApiError::conflict(
        "handoff_session_started",
        "the capture already began on the other device",
    )
}

/// The session's claimed ticket: `(claimed_at_ms, failed_code)`.
fn claimed_ticket(
    c: &Connection,
    session_id: &str,
) -> Result<Option<(u64, Option<String>)>, ApiError> {
    Ok(c.query_row(
        "SELECT claimed_at_ms, failed_code FROM handoff_tickets
         WHERE session_id = ?1 AND claimed_at_ms IS NOT NULL",
        [session_id],
        |r| Ok((from_sql_ms(r.get(0)?), r.get(1)?)),
    )
    .optional()?)
}

/// The request of a claim.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRequest {
    /// The ticket from the link.
    pub ticket: String,
}

/// Reads a ticket row as the core's [`HandoffTicket`] (for its claim rules).
fn load_ticket(c: &Connection, ticket: &str) -> Result<Option<HandoffTicket>, ApiError> {
    Ok(c.query_row(
        "SELECT session_id, created_at_ms, expires_at_ms, claimed_at_ms
         FROM handoff_tickets WHERE id_hash = ?1",
        [ticket_hash(ticket)],
        |r| {
            Ok(HandoffTicket {
                id: ticket.to_owned(),
                session_id: r.get(0)?,
                created_at_ms: from_sql_ms(r.get(1)?),
                expires_at_ms: from_sql_ms(r.get(2)?),
                claimed: r.get::<_, Option<i64>>(3)?.is_some(),
            })
        },
    )
    .optional()?)
}

/// `POST /api/handoff/claim`: the phone opened the link. Succeeds once per ticket (and per
/// session); answers with the session exactly as `POST /api/sessions` does, so the phone
/// continues like a direct capture.
pub async fn claim(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> ApiResult<Json<SessionCreated>> {
    handoff::validate_ticket_id(&req.ticket)?;
    let now = now_ms();
    let st = Arc::clone(&state);
    let session = state
        .db
        .call(move |c| {
            let ticket = load_ticket(c, &req.ticket)?.ok_or_else(|| {
                ApiError::not_found("handoff_unknown", "this handoff link is not valid")
            })?;
            // A used link says so, even after the session ended.
            ticket.check_claimable(now)?;
            let s = load_session(c, &ticket.session_id)?.ok_or_else(session_unknown)?;
            check_open(&s, st.project(&s.project_id), now)?;
            if s.started_at_ms.is_some() {
                return Err(session_started());
            }
            // The claim itself: exactly one concurrent request changes the row.
            let changed = c.execute(
                "UPDATE handoff_tickets SET claimed_at_ms = ?1
                 WHERE id_hash = ?2 AND claimed_at_ms IS NULL AND expires_at_ms > ?1",
                rusqlite::params![to_sql_ms(now), ticket_hash(&req.ticket)],
            );
            match changed {
                Ok(1) => {}
                Ok(_) => {
                    // Lost the race (or expired meanwhile): say which.
                    let again = load_ticket(c, &req.ticket)?.unwrap_or(ticket);
                    again.check_claimable(now)?;
                    return Err(HandoffError::AlreadyClaimed.into());
                }
                // Another ticket of this session was claimed.
                Err(e) if is_unique_violation(&e) => {
                    return Err(HandoffError::AlreadyClaimed.into())
                }
                Err(e) => return Err(e.into()),
            }
            Ok(s)
        })
        .await?;
    state.events.changed(&session.id);
    let project = state
        .project(&session.project_id)
        .ok_or(ParamsError::PidUnknown)?;
    Ok(Json(session_created(project, &session)))
}

/// The phone's copy of the session, as `POST /api/sessions` gave it to the desktop (the
/// challenge seed is revealed by Start, as in a direct capture).
fn session_created(project: &crate::state::Project, s: &SessionRow) -> SessionCreated {
    SessionCreated {
        session_id: s.id.clone(),
        project: ProjectView {
            id: project.id.clone(),
            name: project.name.clone(),
            logo_url: project.logo_url.clone(),
        },
        policy: s.policy,
        policy_hash: hex::encode(s.policy.hash()),
        public_key: project.public_key.to_base64(),
        private_mode: project.private_mode,
        expires_at_ms: s.expires_at_ms,
        lang: s.params.lang.clone(),
        handoff: project.handoff.mode,
    }
}

/// The request of a failure report.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailedRequest {
    /// The phone's error code (1–64 of `a-z 0-9 _`).
    pub code: String,
}

/// `POST /api/sessions/{id}/handoff/failed`: the phone reached an error it cannot retry.
/// The first report counts; repeating it is harmless. 204 on success.
pub async fn failed(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    ApiJson(req): ApiJson<FailedRequest>,
) -> ApiResult<StatusCode> {
    let code_ok = !req.code.is_empty()
        && req.code.len() <= 64
        && req
            .code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !code_ok {
        return Err(ApiError::bad_request(
            "bad_failure_code",
            "code must be 1 to 64 of a-z 0-9 _",
        ));
    }
    let sid = session_id.clone();
    state
        .db
        .call(move |c| {
            load_session(c, &sid)?.ok_or_else(session_unknown)?;
            if claimed_ticket(c, &sid)?.is_none() {
                return Err(ApiError::conflict(
                    "handoff_not_claimed",
                    "no phone has claimed this session",
                ));
            }
            c.execute(
                "UPDATE handoff_tickets SET failed_code = ?1
                 WHERE session_id = ?2 AND claimed_at_ms IS NOT NULL AND failed_code IS NULL",
                rusqlite::params![req.code, sid],
            )?;
            Ok(())
        })
        .await?;
    state.events.changed(&session_id);
    Ok(StatusCode::NO_CONTENT)
}

/// The session's handoff state at `now`, or `None` for an unknown session. Precedence: a
/// result, then the phone's failure, then expiry, then how far the phone got.
pub fn snapshot(
    c: &Connection,
    session_id: &str,
    now: u64,
) -> Result<Option<ServerState>, ApiError> {
    let Some(s) = load_session(c, session_id)? else {
        return Ok(None);
    };
    if let Some(auth_id) = &s.auth_id {
        let row: Option<(String, String)> = c
            .query_row(
                "SELECT status, result_json FROM results WHERE auth_id = ?1",
                [auth_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (status, json) =
            row.ok_or_else(|| ApiError::internal(format_args!("result {auth_id} missing")))?;
        let status = match status.as_str() {
            "approved" => AuthStatus::Approved,
            _ => AuthStatus::Rejected,
        };
        let return_url = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("returnUrl")?.as_str().map(str::to_owned));
        return Ok(Some(ServerState::Done {
            result: HandoffResult {
                auth_id: auth_id.clone(),
                status,
                return_url,
            },
        }));
    }
    let claimed = claimed_ticket(c, session_id)?;
    if let Some((_, Some(code))) = &claimed {
        return Ok(Some(ServerState::Failed { code: code.clone() }));
    }
    Ok(Some(if now >= s.expires_at_ms {
        ServerState::Expired
    } else if claimed.is_none() {
        ServerState::Waiting
    } else if s.started_at_ms.is_some() {
        ServerState::Capturing
    } else {
        ServerState::Claimed
    }))
}

/// One desktop's stream.
struct Follow {
    state: SharedState,
    session_id: String,
    changes: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    last: Option<ServerState>,
    first: bool,
    ended: bool,
}

impl Follow {
    /// The next event: the state when it differs from the last one sent, after waiting for
    /// news of this session or a recheck. `None` ends the stream (final state sent, server
    /// stopping, session gone or database error; `EventSource` reconnects in the last cases).
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        if self.ended {
            return None;
        }
        loop {
            if *self.stop.borrow() {
                return None;
            }
            let (now, id) = (now_ms(), self.session_id.clone());
            let snap = self.state.db.call(move |c| snapshot(c, &id, now)).await;
            let Ok(Some(snap)) = snap else {
                return None;
            };
            if self.last.as_ref() != Some(&snap) {
                let mut event = Event::default().json_data(&snap).ok()?;
                if self.first {
                    event = event.retry(RETRY);
                    self.first = false;
                }
                self.ended = snap.is_final();
                self.last = Some(snap);
                return Some((Ok(event), self));
            }
            let recheck = tokio::time::sleep(RECHECK);
            tokio::pin!(recheck);
            loop {
                tokio::select! {
                    _ = &mut recheck => break,
                    news = self.changes.recv() => match news {
                        Ok(id) if *id == *self.session_id => break,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => {
                            (&mut recheck).await;
                            break;
                        }
                    },
                    stop = self.stop.changed() => {
                        if stop.is_err() || *self.stop.borrow() {
                            return None;
                        }
                    }
                }
            }
        }
    }
}

/// `GET /api/sessions/{id}/handoff/events`: `text/event-stream` of the session's
/// [`ServerState`] as JSON, one event per change, the current state first; the stream ends
/// after a final state (`done`, `failed`, `expired`). 404 `session_unknown` as JSON.
pub async fn events(State(state): State<SharedState>, Path(session_id): Path<String>) -> Response {
    let id = session_id.clone();
    let exists = state
        .db
        .call(move |c| Ok(load_session(c, &id)?.is_some()))
        .await;
    match exists {
        Ok(true) => {}
        Ok(false) => return session_unknown().into_response(),
        Err(e) => return e.into_response(),
    }
    let follow = Follow {
        changes: state.events.changes.subscribe(),
        stop: state.events.stop.subscribe(),
        state,
        session_id,
        last: None,
        first: true,
        ended: false,
    };
    let stream = futures_util::stream::unfold(follow, Follow::next);
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies such as nginx must not buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}
