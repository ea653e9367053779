//! `POST /api/sessions` (the liveform page opens) and `POST /api/sessions/{id}/start` (the
//! user pressed Start).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use liveform::handoff::device::HandoffMode;
use liveform::params::{self, LiveformParams, ParamsError, ParsedQuery};
use liveform::policy::Policy;
use liveform::querycrypt;
use liveform::tokens::{self, StartDecision, TokenRecord};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::{ProjectStatus, SubmissionStatus};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::limits::check_failed_checks;
use crate::state::{Project, SharedState};
use crate::util::{from_sql_ms, now_ms, random_bytes, random_id, to_sql_ms};

/// The request: the liveform page's query string, as it was in the URL.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSession {
    /// `pid=…&sid=…` or `pid=…&encrypted=…` (a leading `?` is fine).
    pub query: String,
}

/// What the page needs to run the capture.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreated {
    /// The session ID (goes into the seal context and the upload URL).
    pub session_id: String,
    /// What the first screen shows.
    pub project: ProjectView,
    /// The policy the capture is judged under (its `Policy::hash()` goes into the seal context).
    pub policy: Policy,
    /// Hex of `Policy::hash()` of `policy`, for the page to check its own.
    pub policy_hash: String,
    /// The project's HPKE public key (base64url `LFpk…`).
    pub public_key: String,
    /// Whether the project is in private mode (Start spends the token).
    pub private_mode: bool,
    /// After this (unix ms) the session no longer accepts an upload.
    pub expires_at_ms: u64,
    /// The UI language asked for in the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The project's handoff mode (`off`, `auto`, `always`): with the device's facts it
    /// decides whether the page offers the phone.
    pub handoff: HandoffMode,
}

/// The project as the first screen shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// pid.
    pub id: String,
    /// Title.
    pub name: String,
    /// Logo.
    pub logo_url: Option<String>,
}

/// A session row.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Session ID.
    pub id: String,
    /// pid.
    pub project_id: String,
    /// The eKYC submission.
    pub sid: String,
    /// The Token ID, in private mode.
    pub token_id: Option<String>,
    /// The validated liveform parameters.
    pub params: LiveformParams,
    /// The policy snapshot.
    pub policy: Policy,
    /// Created (unix ms).
    pub created_at_ms: u64,
    /// Upload deadline (unix ms).
    pub expires_at_ms: u64,
    /// Start pressed (unix ms).
    pub started_at_ms: Option<u64>,
    /// Decided (unix ms).
    pub decided_at_ms: Option<u64>,
    /// The result, once decided.
    pub auth_id: Option<String>,
    /// Hex of the active-liveness challenge seed issued with the session.
    pub challenge_seed: String,
}

/// Reads a session row.
pub fn load_session(c: &Connection, id: &str) -> Result<Option<SessionRow>, ApiError> {
    let row = c
        .query_row(
            "SELECT id, project_id, sid, token_id, params_json, policy_json, created_at_ms,
                    expires_at_ms, started_at_ms, decided_at_ms, auth_id, challenge_seed
             FROM sessions WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, String>(11)?,
                ))
            },
        )
        .optional()?;
    let Some((
        id,
        project_id,
        sid,
        token_id,
        params_json,
        policy_json,
        c_at,
        e_at,
        s_at,
        d_at,
        auth,
        seed,
    )) = row
    else {
        return Ok(None);
    };
    let params: LiveformParams = serde_json::from_str(&params_json)
        .map_err(|e| ApiError::internal(format_args!("session {id} params: {e}")))?;
    let policy: Policy = serde_json::from_str(&policy_json)
        .map_err(|e| ApiError::internal(format_args!("session {id} policy: {e}")))?;
    Ok(Some(SessionRow {
        id,
        project_id,
        sid,
        token_id,
        params,
        policy,
        created_at_ms: from_sql_ms(c_at),
        expires_at_ms: from_sql_ms(e_at),
        started_at_ms: s_at.map(from_sql_ms),
        decided_at_ms: d_at.map(from_sql_ms),
        auth_id: auth,
        challenge_seed: seed,
    }))
}

/// Reads a token row.
pub fn load_token(
    c: &Connection,
    pid: &str,
    token_id: &str,
) -> Result<Option<(TokenRecord, Option<String>)>, ApiError> {
    Ok(c.query_row(
        "SELECT token_id, registered_at_ms, first_start_ms, deleted, first_session_id
         FROM tokens WHERE project_id = ?1 AND token_id = ?2",
        [pid, token_id],
        |r| {
            Ok((
                TokenRecord {
                    id: r.get(0)?,
                    registered_at_ms: from_sql_ms(r.get(1)?),
                    first_start_ms: r.get::<_, Option<i64>>(2)?.map(from_sql_ms),
                    deleted: r.get::<_, i64>(3)? != 0,
                },
                r.get::<_, Option<String>>(4)?,
            ))
        },
    )
    .optional()?)
}

/// The project whose key opens a `g1.` blob that came without a plain `pid` (the pid is then
/// only inside). GCM's tag means only the right key opens it, so trying each project's key
/// is safe; a legacy ECB blob has no tag and is never matched this way.
fn project_of_blob(state: &SharedState, blob: &str) -> Option<String> {
    if !blob.starts_with(querycrypt::GCM_PREFIX) {
        return None;
    }
    // The pid inside must name the project whose key opened it (two projects may share a key).
    state
        .projects
        .values()
        .find(|p| {
            let Some(key) = &p.query_key else {
                return false;
            };
            let Ok(inner) = querycrypt::decrypt_query(key, blob, false) else {
                return false;
            };
            params::split_query(&inner).is_ok_and(|pairs| {
                pairs.iter().any(|(k, v)| {
                    params::Field::from_key(k) == Some(params::Field::Pid) && *v == p.id
                })
            })
        })
        .map(|p| p.id.clone())
}

/// Parses the query the way the project requires; every refusal is a core `params` code.
fn parse_for_project(state: &SharedState, query: &str) -> ApiResult<(LiveformParams, String)> {
    // Step 1: the format, with no project settings yet (they depend on the pid).
    let parsed = params::parse_query(query, &params::ParseOptions::default())?;
    let pid = match &parsed {
        ParsedQuery::Plain(p) => p.pid.clone(),
        ParsedQuery::Encrypted(e) => match &e.pid {
            Some(pid) => pid.clone(),
            None => project_of_blob(state, &e.blob).ok_or(ParamsError::MissingPid)?,
        },
    };
    let project = state.project(&pid).ok_or(ParamsError::PidUnknown)?;
    if project.status == ProjectStatus::Closed {
        return Err(ParamsError::ProjectClosed.into());
    }
    // Step 2: again under the project's settings (encryption-only, private mode, ECB).
    let opts = project.parse_options();
    let params = match params::parse_query(query, &opts)? {
        ParsedQuery::Plain(p) => p,
        ParsedQuery::Encrypted(e) => e.open(project.query_key.as_ref(), &opts)?,
    };
    if params.pid != project.id {
        return Err(ParamsError::PidMismatch.into());
    }
    Ok((params, pid))
}

/// `POST /api/sessions`.
pub async fn create(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    let (params, pid) = parse_for_project(&state, &req.query)?;
    let Some(project) = state.project(&pid) else {
        return Err(ParamsError::PidUnknown.into());
    };
    crate::cors::check_session_origin(project, &headers)?;
    let now = now_ms();
    let session_id = random_id("ses_").map_err(ApiError::internal)?;
    // 32 bytes, as `liveness::challenge` asks (at least 16).
    let seed = random_bytes::<32>().map_err(ApiError::internal)?;
    let expires_at_ms = now.saturating_add(state.settings.session_ttl_ms);
    let policy = project.policy;
    let policy_json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    let params_json = serde_json::to_string(&params).map_err(ApiError::internal)?;
    let private_mode = project.private_mode;
    let expiry = project.token_expiry;
    let failed_checks = state.settings.failed_checks;
    let (sid, token_id) = (params.sid.clone(), params.token_id.clone());
    let (sid2, pid2, session_id2, seed_hex) = (
        sid.clone(),
        pid.clone(),
        session_id.clone(),
        hex::encode(seed),
    );
    let seed_hex2 = seed_hex.clone();
    state
        .db
        .call(move |c| {
            let status: Option<String> = c
                .query_row(
                    "SELECT status FROM submissions WHERE project_id = ?1 AND sid = ?2",
                    [&pid2, &sid2],
                    |r| r.get(0),
                )
                .optional()?;
            match status.as_deref().and_then(SubmissionStatus::parse) {
                None => return Err(ParamsError::SidUnknown.into()),
                Some(SubmissionStatus::Approved) => {}
                Some(_) => return Err(ParamsError::SidNotApproved.into()),
            }
            // Told now rather than after the capture: the upload would be refused too.
            check_failed_checks(c, failed_checks, &pid2, &sid2, now)?;
            if private_mode {
                // parse_options required it; checked again so a missing one cannot slip by.
                let tid = token_id.as_deref().ok_or(ParamsError::MissingTokenId)?;
                let record = load_token(c, &pid2, tid)?.map(|(r, _)| r);
                tokens::check_access(record.as_ref(), expiry, now)?;
            }
            c.execute(
                "INSERT INTO sessions (id, project_id, sid, token_id, params_json, policy_json,
                                       challenge_seed, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    session_id2,
                    pid2,
                    sid2,
                    if private_mode { token_id } else { None },
                    params_json,
                    policy_json,
                    seed_hex2,
                    to_sql_ms(now),
                    to_sql_ms(expires_at_ms)
                ],
            )?;
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            session_id,
            project: ProjectView {
                id: project.id.clone(),
                name: project.name.clone(),
                logo_url: project.logo_url.clone(),
            },
            policy,
            policy_hash: hex::encode(policy.hash()),
            public_key: project.public_key.to_base64(),
            private_mode,
            expires_at_ms,
            lang: params.lang,
            handoff: project.handoff.mode,
        }),
    ))
}

/// The answer to a Start.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The session.
    pub session_id: String,
    /// Hex of 32 random bytes: the seed of the active-liveness challenge. Revealed only at
    /// Start, so the order of the steps cannot be known before the session starts; kept with
    /// the session so the upload is judged against the challenge that was issued.
    pub challenge_seed: String,
    /// When Start was (first) pressed.
    pub started_at_ms: u64,
}

/// Checks that a session may still be used at `now`.
pub fn check_open(s: &SessionRow, project: Option<&Project>, now: u64) -> ApiResult<()> {
    if s.auth_id.is_some() || s.decided_at_ms.is_some() {
        return Err(ApiError::conflict(
            "session_decided",
            "this session already has a result",
        ));
    }
    if now >= s.expires_at_ms {
        return Err(ApiError::new(
            StatusCode::GONE,
            "session_expired",
            "this session has expired; open the link again",
        ));
    }
    match project {
        None => Err(ParamsError::PidUnknown.into()),
        Some(p) if p.status == ProjectStatus::Closed => Err(ParamsError::ProjectClosed.into()),
        Some(_) => Ok(()),
    }
}

fn session_unknown() -> ApiError {
    ApiError::not_found("session_unknown", "no such session")
}

/// `POST /api/sessions/{id}/start`: the Start press. In private mode this is when the token is
/// used: the first Start is written with a conditional `UPDATE … WHERE first_start_ms IS NULL`,
/// so of two concurrent Starts with one by-use token exactly one wins. A repeated Start of the
/// same session is idempotent.
pub async fn start(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Started>> {
    let now = now_ms();
    let st = state.clone();
    let id_out = session_id.clone();
    let (started_at_ms, challenge_seed) = state
        .db
        .call(move |c| {
            let s = load_session(c, &session_id)?.ok_or_else(session_unknown)?;
            let project = st.project(&s.project_id);
            check_open(&s, project, now)?;
            if let Some(at) = s.started_at_ms {
                return Ok((at, s.challenge_seed));
            }
            let project = project.ok_or(ParamsError::PidUnknown)?;
            if project.private_mode {
                let tid = s.token_id.as_deref().ok_or(ParamsError::MissingTokenId)?;
                spend_token(c, project, tid, &s.id, now)?;
            }
            c.execute(
                "UPDATE sessions SET started_at_ms = ?1 WHERE id = ?2 AND started_at_ms IS NULL",
                rusqlite::params![to_sql_ms(now), s.id],
            )?;
            let at: Option<i64> = c.query_row(
                "SELECT started_at_ms FROM sessions WHERE id = ?1",
                [&s.id],
                |r| r.get(0),
            )?;
            Ok((at.map_or(now, from_sql_ms), s.challenge_seed))
        })
        .await?;
    state.events.changed(&id_out); // a desktop following a handoff shows "capturing"
    Ok(Json(Started {
        session_id: id_out,
        challenge_seed,
        started_at_ms,
    }))
}

/// Applies a Start to a token (see [`tokens`] for the compare-and-set this implements).
fn spend_token(
    c: &Connection,
    project: &Project,
    token_id: &str,
    session_id: &str,
    now: u64,
) -> ApiResult<()> {
    // Two rounds suffice: a lost compare-and-set means the row is no longer unused, and the
    // second read sees that.
    for _ in 0..3 {
        let row = load_token(c, &project.id, token_id)?;
        if let Some((rec, Some(first_session))) = &row {
            if first_session == session_id && !rec.deleted {
                return Ok(()); // this session's own earlier Start
            }
        }
        let record = row.map(|(r, _)| r);
        match tokens::decide_start(record.as_ref(), project.token_expiry, now)? {
            StartDecision::Again(_) => return Ok(()),
            StartDecision::First(_) => {
                let changed = c.execute(
                    "UPDATE tokens SET first_start_ms = ?1, first_session_id = ?2
                     WHERE project_id = ?3 AND token_id = ?4
                       AND first_start_ms IS NULL AND deleted = 0",
                    rusqlite::params![to_sql_ms(now), session_id, project.id, token_id],
                )?;
                if changed == 1 {
                    return Ok(());
                }
            }
        }
    }
    Err(ApiError::conflict(
        "token_contended",
        "the token changed during Start; try again",
    ))
}
