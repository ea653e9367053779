//! The server's configuration file: projects (with their policies, modes and secrets), the
//! eKYC submissions they refer to, and server-wide settings. JSON, camelCase.
//!
//! ```json
//! {
//!   "projects": [{
//!     "id": "demo", "name": "liveform demo", "logoUrl": null, "status": "service",
//!     "returnUrl": "https://example.com/done", "returnUrlEncryption": false,
//!     "policy": {"faceMatchThreshold": 98, "livenessThreshold": 70},
//!     "privateMode": false, "tokenExpiry": {"kind": "byUse"},
//!     "encryptionOnly": false, "queryKey": "<64 hex digits or base64>", "legacyEcb": false,
//!     "webhook": {"url": "https://example.com/hook", "secret": "at least 16 bytes"},
//!     "apiKey": "…", "hpkePrivateKey": null,
//!     "handoff": {"mode": "auto", "ticketTtlMs": 300000, "baseUrl": "https://verify.example.com/"},
//!     "submissions": [{"sid": "sub_1", "status": "approved", "referenceImage": "faces/sub_1.png"}]
//!   }],
//!   "sessionTtlMs": 1800000,
//!   "maxUploadBytes": 8388608,
//!   "webhookRetry": {"maxAttempts": 10, "baseDelayMs": 5000, "maxDelayMs": 3600000},
//!   "dbBusyTimeoutMs": 10000,
//!   "limits": {"perIp": {"max": 300, "windowMs": 60000}, "perSession": {"max": 20, "windowMs": 60000},
//!              "failedChecks": {"max": 5, "windowMs": 180000},
//!              "requestTimeoutMs": 30000, "headerTimeoutMs": 10000, "clientIpHeader": null}
//! }
//! ```
//!
//! Every setting but `projects` has a default (the values above); see [`LimitsConfig`] for
//! the limits (a rate limit set to `null` is off).
//!
//! Relative `referenceImage` paths are resolved against the config file's directory.
//! `hpkePrivateKey` (the `LFsk…` text form) is optional: without it a key pair is generated on
//! first start and kept in the database, so the public key stays the same across restarts.

use std::path::{Path, PathBuf};

use liveform::handoff::device::HandoffMode;
use liveform::tokens::TokenExpiry;
use liveform::webhook::RetryPolicy;
use serde::{Deserialize, Serialize};

pub use crate::limits::{LimitsConfig, RateLimit};

/// Default session lifetime: 30 minutes from creation to upload.
pub const DEFAULT_SESSION_TTL_MS: u64 = 30 * 60 * 1000;
/// Default cap on an upload body (the sealed envelope).
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;
/// Default time a database write waits for another writer before `503 database_busy`.
pub const DEFAULT_DB_BUSY_TIMEOUT_MS: u64 = 10_000;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The add-on projects.
    pub projects: Vec<ProjectConfig>,
    /// How long a session may take from creation to upload, in milliseconds.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_ms: u64,
    /// Largest accepted upload body, in bytes.
    #[serde(default = "default_max_upload")]
    pub max_upload_bytes: usize,
    /// Webhook retry schedule.
    #[serde(default)]
    pub webhook_retry: RetryPolicy,
    /// How long a database write waits for another writer's lock.
    #[serde(default = "default_db_busy_timeout")]
    pub db_busy_timeout_ms: u64,
    /// Request rates and timeouts.
    #[serde(default)]
    pub limits: LimitsConfig,
}

fn default_db_busy_timeout() -> u64 {
    DEFAULT_DB_BUSY_TIMEOUT_MS
}

fn default_session_ttl() -> u64 {
    DEFAULT_SESSION_TTL_MS
}

fn default_max_upload() -> usize {
    DEFAULT_MAX_UPLOAD_BYTES
}

/// Service or Closed (the seeds: "Closed (Authentication Disabled)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    /// Normal operation.
    #[default]
    #[serde(alias = "SERVICE", alias = "Service")]
    Service,
    /// Authentication disabled: new sessions are refused.
    #[serde(alias = "CLOSED", alias = "Closed")]
    Closed,
}

/// One add-on project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    /// The pid.
    pub id: String,
    /// Shown as the title of the first screen.
    pub name: String,
    /// Shown at the top of the first screen.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Service or Closed.
    #[serde(default)]
    pub status: ProjectStatus,
    /// Where the user goes after the result.
    #[serde(default)]
    pub return_url: Option<String>,
    /// Seal the return URL's dynamic fields with the query key.
    #[serde(default)]
    pub return_url_encryption: bool,
    /// Policy settings as `Policy::from_json` reads them (camelCase); absent means defaults.
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
    /// Private mode: a registered Token ID is required.
    #[serde(default)]
    pub private_mode: bool,
    /// When a token expires (by use or by time after the first Start).
    #[serde(default = "default_expiry")]
    pub token_expiry: TokenExpiry,
    /// Only `encrypted=` queries are accepted.
    #[serde(default)]
    pub encryption_only: bool,
    /// The AES-256 query key, as 64 hex digits or base64.
    #[serde(default)]
    pub query_key: Option<String>,
    /// Accept legacy `e1.` (ECB) blobs.
    #[serde(default)]
    pub legacy_ecb: bool,
    /// Where the `faceAuth` webhook goes.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// The key for the token and result APIs (`X-Api-Key`).
    pub api_key: String,
    /// The HPKE private key (`LFsk…` base64url); generated and stored when absent.
    #[serde(default)]
    pub hpke_private_key: Option<String>,
    /// The eKYC submissions this project may compare against.
    #[serde(default)]
    pub submissions: Vec<SubmissionConfig>,
    /// Desktop → phone handoff.
    #[serde(default)]
    pub handoff: HandoffSettings,
    /// Other sites that may embed this project's capture (`<liveform-capture>` on their
    /// pages), as origins: `https://shop.example`, `http://127.0.0.1:9000`. See `cors`.
    #[serde(default)]
    pub embed_origins: Vec<String>,
}

/// A project's desktop → phone handoff settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HandoffSettings {
    /// `off`, `auto` (desktops without a camera hand off, others are offered it) or
    /// `always` (every desktop hands off; phones still capture directly).
    pub mode: HandoffMode,
    /// How long a handoff ticket (the QR code) stays claimable, in ms: 1 to 1 800 000.
    pub ticket_ttl_ms: u64,
    /// Where the page lives, as the phone reaches it (`http(s)://host[/path]`). Without it
    /// the link is built on the `Origin` of the desktop's request, i.e. the page is at `/`.
    pub base_url: Option<String>,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        HandoffSettings {
            mode: HandoffMode::Auto,
            ticket_ttl_ms: liveform::handoff::DEFAULT_TTL_MS,
            base_url: None,
        }
    }
}

fn default_expiry() -> TokenExpiry {
    TokenExpiry::ByUse
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// The HMAC secret (at least 16 bytes).
    pub secret: String,
}

/// The eKYC status of a submission (the seeds' four statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    /// Approved: face auth may refer to it.
    #[serde(alias = "APPROVED", alias = "Approved")]
    Approved,
    /// Not completed yet.
    #[serde(alias = "INCOMPLETE", alias = "Incomplete")]
    Incomplete,
    /// Rejected.
    #[serde(alias = "REJECTED", alias = "Rejected")]
    Rejected,
    /// Waiting for a reviewer.
    #[serde(alias = "PENDING", alias = "Pending")]
    Pending,
}

impl SubmissionStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Approved => "approved",
            SubmissionStatus::Incomplete => "incomplete",
            SubmissionStatus::Rejected => "rejected",
            SubmissionStatus::Pending => "pending",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approved" => SubmissionStatus::Approved,
            "incomplete" => SubmissionStatus::Incomplete,
            "rejected" => SubmissionStatus::Rejected,
            "pending" => SubmissionStatus::Pending,
            _ => return None,
        })
    }
}

/// An eKYC submission with its registered face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmissionConfig {
    /// The submission ID (`sid`).
    pub sid: String,
    /// Its eKYC status.
    pub status: SubmissionStatus,
    /// The approved face image (JPEG or PNG); required for an approved submission.
    #[serde(default)]
    pub reference_image: Option<PathBuf>,
}

impl Config {
    /// Reads a config file; relative reference image paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: Config =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Makes relative reference image paths relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in &mut self.projects {
            for s in &mut p.submissions {
                if let Some(img) = &mut s.reference_image {
                    if img.is_relative() {
                        *img = base.join(&*img);
                    }
                }
            }
        }
    }

    /// The built-in demo: project `demo` (open, plain links allowed) with one approved
    /// submission `sub_demo` whose registered face is the repository's `tests/data/astronaut.png`.
    ///
    /// Its API key and webhook secret are public; it is for trying liveform locally.
    pub fn demo() -> Config {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Config {
            projects: vec![ProjectConfig {
                id: "demo".into(),
                name: "liveform demo".into(),
                logo_url: None,
                status: ProjectStatus::Service,
                return_url: None,
                return_url_encryption: false,
                policy: None,
                private_mode: false,
                token_expiry: TokenExpiry::ByUse,
                encryption_only: false,
                query_key: None,
                legacy_ecb: false,
                webhook: None,
                api_key: "demo-api-key".into(),
                hpke_private_key: None,
                submissions: vec![SubmissionConfig {
                    sid: "sub_demo".into(),
                    status: SubmissionStatus::Approved,
                    reference_image: Some(repo.join("tests/data/astronaut.png")),
                }],
                handoff: HandoffSettings::default(),
                // The README's embedding examples, served by `python3 -m http.server 8000`.
                embed_origins: vec![
                    "http://127.0.0.1:8000".into(),
                    "http://localhost:8000".into(),
                ],
            }],
            session_ttl_ms: DEFAULT_SESSION_TTL_MS,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            webhook_retry: RetryPolicy::default(),
            db_busy_timeout_ms: DEFAULT_DB_BUSY_TIMEOUT_MS,
            limits: LimitsConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_project_json() {
        let c: Config = serde_json::from_str(
            r#"{"projects":[{"id":"p","name":"P","apiKey":"k","status":"CLOSED",
                "tokenExpiry":{"kind":"byTime","windowMs":60000},
                "submissions":[{"sid":"s","status":"APPROVED","referenceImage":"a.png"}]}]}"#,
        )
        .unwrap();
        let p = &c.projects[0];
        assert_eq!(p.status, ProjectStatus::Closed);
        assert_eq!(p.token_expiry, TokenExpiry::ByTime { window_ms: 60000 });
        assert_eq!(c.session_ttl_ms, DEFAULT_SESSION_TTL_MS);
        assert_eq!(c.limits, LimitsConfig::default());
        assert_eq!(c.db_busy_timeout_ms, DEFAULT_DB_BUSY_TIMEOUT_MS);
        assert_eq!(p.submissions[0].status, SubmissionStatus::Approved);
    }

    #[test]
    fn unknown_keys_refused() {
        let r: Result<Config, _> =
            serde_json::from_str(r#"{"projects":[{"id":"p","name":"P","apiKey":"k","bogus":1}]}"#);
        assert!(r.is_err());
    }

    #[test]
    fn example_config_loads_and_builds() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("liveform.example.json");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.projects.len(), 2);
        let img = c.projects[1].submissions[0]
            .reference_image
            .clone()
            .unwrap();
        assert!(img.is_file(), "{}", img.display());
        let dir = std::env::temp_dir().join(crate::util::random_id("liveform-cfg-").unwrap());
        let db = crate::db::Db::open(&dir.join("t.db")).unwrap();
        let models = std::sync::Arc::new(liveform::vision::Models::default());
        crate::state::check_config(&c).unwrap();
        let state =
            crate::state::build_state(&c, db, models, crate::state::StaticDirs::default()).unwrap();
        let bank = state.project("bank").unwrap();
        assert!(bank.private_mode && bank.encryption_only && bank.webhook.is_some());
        assert_eq!(bank.handoff.mode, HandoffMode::Always);
        assert_eq!(bank.handoff.ticket_ttl_ms, 180_000);
        assert_eq!(
            state.project("demo").unwrap().handoff,
            HandoffSettings::default()
        );
        drop(state);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_projects_are_refused_at_start() {
        let dir = std::env::temp_dir().join(crate::util::random_id("liveform-cfg-").unwrap());
        let db = crate::db::Db::open(&dir.join("t.db")).unwrap();
        let models = std::sync::Arc::new(liveform::vision::Models::default());
        // The database-free check and the real start-up refuse alike, with the same words.
        let build = |c: &Config| {
            let built =
                crate::state::build_state(c, db.clone(), models.clone(), Default::default())
                    .err()
                    .unwrap_or_default();
            let checked = crate::state::check_config(c).err().unwrap_or_default();
            assert_eq!(built, checked);
            built
        };
        let mut c = Config::demo();
        c.projects[0].policy =
            Some(serde_json::json!({"headOcclusionThreshold": 1, "faceOcclusionThreshold": 1}));
        assert!(
            build(&c).contains("cannot be used together"),
            "{}",
            build(&c)
        );
        let mut c = Config::demo();
        c.projects[0].encryption_only = true;
        assert!(build(&c).contains("encryptionOnly needs a queryKey"));
        let mut c = Config::demo();
        c.projects[0].webhook = Some(WebhookConfig {
            url: "https://x.example".into(),
            secret: "short".into(),
        });
        assert!(build(&c).contains("webhook.secret"));
        let mut c = Config::demo();
        c.projects.push(c.projects[0].clone());
        assert!(build(&c).contains("configured twice"));
        let mut c = Config::demo();
        c.projects[0].id = "bad id".into();
        assert!(!build(&c).is_empty());
        let mut c = Config::demo();
        c.projects[0].handoff.ticket_ttl_ms = 0;
        assert!(build(&c).contains("handoff: ticketTtlMs"), "{}", build(&c));
        c.projects[0].handoff.ticket_ttl_ms = liveform::handoff::MAX_TTL_MS + 1;
        assert!(build(&c).contains("handoff: ticketTtlMs"));
        let mut c = Config::demo();
        c.projects[0].handoff.base_url = Some("https://x.example/?pid=demo".into());
        assert!(build(&c).contains("handoff: baseUrl"), "{}", build(&c));
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn demo_reference_exists() {
        let c = Config::demo();
        let img = c.projects[0].submissions[0]
            .reference_image
            .clone()
            .unwrap();
        assert!(img.is_file(), "{}", img.display());
    }
}
