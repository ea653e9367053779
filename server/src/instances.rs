//! Server processes sharing one database file, and which of them are alive.
//!
//! Each running server is an *instance* with a random id, a row in `instances`, and a
//! heartbeat it writes every [`HEARTBEAT`]. An upload's key is claimed in the name of an
//! instance (`uploads.owner`). When a process dies mid-upload (killed, crashed, power cut),
//! its claims stay `processing`; a retry of such a key on any instance sees that the owner's
//! heartbeat stopped more than [`DEAD_AFTER_MS`] ago and takes the claim over, so the upload
//! is decided and stored once instead of answering `409 upload_in_progress` until the claim
//! goes stale. A live instance's claims are never taken over this way (a claim of one's own is
//! in progress by definition).

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use tokio::sync::watch;

use crate::state::SharedState;
use crate::util::{from_sql_ms, now_ms, to_sql_ms};

/// How often a running instance writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance whose heartbeat is older than this is dead. Several heartbeats long, so a
/// database busy for a moment does not make a live instance look dead.
pub const DEAD_AFTER_MS: u64 = 5_000;
/// Rows of instances gone this long are removed.
const FORGET_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// Records (or refreshes) instance `id`'s heartbeat at `now`.
pub fn beat(c: &Connection, id: &str, now: u64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO instances (id, started_at_ms, heartbeat_at_ms) VALUES (?1, ?2, ?2)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms",
        rusqlite::params![id, to_sql_ms(now)],
    )?;
    Ok(())
}

/// Whether a claim owned by `owner` may be taken over by instance `me` at `now`: the owner is
/// another instance with no heartbeat for [`DEAD_AFTER_MS`] (or none on record). Claims
/// without an owner (written before owners were recorded) are judged by age alone.
pub fn owner_is_dead(
    c: &Connection,
    owner: Option<&str>,
    me: &str,
    now: u64,
) -> rusqlite::Result<bool> {
    let Some(owner) = owner else { return Ok(false) };
    if owner == me {
        return Ok(false);
    }
    let beat: Option<i64> = c
        .query_row(
            "SELECT heartbeat_at_ms FROM instances WHERE id = ?1",
            [owner],
            |r| r.get(0),
        )
        .optional()?;
    Ok(beat.is_none_or(|b| from_sql_ms(b).saturating_add(DEAD_AFTER_MS) <= now))
}

/// Writes the heartbeat until `shutdown` turns true, then removes this instance's row (its
/// requests have finished by then).
pub async fn run(state: SharedState, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = 0u64;
    while !*shutdown.borrow() {
        let id = state.instance_id.clone();
        let forget = ticks.is_multiple_of(600);
        let r = state
            .db
            .call(move |c| {
                let now = now_ms();
                beat(c, &id, now)?;
                if forget {
                    c.execute(
                        "DELETE FROM instances WHERE heartbeat_at_ms < ?1",
                        [to_sql_ms(now.saturating_sub(FORGET_AFTER_MS))],
                    )?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            eprintln!("liveform: heartbeat: {e}");
        }
        ticks += 1;
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    let id = state.instance_id.clone();
    let _ = state
        .db
        .call(move |c| {
            c.execute("DELETE FROM instances WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_rules() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE instances (id TEXT PRIMARY KEY, started_at_ms INTEGER NOT NULL,
                                     heartbeat_at_ms INTEGER NOT NULL)",
        )
        .unwrap();
        beat(&c, "a", 10_000).unwrap();
        // Alive within DEAD_AFTER_MS of its last beat, dead after.
        assert!(!owner_is_dead(&c, Some("a"), "b", 10_000 + DEAD_AFTER_MS - 1).unwrap());
        assert!(owner_is_dead(&c, Some("a"), "b", 10_000 + DEAD_AFTER_MS).unwrap());
        beat(&c, "a", 20_000).unwrap();
        assert!(!owner_is_dead(&c, Some("a"), "b", 20_001).unwrap());
        // One's own claims and unowned claims are never "dead"; unknown owners are.
        assert!(!owner_is_dead(&c, Some("b"), "b", u64::MAX).unwrap());
        assert!(!owner_is_dead(&c, None, "b", u64::MAX).unwrap());
        assert!(owner_is_dead(&c, Some("gone"), "b", 0).unwrap());
    }
}
