//! liveform: selfie re-verification, checked on the device and delivered sealed.
//!
//! The crate is a pure core plus a thin browser edge:
//! - everything that decides anything ([`vision`], [`policy`], …) is plain Rust that takes
//!   bytes and numbers, never calls the browser and never reads a clock, so it is tested
//!   natively and runs unchanged in wasm and on the server;
//! - [`web`] (wasm32 only) moves data between the browser and the core.

pub mod capture;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod handoff;
pub mod liveness;
pub mod model;
pub mod params;
pub mod policy;
pub mod querycrypt;
pub mod returnurl;
pub mod tokens;
pub mod upload;
pub mod vision;
pub mod webhook;
pub mod y4m;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, ErrorCode, Result};

/// The SDK version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
