//! The router and a running server (listener, HTTP service, webhook worker), used by
//! `liveform serve` and by the tests alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use liveform::model::ModelKind;
use liveform::vision::Models;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::db::Db;
use crate::state::{build_state, SharedState, StaticDirs};
use crate::{handoff, outbox, results, sessions, static_files, tokens_api, upload};

/// Largest token registration body: 100 000 IDs of up to 128 bytes, quoted, plus slack.
const MAX_TOKEN_BODY: usize = 16 * 1024 * 1024;
/// Largest other JSON body.
const MAX_JSON_BODY: usize = 64 * 1024;

/// Every model the server uses: the prechecks and the face descriptor.
pub const SERVER_MODELS: [ModelKind; 6] = ModelKind::ALL;

/// Loads the server's models from a directory (once, at start).
pub fn load_models(dir: &std::path::Path) -> Result<Models, String> {
    Models::load_dir(dir, &SERVER_MODELS).map_err(|e| e.to_string())
}

/// Builds the router over a state.
pub fn router(state: SharedState) -> Router {
    let upload_limit = state.settings.max_upload_bytes;
    Router::new()
        .route(
            "/api/sessions",
            post(sessions::create).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/api/sessions/{id}/start", post(sessions::start))
        .route(
            "/api/sessions/{id}/upload",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/api/projects/{pid}/tokens",
            post(tokens_api::register)
                .get(tokens_api::query)
                .delete(tokens_api::delete_many)
                .layer(DefaultBodyLimit::max(MAX_TOKEN_BODY)),
        )
        .route(
            "/api/projects/{pid}/tokens/{token_id}",
            delete(tokens_api::delete_one),
        )
        .route("/api/results/{auth_id}", get(results::get))
        .route("/api/sessions/{id}/handoff", post(handoff::mint))
        .route("/api/sessions/{id}/handoff/events", get(handoff::events))
        .route(
            "/api/sessions/{id}/handoff/failed",
            post(handoff::failed).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/api/handoff/claim",
            post(handoff::claim).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/api/health", get(|| async { "ok\n" }))
        .fallback(static_files::fallback)
        .layer(axum::middleware::from_fn(static_files::security_headers))
        .with_state(state)
}

/// What a server is started with.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Projects and settings.
    pub config: Config,
    /// The SQLite file.
    pub db_path: PathBuf,
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// Static directories.
    pub dirs: StaticDirs,
}

/// A server that is running.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The shared state (the tests read the database through it).
    pub state: SharedState,
    shutdown: watch::Sender<bool>,
    http: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, stops the webhook worker.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.join().await;
    }

    async fn join(&mut self) {
        if let Some(h) = self.http.take() {
            let _ = h.await;
        }
        let _ = self.shutdown.send(true);
        if let Some(w) = self.worker.take() {
            let _ = w.await;
        }
    }

    /// Waits until the HTTP server stops (after [`RunningServer::shutdown`] or a signal).
    pub async fn wait(mut self) {
        self.join().await;
    }

    /// A handle that asks the server to stop.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

impl Drop for RunningServer {
    /// A server dropped without [`RunningServer::shutdown`] still stops serving and
    /// delivering (in the background).
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Opens the database, builds the state, binds, and starts serving and delivering webhooks.
pub async fn start(options: ServerOptions, models: Arc<Models>) -> Result<RunningServer, String> {
    let db = Db::open(&options.db_path)?;
    let config = options.config.clone();
    let dirs = options.dirs.clone();
    // Key generation and seeding touch the database: off the async threads.
    let state = tokio::task::spawn_blocking(move || build_state(&config, db, models, dirs))
        .await
        .map_err(|e| format!("start-up task: {e}"))??;
    let state: SharedState = Arc::new(state);
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    let (tx, rx) = watch::channel(false);
    let app = router(Arc::clone(&state));
    let mut http_rx = rx.clone();
    let hub_state = Arc::clone(&state);
    let http = tokio::spawn(async move {
        let stop = async move {
            let _ = http_rx.wait_for(|v| *v).await;
            // Open event streams would hold the graceful shutdown forever.
            hub_state.events.close();
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            eprintln!("liveform: server error: {e}");
        }
    });
    let worker = tokio::spawn(outbox::run(Arc::clone(&state), rx));
    Ok(RunningServer {
        addr,
        state,
        shutdown: tx,
        http: Some(http),
        worker: Some(worker),
    })
}
