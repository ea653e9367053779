//! `liveform load`: concurrent sealed uploads against a server, with figures.
//!
//! Each upload is what the page does: open a session, press Start, seal a capture to the
//! session's public key (HPKE, bound to the project, session, capture time and policy hash),
//! and upload it with an Idempotency-Key, retrying as the browser does
//! ([`liveform::upload::retry`]). At the end every answer is checked against what the server
//! stored: through the database when it is at hand (the built-in server, or `--db`), else
//! through the results API.
//!
//! Without `--target` a server is started in this process on a fresh database in a temporary
//! directory, with the built-in demo project and no rate limits (the load comes from one
//! address, and most captures of a still photo fail liveness, which the failed-check limit
//! would stop). A `--target` server must be configured likewise for the figures to mean
//! throughput rather than the limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liveform::envelope::{self, PublicKey, SealContext};
use liveform::frame::Frame;
use liveform::policy::Policy;
use liveform::upload::retry::{
    next_step, parse_retry_after_ms, AttemptOutcome, NextStep, UPLOAD_RETRY,
};
use liveform::upload::{ClaimedVerdict, EncodedFrame, UploadPayload};
use liveform::webhook::retry_delay_ms;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::Value;

use crate::app::{self, ServerOptions};
use crate::check::models_dir;
use crate::config::{Config, LimitsConfig};
use crate::util::{now_ms, random_id, random_u64};

/// The usage line.
pub const USAGE: &str = "usage: liveform load [--target URL] [--concurrency N] [--rate UPLOADS_PER_S] \
[--duration SECONDS] [--frame face|small|IMAGE] [--pid PID] [--sid SID] [--api-key KEY] [--db FILE] \
[--models DIR] [--json]";

#[derive(Debug, Clone)]
struct Args {
    target: Option<String>,
    concurrency: usize,
    rate: Option<f64>,
    duration: Duration,
    frame: String,
    pid: String,
    sid: String,
    api_key: String,
    db: Option<PathBuf>,
    models: Option<PathBuf>,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        target: None,
        concurrency: 8,
        rate: None,
        duration: Duration::from_secs(30),
        frame: "face".into(),
        pid: "demo".into(),
        sid: "sub_demo".into(),
        api_key: "demo-api-key".into(),
        db: None,
        models: None,
        json: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let value = it
            .next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("{what} must be a positive number"))
        };
        match flag.as_str() {
            "--target" => a.target = Some(value.trim_end_matches('/').to_owned()),
            "--concurrency" => {
                a.concurrency = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or("--concurrency must be 1 to 4096")?
            }
            "--rate" => a.rate = Some(number("--rate")?),
            "--duration" => a.duration = Duration::from_secs_f64(number("--duration")?.min(1e6)),
            "--frame" => a.frame = value,
            "--pid" => a.pid = value,
            "--sid" => a.sid = value,
            "--api-key" => a.api_key = value,
            "--db" => a.db = Some(value.into()),
            "--models" => a.models = Some(value.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// The capture to upload: a photo of the registered face (the whole decision), a small
/// frame with no face (detection only), or an image file.
fn capture_jpeg(frame: &str) -> Result<Vec<u8>, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let frame = match frame {
        "face" => Frame::decode(
            &std::fs::read(repo.join("tests/data/astronaut.png"))
                .map_err(|e| format!("tests/data/astronaut.png: {e}"))?,
        ),
        "small" => Frame::from_rgba(160, 120, [128u8, 128, 128, 255].repeat(160 * 120)),
        path => Frame::decode(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
    }
    .map_err(|e| e.to_string())?;
    frame.to_jpeg(92).map_err(|e| e.to_string())
}

/// What one upload came to.
#[derive(Debug)]
struct Outcome {
    session_id: Option<String>,
    key: String,
    /// The final answer (status, body), or `None` when there was none.
    answer: Option<(u16, String)>,
    /// The error code of a failure (`session_…`, the server's code, or `no_answer`).
    error: Option<String>,
    attempts: u32,
    session_ms: f64,
    upload_ms: f64,
    /// How long the worker waits before its next upload (after a refused session).
    pause: Duration,
}

/// Figures of a run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// The server (URL; "built-in" when started here).
    pub target: String,
    /// Uploads in flight at most.
    pub concurrency: usize,
    /// Uploads started per second at most (none: as fast as answers come).
    pub rate: Option<f64>,
    /// How long new uploads were started, in seconds.
    pub duration_s: f64,
    /// The capture.
    pub frame: String,
    /// Its size as a JPEG, and sealed.
    pub jpeg_bytes: usize,
    /// Uploads started.
    pub started: usize,
    /// Uploads answered 200.
    pub ok: usize,
    /// Of those, approved.
    pub approved: usize,
    /// Failures by code.
    pub errors: BTreeMap<String, usize>,
    /// Attempts beyond the first, in all.
    pub retries: u64,
    /// From the first start to the last answer, in seconds.
    pub elapsed_s: f64,
    /// `ok / elapsed_s`.
    pub uploads_per_s: f64,
    /// Upload latency (send to final answer, retries included), in ms.
    pub latency_ms: Percentiles,
    /// Session creation and Start, in ms.
    pub session_ms: Percentiles,
    /// Answered 200 but no matching stored result.
    pub lost: usize,
    /// Results stored beyond one per upload, or answers that differ from the stored one.
    pub duplicated: usize,
    /// Uploads the client got no 200 for that the server nonetheless stored (a retry by the
    /// page would collect them).
    pub stored_unacknowledged: usize,
    /// Answers the results API kept refusing to look up (not counted as lost).
    pub unchecked: usize,
    /// How the answers were checked: `database` or `results API`.
    pub checked_by: String,
}

/// Latency percentiles, nearest rank.
#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(mut v: Vec<f64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = (q * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// Runs `liveform load`; `Ok(false)` when an upload was lost or stored twice.
pub fn run(args: &[String]) -> Result<bool, String> {
    let a = parse(args)?;
    let jpeg = capture_jpeg(&a.frame)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let report = runtime.block_on(run_async(a.clone(), jpeg))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_report(&report);
    }
    Ok(report.lost == 0 && report.duplicated == 0)
}

fn print_report(r: &Report) {
    println!("liveform load, {}", r.date);
    println!(
        "  target {}, concurrency {}, rate {}, {:.0} s of new uploads, frame {} ({} bytes of JPEG)",
        r.target,
        r.concurrency,
        r.rate.map_or("unlimited".into(), |v| format!("{v}/s")),
        r.duration_s,
        r.frame,
        r.jpeg_bytes
    );
    println!(
        "  uploads: {} started, {} answered 200 ({} approved), {} retries, in {:.1} s",
        r.started, r.ok, r.approved, r.retries, r.elapsed_s
    );
    println!("  throughput: {:.2} uploads/s", r.uploads_per_s);
    let l = &r.latency_ms;
    println!(
        "  upload latency (ms): p50 {:.0}, p95 {:.0}, p99 {:.0}, max {:.0}",
        l.p50, l.p95, l.p99, l.max
    );
    let s = &r.session_ms;
    println!(
        "  session + Start (ms): p50 {:.0}, p95 {:.0}, p99 {:.0}, max {:.0}",
        s.p50, s.p95, s.p99, s.max
    );
    println!("  errors: {:?}", r.errors);
    println!(
        "  checked by {}: {} lost, {} duplicated, {} stored without a 200 to the client{}",
        r.checked_by,
        r.lost,
        r.duplicated,
        r.stored_unacknowledged,
        if r.unchecked > 0 {
            format!(", {} not checked (lookups refused)", r.unchecked)
        } else {
            String::new()
        }
    );
}

async fn run_async(a: Args, jpeg: Vec<u8>) -> Result<Report, String> {
    let date = liveform::webhook::format_utc_ms(now_ms()).map_err(|e| e.to_string())?;
    // The built-in server lives as long as the run; its directory is removed after.
    let mut built_in = None;
    let (base, db_path) = match &a.target {
        Some(t) => (t.clone(), a.db.clone()),
        None => {
            let dir =
                std::env::temp_dir().join(random_id("liveform-load-").map_err(|e| e.to_string())?);
            let mut config = Config::demo();
            config.limits = LimitsConfig::no_rate_limits();
            let models = models_dir(a.models.clone());
            let loaded = app::load_models(&models)?;
            let addr: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
            let server = app::start(
                ServerOptions {
                    config,
                    db_path: dir.join("liveform.db"),
                    addr,
                    dirs: Default::default(),
                },
                Arc::new(loaded),
            )
            .await?;
            let base = server.url();
            let db = dir.join("liveform.db");
            built_in = Some((server, dir));
            (base, Some(db))
        }
    };
    // reqwest is built without a default TLS provider (see the server's Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;

    let started_at = Instant::now();
    let deadline = started_at + a.duration;
    let next_slot = Arc::new(Mutex::new(started_at));
    let started = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let jpeg = Arc::new(jpeg);
    let mut workers = Vec::new();
    for _ in 0..a.concurrency {
        let (a, client, base, jpeg) = (a.clone(), client.clone(), base.clone(), jpeg.clone());
        let (next_slot, started, outcomes) = (next_slot.clone(), started.clone(), outcomes.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                if let Some(rate) = a.rate {
                    // Open loop: start times are spaced 1/rate apart across all workers.
                    let slot = {
                        let mut next = next_slot.lock().unwrap_or_else(|p| p.into_inner());
                        let slot = (*next).max(now);
                        *next = slot + Duration::from_secs_f64(1.0 / rate);
                        slot
                    };
                    if slot >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(slot.into()).await;
                }
                started.fetch_add(1, Ordering::Relaxed);
                let o = one_upload(&client, &base, &a, &jpeg).await;
                let pause = o.pause;
                outcomes.lock().unwrap_or_else(|p| p.into_inner()).push(o);
                if !pause.is_zero() {
                    tokio::time::sleep_until((Instant::now() + pause).min(deadline).into()).await;
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| format!("worker: {e}"))?;
    }
    let elapsed = started_at.elapsed().as_secs_f64();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|p| p.into_inner()));

    let mut errors = BTreeMap::new();
    let mut approved = 0;
    let mut ok = 0;
    for o in &outcomes {
        match (&o.answer, &o.error) {
            (Some((200, body)), _) => {
                ok += 1;
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if v["status"] == "approved" {
                    approved += 1;
                }
            }
            (_, e) => {
                *errors
                    .entry(e.clone().unwrap_or_else(|| "unknown".into()))
                    .or_insert(0) += 1;
            }
        }
    }
    let (lost, duplicated, stored_unacknowledged, unchecked, checked_by) = match &db_path {
        Some(p) => {
            let (l, d, s) = check_database(p, &outcomes)?;
            (l, d, s, 0, "database")
        }
        None => {
            let (l, d, u) = check_api(&client, &base, &a.api_key, &outcomes).await;
            (l, d, 0, u, "results API")
        }
    };
    if let Some((server, dir)) = built_in {
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(Report {
        date,
        target: a.target.clone().unwrap_or_else(|| "built-in".into()),
        concurrency: a.concurrency,
        rate: a.rate,
        duration_s: a.duration.as_secs_f64(),
        frame: a.frame.clone(),
        jpeg_bytes: jpeg.len(),
        started: started.load(Ordering::Relaxed),
        ok,
        approved,
        errors,
        retries: outcomes
            .iter()
            .map(|o| u64::from(o.attempts.saturating_sub(1)))
            .sum(),
        elapsed_s: elapsed,
        uploads_per_s: ok as f64 / elapsed.max(1e-9),
        latency_ms: Percentiles::of(
            outcomes
                .iter()
                .filter(|o| o.answer.is_some())
                .map(|o| o.upload_ms)
                .collect(),
        ),
        session_ms: Percentiles::of(
            outcomes
                .iter()
                .filter(|o| o.session_id.is_some())
                .map(|o| o.session_ms)
                .collect(),
        ),
        lost,
        duplicated,
        stored_unacknowledged,
        unchecked,
        checked_by: checked_by.into(),
    })
}

fn error_code(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?["error"]["code"]
        .as_str()
        .map(str::to_owned)
}

async fn one_upload(client: &reqwest::Client, base: &str, a: &Args, jpeg: &[u8]) -> Outcome {
    let key = format!("load-{:016x}{:016x}", random_u64(), random_u64());
    let mut out = Outcome {
        session_id: None,
        key: key.clone(),
        answer: None,
        error: None,
        attempts: 0,
        session_ms: 0.0,
        upload_ms: 0.0,
        pause: Duration::ZERO,
    };
    let t0 = Instant::now();
    let session = match open_session(client, base, a).await {
        Ok(s) => s,
        Err((code, pause)) => {
            out.error = Some(code);
            out.pause = pause;
            return out;
        }
    };
    out.session_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let Some(session_id) = session["sessionId"].as_str().map(str::to_owned) else {
        out.error = Some("session_bad_answer".into());
        return out;
    };
    out.session_id = Some(session_id.clone());
    let captured = now_ms();
    let sealed = match seal(&session, &a.pid, &session_id, captured, jpeg) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let url = format!("{base}/api/sessions/{session_id}/upload");
    let t1 = Instant::now();
    let r = upload_like_the_browser(client, &url, &key, captured, &sealed, random_u64).await;
    out.attempts = r.attempts;
    out.upload_ms = t1.elapsed().as_secs_f64() * 1000.0;
    if r.last != NextStep::Done {
        out.error = Some(match &r.answer {
            None => "no_answer".into(),
            Some((s, _)) => format!("{s} {}", r.code.as_deref().unwrap_or("-")),
        });
    }
    out.answer = r.answer;
    out
}

/// How one upload ended after the browser's retries.
#[derive(Debug, Clone)]
pub struct BrowserUpload {
    /// Attempts made.
    pub attempts: u32,
    /// The final answer's status and body; `None` when no attempt got an answer.
    pub answer: Option<(u16, String)>,
    /// The final answer's error code, if it has one.
    pub code: Option<String>,
    /// Whether the final answer replays a stored one (`Idempotent-Replayed`).
    pub replayed: bool,
    /// Each outcome that was retried: "status code" or "no answer".
    pub retried: Vec<String>,
    /// The retry policy's last step: `Done`, `Refused` or `GaveUp`.
    pub last: NextStep,
}

/// Uploads one sealed capture to `url` the way the browser does: the core's
/// `upload::retry::next_step` under `UPLOAD_RETRY`, each delay's jitter from `jitter`. A body
/// that cannot be read to the end is no answer, as in the browser. Used by `liveform load`
/// and by the fault and restart tests.
pub async fn upload_like_the_browser(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    captured: u64,
    sealed: &[u8],
    mut jitter: impl FnMut() -> u64,
) -> BrowserUpload {
    let mut retried = Vec::new();
    let mut n = 1;
    loop {
        let sent = client
            .post(url)
            .header("idempotency-key", key)
            .header("x-liveform-captured-at", captured.to_string())
            .header("content-type", "application/octet-stream")
            .body(sealed.to_vec())
            .send()
            .await;
        let answer = match sent {
            Err(_) => None,
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = retry_after_ms(r.headers());
                let replayed = r.headers().contains_key("idempotent-replayed");
                r.text()
                    .await
                    .ok()
                    .map(|text| (status, retry_after, replayed, text))
            }
        };
        let code = answer.as_ref().and_then(|(_, _, _, t)| error_code(t));
        let outcome = match &answer {
            None => AttemptOutcome::NoAnswer,
            Some((status, retry_after_ms, _, _)) => AttemptOutcome::Answer {
                status: *status,
                code: code.as_deref(),
                retry_after_ms: *retry_after_ms,
            },
        };
        match next_step(&UPLOAD_RETRY, n, &outcome, jitter()) {
            NextStep::RetryAfter(ms) => {
                retried.push(match &answer {
                    None => "no answer".to_owned(),
                    Some((s, ..)) => format!("{s} {}", code.as_deref().unwrap_or("-")),
                });
                tokio::time::sleep(Duration::from_millis(ms)).await;
                n += 1;
            }
            last => {
                let replayed = answer.as_ref().is_some_and(|a| a.2);
                return BrowserUpload {
                    attempts: n,
                    answer: answer.map(|(s, _, _, t)| (s, t)),
                    code,
                    replayed,
                    retried,
                    last,
                };
            }
        }
    }
}

/// The `Retry-After` of an answer, in ms.
fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after_ms)
}

/// A failed step before the upload: its code, and how long to pause before the next upload
/// (the server's `Retry-After`, else a second), so a refusing server is not hammered.
type StepError = (String, Duration);

fn step_error(
    what: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    text: &str,
) -> StepError {
    let pause = retry_after_ms(headers).map_or(Duration::from_secs(1), Duration::from_millis);
    (
        format!("{what} {status} {}", error_code(text).unwrap_or_default()),
        pause,
    )
}

async fn open_session(client: &reqwest::Client, base: &str, a: &Args) -> Result<Value, StepError> {
    let no_answer = |what: &str| (format!("{what}_no_answer"), Duration::from_secs(1));
    let query = format!("pid={}&sid={}", a.pid, a.sid);
    let r = client
        .post(format!("{base}/api/sessions"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "query": query }).to_string())
        .send()
        .await
        .map_err(|_| no_answer("session"))?;
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.map_err(|_| no_answer("session"))?;
    if status != 201 {
        return Err(step_error("session", status, &headers, &text));
    }
    let session: Value = serde_json::from_str(&text).map_err(|_| no_answer("session"))?;
    let id = session["sessionId"].as_str().unwrap_or_default();
    let r = client
        .post(format!("{base}/api/sessions/{id}/start"))
        .send()
        .await
        .map_err(|_| no_answer("start"))?;
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    if status != 200 {
        let text = r.text().await.unwrap_or_default();
        return Err(step_error("start", status, &headers, &text));
    }
    Ok(session)
}

/// Seals a capture as the page does.
fn seal(
    session: &Value,
    pid: &str,
    session_id: &str,
    captured_at: u64,
    jpeg: &[u8],
) -> Result<Vec<u8>, String> {
    let public_key = PublicKey::from_base64(session["publicKey"].as_str().unwrap_or_default())
        .map_err(|e| format!("seal_{}", e.code()))?;
    let policy: Policy = serde_json::from_value(session["policy"].clone())
        .map_err(|_| "seal_bad_policy".to_owned())?;
    let payload = UploadPayload::new(
        EncodedFrame::new(jpeg.to_vec(), 1_500),
        ClaimedVerdict {
            passed: true,
            ..Default::default()
        },
    );
    let bytes = payload.to_vec().map_err(|e| format!("seal_{}", e.code()))?;
    let ctx = SealContext::new(pid, session_id, captured_at, policy.hash());
    envelope::seal_with_os_rng(&public_key, &ctx, &bytes).map_err(|e| format!("seal_{}", e.code()))
}

/// Lost, duplicated and stored-unacknowledged uploads, from the database file.
fn check_database(path: &Path, outcomes: &[Outcome]) -> Result<(usize, usize, usize), String> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    c.busy_timeout(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let (mut lost, mut duplicated, mut unacknowledged) = (0, 0, 0);
    for o in outcomes {
        let Some(session_id) = &o.session_id else {
            continue;
        };
        let q = |sql: &str| -> Result<i64, String> {
            c.query_row(sql, [session_id], |r| r.get(0))
                .map_err(|e| e.to_string())
        };
        let results = q("SELECT COUNT(*) FROM results WHERE session_id = ?1")?;
        let uploads = q("SELECT COUNT(*) FROM uploads WHERE session_id = ?1")?;
        duplicated += usize::try_from((results - 1).max(0) + (uploads - 1).max(0)).unwrap_or(0);
        let stored: Option<(String, String)> = c
            .query_row(
                "SELECT u.response_json, r.auth_id FROM uploads u
                 JOIN results r ON r.session_id = u.session_id
                 WHERE u.session_id = ?1 AND u.idempotency_key = ?2 AND u.state = 'done'",
                [session_id, &o.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        match (&o.answer, stored) {
            (Some((200, body)), Some((response, auth_id))) => {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if *body != response || v["authId"] != auth_id.as_str() {
                    duplicated += 1;
                }
            }
            (Some((200, _)), None) => lost += 1,
            (_, Some(_)) => unacknowledged += 1,
            (_, None) => {}
        }
    }
    Ok((lost, duplicated, unacknowledged))
}

/// Lost and mismatched uploads, through `GET /api/results/{authId}`; lookups the server
/// keeps refusing (rate limits, errors) are counted apart, as not checked.
async fn check_api(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    outcomes: &[Outcome],
) -> (usize, usize, usize) {
    let (mut lost, mut mismatched, mut unchecked) = (0, 0, 0);
    for o in outcomes {
        let Some((200, body)) = &o.answer else {
            continue;
        };
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let auth_id = v["authId"].as_str().unwrap_or_default();
        let mut found = None;
        for attempt in 1..=UPLOAD_RETRY.max_attempts {
            let r = client
                .get(format!("{base}/api/results/{auth_id}"))
                .header("x-api-key", api_key)
                .send()
                .await;
            let (status, retry_after, text) = match r {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = retry_after_ms(r.headers());
                    (
                        Some(status),
                        retry_after,
                        r.text().await.unwrap_or_default(),
                    )
                }
                Err(_) => (None, None, String::new()),
            };
            match status {
                Some(200) => {
                    found = Some(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
                    break;
                }
                Some(404) => {
                    found = Some(Value::Null);
                    break;
                }
                _ => {
                    let pause = retry_delay_ms(&UPLOAD_RETRY, attempt + 1, random_u64())
                        .unwrap_or(0)
                        .max(retry_after.unwrap_or(0));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        let stored = match found {
            Some(Value::Null) => {
                lost += 1;
                continue;
            }
            Some(v) => v,
            None => {
                unchecked += 1;
                continue;
            }
        };
        if stored["sessionId"].as_str() != o.session_id.as_deref()
            || stored["status"] != v["status"]
        {
            mismatched += 1;
        }
    }
    (lost, mismatched, unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        let p = Percentiles::of(vec![7.0]);
        assert_eq!((p.p50, p.p99), (7.0, 7.0));
        assert_eq!(Percentiles::of(Vec::new()).max, 0.0);
    }

    #[test]
    fn arguments() {
        let a = parse(&[
            "--concurrency".into(),
            "4".into(),
            "--rate".into(),
            "2.5".into(),
            "--duration".into(),
            "10".into(),
            "--json".into(),
        ])
        .unwrap();
        assert_eq!((a.concurrency, a.rate, a.json), (4, Some(2.5), true));
        assert_eq!(a.duration, Duration::from_secs(10));
        for bad in [
            vec!["--concurrency", "0"],
            vec!["--rate", "-1"],
            vec!["--rate", "NaN"],
            vec!["--duration"],
            vec!["--bogus", "1"],
        ] {
            let v: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(parse(&v).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn captures() {
        assert!(capture_jpeg("small").unwrap().starts_with(&[0xff, 0xd8]));
        assert!(capture_jpeg("face").unwrap().len() > 10_000);
        assert!(capture_jpeg("/nonexistent.png").is_err());
    }
}
