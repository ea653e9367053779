//! The webhook outbox worker: delivers queued `faceAuth` webhooks, signed, retrying non-2xx
//! answers on the core's backoff schedule.
//!
//! The queue is the `webhook_outbox` table, written in the same transaction as the result, so
//! a result is never stored without its webhook and a restart loses nothing: the worker picks
//! up every `pending` row whose time has come. A delivery interrupted by a crash is sent again
//! (at least once; receivers de-duplicate on `authentication_id`).

use std::time::Duration;

use liveform::webhook::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, random_u64, to_sql_ms};

/// Longest the worker sleeps before looking at the table again, even without a wake-up.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Rows taken per round.
const BATCH: i64 = 16;

struct Due {
    id: i64,
    project_id: String,
    url: String,
    body: String,
    attempts: u32,
}

/// Runs until `shutdown` turns true.
pub async fn run(state: SharedState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let delivered_some = match round(&state).await {
            Ok(n) => n > 0,
            Err(e) => {
                eprintln!("liveform: webhook outbox: {e}");
                // Do not spin on a failing database; the rows stay queued.
                tokio::select! {
                    _ = tokio::time::sleep(MAX_IDLE) => {}
                    changed = shutdown.changed() => if changed.is_err() { return; },
                }
                continue;
            }
        };
        if delivered_some {
            continue; // there may be more due right away
        }
        let wait = next_wait(&state).await.unwrap_or(MAX_IDLE);
        tokio::select! {
            _ = state.webhook_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => {
                // The server handle is gone (dropped without a shutdown): stop too.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// How long until the next pending row is due (capped at [`MAX_IDLE`]).
async fn next_wait(state: &SharedState) -> Result<Duration, ApiError> {
    let next: Option<i64> = state
        .db
        .call(|c| {
            Ok(c.query_row(
                "SELECT MIN(next_attempt_at_ms) FROM webhook_outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    Ok(match next {
        None => MAX_IDLE,
        Some(at) => Duration::from_millis(from_sql_ms(at).saturating_sub(now_ms())).min(MAX_IDLE),
    })
}

/// Sends every due delivery once; returns how many were attempted.
async fn round(state: &SharedState) -> Result<usize, ApiError> {
    let now = now_ms();
    let due: Vec<Due> = state
        .db
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, project_id, url, body, attempts FROM webhook_outbox
                 WHERE state = 'pending' AND next_attempt_at_ms <= ?1
                 ORDER BY next_attempt_at_ms LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(rusqlite::params![to_sql_ms(now), BATCH], |r| {
                    Ok(Due {
                        id: r.get(0)?,
                        project_id: r.get(1)?,
                        url: r.get(2)?,
                        body: r.get(3)?,
                        attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    let n = due.len();
    for d in due {
        deliver(state, d).await?;
    }
    Ok(n)
}

/// One attempt at one delivery, and its bookkeeping.
async fn deliver(state: &SharedState, d: Due) -> Result<(), ApiError> {
    let attempt = d.attempts.saturating_add(1);
    let outcome: Result<u16, String> = match state
        .project(&d.project_id)
        .and_then(|p| p.webhook.as_ref())
    {
        None => Err("the project no longer has a webhook".into()),
        Some((_, secret)) => {
            let ts = now_ms();
            let sig = webhook::sign(secret, ts, d.body.as_bytes());
            state
                .http
                .post(&d.url)
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, sig)
                .header("x-liveform-delivery", d.id.to_string())
                .header("x-liveform-attempt", attempt.to_string())
                .body(d.body.clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        }
    };
    let now = now_ms();
    let policy = state.settings.webhook_retry;
    let (new_state, next_at, status, error) = match &outcome {
        Ok(code) if webhook::is_delivered(*code) => ("delivered", now, Some(*code), None),
        other => {
            let (status, error) = match other {
                Ok(code) => (Some(*code), format!("HTTP {code}")),
                Err(e) => (None, e.clone()),
            };
            // The delay before the *next* attempt; none left means the delivery is given up.
            match webhook::retry_delay_ms(&policy, attempt.saturating_add(1), random_u64()) {
                Some(delay) => ("pending", now.saturating_add(delay), status, Some(error)),
                None => ("failed", now, status, Some(error)),
            }
        }
    };
    if new_state == "failed" {
        eprintln!(
            "liveform: webhook delivery {} given up after {attempt} attempts",
            d.id
        );
    }
    let id = d.id;
    state
        .db
        .call(move |c| {
            c.execute(
                "UPDATE webhook_outbox
                 SET state = ?1, attempts = ?2, next_attempt_at_ms = ?3, last_status = ?4,
                     last_error = ?5,
                     delivered_at_ms = CASE WHEN ?1 = 'delivered' THEN ?6 ELSE delivered_at_ms END
                 WHERE id = ?7",
                rusqlite::params![
                    new_state,
                    i64::from(attempt),
                    to_sql_ms(next_at),
                    status.map(i64::from),
                    error,
                    to_sql_ms(now),
                    id
                ],
            )?;
            Ok(())
        })
        .await
}
