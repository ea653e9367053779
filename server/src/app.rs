//! The router and a running server (listener, HTTP service, webhook worker), used by
//! `liveform serve` and by the tests alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::routing::{delete, get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use liveform::model::ModelKind;
use liveform::vision::Models;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::config::Config;
use crate::db::Db;
use crate::linger::Lingering;
use crate::state::{build_state, SharedState, StaticDirs};
use crate::{
    handoff, instances, limits, outbox, results, sessions, static_files, tokens_api, upload,
};

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

/// Builds the router over a state. Every route that reads a body caps it (`413` with a code);
/// [`limits::guard`] applies the rate limits and the request timeout to everything.
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
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            limits::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::cors::layer,
        ))
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
    heartbeat: Option<JoinHandle<()>>,
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
        if let Some(h) = self.heartbeat.take() {
            let _ = h.await;
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
    let db = Db::open_with(
        &options.db_path,
        Duration::from_millis(options.config.db_busy_timeout_ms),
    )?;
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
    let header_timeout = Duration::from_millis(state.limiters.config.header_timeout_ms);
    let http = tokio::spawn(serve_http(listener, app, header_timeout, rx.clone()));
    let heartbeat = tokio::spawn(instances::run(Arc::clone(&state), rx.clone()));
    // Open handoff event streams would hold the graceful shutdown forever: end them.
    let mut hub_rx = rx.clone();
    let hub_state = Arc::clone(&state);
    tokio::spawn(async move {
        let _ = hub_rx.wait_for(|v| *v).await;
        hub_state.events.close();
    });
    let worker = tokio::spawn(outbox::run(Arc::clone(&state), rx));
    Ok(RunningServer {
        addr,
        state,
        shutdown: tx,
        http: Some(http),
        worker: Some(worker),
        heartbeat: Some(heartbeat),
    })
}

/// Accepts HTTP/1.1 connections and serves `app` on them until `stop` turns true, then lets
/// requests in flight finish. Each request carries its peer address (`ConnectInfo`) for the
/// per-IP limits; a client that does not send its headers within `header_timeout` is
/// disconnected (slow-header clients would otherwise hold connections forever).
async fn serve_http(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let stopped = stopped(stop.clone());
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        eprintln!("liveform: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_connection(stream, peer, app.clone(), header_timeout, stop.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(Lingering::new(stream)), service)
        .with_upgrades();
    tokio::pin!(conn);
    let stopped = stopped(stop);
    tokio::pin!(stopped);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            () = &mut stopped, if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}
