//! One error type for the SDK boundary: a stable machine-readable code plus a message.

use serde::Serialize;
use std::fmt;

/// Stable, machine-readable error codes. The string form (`as_str`) is part of the public
/// contract: JavaScript callers and the backend match on it, so a variant is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A model file's sha256 is not the one the SDK expects.
    ModelChecksum,
    /// A model file could not be parsed or optimised.
    ModelInvalid,
    /// Running a model failed.
    Inference,
    /// An image could not be decoded, or its dimensions/buffer are inconsistent.
    BadImage,
    /// A policy is malformed or self-contradictory.
    BadPolicy,
    /// Input that is malformed (bad JSON, wrong length, out-of-range value).
    BadInput,
    /// An envelope is malformed, of an unknown version/suite, or does not open.
    Envelope,
    /// A key is malformed.
    BadKey,
    /// Liveform URL parameters are missing or malformed.
    BadParams,
    /// The capture state machine was driven out of order.
    BadState,
}

impl ErrorCode {
    /// The stable string form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ModelChecksum => "model_checksum",
            ErrorCode::ModelInvalid => "model_invalid",
            ErrorCode::Inference => "inference",
            ErrorCode::BadImage => "bad_image",
            ErrorCode::BadPolicy => "bad_policy",
            ErrorCode::BadInput => "bad_input",
            ErrorCode::Envelope => "envelope",
            ErrorCode::BadKey => "bad_key",
            ErrorCode::BadParams => "bad_params",
            ErrorCode::BadState => "bad_state",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An SDK error: a stable [`ErrorCode`] and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of the SDK.
pub type Result<T> = std::result::Result<T, Error>;
