//! Test helpers: a real server on loopback over a real SQLite file in a temporary directory,
//! the real models, real photos, and a client that seals uploads as the browser does.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use liveform::envelope::{self, PublicKey, SealContext};
use liveform::frame::Frame;
use liveform::policy::Policy;
use liveform::tokens::TokenExpiry;
use liveform::upload::{ClaimedVerdict, EncodedFrame, UploadPayload};
use liveform::vision::Models;
use liveform::webhook::RetryPolicy;
use liveform_server::app::{self, RunningServer, ServerOptions};
use liveform_server::config::{
    Config, HandoffSettings, LimitsConfig, ProjectConfig, ProjectStatus, SubmissionConfig,
    SubmissionStatus,
};
use liveform_server::state::StaticDirs;
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The server's models, loaded once per test binary.
pub fn models() -> Arc<Models> {
    static MODELS: OnceLock<Arc<Models>> = OnceLock::new();
    MODELS
        .get_or_init(|| Arc::new(app::load_models(&repo().join("models")).expect("models load")))
        .clone()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let name = liveform_server::util::random_id("liveform-test-").unwrap();
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const API_KEY: &str = "test-api-key-p1";
pub const QUERY_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The photo registered as `sub_ok`'s face, and so the one a matching selfie shows.
pub const REFERENCE_PHOTO: &str = "grace_hopper.jpg";
/// Another person.
pub const OTHER_PHOTO: &str = "astronaut.png";

/// A plain project `id` with submissions `sub_ok` (approved, [`REFERENCE_PHOTO`]),
/// `sub_pending`, `sub_rejected`.
/// The policy is the default (passive liveness, 70 points; face match 98).
pub fn project(id: &str) -> ProjectConfig {
    ProjectConfig {
        id: id.into(),
        name: format!("Project {id}"),
        logo_url: Some("https://example.com/logo.png".into()),
        status: ProjectStatus::Service,
        return_url: Some("https://example.com/done?from=liveform".into()),
        return_url_encryption: false,
        policy: None,
        private_mode: false,
        token_expiry: TokenExpiry::ByUse,
        encryption_only: false,
        query_key: Some(QUERY_KEY_HEX.into()),
        legacy_ecb: false,
        webhook: None,
        api_key: format!("{API_KEY}-{id}"),
        hpke_private_key: None,
        submissions: vec![
            SubmissionConfig {
                sid: "sub_ok".into(),
                status: SubmissionStatus::Approved,
                reference_image: Some(repo().join("tests/data").join(REFERENCE_PHOTO)),
            },
            SubmissionConfig {
                sid: "sub_pending".into(),
                status: SubmissionStatus::Pending,
                reference_image: None,
            },
            SubmissionConfig {
                sid: "sub_rejected".into(),
                status: SubmissionStatus::Rejected,
                reference_image: None,
            },
        ],
        handoff: HandoffSettings::default(),
        embed_origins: Vec::new(),
    }
}

/// A config of these projects with fast webhook retries.
pub fn config(projects: Vec<ProjectConfig>) -> Config {
    Config {
        projects,
        session_ttl_ms: 10 * 60 * 1000,
        max_upload_bytes: 8 * 1024 * 1024,
        webhook_retry: RetryPolicy {
            max_attempts: 6,
            base_delay_ms: 50,
            max_delay_ms: 200,
        },
        db_busy_timeout_ms: liveform_server::config::DEFAULT_DB_BUSY_TIMEOUT_MS,
        // The production defaults: the tests make few requests, and each test of a limit
        // sets its own.
        limits: LimitsConfig::default(),
    }
}

/// A running server and its files.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: Arc<TempDir>,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    pub base: String,
}

/// Starts a server on 127.0.0.1:0 with a fresh database.
pub async fn spawn(config: Config) -> TestServer {
    spawn_in(config, Arc::new(TempDir::new()), StaticDirs::default()).await
}

/// Starts a server over the database in `dir` (kept across restarts).
pub async fn spawn_in(config: Config, dir: Arc<TempDir>, dirs: StaticDirs) -> TestServer {
    let db_path = dir.0.join("liveform.db");
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = app::start(
        ServerOptions {
            config,
            db_path: db_path.clone(),
            addr,
            dirs,
        },
        models(),
    )
    .await
    .expect("server starts");
    let base = server.url();
    TestServer {
        server: Some(server),
        dir,
        db_path,
        client: reqwest::Client::new(),
        base,
    }
}

/// A response: status, headers and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// The error code of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value, api_key: Option<&str>) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        if let Some(k) = api_key {
            req = req.header("x-api-key", k);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, api_key: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(k) = api_key {
            req = req.header("x-api-key", k);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>, api_key: Option<&str>) -> Resp {
        let mut req = self.client.delete(self.url(path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        if let Some(k) = api_key {
            req = req.header("x-api-key", k);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    /// `POST /api/sessions` with a liveform query.
    pub async fn create_session(&self, query: &str) -> Resp {
        self.post_json(
            "/api/sessions",
            &serde_json::json!({ "query": query }),
            None,
        )
        .await
    }

    /// `POST /api/sessions/{id}/start`.
    pub async fn start(&self, session_id: &str) -> Resp {
        Resp::from(
            self.client
                .post(self.url(&format!("/api/sessions/{session_id}/start")))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Creates and starts a session; returns the creation response body.
    pub async fn open_started(&self, query: &str) -> Value {
        let r = self.create_session(query).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let s = self.start(r.body["sessionId"].as_str().unwrap()).await;
        assert_eq!(s.status, 200, "{}", s.text);
        r.body
    }

    /// `POST /api/sessions/{id}/upload` of raw envelope bytes.
    pub async fn upload_raw(
        &self,
        session_id: &str,
        key: &str,
        captured_at: u64,
        body: Vec<u8>,
    ) -> Resp {
        Resp::from(
            self.client
                .post(self.url(&format!("/api/sessions/{session_id}/upload")))
                .header("idempotency-key", key)
                .header("x-liveform-captured-at", captured_at.to_string())
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A connection to the server's real SQLite file.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db_path).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Stops the server (the directory stays while `dir` is held).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// Unix ms now.
pub fn now_ms() -> u64 {
    liveform_server::util::now_ms()
}

/// A repository photo re-encoded as JPEG, as the browser would upload it.
pub fn photo_jpeg(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(repo().join("tests/data").join(name)).unwrap();
    Frame::decode(&bytes).unwrap().to_jpeg(92).unwrap()
}

/// A JPEG of one grey colour: no face in it.
pub fn blank_jpeg() -> Vec<u8> {
    let (w, h) = (640u32, 480u32);
    let rgba = [128u8, 128, 128, 255].repeat((w * h) as usize);
    Frame::from_rgba(w, h, rgba).unwrap().to_jpeg(90).unwrap()
}

/// A payload for a JPEG with a claimed verdict.
pub fn payload(jpeg: Vec<u8>, claimed_passed: bool) -> UploadPayload {
    UploadPayload::new(
        EncodedFrame::new(jpeg, 1500),
        ClaimedVerdict {
            passed: claimed_passed,
            ..Default::default()
        },
    )
}

/// Seals a payload for a session as the browser does: to the session's public key, bound to
/// the project, the session, the capture time and the hash of the policy the server sent.
pub fn seal(session: &Value, pid: &str, captured_at: u64, payload: &UploadPayload) -> Vec<u8> {
    let public_key = PublicKey::from_base64(session["publicKey"].as_str().unwrap()).unwrap();
    let policy: Policy = serde_json::from_value(session["policy"].clone()).unwrap();
    assert_eq!(
        hex::encode(policy.hash()),
        session["policyHash"].as_str().unwrap(),
        "the policy survives JSON with the same hash"
    );
    let ctx = SealContext::new(
        pid,
        session["sessionId"].as_str().unwrap(),
        captured_at,
        policy.hash(),
    );
    envelope::seal_with_os_rng(&public_key, &ctx, &payload.to_vec().unwrap()).unwrap()
}

/// SplitMix64: a small seeded generator (the test's randomness must be reproducible).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uploads one sealed capture through `url` the way the browser does
/// ([`liveform_server::load::upload_like_the_browser`]), jitter drawn from `rng`. Returns the
/// attempts made, the final status (0 without an answer) and body, whether that answer was a
/// replay, and every outcome retried after ("status code" or "no answer").
pub async fn upload_like_the_browser(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    captured: u64,
    sealed: &[u8],
    rng: &mut u64,
) -> (u32, u16, String, bool, Vec<String>) {
    let r =
        liveform_server::load::upload_like_the_browser(client, url, key, captured, sealed, || {
            *rng = mix(*rng);
            *rng
        })
        .await;
    let (status, text) = r.answer.unwrap_or((0, String::new()));
    (r.attempts, status, text, r.replayed, r.retried)
}
