//! Session creation and Start against a real server: the happy path, every refusal, private
//! mode tokens, and the race of two Starts with one by-use token.

mod common;

use common::*;
use liveform::querycrypt::{self, QueryKey};
use liveform::tokens::TokenExpiry;
use liveform_server::config::ProjectStatus;
use serde_json::json;

fn encrypted_query(pid: &str, inner: &str, nonce: u8) -> String {
    let key = QueryKey::from_hex(QUERY_KEY_HEX).unwrap();
    let blob = querycrypt::encrypt_query(&key, inner, &[nonce; 12]).unwrap();
    format!("pid={pid}&encrypted={blob}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_session_happy_path() {
    let srv = spawn(config(vec![project("p1")])).await;
    let r = srv
        .create_session("?pid=p1&sid=sub_ok&userid=u_1&cf1=summer&lang=ko")
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.body;
    let sid = b["sessionId"].as_str().unwrap();
    assert!(sid.starts_with("ses_") && sid.len() > 20);
    assert_eq!(b["project"]["id"], "p1");
    assert_eq!(b["project"]["name"], "Project p1");
    assert_eq!(b["project"]["logoUrl"], "https://example.com/logo.png");
    assert_eq!(b["policy"]["face_match_threshold"], 98.0);
    assert_eq!(b["policy"]["liveness_threshold"], 70.0);
    assert!(b["publicKey"].as_str().unwrap().len() > 40);
    // The challenge seed is revealed only at Start.
    assert!(b.get("challengeSeed").is_none(), "{b}");
    assert_eq!(b["privateMode"], false);
    assert_eq!(b["lang"], "ko");
    // The session is in the real database file with the parameters it was opened with.
    let db = srv.db();
    let (pid, sub, params): (String, String, String) = db
        .query_row(
            "SELECT project_id, sid, params_json FROM sessions WHERE id = ?1",
            [sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((pid.as_str(), sub.as_str()), ("p1", "sub_ok"));
    assert!(params.contains("\"userId\":\"u_1\""), "{params}");

    // The same public key on every session of the project; the API never shows the private key.
    let r2 = srv.create_session("pid=p1&submissionId=sub_ok").await;
    assert_eq!(r2.status, 201);
    assert_eq!(r2.body["publicKey"], b["publicKey"]);
    let private: String = db
        .query_row(
            "SELECT private_key FROM project_keys WHERE project_id = 'p1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(private.len() > 40 && !r.text.contains(&private) && !r.text.contains(&private[..20]));

    // Start is idempotent for its session.
    let s1 = srv.start(sid).await;
    let s2 = srv.start(sid).await;
    assert_eq!((s1.status, s2.status), (200, 200));
    assert_eq!(s1.body["startedAtMs"], s2.body["startedAtMs"]);
    let seed = s1.body["challengeSeed"].as_str().unwrap();
    assert_eq!(seed.len(), 64);
    assert_eq!(
        s2.body["challengeSeed"], seed,
        "a repeated Start gives the same seed"
    );
    assert_eq!(srv.start("ses_nope").await.code(), "session_unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_stable_codes() {
    let mut closed = project("closed");
    closed.status = ProjectStatus::Closed;
    let mut enc = project("enc");
    enc.encryption_only = true;
    let srv = spawn(config(vec![project("p1"), closed, enc])).await;

    let cases: Vec<(String, u16, &str)> = vec![
        ("pid=nope&sid=sub_ok".into(), 404, "pid_unknown"),
        ("pid=closed&sid=sub_ok".into(), 403, "project_closed"),
        ("pid=p1&sid=sub_missing".into(), 404, "sid_unknown"),
        ("pid=p1&sid=sub_pending".into(), 403, "sid_not_approved"),
        ("pid=p1&sid=sub_rejected".into(), 403, "sid_not_approved"),
        ("sid=sub_ok".into(), 400, "missing_pid"),
        ("pid=p1".into(), 400, "missing_sid"),
        ("pid=p1&sid=a%20b".into(), 400, "malformed_value"),
        ("pid=p1&sid=x&sid=y".into(), 400, "duplicate_key"),
        ("pid=p1&sid=%zz".into(), 400, "bad_percent_encoding"),
        ("pid=enc&sid=sub_ok".into(), 400, "plain_params_refused"),
        ("pid=p1&encrypted=g1.AAAA".into(), 400, "blob_too_short"),
        (
            "pid=p1&encrypted=zz.AAAA".into(),
            400,
            "unknown_blob_format",
        ),
        (
            format!("{}&sid=sub_ok", encrypted_query("p1", "sid=sub_ok", 1)),
            400,
            "mixed_plain_and_encrypted",
        ),
        (
            encrypted_query("p1", "pid=other&sid=sub_ok", 2),
            400,
            "pid_mismatch",
        ),
    ];
    for (q, status, code) in cases {
        let r = srv.create_session(&q).await;
        assert_eq!((r.status, r.code()), (status, code), "{q}: {}", r.text);
        assert!(r.body["error"]["message"].as_str().unwrap().len() > 5);
    }

    // A tampered blob: one character of the ciphertext changed.
    let good = encrypted_query("enc", "sid=sub_ok&userid=u9", 3);
    let mut bad = good.clone().into_bytes();
    let at = bad.len() - 5;
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let r = srv.create_session(std::str::from_utf8(&bad).unwrap()).await;
    assert_eq!((r.status, r.code()), (400, "decrypt_failed"), "{}", r.text);

    // Encryption-only accepts the sealed form, and the session records how it came.
    let r = srv.create_session(&good).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let source: String = srv
        .db()
        .query_row(
            "SELECT params_json FROM sessions WHERE id = ?1",
            [r.body["sessionId"].as_str().unwrap()],
            |row| row.get(0),
        )
        .unwrap();
    assert!(source.contains("\"source\":\"gcm\""), "{source}");

    // The pid only inside the blob: the server finds the project whose key opens it.
    let key = QueryKey::from_hex(QUERY_KEY_HEX).unwrap();
    let inside = querycrypt::encrypt_query(&key, "pid=enc&sid=sub_ok", &[4; 12]).unwrap();
    let r = srv.create_session(&format!("encrypted={inside}")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["project"]["id"], "enc");
    let no_pid = querycrypt::encrypt_query(&key, "sid=sub_ok", &[5; 12]).unwrap();
    let r = srv.create_session(&format!("encrypted={no_pid}")).await;
    assert_eq!((r.status, r.code()), (400, "missing_pid"), "{}", r.text);
    let other_key = QueryKey::from_bytes([9; 32]);
    let unknown = querycrypt::encrypt_query(&other_key, "pid=enc&sid=sub_ok", &[6; 12]).unwrap();
    let r = srv.create_session(&format!("encrypted={unknown}")).await;
    assert_eq!((r.status, r.code()), (400, "missing_pid"), "{}", r.text);

    // Malformed request bodies get the same error shape.
    let r = srv
        .post_json("/api/sessions", &json!({ "q": "pid=p1" }), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "bad_json"));
    let r = srv.get("/api/nothing-here", None).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_mode_tokens_are_enforced() {
    let mut private = project("priv");
    private.private_mode = true;
    let mut timed = project("timed");
    timed.private_mode = true;
    timed.token_expiry = TokenExpiry::ByTime { window_ms: 1500 };
    let srv = spawn(config(vec![private, timed])).await;
    let key = format!("{API_KEY}-priv");
    let tkey = format!("{API_KEY}-timed");
    let reg = |pid: &'static str, k: String, ids: Vec<&'static str>| {
        let srv = &srv;
        async move {
            let r = srv
                .post_json(
                    &format!("/api/projects/{pid}/tokens"),
                    &json!({ "tokenIds": ids }),
                    Some(&k),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    reg("priv", key.clone(), vec!["tok_a", "tok_b", "tok_del"]).await;
    reg("timed", tkey.clone(), vec!["tok_t"]).await;

    let code = |q: String| {
        let srv = &srv;
        async move {
            let r = srv.create_session(&q).await;
            (r.status, r.code().to_owned())
        }
    };
    assert_eq!(
        code("pid=priv&sid=sub_ok".into()).await,
        (400, "missing_tokenid".into())
    );
    assert_eq!(
        code("pid=priv&sid=sub_ok&tokenid=tok_zzz".into()).await,
        (403, "token_unknown".into())
    );
    assert_eq!(
        code("pid=priv&sid=sub_ok&tokenid=bad%2Btok".into()).await,
        (400, "malformed_value".into())
    );

    // Deleted → token_deleted.
    let r = srv
        .delete("/api/projects/priv/tokens/tok_del", None, Some(&key))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        code("pid=priv&sid=sub_ok&tokenid=tok_del".into()).await,
        (403, "token_deleted".into())
    );

    // By use: opening does not spend it; Start does; then it is spent everywhere.
    let a1 = srv
        .create_session("pid=priv&sid=sub_ok&tokenid=tok_a")
        .await;
    let a2 = srv
        .create_session("pid=priv&sid=sub_ok&tokenid=tok_a")
        .await;
    assert_eq!((a1.status, a2.status), (201, 201));
    assert_eq!(a1.body["privateMode"], true);
    let s1 = srv.start(a1.body["sessionId"].as_str().unwrap()).await;
    assert_eq!(s1.status, 200, "{}", s1.text);
    let s2 = srv.start(a2.body["sessionId"].as_str().unwrap()).await;
    assert_eq!((s2.status, s2.code()), (403, "token_spent"));
    assert_eq!(
        code("pid=priv&sid=sub_ok&tokenid=tok_a".into()).await,
        (403, "token_spent".into())
    );
    // The winner's own repeated Start still succeeds.
    assert_eq!(
        srv.start(a1.body["sessionId"].as_str().unwrap())
            .await
            .status,
        200
    );

    // By time: reusable inside the window, expired after it.
    let t1 = srv.open_started("pid=timed&sid=sub_ok&tokenid=tok_t").await;
    assert!(t1["sessionId"].is_string());
    let t2 = srv
        .create_session("pid=timed&sid=sub_ok&tokenid=tok_t")
        .await;
    assert_eq!(t2.status, 201, "{}", t2.text);
    assert_eq!(
        srv.start(t2.body["sessionId"].as_str().unwrap())
            .await
            .status,
        200
    );
    let t3 = srv
        .create_session("pid=timed&sid=sub_ok&tokenid=tok_t")
        .await;
    assert_eq!(t3.status, 201);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(
        code("pid=timed&sid=sub_ok&tokenid=tok_t".into()).await,
        (403, "token_expired".into())
    );
    let s3 = srv.start(t3.body["sessionId"].as_str().unwrap()).await;
    assert_eq!((s3.status, s3.code()), (403, "token_expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_with_one_by_use_token_admit_exactly_one() {
    let mut private = project("priv");
    private.private_mode = true;
    let srv = spawn(config(vec![private])).await;
    let key = format!("{API_KEY}-priv");
    let ids: Vec<String> = (0..10).map(|i| format!("race_{i}")).collect();
    let r = srv
        .post_json(
            "/api/projects/priv/tokens",
            &json!({ "tokenIds": ids }),
            Some(&key),
        )
        .await;
    assert_eq!(r.status, 201);

    // Ten rounds, each with its own token: eight tabs open the link, then all press Start at once.
    for id in &ids {
        let mut sessions = Vec::new();
        for _ in 0..8 {
            let r = srv
                .create_session(&format!("pid=priv&sid=sub_ok&tokenid={id}"))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            sessions.push(r.body["sessionId"].as_str().unwrap().to_owned());
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(sessions.len()));
        let tasks: Vec<_> = sessions
            .into_iter()
            .map(|s| {
                let (client, url, barrier) = (
                    srv.client.clone(),
                    srv.url(&format!("/api/sessions/{s}/start")),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = client.post(url).send().await.unwrap();
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json_or_null().await;
                    (
                        status,
                        body["error"]["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (status, code) = t.await.unwrap();
            if status == 200 {
                ok += 1;
            } else {
                assert_eq!((status, code.as_str()), (403, "token_spent"));
            }
        }
        assert_eq!(ok, 1, "token {id}: exactly one Start wins");
        let first_session: Option<String> = srv
            .db()
            .query_row(
                "SELECT first_session_id FROM tokens WHERE project_id = 'priv' AND token_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert!(first_session.is_some());
    }
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM sessions WHERE started_at_ms IS NOT NULL"),
        10
    );
}

/// reqwest is built without its `json` feature; this reads a JSON body by hand.
trait JsonOrNull {
    async fn json_or_null(self) -> serde_json::Value;
}

impl JsonOrNull for reqwest::Response {
    async fn json_or_null(self) -> serde_json::Value {
        let bytes = self.bytes().await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_and_security_headers() {
    let dir = std::sync::Arc::new(TempDir::new());
    let www = dir.0.join("www");
    let pkg = dir.0.join("pkg");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    let pkg_dir = pkg.clone();
    std::fs::write(
        www.join("index.html"),
        "<!doctype html><title>liveform</title>",
    )
    .unwrap();
    std::fs::write(pkg.join("liveform_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(pkg.join("liveform.js"), "export default 1;").unwrap();
    let dirs = liveform_server::state::StaticDirs {
        www: Some(www),
        pkg: Some(pkg_dir),
        models: Some(repo().join("models")),
    };
    let srv = spawn_in(config(vec![project("p1")]), dir, dirs).await;

    let get = |path: &'static str| {
        let srv = &srv;
        async move { srv.client.get(srv.url(path)).send().await.unwrap() }
    };
    let r = get("/").await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");

    let r = get("/pkg/liveform_bg.wasm").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let etag = r.headers()["etag"].clone();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");
    // A returning browser revalidates: the same file answers 304 without a body (so the
    // browser keeps its copy and V8's cached code); a rebuilt one answers 200 with a new tag.
    let revalidate = |tag: reqwest::header::HeaderValue| {
        let srv = &srv;
        async move {
            srv.client
                .get(srv.url("/pkg/liveform_bg.wasm"))
                .header("if-none-match", tag)
                .send()
                .await
                .unwrap()
        }
    };
    let r = revalidate(etag.clone()).await;
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(r.bytes().await.unwrap().is_empty());
    std::fs::write(pkg.join("liveform_bg.wasm"), b"\0asm\x01\0\0\0\0").unwrap();
    let r = revalidate(etag.clone()).await;
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"], etag);
    assert_eq!(r.bytes().await.unwrap().len(), 9);
    let r = get("/pkg/liveform.js").await;
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    // The form the browser loads.
    let nnef = liveform::model::ModelKind::FaceDetector
        .file(liveform::model::ModelFormat::Nnef)
        .unwrap();
    assert_eq!(nnef.name, "face_detection_short_range.nnef.tar");
    let r = get("/models/face_detection_short_range.nnef.tar").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["cache-control"], "public, max-age=86400");
    assert!(r.headers().contains_key("etag"));
    assert_eq!(
        liveform::model::sha256_hex(&r.bytes().await.unwrap()),
        nnef.sha256
    );
    for path in [
        "/../Cargo.toml",
        "/pkg/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.git/HEAD",
        "/missing.js",
    ] {
        let r = get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    // API responses carry the headers too, and are not cached.
    let r = srv.create_session("pid=p1&sid=sub_ok").await;
    assert!(r.headers.contains_key("content-security-policy"));
    assert_eq!(r.headers["cache-control"], "no-store");
}
