//! A full disk under the database: the server's SQLite file lives on a small tmpfs that the
//! test fills to the last byte. Every write refused for want of space is a retryable
//! `503 storage_full` (never a 500, never a half-stored upload); the server keeps serving;
//! once space is freed, the browser's retries store every upload exactly once.
//!
//! Mounting needs root (CI runs as root). Elsewhere the test says it was skipped, except
//! under `CI=true`, where being unable to mount is a failure.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use liveform_server::config::LimitsConfig;
use liveform_server::state::StaticDirs;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(at.to_owned())),
            other => {
                let why = format!("cannot mount a tmpfs (needs root): {other:?}");
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
                eprintln!("SKIPPED: {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system under `path` to the last byte with a file of its own; returns it
/// and the bytes it took.
fn fill(path: &Path) -> (std::fs::File, usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 4096];
    let mut written = 0usize;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len();
    }
    // The last partial page, a byte at a time.
    while f.write_all(&[0]).is_ok() {
        written += 1;
    }
    let _ = f.flush();
    (f, written)
}

/// Frees `bytes` at the end of the filler (0: leave it full).
fn free(filler: &std::fs::File, bytes: u64) {
    let len = filler.metadata().unwrap().len();
    filler.set_len(len.saturating_sub(bytes)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_retryable_503_and_the_retries_store_each_upload_once() {
    let base = TempDir::new();
    let Some(disk) = Tmpfs::mount(&base.0.join("disk"), "12m") else {
        return;
    };
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig::no_rate_limits();
    let mut srv = spawn_in(
        cfg,
        Arc::new(TempDir(disk.0.join("db"))),
        StaticDirs::default(),
    )
    .await;

    // Sessions opened and started, captures sealed, while there is room.
    const UPLOADS: usize = 6;
    let mut captures = Vec::new();
    for i in 0..UPLOADS {
        let session = srv.open_started("pid=p1&sid=sub_ok").await;
        let id = session["sessionId"].as_str().unwrap().to_owned();
        let captured = now_ms();
        let jpeg = photo_jpeg(REFERENCE_PHOTO);
        let sealed = seal(&session, "p1", captured, &payload(jpeg, true));
        captures.push((id, format!("key-{i}"), captured, sealed));
    }

    let filler_path = disk.0.join("filler");
    let (filler, taken) = fill(&filler_path);
    assert!(taken > 0, "the disk was full before the filler");

    // Completely full: each upload and a new session are refused with the code, and the
    // server still answers what needs no write.
    for (id, key, captured, sealed) in &captures {
        let r = srv.upload_raw(id, key, *captured, sealed.clone()).await;
        assert_eq!((r.status, r.code()), (503, "storage_full"), "{}", r.text);
        assert_eq!(r.headers["retry-after"], "5");
    }
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!((r.status, r.code()), (503, "storage_full"), "{}", r.text);
    assert_eq!(srv.get("/api/health", None).await.status, 200);

    // Nearly full: a little room at a time, so that some uploads fail after their key was
    // claimed (the claim is small, the decision is not) and must give the key back.
    let mut statuses = std::collections::BTreeMap::<(u16, String), usize>::new();
    for (step, (id, key, captured, sealed)) in captures.iter().enumerate() {
        free(&filler, 4096 * step as u64);
        let r = srv.upload_raw(id, key, *captured, sealed.clone()).await;
        assert!(
            matches!((r.status, r.code()), (503, "storage_full") | (200, _)),
            "{}",
            r.text
        );
        *statuses.entry((r.status, r.code().to_owned())).or_default() += 1;
        // Take back what was freed (and whatever the database did not use).
        let _ = fill(&disk.0.join(format!("filler-{step}")));
    }
    eprintln!("answers on a nearly full disk: {statuses:?}");

    // The browser's retries, all at once, while the disk is still full; an operator frees
    // the space two seconds later.
    let uploads = captures
        .iter()
        .enumerate()
        .map(|(i, (id, key, captured, sealed))| {
            let client = srv.client.clone();
            let url = srv.url(&format!("/api/sessions/{id}/upload"));
            let (key, captured, sealed) = (key.clone(), *captured, sealed.clone());
            tokio::spawn(async move {
                let mut rng = 0x5eed + i as u64;
                upload_like_the_browser(&client, &url, &key, captured, &sealed, &mut rng).await
            })
        })
        .collect::<Vec<_>>();
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(filler);
    for entry in std::fs::read_dir(&disk.0).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mut answers = Vec::new();
    let mut waited_for_a_claimed_key = false;
    for u in uploads {
        let (attempts, status, text, _replayed, retried) = u.await.unwrap();
        assert_eq!(
            status, 200,
            "after {attempts} attempts ({retried:?}): {text}"
        );
        // Only full-disk refusals (and a key still being given back) were retried.
        assert!(
            retried
                .iter()
                .all(|r| r == "503 storage_full" || r == "409 upload_in_progress"),
            "{retried:?}"
        );
        eprintln!("upload: {attempts} attempts, retried {retried:?}");
        waited_for_a_claimed_key |= retried.iter().any(|r| r == "409 upload_in_progress");
        answers.push(text);
    }
    // The nearly-full steps must have made at least one upload claim its key and then fail
    // to store its decision, or the key release under a full disk went untested.
    assert!(
        waited_for_a_claimed_key,
        "no upload failed after claiming its key: change the free steps"
    );

    // Each upload stored once, each answer the stored one, and a replay gives it again.
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), UPLOADS as i64);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM uploads WHERE state = 'done'"),
        UPLOADS as i64
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), UPLOADS as i64);
    for ((id, key, captured, sealed), answer) in captures.iter().zip(&answers) {
        let again = srv.upload_raw(id, key, *captured, sealed.clone()).await;
        assert_eq!((again.status, &again.text), (200, answer));
        assert_eq!(again.headers["idempotent-replayed"], "true");
    }
    srv.stop().await;
}
