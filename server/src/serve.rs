//! `liveform serve [--addr 127.0.0.1:8080] [--data DIR] [--db FILE] [--config FILE]
//! [--www DIR] [--pkg DIR] [--models DIR]`: runs the reference backend.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::{self, ServerOptions};
use crate::check::models_dir;
use crate::config::Config;
use crate::state::StaticDirs;

/// The usage line.
pub const USAGE: &str = "usage: liveform serve [--addr 127.0.0.1:8080] [--data DIR] [--db FILE] \
[--config FILE] [--www DIR] [--pkg DIR] [--models DIR]";

#[derive(Debug, Default)]
struct Args {
    addr: Option<String>,
    data: Option<PathBuf>,
    db: Option<PathBuf>,
    config: Option<PathBuf>,
    www: Option<PathBuf>,
    pkg: Option<PathBuf>,
    models: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--addr" => a.addr = Some(value()?),
            "--data" => a.data = Some(value()?.into()),
            "--db" => a.db = Some(value()?.into()),
            "--config" => a.config = Some(value()?.into()),
            "--www" => a.www = Some(value()?.into()),
            "--pkg" => a.pkg = Some(value()?.into()),
            "--models" => a.models = Some(value()?.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// A directory given explicitly, or the first default that exists.
fn dir_or(explicit: Option<PathBuf>, defaults: &[PathBuf]) -> Option<PathBuf> {
    explicit.or_else(|| defaults.iter().find(|d| d.is_dir()).cloned())
}

/// Runs the server until Ctrl-C.
pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    let addr: SocketAddr = a
        .addr
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let data = a.data.unwrap_or_else(|| PathBuf::from("liveform-data"));
    let db_path = a.db.unwrap_or_else(|| data.join("liveform.db"));
    let config = match &a.config {
        Some(path) => Config::load(path)?,
        None => {
            eprintln!("liveform: no --config, using the built-in demo project");
            Config::demo()
        }
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = models_dir(a.models);
    let dirs = StaticDirs {
        www: dir_or(a.www, &[PathBuf::from("www"), repo.join("www")]),
        pkg: dir_or(a.pkg, &[PathBuf::from("pkg"), repo.join("pkg")]),
        models: Some(models.clone()),
    };
    eprintln!("liveform: loading models from {}", models.display());
    let loaded = app::load_models(&models)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let server = app::start(
            ServerOptions {
                config,
                db_path: db_path.clone(),
                addr,
                dirs,
            },
            Arc::new(loaded),
        )
        .await?;
        println!("liveform listening on {}", server.url());
        eprintln!("liveform: database {}", db_path.display());
        let stop = server.stopper();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("liveform: shutting down");
                let _ = stop.send(true);
            }
        });
        server.wait().await;
        Ok(())
    })
}
