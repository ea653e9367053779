//! The `faceAuth` webhook against a real local receiver: signed, retried with backoff on
//! non-2xx, delivered once, and kept across a restart.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::*;
use liveform::webhook::{self, FaceAuthWebhook, WebhookSecret};
use liveform_server::config::WebhookConfig;

const SECRET: &str = "whsec_test_0123456789abcdef";

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// Answer 503 to everything while set.
    down: AtomicBool,
    calls: AtomicUsize,
    /// (timestamp header, signature header, body) of each accepted (2xx) delivery.
    accepted: Mutex<Vec<(String, String, Vec<u8>)>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.calls.fetch_add(1, Ordering::SeqCst);
    if r.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    r.accepted.lock().unwrap().push((
        h(webhook::TIMESTAMP_HEADER),
        h(webhook::SIGNATURE_HEADER),
        body.to_vec(),
    ));
    StatusCode::OK
}

/// A tiny receiver on 127.0.0.1:0; returns its URL.
async fn start_receiver(r: Arc<Receiver>) -> String {
    let app = Router::new().route("/hook", post(receive)).with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}/hook")
}

fn project_with_hook(url: &str) -> liveform_server::config::ProjectConfig {
    let mut p = project("p1");
    p.webhook = Some(WebhookConfig {
        url: url.into(),
        secret: SECRET.into(),
    });
    p
}

async fn upload_one(srv: &TestServer) -> String {
    let session = srv
        .open_started("pid=p1&sid=sub_ok&userid=user_7&cf2=web")
        .await;
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );
    let r = srv
        .upload_raw(
            session["sessionId"].as_str().unwrap(),
            "k",
            captured,
            sealed,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["authId"].as_str().unwrap().to_owned()
}

/// Waits until the outbox row of `auth_id` is `delivered` (or times out).
async fn wait_delivered(srv: &TestServer, auth_id: &str) -> (String, i64) {
    for _ in 0..300 {
        let row: (String, i64) = srv
            .db()
            .query_row(
                "SELECT state, attempts FROM webhook_outbox WHERE auth_id = ?1",
                [auth_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if row.0 != "pending" {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("webhook for {auth_id} not delivered in time");
}

fn check_signed(delivery: &(String, String, Vec<u8>), auth_id: &str) -> FaceAuthWebhook {
    let (ts, sig, body) = delivery;
    let secret = WebhookSecret::new(SECRET.as_bytes()).unwrap();
    let ts = webhook::parse_timestamp_header(ts).unwrap();
    webhook::verify_fresh(
        &secret,
        ts,
        body,
        sig,
        now_ms(),
        webhook::DEFAULT_TOLERANCE_MS,
    )
    .expect("valid, fresh signature");
    let w = FaceAuthWebhook::from_json(body).unwrap();
    assert_eq!(w.webhook_trigger, "faceAuth");
    assert_eq!(w.authentication_id, auth_id);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_twice_then_delivered_once_with_a_valid_signature() {
    let receiver = Arc::new(Receiver::default());
    receiver.fail_first.store(2, Ordering::SeqCst);
    let url = start_receiver(receiver.clone()).await;
    let srv = spawn(config(vec![project_with_hook(&url)])).await;

    let auth_id = upload_one(&srv).await;
    let (state, attempts) = wait_delivered(&srv, &auth_id).await;
    assert_eq!((state.as_str(), attempts), ("delivered", 3));
    // Give a stray extra delivery the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 3);
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1, "delivered exactly once");
    let w = check_signed(&accepted[0], &auth_id);
    assert_eq!(w.submission_id, "sub_ok");
    assert_eq!(w.status, liveform::webhook::AuthStatus::Approved);
    assert!(w.scores.face_similarity >= 98.0);
    assert!(w.scores.liveness >= 70.0);
    assert_eq!(w.user_id.as_deref(), Some("user_7"));
    assert_eq!(w.cf2.as_deref(), Some("web"));
    assert!(w.create_time.ends_with('Z'));
    // A forged body does not verify with the same headers.
    let secret = WebhookSecret::new(SECRET.as_bytes()).unwrap();
    let ts = webhook::parse_timestamp_header(&accepted[0].0).unwrap();
    let mut forged = accepted[0].2.clone();
    forged.push(b' ');
    assert!(webhook::verify(&secret, ts, &forged, &accepted[0].1).is_err());
    let (last_status, delivered_at): (i64, Option<i64>) = srv
        .db()
        .query_row(
            "SELECT last_status, delivered_at_ms FROM webhook_outbox WHERE auth_id = ?1",
            [&auth_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(last_status, 200);
    assert!(delivered_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_webhook_survives_a_restart() {
    let receiver = Arc::new(Receiver::default());
    receiver.down.store(true, Ordering::SeqCst);
    let url = start_receiver(receiver.clone()).await;
    let mut cfg = config(vec![project_with_hook(&url)]);
    // Slow retries, so the first server gives up the turn well before the delivery succeeds.
    cfg.webhook_retry.base_delay_ms = 60_000;
    cfg.webhook_retry.max_delay_ms = 60_000;
    let mut srv = spawn(cfg.clone()).await;
    let auth_id = upload_one(&srv).await;
    // The first attempt fails while the receiver is down.
    for _ in 0..250 {
        if receiver.calls.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.calls.load(Ordering::SeqCst) >= 1);
    srv.stop().await;
    let (state, attempts, next_at): (String, i64, i64) = rusqlite::Connection::open(&srv.db_path)
        .unwrap()
        .query_row(
            "SELECT state, attempts, next_attempt_at_ms FROM webhook_outbox WHERE auth_id = ?1",
            [&auth_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    // Pretend the backoff has passed while the server was down.
    rusqlite::Connection::open(&srv.db_path)
        .unwrap()
        .execute(
            "UPDATE webhook_outbox SET next_attempt_at_ms = ?1 WHERE auth_id = ?2",
            rusqlite::params![next_at.min(now_ms() as i64), auth_id],
        )
        .unwrap();

    // The receiver comes back; a new server process on the same file delivers it.
    receiver.down.store(false, Ordering::SeqCst);
    let srv2 = spawn_in(cfg, srv.dir.clone(), Default::default()).await;
    let (state, attempts) = wait_delivered(&srv2, &auth_id).await;
    assert_eq!((state.as_str(), attempts), ("delivered", 2));
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    check_signed(&accepted[0], &auth_id);
    // The project kept its key pair across the restart.
    let s = srv2.create_session("pid=p1&sid=sub_ok").await;
    assert_eq!(s.status, 201);
    assert_eq!(srv2.count("SELECT COUNT(*) FROM project_keys"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_webhook_without_a_configured_url() {
    let srv = spawn(config(vec![project("p1")])).await;
    upload_one(&srv).await;
    assert_eq!(srv.count("SELECT COUNT(*) FROM webhook_outbox"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_urls_go_through_tls() {
    // The receiver speaks plain HTTP, so a TLS handshake to it fails: the delivery is kept
    // pending with the error, and nothing panics for want of a TLS provider.
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone())
        .await
        .replace("http://", "https://");
    let srv = spawn(config(vec![project_with_hook(&url)])).await;
    let auth_id = upload_one(&srv).await;
    let mut last_error = None;
    for _ in 0..250 {
        last_error = srv
            .db()
            .query_row(
                "SELECT last_error FROM webhook_outbox WHERE auth_id = ?1",
                [&auth_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .unwrap();
        if last_error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        last_error.is_some(),
        "the https attempt failed and was recorded"
    );
    assert!(receiver.accepted.lock().unwrap().is_empty());
}
