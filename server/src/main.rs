//! `liveform`: the reference backend and the operators' command-line tool.
//!
//!     liveform check IMAGE… [--policy FILE] [--json] [--models DIR]
//!     liveform make-video IMAGE… --out FILE.y4m [--size WxH] [--fps N] [--seconds S]
//!     liveform serve [--addr 127.0.0.1:8080] [--data DIR] [--db FILE] [--config FILE]
//!                    [--www DIR] [--pkg DIR] [--models DIR]
//!     liveform load [--target URL] [--concurrency N] [--rate PER_S] [--duration S]
//!                   [--frame face|small|IMAGE] [--pid P] [--sid S] [--api-key K] [--db FILE] [--json]

use liveform_server::{check, load, serve};

fn main() {
    restore_sigpipe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("check") => match check::run(&args[1..]) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("liveform check: {e}");
                2
            }
        },
        Some("serve") => match serve::run(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("liveform serve: {e}");
                2
            }
        },
        Some("make-video") => match liveform_server::make_video::run(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("liveform make-video: {e}");
                2
            }
        },
        Some("load") => match load::run(&args[1..]) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("liveform load: {e}");
                2
            }
        },
        Some("--version") => {
            println!("liveform {}", liveform::VERSION);
            0
        }
        _ => {
            eprintln!("usage: liveform check IMAGE… [--policy FILE] [--json] [--models DIR]");
            eprintln!("       {}", &serve::USAGE["usage: ".len()..]);
            eprintln!("       {}", &load::USAGE["usage: ".len()..]);
            2
        }
    };
    std::process::exit(code);
}

/// Rust ignores SIGPIPE, so `liveform check … | head` would panic in `println!` when the
/// pipe closes; a command-line tool should end quietly instead, as other Unix tools do.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default at start, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
