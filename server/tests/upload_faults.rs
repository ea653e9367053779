//! 1000 sealed uploads through a fault-injecting proxy: nothing lost, nothing stored twice.
//!
//! The real server runs on loopback over a real SQLite file. Between it and the client sits a
//! proxy written here that, per upload attempt and at seeded random, drops the connection
//! before forwarding, forwards and then drops the answer (the exactly-once case: stored, but
//! the client never hears), forwards and hangs up at once (the server is mid-decision when
//! its client goes), cuts the answer short, answers 500 or 503 itself, delays, or stalls the
//! answer past the client's timeout. The client seals each capture to the project's public
//! key as the browser does, with its own Idempotency-Key, and retries exactly as the browser
//! does: the core's `upload::retry::next_step` under `UPLOAD_RETRY`.
//!
//! Then, against the database and the results API: one stored result per upload, one
//! upload row per key, every answer the client finally got equal to the stored one.
//!
//! `LIVEFORM_FAULT_SEED` picks another fault schedule (default 1); `LIVEFORM_FAULT_UPLOADS`
//! another count (default 1000).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use liveform::frame::Frame;
use liveform_server::config::LimitsConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Uploads in flight at once.
const CONCURRENCY: usize = 32;
/// The client abandons an attempt after this long (the browser: 30 s; shorter here so that
/// stalls cost little).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);
/// A key sees at most this many injected faults in a row, so the browser's 8 attempts always
/// suffice and an upload the client gives up on points at the server, not at bad luck.
const MAX_FAULTS_PER_KEY: u32 = 5;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Fault {
    /// Forwarded untouched.
    Pass,
    /// Forwarded after a pause of up to 300 ms.
    Delay,
    /// The connection is closed before anything is forwarded.
    DropBeforeForward,
    /// Forwarded, answered by the server, and the answer thrown away.
    DropResponse,
    /// Forwarded, then both connections closed at once, while the server decides.
    HangUpAfterForward,
    /// Forwarded, and only the first half of the answer passed on.
    TruncateResponse,
    /// Answered `500` by the proxy, not forwarded.
    Answer500,
    /// Answered `503` by the proxy, not forwarded.
    Answer503,
    /// Forwarded, and the answer held back until the client has timed out.
    Stall,
    /// Forwarded twice at once on two connections (as a client retrying while its first
    /// attempt is still being decided), the first connection's answer passed on.
    Duplicate,
}

/// Per mille of attempts for each fault (the rest pass).
const FAULT_TABLE: [(Fault, u64); 9] = [
    (Fault::Delay, 80),
    (Fault::DropBeforeForward, 60),
    (Fault::DropResponse, 80),
    (Fault::HangUpAfterForward, 40),
    (Fault::TruncateResponse, 30),
    (Fault::Answer500, 40),
    (Fault::Answer503, 40),
    (Fault::Stall, 8),
    (Fault::Duplicate, 30),
];

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The fault for attempt `attempt` of `key`: a function of the seed, the key and the attempt
/// number only, so the schedule does not depend on how the tasks interleave.
fn fault_for(seed: u64, key: &str, attempt: u32) -> Fault {
    if attempt > MAX_FAULTS_PER_KEY {
        return Fault::Pass;
    }
    let mut roll = mix(seed ^ mix(hash_str(key) ^ u64::from(attempt))) % 1000;
    for (fault, per_mille) in FAULT_TABLE {
        if roll < per_mille {
            return fault;
        }
        roll -= per_mille;
    }
    Fault::Pass
}

#[derive(Default)]
struct ProxyStats {
    faults: BTreeMap<Fault, usize>,
    attempts: HashMap<String, u32>,
}

/// Reads one HTTP/1.1 message head and its `Content-Length` body.
async fn read_request(s: &mut TcpStream) -> Option<(Vec<u8>, Vec<(String, Vec<u8>)>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&buf[..head_end]).ok()?;
    let start_line = format!("{} {} HTTP/1.1\r\n", req.method?, req.path?).into_bytes();
    let headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((start_line, headers, body))
}

fn canned(status: &str) -> Vec<u8> {
    let body = r#"{"error":{"code":"proxy_fault","message":"injected by the test proxy"}}"#;
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves one client connection (one request: the proxy asks both sides to close after it).
async fn proxy_one(
    mut client: TcpStream,
    upstream: SocketAddr,
    seed: u64,
    stats: Arc<Mutex<ProxyStats>>,
) {
    let Some((start_line, headers, body)) = read_request(&mut client).await else {
        return;
    };
    let key = headers
        .iter()
        .find(|(n, _)| n == "idempotency-key")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let fault = match &key {
        None => Fault::Pass,
        Some(k) => {
            let mut st = stats.lock().unwrap();
            let n = st.attempts.entry(k.clone()).or_insert(0);
            *n += 1;
            let f = fault_for(seed, k, *n);
            *st.faults.entry(f).or_insert(0) += 1;
            f
        }
    };
    match fault {
        Fault::DropBeforeForward => return,
        Fault::Answer500 => {
            let _ = client.write_all(&canned("500 Internal Server Error")).await;
            return;
        }
        Fault::Answer503 => {
            let _ = client.write_all(&canned("503 Service Unavailable")).await;
            return;
        }
        Fault::Delay => {
            let pause = mix(seed ^ hash_str(key.as_deref().unwrap_or(""))) % 300;
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        _ => {}
    }
    let mut request = start_line;
    for (name, value) in &headers {
        if name != "connection" {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
    }
    request.extend_from_slice(b"connection: close\r\n\r\n");
    request.extend_from_slice(&body);
    if fault == Fault::HangUpAfterForward {
        if let Ok(mut server) = TcpStream::connect(upstream).await {
            let _ = server.write_all(&request).await;
        }
        return; // both sockets close here, while the server works on the request
    }
    let twin =
        (fault == Fault::Duplicate).then(|| tokio::spawn(exchange(upstream, request.clone())));
    let Some(response) = exchange(upstream, request).await else {
        return;
    };
    if let Some(t) = twin {
        let _ = t.await;
    }
    match fault {
        Fault::DropResponse => {}
        Fault::TruncateResponse => {
            let _ = client.write_all(&response[..response.len() / 2]).await;
        }
        Fault::Stall => {
            tokio::time::sleep(CLIENT_TIMEOUT + Duration::from_millis(500)).await;
            let _ = client.write_all(&response).await;
        }
        _ => {
            let _ = client.write_all(&response).await;
        }
    }
}

/// Sends a request on a new connection and reads the answer to its end.
async fn exchange(upstream: SocketAddr, request: Vec<u8>) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(&request).await.ok()?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await.ok()?;
    Some(response)
}

async fn start_proxy(upstream: SocketAddr, seed: u64) -> (SocketAddr, Arc<Mutex<ProxyStats>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Mutex::new(ProxyStats::default()));
    let st = Arc::clone(&stats);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(proxy_one(client, upstream, seed, Arc::clone(&st)));
        }
    });
    (addr, stats)
}

/// A distinct capture: a small frame of its own shade with a mark where `i` says (no face:
/// cheap to decide), or every 100th the registered face (the whole decision).
fn capture(i: usize, face_jpeg: &[u8]) -> Vec<u8> {
    if i % 100 == 7 {
        return face_jpeg.to_vec();
    }
    let (w, h) = (160u32, 120u32);
    let shade = (40 + (i * 7) % 170) as u8;
    let mut rgba = [shade, shade, shade, 255].repeat((w * h) as usize);
    let (mx, my) = ((i % 16) as u32 * 10, ((i / 16) % 12) as u32 * 10);
    for y in my..my + 10 {
        for x in mx..mx + 10 {
            let p = ((y * w + x) * 4) as usize;
            rgba[p..p + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    Frame::from_rgba(w, h, rgba).unwrap().to_jpeg(85).unwrap()
}

/// What one upload came to.
#[derive(Debug)]
struct Uploaded {
    session_id: String,
    key: String,
    attempts: u32,
    /// The final answer: status and body text.
    status: u16,
    text: String,
    replayed: bool,
    /// Every non-final outcome seen, as "status code" or "no answer".
    seen: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_uploads_through_faults_store_each_exactly_once() {
    let uploads: usize = std::env::var("LIVEFORM_FAULT_UPLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = std::env::var("LIVEFORM_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // p2 takes the two timing probes, so p1 holds exactly the uploads under test.
    let mut cfg = config(vec![project("p1"), project("p2")]);
    // Every capture goes to one submission and most are rejected: no rate limits here
    // (they have their own tests).
    cfg.limits = LimitsConfig::no_rate_limits();
    let srv = spawn(cfg).await;
    let (proxy, stats) = start_proxy(srv.server.as_ref().unwrap().addr, seed).await;
    let face = photo_jpeg(REFERENCE_PHOTO);

    // One upload of each kind straight to the server, for the record: the test's length is
    // about `uploads × (small frame) / cores` plus the retry pauses.
    for (label, jpeg) in [
        (
            "face photo (and the registered face's descriptor, once)",
            face.clone(),
        ),
        ("face photo", face.clone()),
        ("small no-face frame", capture(0, &face)),
    ] {
        let session = srv.open_started("pid=p2&sid=sub_ok").await;
        let captured = now_ms();
        let sealed = seal(&session, "p2", captured, &payload(jpeg, false));
        let t = Instant::now();
        let r = srv
            .upload_raw(
                session["sessionId"].as_str().unwrap(),
                "probe",
                captured,
                sealed,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        println!("one upload, {label}: {:.0?}", t.elapsed());
    }

    let started = Instant::now();
    let through_proxy = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let srv = Arc::new(srv);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = Arc::new(Mutex::new(Vec::<Uploaded>::with_capacity(uploads)));
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let (srv, next, done, face) = (srv.clone(), next.clone(), done.clone(), face.clone());
        let through_proxy = through_proxy.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = mix(seed ^ (w as u64) << 32);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= uploads {
                    break;
                }
                // Sessions are opened directly: the faults are the upload's.
                let r = srv.create_session("pid=p1&sid=sub_ok").await;
                assert_eq!(r.status, 201, "{}", r.text);
                let session = r.body;
                let session_id = session["sessionId"].as_str().unwrap().to_owned();
                assert_eq!(srv.start(&session_id).await.status, 200);
                let captured = now_ms();
                let mut p = payload(capture(i, &face), false);
                p.best_frame.at_ms = i as u64;
                let sealed = seal(&session, "p1", captured, &p);
                let key = format!("upload-{i:04}-{:016x}", mix(seed ^ i as u64));
                let url = format!("http://{proxy}/api/sessions/{session_id}/upload");
                let (attempts, status, text, replayed, seen) = upload_like_the_browser(
                    &through_proxy,
                    &url,
                    &key,
                    captured,
                    &sealed,
                    &mut rng,
                )
                .await;
                done.lock().unwrap().push(Uploaded {
                    session_id,
                    key,
                    attempts,
                    status,
                    text,
                    replayed,
                    seen,
                });
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let upload_time = started.elapsed();
    let done = std::mem::take(&mut *done.lock().unwrap());
    let srv = Arc::try_unwrap(srv).ok().expect("workers are done");

    // What was injected and what the client saw.
    let stats = std::mem::take(&mut *stats.lock().unwrap());
    println!("{uploads} uploads through the fault proxy (seed {seed}) in {upload_time:.1?}");
    println!("injected, per attempt:");
    for (f, n) in &stats.faults {
        println!("  {f:?}: {n}");
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &done {
        for s in &u.seen {
            *seen.entry(s.as_str()).or_insert(0) += 1;
        }
    }
    println!("retried after: {seen:?}");
    let mut attempts_hist: BTreeMap<u32, usize> = BTreeMap::new();
    for u in &done {
        *attempts_hist.entry(u.attempts).or_insert(0) += 1;
    }
    println!("attempts per upload: {attempts_hist:?}");
    let replayed = done.iter().filter(|u| u.replayed).count();
    println!("final answers replayed from an earlier attempt: {replayed}");

    // Every kind of fault happened, and some answers came from the stored response.
    for (f, _) in FAULT_TABLE {
        assert!(
            stats.faults.get(&f).copied().unwrap_or(0) > 0,
            "{f:?} never injected"
        );
    }
    assert!(replayed > 0, "a lost answer was never collected by a retry");

    // Every upload ended in 200 for the client.
    assert_eq!(done.len(), uploads);
    let failed: Vec<_> = done.iter().filter(|u| u.status != 200).collect();
    assert!(
        failed.is_empty(),
        "uploads that did not end in 200: {failed:#?}"
    );

    // The database: one result per session, one upload row per key, all done, none left
    // claimed, and the stored answer is the one the client got.
    let db = srv.db();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let n = uploads as i64;
    const P1: &str = "session_id IN (SELECT id FROM sessions WHERE project_id = 'p1')";
    assert_eq!(
        count(&format!("SELECT COUNT(*) FROM results WHERE {P1}")),
        n,
        "results stored"
    );
    assert_eq!(
        count(&format!(
            "SELECT COUNT(DISTINCT session_id) FROM results WHERE {P1}"
        )),
        n
    );
    assert_eq!(
        count(&format!("SELECT COUNT(*) FROM uploads WHERE {P1}")),
        n,
        "upload rows"
    );
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM uploads WHERE state = 'done' AND {P1}"
        )),
        n
    );
    assert_eq!(
        count(&format!(
            "SELECT COUNT(DISTINCT session_id) FROM uploads WHERE {P1}"
        )),
        n
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM uploads WHERE state <> 'done'"),
        0,
        "keys left claimed"
    );
    let mut auth_ids = HashSet::new();
    let mut lost = 0;
    let mut mismatched = 0;
    for u in &done {
        let (stored, auth_in_results, status_in_results): (String, String, String) = db
            .query_row(
                "SELECT u.response_json, r.auth_id, r.status
                 FROM uploads u JOIN results r ON r.session_id = u.session_id
                 WHERE u.session_id = ?1 AND u.idempotency_key = ?2",
                [&u.session_id, &u.key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|_| {
                lost += 1;
                Default::default()
            });
        let got: Value = serde_json::from_str(&u.text).unwrap();
        if stored != u.text
            || got["authId"] != auth_in_results.as_str()
            || got["status"] != status_in_results.as_str()
        {
            mismatched += 1;
        }
        auth_ids.insert(got["authId"].as_str().unwrap().to_owned());
    }
    let stored = count(&format!("SELECT COUNT(*) FROM results WHERE {P1}"));
    let duplicated = stored - auth_ids.len() as i64;
    println!(
        "results: {stored} stored, {lost} lost, {duplicated} duplicated, {mismatched} answers differing from the stored one"
    );
    assert_eq!((lost, duplicated, mismatched), (0, 0, 0));
    assert_eq!(auth_ids.len(), uploads);
    // How long the server took per decision (received → decided), from the stored timelines.
    let mut decide_ms: Vec<u64> = db
        .prepare(&format!("SELECT result_json FROM results WHERE {P1}"))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|j| {
            let v: Value = serde_json::from_str(&j.unwrap()).unwrap();
            let t = &v["timeline"];
            t["decidedAtMs"].as_u64().unwrap() - t["receivedAtMs"].as_u64().unwrap()
        })
        .collect();
    decide_ms.sort_unstable();
    println!(
        "server time per upload (received → decided, queueing included): p50 {} ms, p99 {} ms, max {} ms",
        decide_ms[decide_ms.len() / 2],
        decide_ms[decide_ms.len() * 99 / 100],
        decide_ms[decide_ms.len() - 1]
    );
    let approved = count(&format!(
        "SELECT COUNT(*) FROM results WHERE status = 'approved' AND {P1}"
    ));
    println!(
        "approved: {approved} (the registered face), rejected: {}",
        n - approved
    );

    // The results API agrees with what the client was told.
    let api_key = format!("{API_KEY}-p1");
    for u in &done {
        let got: Value = serde_json::from_str(&u.text).unwrap();
        let r = srv
            .get(
                &format!("/api/results/{}", got["authId"].as_str().unwrap()),
                Some(&api_key),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["sessionId"], u.session_id.as_str());
        assert_eq!(r.body["status"], got["status"]);
    }
    println!("whole test: {:.1?}", started.elapsed());
}
