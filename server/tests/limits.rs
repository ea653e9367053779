//! Request limits against a real server: body caps on every route that reads a body, rates
//! per client IP and per session, failed checks per submission, request and header timeouts,
//! and a database locked by another writer. Every refusal is the API's JSON error with a
//! stable code, and the rate and timeout refusals say when to come back (`Retry-After`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use liveform_server::config::{LimitsConfig, RateLimit, SubmissionConfig, SubmissionStatus};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn no_limits() -> LimitsConfig {
    LimitsConfig::no_rate_limits()
}

/// The `Retry-After` of a response, in seconds.
fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {r:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes `head` and then `body` on a raw connection and returns everything the server sends
/// before it closes (guarded by a generous deadline so a bug cannot hang the test).
async fn raw_exchange(srv: &TestServer, head: String, body: &[u8]) -> String {
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&out).into_owned()
}

fn json_of(raw: &str) -> Value {
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_reading_route_caps_its_body_with_a_coded_413() {
    let mut p = project("p1");
    p.private_mode = true;
    let mut cfg = config(vec![p]);
    cfg.limits = no_limits();
    let srv = spawn(cfg).await;
    let key = format!("{API_KEY}-p1");

    // POST /api/sessions: 64 KiB.
    let big_query = "x".repeat(64 * 1024);
    let r = srv
        .post_json("/api/sessions", &json!({ "query": big_query }), None)
        .await;
    assert_eq!((r.status, r.code()), (413, "body_too_large"), "{}", r.text);

    // The Token API: 16 MiB, on registration and on bulk deletion.
    let ids: Vec<String> = (0..140_000).map(|i| format!("tok_{i:0>120}")).collect();
    let body = json!({ "tokenIds": ids });
    assert!(serde_json::to_vec(&body).unwrap().len() > 16 * 1024 * 1024);
    let r = srv
        .post_json("/api/projects/p1/tokens", &body, Some(&key))
        .await;
    assert_eq!((r.status, r.code()), (413, "body_too_large"), "{}", r.text);
    let r = srv
        .delete("/api/projects/p1/tokens", Some(&body), Some(&key))
        .await;
    assert_eq!((r.status, r.code()), (413, "body_too_large"), "{}", r.text);

    // Uploads: maxUploadBytes (8 MiB here).
    let r = srv
        .upload_raw("ses_x", "k", now_ms(), vec![0u8; 8 * 1024 * 1024 + 1])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (413, "upload_too_large"),
        "{}",
        r.text
    );

    // Nothing was stored by any of them.
    assert_eq!(srv.count("SELECT COUNT(*) FROM tokens"), 0);
    assert_eq!(srv.count("SELECT COUNT(*) FROM sessions"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_client_ip_are_limited() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        per_ip: Some(RateLimit {
            max: 3,
            window_ms: 60_000,
        }),
        client_ip_header: Some("x-forwarded-for".into()),
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    let key = format!("{API_KEY}-p1");
    for _ in 0..3 {
        let r = srv.get("/api/results/auth_none", Some(&key)).await;
        assert_eq!((r.status, r.code()), (404, "result_unknown"));
    }
    let r = srv.get("/api/results/auth_none", Some(&key)).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("address"));
    // Any API route counts, and a refused request is refused before it does anything.
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM sessions"), 0);

    // The health check and the page are not API calls that count.
    let r = srv.get("/api/health", None).await;
    assert_eq!(r.status, 200);
    let r = srv.get("/", None).await;
    assert_ne!(r.status, 429);

    // Behind the configured proxy header, another client has its own budget (the last
    // address is the one the proxy added).
    let other = Resp::from(
        srv.client
            .get(srv.url("/api/results/auth_none"))
            .header("x-api-key", &key)
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(other.code(), "result_unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_session_are_limited() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        per_session: Some(RateLimit {
            max: 2,
            window_ms: 60_000,
        }),
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    let a = srv.create_session("pid=p1&sid=sub_ok").await.body;
    let b = srv.create_session("pid=p1&sid=sub_ok").await.body;
    let a = a["sessionId"].as_str().unwrap();
    let b = b["sessionId"].as_str().unwrap();
    assert_eq!(srv.start(a).await.status, 200);
    assert_eq!(srv.start(a).await.status, 200);
    let r = srv.start(a).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    assert!(retry_after(&r) >= 1);
    let r = srv.upload_raw(a, "k", now_ms(), b"x".to_vec()).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    // Another session is not affected.
    assert_eq!(srv.start(b).await.status, 200);
}

/// Opens a session on `sid`, uploads a no-face frame (rejected), returns the upload's answer.
async fn rejected_upload(srv: &TestServer, sid: &str) -> (Value, Resp) {
    let session = srv.open_started(&format!("pid=p1&sid={sid}")).await;
    let captured = now_ms();
    let sealed = seal(&session, "p1", captured, &payload(blank_jpeg(), false));
    let r = srv
        .upload_raw(
            session["sessionId"].as_str().unwrap(),
            "k",
            captured,
            sealed,
        )
        .await;
    (session, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_per_submission_are_limited() {
    let mut p = project("p1");
    p.submissions.push(SubmissionConfig {
        sid: "sub_other".into(),
        status: SubmissionStatus::Approved,
        reference_image: Some(repo().join("tests/data").join(REFERENCE_PHOTO)),
    });
    let mut cfg = config(vec![p]);
    cfg.limits = LimitsConfig {
        failed_checks: Some(RateLimit {
            max: 2,
            window_ms: 180_000,
        }),
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    // A session opened before the limit is reached, to upload to after.
    let early = srv.open_started("pid=p1&sid=sub_ok").await;

    for _ in 0..2 {
        let (_, r) = rejected_upload(&srv, "sub_ok").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["status"], "rejected");
    }
    // Two failed checks in the window: a new session is refused at once …
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_failed_checks"),
        "{}",
        r.text
    );
    let wait = retry_after(&r);
    assert!((1..=180).contains(&wait), "{wait}");
    // … and so is an upload to a session opened before, with nothing stored or left claimed.
    let captured = now_ms();
    let sealed = seal(
        &early,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );
    let early_id = early["sessionId"].as_str().unwrap();
    let r = srv.upload_raw(early_id, "k2", captured, sealed).await;
    assert_eq!((r.status, r.code()), (429, "too_many_failed_checks"));
    assert!(retry_after(&r) >= 1);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM uploads WHERE state = 'processing'"),
        0
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 2);

    // Another submission of the same project is not affected.
    let (_, r) = rejected_upload(&srv, "sub_other").await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Rejections older than the window no longer count: age the stored ones.
    srv.db()
        .execute(
            "UPDATE results SET decided_at_ms = decided_at_ms - 181000 WHERE sid = 'sub_ok'",
            [],
        )
        .unwrap();
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failing_uploads_store_no_more_than_the_limit() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        failed_checks: Some(RateLimit {
            max: 2,
            window_ms: 180_000,
        }),
        ..no_limits()
    };
    let srv = Arc::new(spawn(cfg).await);
    // Five sessions opened first, then five no-face uploads at once: all pass the check made
    // before deciding, the one made before storing lets two through.
    let mut sealed = Vec::new();
    for _ in 0..5 {
        let session = srv.open_started("pid=p1&sid=sub_ok").await;
        let captured = now_ms();
        let s = seal(&session, "p1", captured, &payload(blank_jpeg(), false));
        sealed.push((
            session["sessionId"].as_str().unwrap().to_owned(),
            captured,
            s,
        ));
    }
    let mut tasks = Vec::new();
    for (id, captured, s) in sealed {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            let r = srv.upload_raw(&id, "k", captured, s).await;
            (r.status, r.code().to_owned())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers.sort();
    assert_eq!(
        answers,
        [
            (200, String::new()),
            (200, String::new()),
            (429, "too_many_failed_checks".into()),
            (429, "too_many_failed_checks".into()),
            (429, "too_many_failed_checks".into()),
        ]
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 2);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM uploads"),
        2,
        "refused keys released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_of_a_stored_upload_are_not_refused_by_the_failed_check_limit() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        failed_checks: Some(RateLimit {
            max: 1,
            window_ms: 180_000,
        }),
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let captured = now_ms();
    let sealed = seal(&session, "p1", captured, &payload(blank_jpeg(), false));
    let id = session["sessionId"].as_str().unwrap();
    let first = srv.upload_raw(id, "k", captured, sealed.clone()).await;
    assert_eq!(first.body["status"], "rejected");
    // The limit is reached now, yet the page retrying after a lost answer gets that answer.
    let again = srv.upload_raw(id, "k", captured, sealed).await;
    assert_eq!((again.status, again.text), (200, first.text));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_a_coded_408() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        request_timeout_ms: 300,
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    // Announces 1000 bytes, sends 10, and waits.
    let head = format!(
        "POST /api/sessions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    let raw = raw_exchange(&srv, head, b"{\"query\":\"").await;
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("retry-after: 1"), "{raw}");
    assert_eq!(json_of(&raw)["error"]["code"], "request_timeout", "{raw}");
    assert_eq!(srv.count("SELECT COUNT(*) FROM sessions"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_do_not_arrive_in_time_end_the_connection() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        header_timeout_ms: 300,
        ..no_limits()
    };
    let srv = spawn(cfg).await;
    // Half a request head, never finished: the server hangs up rather than wait forever.
    let raw = raw_exchange(&srv, "GET /api/health HTTP/1.1\r\nHost: x\r\n".into(), b"").await;
    assert!(raw.is_empty() || raw.starts_with("HTTP/1.1 408"), "{raw}");
    // The server still serves others.
    assert_eq!(srv.get("/api/health", None).await.status, 200);
}

/// Holds the database's write lock from another connection until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(srv: &TestServer) -> WriteLock {
        let c = srv.db();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(c)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_a_retryable_503_and_the_retry_stores_once() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = no_limits();
    cfg.db_busy_timeout_ms = 200;
    let srv = spawn(cfg).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let id = session["sessionId"].as_str().unwrap();
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );

    let lock = WriteLock::take(&srv);
    let r = srv.upload_raw(id, "k", captured, sealed.clone()).await;
    assert_eq!((r.status, r.code()), (503, "database_busy"), "{}", r.text);
    assert_eq!(retry_after(&r), 1);
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!((r.status, r.code()), (503, "database_busy"), "{}", r.text);
    drop(lock);

    // The retry with the same key is decided and stored once; a second retry replays it.
    let first = srv.upload_raw(id, "k", captured, sealed.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = srv.upload_raw(id, "k", captured, sealed).await;
    assert_eq!(again.text, first.text);
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_takes_too_long_is_a_503_and_the_upload_is_still_stored_once() {
    let mut cfg = config(vec![project("p1")]);
    cfg.limits = LimitsConfig {
        request_timeout_ms: 300,
        ..no_limits()
    };
    // Longer than the request timeout: the upload waits for the lock past it.
    cfg.db_busy_timeout_ms = 5_000;
    let srv = spawn(cfg).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let id = session["sessionId"].as_str().unwrap().to_owned();
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );

    let lock = WriteLock::take(&srv);
    let r = srv.upload_raw(&id, "k", captured, sealed.clone()).await;
    assert_eq!((r.status, r.code()), (503, "server_timeout"), "{}", r.text);
    assert_eq!(retry_after(&r), 1);
    drop(lock);

    // The upload went on without its client; retrying with the key collects its answer
    // (409 upload_in_progress while it is still being decided, as the page expects).
    let mut answer = None;
    for _ in 0..100 {
        let r = srv.upload_raw(&id, "k", captured, sealed.clone()).await;
        match (r.status, r.code()) {
            (200, _) => {
                answer = Some(r);
                break;
            }
            (409, "upload_in_progress") | (503, "server_timeout") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => panic!("unexpected answer: {}", r.text),
        }
    }
    let answer = answer.expect("the upload was decided");
    assert_eq!(answer.body["status"], "approved", "{}", answer.text);
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 1);
}
