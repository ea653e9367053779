//! Sealed uploads against a real server: real photos sealed to the session's public key,
//! decided by the native re-run of the prechecks and the 1:1 face match.

mod common;

use common::*;
use serde_json::Value;

async fn approved_upload(srv: &TestServer) -> (Value, Resp, Vec<u8>, u64) {
    let session = srv
        .open_started("pid=p1&sid=sub_ok&userid=user_1&cf1=summer")
        .await;
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );
    let sid = session["sessionId"].as_str().unwrap();
    let r = srv.upload_raw(sid, "key-1", captured, sealed.clone()).await;
    (session, r, sealed, captured)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_photo_is_approved_with_scores_and_stored() {
    let srv = spawn(config(vec![project("p1")])).await;
    let (session, r, _, captured) = approved_upload(&srv).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let auth_id = r.body["authId"].as_str().unwrap();
    assert!(auth_id.starts_with("auth_"));
    assert_eq!(r.body["status"], "approved");
    let ret = r.body["returnUrl"].as_str().unwrap();
    assert!(
        ret.starts_with(&format!(
            "https://example.com/done?from=liveform&status=approved&authId={auth_id}&submissionId=sub_ok&userid=user_1&cf1=summer"
        )),
        "{ret}"
    );

    // The stored result, through the API.
    let res = srv
        .get(
            &format!("/api/results/{auth_id}"),
            Some(&format!("{API_KEY}-p1")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let b = &res.body;
    assert_eq!(b["authId"], auth_id);
    assert_eq!(b["submissionId"], "sub_ok");
    assert_eq!(b["sessionId"], session["sessionId"]);
    assert_eq!(b["status"], "approved");
    assert_eq!(b["reasons"].as_array().unwrap().len(), 0);
    let fm = &b["scores"]["faceMatch"];
    assert!(fm["score"].as_f64().unwrap() >= 98.0, "{fm}");
    assert_eq!(fm["threshold"], 98.0);
    assert_eq!(fm["passed"], true);
    let lv = &b["scores"]["liveness"];
    assert!(lv["score"].as_f64().unwrap() >= 70.0, "{lv}");
    assert_eq!(lv["threshold"], 70.0);
    assert_eq!(lv["passed"], true);
    // The server's own liveness, measured on the uploaded pixels, with every signal's part.
    let live = &b["liveness"];
    assert_eq!(live["passed"], true, "{live}");
    assert!(live["scores"]["passive"].as_f64().unwrap() > 50.0, "{live}");
    assert!(live["signals"]["moire"].is_number() && live["signals"]["gamut"].is_number());
    assert!(live["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "no_3d_evidence"));
    assert_eq!(b["scores"]["occlusion"]["result"], "pass");
    assert!(b["cosine"].as_f64().unwrap() > 0.9);
    assert_eq!(b["faceCount"], 1);
    assert_eq!(b["policy"], session["policy"], "the policy snapshot");
    let t = &b["timeline"];
    assert_eq!(t["capturedAtMs"], captured);
    let created = t["createdAtMs"].as_u64().unwrap();
    let opened = t["openedAtMs"].as_u64().unwrap();
    let decided = t["decidedAtMs"].as_u64().unwrap();
    assert!(created <= opened && opened <= decided);
    assert_eq!(b["claimed"]["passed"], true);
    assert_eq!(b["claimAgrees"], true);
    assert_eq!(b["sdkVersion"], liveform::VERSION);
    assert_eq!(b["userId"], "user_1");
    assert_eq!(b["cf1"], "summer");

    // Another project's key cannot read it.
    let other = srv
        .get(&format!("/api/results/{auth_id}"), Some("wrong"))
        .await;
    assert_eq!(other.code(), "api_key_invalid");
    let missing = srv
        .get("/api/results/auth_nope", Some(&format!("{API_KEY}-p1")))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "result_unknown"));

    // The row in the real file.
    let status: String = srv
        .db()
        .query_row(
            "SELECT status FROM results WHERE auth_id = ?1",
            [auth_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_idempotency_key_twice_stores_once_and_answers_the_same() {
    let srv = spawn(config(vec![project("p1")])).await;
    let (session, first, sealed, captured) = approved_upload(&srv).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let sid = session["sessionId"].as_str().unwrap();
    let again = srv.upload_raw(sid, "key-1", captured, sealed.clone()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.text, first.text, "byte-identical response");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert!(!first.headers.contains_key("idempotent-replayed"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 1);

    // Concurrent retries with the same key while the first is long done: still one row.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, body) = (
            srv.client.clone(),
            srv.url(&format!("/api/sessions/{sid}/upload")),
            sealed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("idempotency-key", "key-1")
                .header("x-liveform-captured-at", captured.to_string())
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!((status, text.as_str()), (200, first.text.as_str()));
    }

    // The same key with another body is refused; a new key on a decided session too.
    let other = seal(&session, "p1", captured, &payload(blank_jpeg(), true));
    let r = srv.upload_raw(sid, "key-1", captured, other.clone()).await;
    assert_eq!((r.status, r.code()), (422, "idempotency_key_reused"));
    let r = srv.upload_raw(sid, "key-2", captured, other).await;
    assert_eq!((r.status, r.code()), (409, "session_decided"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_upload_of_two_keys_racing_wins_alone() {
    let srv = spawn(config(vec![project("p1")])).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let sid = session["sessionId"].as_str().unwrap().to_owned();
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (client, url, body) = (
            srv.client.clone(),
            srv.url(&format!("/api/sessions/{sid}/upload")),
            sealed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("idempotency-key", format!("race-{i}"))
                .header("x-liveform-captured-at", captured.to_string())
                .body(body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409], "one result per session");
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM uploads WHERE state = 'done'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_claiming_passed_for_a_no_face_frame_is_rejected() {
    let srv = spawn(config(vec![project("p1")])).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let captured = now_ms();
    let sealed = seal(&session, "p1", captured, &payload(blank_jpeg(), true));
    let sid = session["sessionId"].as_str().unwrap();
    let r = srv.upload_raw(sid, "k", captured, sealed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "rejected");
    let auth_id = r.body["authId"].as_str().unwrap();
    let res = srv
        .get(
            &format!("/api/results/{auth_id}"),
            Some(&format!("{API_KEY}-p1")),
        )
        .await;
    assert_eq!(res.body["reasons"][0], "no_face");
    assert_eq!(res.body["claimed"]["passed"], true);
    assert_eq!(res.body["claimAgrees"], false);
    assert_eq!(res.body["faceCount"], 0);
    assert!(res.body["scores"]["faceMatch"]["score"].is_null());
    assert!(r.body["returnUrl"]
        .as_str()
        .unwrap()
        .contains("status=rejected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_face_is_rejected_as_a_mismatch() {
    let srv = spawn(config(vec![project("p1")])).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(OTHER_PHOTO), true),
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
    assert_eq!(r.body["status"], "rejected");
    let res = srv
        .get(
            &format!("/api/results/{}", r.body["authId"].as_str().unwrap()),
            Some(&format!("{API_KEY}-p1")),
        )
        .await;
    let reasons = res.body["reasons"].as_array().unwrap();
    assert!(reasons.iter().any(|r| r == "face_mismatch"), "{reasons:?}");
    assert!(res.body["scores"]["faceMatch"]["score"].as_f64().unwrap() < 98.0);
    assert_eq!(res.body["scores"]["faceMatch"]["passed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_misbound_envelopes_are_refused() {
    let srv = spawn(config(vec![project("p1")])).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let sid = session["sessionId"].as_str().unwrap();
    let captured = now_ms();
    let sealed = seal(
        &session,
        "p1",
        captured,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );

    // One flipped bit in the ciphertext.
    let mut tampered = sealed.clone();
    let at = tampered.len() - 40;
    tampered[at] ^= 0x01;
    let r = srv.upload_raw(sid, "k1", captured, tampered).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "envelope_open_failed"),
        "{}",
        r.text
    );
    // A different capture time than the one sealed in: the context does not match.
    let r = srv
        .upload_raw(sid, "k2", captured + 1, sealed.clone())
        .await;
    assert_eq!((r.status, r.code()), (400, "envelope_open_failed"));
    // Sealed for another session of the same project.
    let other = srv.open_started("pid=p1&sid=sub_ok").await;
    let r = srv
        .upload_raw(
            other["sessionId"].as_str().unwrap(),
            "k3",
            captured,
            sealed.clone(),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "envelope_open_failed"));
    // Not an envelope at all, and cut short.
    let r = srv.upload_raw(sid, "k4", captured, b"hello".to_vec()).await;
    assert_eq!((r.status, r.code()), (400, "envelope_bad_magic"));
    let r = srv
        .upload_raw(sid, "k5", captured, sealed[..20].to_vec())
        .await;
    assert_eq!((r.status, r.code()), (400, "envelope_truncated"));
    // A sealed payload that is not valid JSON of the format.
    let public_key =
        liveform::envelope::PublicKey::from_base64(session["publicKey"].as_str().unwrap()).unwrap();
    let policy: liveform::policy::Policy =
        serde_json::from_value(session["policy"].clone()).unwrap();
    let ctx = liveform::envelope::SealContext::new("p1", sid, captured, policy.hash());
    let junk = liveform::envelope::seal_with_os_rng(&public_key, &ctx, b"{\"version\":1}").unwrap();
    let r = srv.upload_raw(sid, "k6", captured, junk).await;
    assert_eq!((r.status, r.code()), (422, "bad_payload"), "{}", r.text);

    // Failed attempts store nothing and leave the session open: the good upload still works,
    // even with a key that failed before.
    assert_eq!(srv.count("SELECT COUNT(*) FROM results"), 0);
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 0);
    let r = srv.upload_raw(sid, "k1", captured, sealed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_preconditions_and_limits() {
    let mut cfg = config(vec![project("p1")]);
    cfg.max_upload_bytes = 64 * 1024;
    let srv = spawn(cfg).await;
    let created = srv.create_session("pid=p1&sid=sub_ok").await;
    let session = created.body.clone();
    let sid = session["sessionId"].as_str().unwrap();
    let captured = now_ms();
    let small = seal(&session, "p1", captured, &payload(blank_jpeg(), true));

    // Before Start.
    let r = srv.upload_raw(sid, "k", captured, small.clone()).await;
    assert_eq!((r.status, r.code()), (409, "session_not_started"));
    assert_eq!(srv.start(sid).await.status, 200);

    // Headers.
    let url = srv.url(&format!("/api/sessions/{sid}/upload"));
    let r = Resp::from(
        srv.client
            .post(&url)
            .header("x-liveform-captured-at", captured.to_string())
            .body(small.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "idempotency_key_missing"));
    let r = Resp::from(
        srv.client
            .post(&url)
            .header("idempotency-key", "k")
            .body(small.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "bad_captured_at"));
    let r = srv.upload_raw(sid, "k", 12, small.clone()).await;
    assert_eq!((r.status, r.code()), (400, "bad_captured_at"));
    let r = srv
        .upload_raw("ses_unknown", "k", captured, small.clone())
        .await;
    assert_eq!((r.status, r.code()), (404, "session_unknown"));

    // Over the size cap: 413 with a code, whether or not the length is announced.
    let big = vec![0u8; 64 * 1024 + 1];
    let r = srv.upload_raw(sid, "k", captured, big.clone()).await;
    assert_eq!((r.status, r.code()), (413, "upload_too_large"));
    let (status, text) = chunked_post(&srv, sid, captured, &big).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"upload_too_large\""), "{text}");
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_take_no_upload() {
    let mut cfg = config(vec![project("p1")]);
    cfg.session_ttl_ms = 1500;
    let srv = spawn(cfg).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
    let late = srv.create_session("pid=p1&sid=sub_ok").await;
    let captured = now_ms();
    let sealed = seal(&session, "p1", captured, &payload(blank_jpeg(), true));
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let r = srv
        .upload_raw(
            session["sessionId"].as_str().unwrap(),
            "k",
            captured,
            sealed,
        )
        .await;
    assert_eq!((r.status, r.code()), (410, "session_expired"));
    let r = srv.start(late.body["sessionId"].as_str().unwrap()).await;
    assert_eq!((r.status, r.code()), (410, "session_expired"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM uploads"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_liveness_rejects_an_upload_without_a_challenge() {
    // Active mode needs a passed challenge and 3-D evidence; one still has neither, whatever
    // the device claims: rejected with liveness_low, though the face matches.
    let mut p = project("p1");
    p.policy = Some(serde_json::json!({ "livenessMode": "active" }));
    let srv = spawn(config(vec![p])).await;
    let session = srv.open_started("pid=p1&sid=sub_ok").await;
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
    assert_eq!(r.body["status"], "rejected");
    let res = srv
        .get(
            &format!("/api/results/{}", r.body["authId"].as_str().unwrap()),
            Some(&format!("{API_KEY}-p1")),
        )
        .await;
    assert_eq!(res.body["reasons"], serde_json::json!(["liveness_low"]));
    let live = &res.body["liveness"];
    assert!(
        live["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "challenge_missing"),
        "{live}"
    );
    assert_eq!(res.body["scores"]["liveness"]["passed"], false);
    assert_eq!(res.body["scores"]["faceMatch"]["passed"], true);
    assert_eq!(res.body["claimAgrees"], false);
}

/// Posts `body` with `Transfer-Encoding: chunked` (no Content-Length) over a raw socket;
/// returns the status and the whole response text.
async fn chunked_post(srv: &TestServer, sid: &str, captured: u64, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/sessions/{sid}/upload HTTP/1.1\r\nHost: {addr}\r\nIdempotency-Key: k\r\n\
         X-Liveform-Captured-At: {captured}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(chunk);
        c.extend_from_slice(b"\r\n");
        // The server may answer and close before the whole body is sent.
        if s.write_all(&c).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (status, text)
}
