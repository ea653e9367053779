//! The running server's shared state: projects as checked at start-up, the database, the
//! models, and the helpers the handlers share.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use liveform::envelope::{self, PrivateKey, PublicKey, Suite};
use liveform::params::ParseOptions;
use liveform::policy::Policy;
use liveform::querycrypt::QueryKey;
use liveform::returnurl;
use liveform::tokens::TokenExpiry;
use liveform::vision::descriptor::Descriptor;
use liveform::vision::Models;
use liveform::webhook::{RetryPolicy, WebhookSecret};
use rusqlite::OptionalExtension;
use tokio::sync::{Notify, Semaphore};

use crate::config::{Config, HandoffSettings, ProjectConfig, ProjectStatus};
use crate::db::Db;
use crate::error::ApiError;
use crate::limits::{Limiters, RateLimit};
use crate::util::{constant_time_eq, now_ms, to_sql_ms};

/// A project, checked and ready: parsed policy, keys and secrets.
pub struct Project {
    /// The pid.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Service or Closed.
    pub status: ProjectStatus,
    /// Where the user goes after the result.
    pub return_url: Option<String>,
    /// Seal the return URL's fields with the query key.
    pub return_url_encryption: bool,
    /// The policy new sessions are judged under.
    pub policy: Policy,
    /// Private mode: tokens required.
    pub private_mode: bool,
    /// Token expiry.
    pub token_expiry: TokenExpiry,
    /// Only encrypted queries.
    pub encryption_only: bool,
    /// Accept legacy ECB blobs.
    pub legacy_ecb: bool,
    /// The query key.
    pub query_key: Option<QueryKey>,
    /// Webhook URL and secret.
    pub webhook: Option<(String, WebhookSecret)>,
    api_key: String,
    /// The HPKE private key (never leaves the server).
    pub private_key: PrivateKey,
    /// Its public half, served with each session.
    pub public_key: PublicKey,
    /// Desktop → phone handoff settings (checked).
    pub handoff: HandoffSettings,
    /// The sites that may embed the capture, normalised (`cors::normalize_origin`).
    pub embed_origins: Vec<String>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Project {
    /// How this project's liveform queries are parsed.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            encryption_only: self.encryption_only,
            require_token_id: self.private_mode,
            legacy_ecb_allowed: self.legacy_ecb,
        }
    }

    /// Whether `key` is this project's API key (constant time).
    pub fn api_key_matches(&self, key: &str) -> bool {
        constant_time_eq(self.api_key.as_bytes(), key.as_bytes())
    }
}

/// Server-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Session lifetime.
    pub session_ttl_ms: u64,
    /// Upload body cap.
    pub max_upload_bytes: usize,
    /// Webhook retry schedule.
    pub webhook_retry: RetryPolicy,
    /// Rejected decisions allowed per (project, submission) and window.
    pub failed_checks: Option<RateLimit>,
}

/// Everything the handlers share.
pub struct AppState {
    /// The database.
    pub db: Arc<Db>,
    /// Projects by pid.
    pub projects: HashMap<String, Project>,
    /// The precheck and descriptor models, loaded once.
    pub models: Arc<Models>,
    /// Bounds concurrent CPU work (analysis) to the cores there are.
    pub cpu: Semaphore,
    /// Reference descriptors by (pid, sid), computed once.
    pub references: Mutex<HashMap<(String, String), Arc<Descriptor>>>,
    /// Held while a reference descriptor is computed.
    pub reference_lock: tokio::sync::Mutex<()>,
    /// Wakes the webhook worker when a delivery is queued.
    pub webhook_wake: Notify,
    /// HTTP client for webhook deliveries.
    pub http: reqwest::Client,
    /// Settings.
    pub settings: Settings,
    /// Static file directories.
    pub dirs: StaticDirs,
    /// Tells handoff event streams that a session changed.
    pub events: crate::handoff::EventHub,
    /// Request-rate state and the limits configuration.
    pub limiters: Limiters,
    /// This process's instance id (see [`crate::instances`]).
    pub instance_id: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("projects", &self.projects.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where the static files are.
#[derive(Debug, Clone, Default)]
pub struct StaticDirs {
    /// The page (`/`).
    pub www: Option<PathBuf>,
    /// wasm-pack output (`/pkg`).
    pub pkg: Option<PathBuf>,
    /// Models (`/models`).
    pub models: Option<PathBuf>,
}

impl AppState {
    /// A project by pid.
    pub fn project(&self, pid: &str) -> Option<&Project> {
        self.projects.get(pid)
    }

    /// The project whose API key this is.
    pub fn project_by_api_key(&self, key: &str) -> Option<&Project> {
        // Every project is compared, so the time does not tell which one matched.
        let mut found = None;
        for p in self.projects.values() {
            if p.api_key_matches(key) && found.is_none() {
                found = Some(p);
            }
        }
        found
    }
}

/// Every rule of a config that needs no database or file: the settings, and each project's
/// id, keys, policy, URLs, secrets and handoff settings. [`build_state`] runs the same checks;
/// this is also what the config fuzz target drives.
pub fn check_config(config: &Config) -> Result<(), String> {
    check_settings(config)?;
    let mut ids = std::collections::HashSet::new();
    for pc in &config.projects {
        check_project(pc).map_err(|e| format!("project {:?}: {e}", pc.id))?;
        if !ids.insert(pc.id.as_str()) {
            return Err(format!("project {:?} is configured twice", pc.id));
        }
    }
    Ok(())
}

fn check_settings(config: &Config) -> Result<(), String> {
    if config.max_upload_bytes == 0 {
        return Err("maxUploadBytes must be at least 1".into());
    }
    if config.webhook_retry.max_attempts == 0 {
        return Err("webhookRetry.maxAttempts must be at least 1".into());
    }
    config.limits.validate()
}

/// Checks the config and builds the state: parses policies and keys, loads or generates each
/// project's HPKE key pair, and seeds the submissions into the database.
pub fn build_state(
    config: &Config,
    db: Arc<Db>,
    models: Arc<Models>,
    dirs: StaticDirs,
) -> Result<AppState, String> {
    check_settings(config)?;
    let mut projects = HashMap::new();
    for pc in &config.projects {
        let p = build_project(pc, &db).map_err(|e| format!("project {:?}: {e}", pc.id))?;
        if projects.insert(p.id.clone(), p).is_some() {
            return Err(format!("project {:?} is configured twice", pc.id));
        }
        seed_submissions(pc, &db).map_err(|e| format!("project {:?}: {e}", pc.id))?;
    }
    // Registered before anything is served, so every claim names a known instance.
    let instance_id = crate::util::random_id("inst_").map_err(|e| e.to_string())?;
    let iid = instance_id.clone();
    db.call_blocking(move |c| Ok(crate::instances::beat(c, &iid, now_ms())?))
        .map_err(|e| e.message)?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // reqwest is built without a default TLS provider; ring is installed once per process
    // (an error only means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("liveform/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(AppState {
        db,
        projects,
        models,
        cpu: Semaphore::new(cores),
        references: Mutex::new(HashMap::new()),
        reference_lock: tokio::sync::Mutex::new(()),
        webhook_wake: Notify::new(),
        http,
        settings: Settings {
            session_ttl_ms: config.session_ttl_ms,
            max_upload_bytes: config.max_upload_bytes,
            webhook_retry: config.webhook_retry,
            failed_checks: config.limits.failed_checks,
        },
        dirs,
        events: crate::handoff::EventHub::new(),
        limiters: Limiters::new(config.limits.clone()),
        instance_id,
    })
}

/// A project's settings as parsed and checked, before its key pair is loaded.
struct CheckedProject {
    policy: Policy,
    query_key: Option<QueryKey>,
    webhook: Option<(String, WebhookSecret)>,
    configured_key: Option<PrivateKey>,
    embed_origins: Vec<String>,
}

fn check_project(pc: &ProjectConfig) -> Result<CheckedProject, String> {
    liveform::params::LiveformParams::new(&pc.id, "x")
        .map_err(|_| "the id must be 1 to 64 bytes of A-Z a-z 0-9 - . _ ~".to_string())?;
    if pc.api_key.len() < 8 {
        return Err("apiKey must be at least 8 bytes".into());
    }
    let policy = match &pc.policy {
        None => Policy::default(),
        Some(v) => Policy::from_json(&v.to_string()).map_err(|e| e.to_string())?,
    };
    pc.token_expiry.validate().map_err(|e| e.to_string())?;
    let query_key = match &pc.query_key {
        None => None,
        Some(text) => Some(
            QueryKey::from_hex(text)
                .or_else(|_| QueryKey::from_base64(text))
                .map_err(|e| format!("queryKey: {e}"))?,
        ),
    };
    if pc.encryption_only && query_key.is_none() {
        return Err("encryptionOnly needs a queryKey".into());
    }
    if pc.return_url_encryption && query_key.is_none() {
        return Err("returnUrlEncryption needs a queryKey".into());
    }
    if let Some(url) = &pc.return_url {
        returnurl::validate_return_url(url).map_err(|e| format!("returnUrl: {e}"))?;
    }
    let webhook = match &pc.webhook {
        None => None,
        Some(w) => {
            let lower = w.url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err("webhook.url must be http:// or https://".into());
            }
            let secret = WebhookSecret::new(w.secret.as_bytes())
                .map_err(|e| format!("webhook.secret: {e}"))?;
            Some((w.url.clone(), secret))
        }
    };
    let configured_key = match &pc.hpke_private_key {
        Some(text) => {
            Some(PrivateKey::from_base64(text).map_err(|e| format!("hpkePrivateKey: {e}"))?)
        }
        None => None,
    };
    crate::handoff::validate_settings(&pc.handoff).map_err(|e| format!("handoff: {e}"))?;
    let embed_origins = pc
        .embed_origins
        .iter()
        .map(|o| crate::cors::normalize_origin(o).map_err(|e| format!("embedOrigins: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CheckedProject {
        policy,
        query_key,
        webhook,
        configured_key,
        embed_origins,
    })
}

fn build_project(pc: &ProjectConfig, db: &Arc<Db>) -> Result<Project, String> {
    let CheckedProject {
        policy,
        query_key,
        webhook,
        configured_key,
        embed_origins,
    } = check_project(pc)?;
    let private_key = match configured_key {
        Some(key) => key,
        None => stored_or_new_key(&pc.id, db)?,
    };
    let public_key = private_key.public_key();
    Ok(Project {
        id: pc.id.clone(),
        name: pc.name.clone(),
        logo_url: pc.logo_url.clone(),
        status: pc.status,
        return_url: pc.return_url.clone(),
        return_url_encryption: pc.return_url_encryption,
        policy,
        private_mode: pc.private_mode,
        token_expiry: pc.token_expiry,
        encryption_only: pc.encryption_only,
        legacy_ecb: pc.legacy_ecb,
        query_key,
        webhook,
        api_key: pc.api_key.clone(),
        private_key,
        public_key,
        handoff: pc.handoff.clone(),
        embed_origins,
    })
}

/// The project's stored key pair, or a new one stored now. `INSERT OR IGNORE` then read: two
/// servers starting together on one file agree on a single key.
fn stored_or_new_key(pid: &str, db: &Arc<Db>) -> Result<PrivateKey, String> {
    let pid = pid.to_owned();
    db.call_blocking(move |c| {
        let existing: Option<String> = c
            .query_row(
                "SELECT private_key FROM project_keys WHERE project_id = ?1",
                [&pid],
                |r| r.get(0),
            )
            .optional()?;
        if existing.is_none() {
            let pair = envelope::generate_keypair_with_os_rng(Suite::default())
                .map_err(|e| ApiError::internal(format_args!("key generation: {e}")))?;
            c.execute(
                "INSERT OR IGNORE INTO project_keys (project_id, private_key, public_key, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    pid,
                    pair.private_key.to_base64().as_str(),
                    pair.public_key.to_base64(),
                    to_sql_ms(now_ms())
                ],
            )?;
        }
        let text: String = c.query_row(
            "SELECT private_key FROM project_keys WHERE project_id = ?1",
            [&pid],
            |r| r.get(0),
        )?;
        PrivateKey::from_base64(&text)
            .map_err(|e| ApiError::internal(format_args!("stored key: {e}")))
    })
    .map_err(|e| e.message)
}

fn seed_submissions(pc: &ProjectConfig, db: &Arc<Db>) -> Result<(), String> {
    let pid = pc.id.clone();
    let subs = pc.submissions.clone();
    for s in &subs {
        liveform::params::LiveformParams::new("p", &s.sid)
            .map_err(|_| format!("submission id {:?} is malformed", s.sid))?;
    }
    db.call_blocking(move |c| {
        let tx = c.transaction()?;
        for s in &subs {
            tx.execute(
                "INSERT INTO submissions (project_id, sid, status, reference_image)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project_id, sid) DO UPDATE
                 SET status = excluded.status, reference_image = excluded.reference_image",
                rusqlite::params![
                    pid,
                    s.sid,
                    s.status.as_str(),
                    s.reference_image
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned())
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .map_err(|e| e.message)
}

/// Arc'd state as the router holds it.
pub type SharedState = Arc<AppState>;
