//! The real `liveform serve` process killed with SIGKILL in the middle of uploads and started
//! again on the same database, twice: every upload the clients sent is stored exactly once,
//! and each client's final answer is the stored one.
//!
//! The keys a killed process had claimed stay `processing` in the database; the restarted
//! server takes them over once the dead process's heartbeat is old enough (see
//! `instances.rs`), instead of answering `409 upload_in_progress` until the claim is stale.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use liveform_server::config::LimitsConfig;
use serde_json::Value;

/// Uploads in flight when the server is killed.
const UPLOADS: usize = 24;

/// A server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(dir: &Path, port: u16, run: usize) -> Server {
    let log = std::fs::File::create(dir.join(format!("server-{run}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_liveform"))
        .arg("serve")
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--db")
        .arg(dir.join("liveform.db"))
        .arg("--config")
        .arg(dir.join("config.json"))
        .arg("--models")
        .arg(repo().join("models"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("liveform serve starts");
    Server(child)
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..1200 {
        if let Ok(r) = client.get(format!("{base}/api/health")).send().await {
            if r.status().as_u16() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Waits until at least `results` are stored, then kills the server; returns the claims it
/// left `processing`.
async fn kill_after(server: Server, db: &Path, results: i64) -> i64 {
    let mut server = server;
    for _ in 0..6000 {
        if count(db, "SELECT COUNT(*) FROM results") >= results {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.0.kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    server.0.wait().unwrap();
    count(
        db,
        "SELECT COUNT(*) FROM uploads WHERE state = 'processing'",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_and_restarted_loses_nothing_and_stores_nothing_twice() {
    let dir = TempDir::new();
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig::no_rate_limits();
    std::fs::write(
        dir.0.join("config.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let db = dir.0.join("liveform.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    // No server in this process to install reqwest's TLS provider: install it here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let server = spawn_server(&dir.0, port, 1);
    wait_ready(&client, &base).await;

    // Sessions first, then every upload at once: face photos, a few hundred ms of decision
    // each, so most are claimed and waiting or being decided when the process dies.
    let face = photo_jpeg(REFERENCE_PHOTO);
    let mut prepared = Vec::new();
    for i in 0..UPLOADS {
        let r = client
            .post(format!("{base}/api/sessions"))
            .header("content-type", "application/json")
            .body(r#"{"query":"pid=p1&sid=sub_ok"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let session: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let id = session["sessionId"].as_str().unwrap().to_owned();
        let r = client
            .post(format!("{base}/api/sessions/{id}/start"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let captured = now_ms();
        let mut p = payload(face.clone(), true);
        p.best_frame.at_ms = i as u64;
        let sealed = seal(&session, "p1", captured, &p);
        prepared.push((id, format!("restart-{i:02}"), captured, sealed));
    }
    let client = Arc::new(client);
    let mut tasks = Vec::new();
    for (i, (id, key, captured, sealed)) in prepared.into_iter().enumerate() {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let url = format!("{base}/api/sessions/{id}/upload");
            let mut rng = mix(i as u64);
            let (attempts, status, text, _, seen) =
                upload_like_the_browser(&client, &url, &key, captured, &sealed, &mut rng).await;
            (id, key, attempts, status, text, seen)
        }));
    }

    // Kill it twice mid-run, restarting on the same database each time.
    let left1 = kill_after(server, &db, 3).await;
    let server = spawn_server(&dir.0, port, 2);
    let left2 = kill_after(server, &db, 10).await;
    let _server = spawn_server(&dir.0, port, 3);
    println!("claims left processing by the killed processes: {left1}, {left2}");
    assert!(
        left1 + left2 > 0,
        "no upload was in progress at either kill; the test proved nothing"
    );

    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for (_, _, _, _, _, s) in &done {
        for o in s {
            *seen.entry(o.clone()).or_insert(0) += 1;
        }
    }
    println!("retried after: {seen:?}");
    for (id, key, attempts, status, text, _) in &done {
        assert_eq!(*status, 200, "{id} {key} after {attempts} attempts: {text}");
    }

    // One result per upload, one done row per key, nothing left claimed, and every answer
    // the stored one.
    let n = UPLOADS as i64;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM results"), n);
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT session_id) FROM results"),
        n
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uploads"), n);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM uploads WHERE state = 'done'"),
        n
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    for (id, key, _, _, text, _) in &done {
        let (stored, auth_id): (String, String) = c
            .query_row(
                "SELECT u.response_json, r.auth_id FROM uploads u
                 JOIN results r ON r.session_id = u.session_id
                 WHERE u.session_id = ?1 AND u.idempotency_key = ?2",
                [id, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(&stored, text);
        let got: Value = serde_json::from_str(text).unwrap();
        assert_eq!(got["authId"], auth_id.as_str());
    }
}
