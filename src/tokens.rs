//! Private-mode Token IDs: registration rules and expiry, as pure state and transitions.
//!
//! A project in *private mode* only admits liveform visits that carry a pre-registered Token
//! ID (`tokenid=` in the URL). This module holds the rules; the server holds the rows.
//!
//! # Rules
//!
//! - **Format.** A Token ID is 1 to [`MAX_TOKEN_ID_LEN`] (128) bytes of the URL-unreserved
//!   set `A–Z a–z 0–9 - . _ ~`, so it never needs percent-encoding (e.g. `tok_abc123`, a UUID,
//!   or base64url random bytes).
//! - **Capacity.** At most [`MAX_TOKENS_PER_PROJECT`] (100 000) tokens are registered per
//!   project at any time; [`check_capacity`] refuses a registration that would exceed it.
//!   Deleted rows do not count (the server counts live rows).
//! - **Expiry trigger.** A token is *used* when the user presses **Start** on the first
//!   screen — not when the page is opened. Opening the page only needs the token to be
//!   usable ([`check_access`]); pressing Start is the transition ([`check_start`]).
//! - **Expiry by use** ([`TokenExpiry::ByUse`]): the first Start spends the token; any later
//!   Start is refused with `token_spent`.
//! - **Expiry by time** ([`TokenExpiry::ByTime`]): the first Start opens a window of
//!   `window_ms`; a Start at `first_start_ms + elapsed` with `elapsed < window_ms` is
//!   admitted again (the same token may be reused inside the window); at or after
//!   `first_start_ms + window_ms` it is refused with `token_expired`. A token that was never
//!   started never expires by time.
//! - **Refusals** are distinct: `token_unknown` (no such row), `token_deleted` (deleted, which
//!   wins over every other state), `token_spent`, `token_expired`.
//!
//! # Concurrency: exactly one first Start
//!
//! [`check_start`] is a pure function of the record it is given. When it returns a record
//! whose `first_start_ms` changed from `None` to `Some(now_ms)`, that Start is a *first* Start
//! and the caller must persist it with a compare-and-set on the old state, e.g.
//! `UPDATE tokens SET first_start_ms = ? WHERE id = ? AND first_start_ms IS NULL AND deleted = 0`.
//! If zero rows change, another Start won the race: the caller re-reads the row and calls
//! [`check_start`] again, which then answers `token_spent` under [`TokenExpiry::ByUse`] (or,
//! under [`TokenExpiry::ByTime`], admits it inside the winner's window). So two concurrent
//! Starts of a by-use token admit exactly one. [`StartDecision`] from [`decide_start`] makes
//! the "is this a first Start?" question explicit.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// Most tokens a project may have registered at once (the product limit).
pub const MAX_TOKENS_PER_PROJECT: usize = 100_000;
/// Longest Token ID, in bytes.
pub const MAX_TOKEN_ID_LEN: usize = 128;

/// Whether a byte may appear in a Token ID (URL-unreserved: `A–Z a–z 0–9 - . _ ~`).
pub fn is_token_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Checks a Token ID's format and length.
pub fn validate_token_id(id: &str) -> Result<(), TokenError> {
    if id.len() > MAX_TOKEN_ID_LEN {
        return Err(TokenError::TokenIdTooLong {
            len: id.len(),
            max: MAX_TOKEN_ID_LEN,
        });
    }
    if id.is_empty() || !id.bytes().all(is_token_id_byte) {
        return Err(TokenError::MalformedTokenId);
    }
    Ok(())
}

/// Refuses a registration of `adding` tokens when `registered` are already live and the
/// total would exceed [`MAX_TOKENS_PER_PROJECT`].
pub fn check_capacity(registered: usize, adding: usize) -> Result<(), TokenError> {
    match registered.checked_add(adding) {
        Some(total) if total <= MAX_TOKENS_PER_PROJECT => Ok(()),
        _ => Err(TokenError::TokenLimitReached {
            registered,
            adding,
            max: MAX_TOKENS_PER_PROJECT,
        }),
    }
}

/// Checks one registration request (`POST /token` with `token_ids`): every ID well-formed,
/// no ID twice in the request, and the project's capacity respected. IDs that already exist
/// on the server are the server's business (it answers with its own conflict).
pub fn validate_registration<S: AsRef<str>>(
    ids: &[S],
    registered: usize,
) -> Result<(), TokenError> {
    check_capacity(registered, ids.len())?;
    let mut seen = HashSet::with_capacity(ids.len());
    for id in ids {
        let id = id.as_ref();
        validate_token_id(id)?;
        if !seen.insert(id) {
            return Err(TokenError::DuplicateTokenId);
        }
    }
    Ok(())
}

/// One registered Token ID as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The Token ID.
    pub id: String,
    /// When it was registered (unix ms).
    pub registered_at_ms: u64,
    /// When Start was first pressed with it (unix ms); `None` while unused.
    pub first_start_ms: Option<u64>,
    /// Deleted through the API or by auto-deletion; a deleted token is always refused.
    pub deleted: bool,
}

impl TokenRecord {
    /// A fresh, unused record for a newly registered ID (the ID is validated).
    pub fn new(id: &str, now_ms: u64) -> Result<Self, TokenError> {
        validate_token_id(id)?;
        Ok(TokenRecord {
            id: id.to_owned(),
            registered_at_ms: now_ms,
            first_start_ms: None,
            deleted: false,
        })
    }
}

/// The project's Token Expiration Condition.
///
/// JSON: `{"kind":"byUse"}` or `{"kind":"byTime","windowMs":600000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TokenExpiry {
    /// Spent by the first Start.
    ByUse,
    /// Usable again for `window_ms` after the first Start, then expired.
    ByTime {
        /// Length of the window in milliseconds (must be at least 1).
        #[serde(rename = "windowMs")]
        window_ms: u64,
    },
}

impl TokenExpiry {
    /// Checks the setting itself: a by-time window must be at least 1 ms.
    pub fn validate(self) -> Result<(), TokenError> {
        match self {
            TokenExpiry::ByTime { window_ms: 0 } => Err(TokenError::BadExpiry),
            _ => Ok(()),
        }
    }
}

/// Where a token stands at a given time (for `GET /token` and dashboards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum TokenStatus {
    /// Registered, never started.
    Unused,
    /// Started under a by-time expiry and still inside its window.
    Active {
        /// First instant at which it is expired (unix ms).
        #[serde(rename = "expiresAtMs")]
        expires_at_ms: u64,
    },
    /// Started under a by-use expiry.
    Spent,
    /// Started under a by-time expiry and past its window.
    Expired,
    /// Deleted.
    Deleted,
}

/// The state of `record` at `now_ms` under `expiry`.
///
/// A by-time window of 0 ms (an invalid setting) is treated as already over, never as
/// endless.
pub fn status(record: &TokenRecord, expiry: TokenExpiry, now_ms: u64) -> TokenStatus {
    if record.deleted {
        return TokenStatus::Deleted;
    }
    let Some(first) = record.first_start_ms else {
        return TokenStatus::Unused;
    };
    match expiry {
        TokenExpiry::ByUse => TokenStatus::Spent,
        TokenExpiry::ByTime { window_ms } => {
            // A clock that went backwards counts as no time elapsed.
            let elapsed = now_ms.saturating_sub(first);
            if elapsed < window_ms {
                TokenStatus::Active {
                    expires_at_ms: first.saturating_add(window_ms),
                }
            } else {
                TokenStatus::Expired
            }
        }
    }
}

/// Whether the liveform page may be *opened* with this token (before Start). Never changes
/// state. Under by-time expiry an active (in-window) token is admitted; a spent, expired,
/// deleted or unknown one is refused.
pub fn check_access(
    record: Option<&TokenRecord>,
    expiry: TokenExpiry,
    now_ms: u64,
) -> Result<(), TokenError> {
    let record = record.ok_or(TokenError::Unknown)?;
    match status(record, expiry, now_ms) {
        TokenStatus::Unused | TokenStatus::Active { .. } => Ok(()),
        TokenStatus::Spent => Err(TokenError::Spent),
        TokenStatus::Expired => Err(TokenError::Expired),
        TokenStatus::Deleted => Err(TokenError::Deleted),
    }
}

/// What a Start press does to a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// The first Start: the record is returned with `first_start_ms = Some(now_ms)`; the
    /// caller must persist it with a compare-and-set on `first_start_ms IS NULL`.
    First(TokenRecord),
    /// A repeated Start inside a by-time window: admitted, the record is unchanged.
    Again(TokenRecord),
}

impl StartDecision {
    /// The record to keep (changed for `First`, unchanged for `Again`).
    pub fn into_record(self) -> TokenRecord {
        match self {
            StartDecision::First(r) | StartDecision::Again(r) => r,
        }
    }
}

/// Decides a Start press, telling a first Start apart from a repeat.
pub fn decide_start(
    record: Option<&TokenRecord>,
    expiry: TokenExpiry,
    now_ms: u64,
) -> Result<StartDecision, TokenError> {
    let record = record.ok_or(TokenError::Unknown)?;
    match status(record, expiry, now_ms) {
        TokenStatus::Unused => {
            let mut updated = record.clone();
            updated.first_start_ms = Some(now_ms);
            Ok(StartDecision::First(updated))
        }
        TokenStatus::Active { .. } => Ok(StartDecision::Again(record.clone())),
        TokenStatus::Spent => Err(TokenError::Spent),
        TokenStatus::Expired => Err(TokenError::Expired),
        TokenStatus::Deleted => Err(TokenError::Deleted),
    }
}

/// Applies a Start press and returns the record to store (see the module docs for the
/// compare-and-set the caller must do when `first_start_ms` went from `None` to `Some`).
pub fn check_start(
    record: Option<&TokenRecord>,
    expiry: TokenExpiry,
    now_ms: u64,
) -> Result<TokenRecord, TokenError> {
    decide_start(record, expiry, now_ms).map(StartDecision::into_record)
}

/// Why a Token ID is refused or a registration is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Empty, or a byte outside `A–Z a–z 0–9 - . _ ~`. Code `malformed_token_id`.
    MalformedTokenId,
    /// Longer than [`MAX_TOKEN_ID_LEN`]. Code `token_id_too_long`.
    TokenIdTooLong {
        /// The length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The same ID twice in one registration request. Code `duplicate_token_id`.
    DuplicateTokenId,
    /// The registration would exceed [`MAX_TOKENS_PER_PROJECT`]. Code `token_limit_reached`.
    TokenLimitReached {
        /// Live tokens already registered.
        registered: usize,
        /// Tokens in the request.
        adding: usize,
        /// The limit.
        max: usize,
    },
    /// The expiry setting is invalid (a by-time window of 0). Code `bad_token_expiry`.
    BadExpiry,
    /// No such token is registered for the project. Code `token_unknown`.
    Unknown,
    /// The token was deleted. Code `token_deleted`.
    Deleted,
    /// A by-use token was already used by a Start. Code `token_spent`.
    Spent,
    /// A by-time token's window is over. Code `token_expired`.
    Expired,
}

impl TokenError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::MalformedTokenId => "malformed_token_id",
            TokenError::TokenIdTooLong { .. } => "token_id_too_long",
            TokenError::DuplicateTokenId => "duplicate_token_id",
            TokenError::TokenLimitReached { .. } => "token_limit_reached",
            TokenError::BadExpiry => "bad_token_expiry",
            TokenError::Unknown => "token_unknown",
            TokenError::Deleted => "token_deleted",
            TokenError::Spent => "token_spent",
            TokenError::Expired => "token_expired",
        }
    }

    /// The crate-level code: a refused `tokenid=` is a URL-parameter problem (`bad_params`);
    /// a bad registration request or setting is `bad_input`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            TokenError::Unknown | TokenError::Deleted | TokenError::Spent | TokenError::Expired => {
                ErrorCode::BadParams
            }
            _ => ErrorCode::BadInput,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::MalformedTokenId => {
                f.write_str("a Token ID must be non-empty and use only A-Z a-z 0-9 - . _ ~")
            }
            TokenError::TokenIdTooLong { len, max } => {
                write!(f, "the Token ID is {len} bytes, more than the {max} allowed")
            }
            TokenError::DuplicateTokenId => f.write_str("the same Token ID appears twice in the request"),
            TokenError::TokenLimitReached { registered, adding, max } => write!(
                f,
                "registering {adding} more tokens to the {registered} registered would exceed the limit of {max}"
            ),
            TokenError::BadExpiry => f.write_str("a time-based token expiry needs a window of at least 1 ms"),
            TokenError::Unknown => f.write_str("the Token ID is not registered for this project"),
            TokenError::Deleted => f.write_str("the Token ID was deleted"),
            TokenError::Spent => f.write_str("the Token ID was already used"),
            TokenError::Expired => f.write_str("the Token ID has expired"),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn rec() -> TokenRecord {
        TokenRecord::new("tok_abc123", T0).unwrap()
    }

    #[test]
    fn token_id_format() {
        assert!(validate_token_id("tok_abc123").is_ok());
        assert!(validate_token_id("550e8400-e29b-41d4-a716-446655440000").is_ok());
        assert!(validate_token_id("a.b~c").is_ok());
        assert!(validate_token_id(&"x".repeat(MAX_TOKEN_ID_LEN)).is_ok());
        assert_eq!(validate_token_id(""), Err(TokenError::MalformedTokenId));
        for bad in [
            "tok abc", "tok/abc", "tok%41", "tök", "a&b", "a=b", "a+b", "a\0",
        ] {
            assert_eq!(
                validate_token_id(bad),
                Err(TokenError::MalformedTokenId),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate_token_id(&"x".repeat(MAX_TOKEN_ID_LEN + 1)),
            Err(TokenError::TokenIdTooLong { len: 129, max: 128 })
        );
        assert_eq!(
            TokenRecord::new("bad id", T0),
            Err(TokenError::MalformedTokenId)
        );
    }

    #[test]
    fn capacity_limit() {
        assert_eq!(MAX_TOKENS_PER_PROJECT, 100_000);
        assert!(check_capacity(0, 100_000).is_ok());
        assert!(check_capacity(99_999, 1).is_ok());
        assert_eq!(
            check_capacity(99_999, 2),
            Err(TokenError::TokenLimitReached {
                registered: 99_999,
                adding: 2,
                max: 100_000
            })
        );
        assert!(check_capacity(100_000, 0).is_ok());
        assert!(check_capacity(0, 100_001).is_err());
        assert!(check_capacity(usize::MAX, 1).is_err());
    }

    #[test]
    fn registration_request() {
        assert!(validate_registration(&["a", "b", "c"], 0).is_ok());
        assert_eq!(
            validate_registration(&["a", "b", "a"], 0),
            Err(TokenError::DuplicateTokenId)
        );
        assert_eq!(
            validate_registration(&["a", "b c"], 0),
            Err(TokenError::MalformedTokenId)
        );
        assert!(matches!(
            validate_registration(&["a", "b"], MAX_TOKENS_PER_PROJECT - 1),
            Err(TokenError::TokenLimitReached { .. })
        ));
        let empty: [&str; 0] = [];
        assert!(validate_registration(&empty, MAX_TOKENS_PER_PROJECT).is_ok());
    }

    #[test]
    fn by_use_second_start_refused() {
        let r = rec();
        assert_eq!(check_access(Some(&r), TokenExpiry::ByUse, T0 + 5), Ok(()));
        let started = check_start(Some(&r), TokenExpiry::ByUse, T0 + 10).unwrap();
        assert_eq!(started.first_start_ms, Some(T0 + 10));
        assert_eq!(started.id, r.id);
        assert_eq!(started.registered_at_ms, T0);
        assert_eq!(
            check_start(Some(&started), TokenExpiry::ByUse, T0 + 11),
            Err(TokenError::Spent)
        );
        // Even far later, and even at the very same instant.
        assert_eq!(
            check_start(Some(&started), TokenExpiry::ByUse, T0 + 10),
            Err(TokenError::Spent)
        );
        assert_eq!(
            check_access(Some(&started), TokenExpiry::ByUse, T0 + 12),
            Err(TokenError::Spent)
        );
        assert_eq!(
            status(&started, TokenExpiry::ByUse, T0 + 12),
            TokenStatus::Spent
        );
    }

    #[test]
    fn by_use_race_exactly_one_first() {
        // Two Starts read the same unused row; both are "first" on that snapshot, and the
        // compare-and-set lets one win; the loser re-reads and is refused.
        let r = rec();
        let a = decide_start(Some(&r), TokenExpiry::ByUse, T0 + 1).unwrap();
        let b = decide_start(Some(&r), TokenExpiry::ByUse, T0 + 1).unwrap();
        assert!(matches!(a, StartDecision::First(_)));
        assert!(matches!(b, StartDecision::First(_)));
        let stored = a.into_record(); // CAS succeeded for a
        assert_eq!(
            decide_start(Some(&stored), TokenExpiry::ByUse, T0 + 1),
            Err(TokenError::Spent)
        );
    }

    #[test]
    fn by_time_window() {
        let exp = TokenExpiry::ByTime { window_ms: 600_000 };
        let r = rec();
        // Registration long ago does not start the window.
        let first = decide_start(Some(&r), exp, T0 + 86_400_000).unwrap();
        let StartDecision::First(started) = first else {
            panic!("expected First")
        };
        let s0 = T0 + 86_400_000;
        assert_eq!(started.first_start_ms, Some(s0));
        // Inside the window: admitted again, record unchanged (window not extended).
        let again = decide_start(Some(&started), exp, s0 + 599_999).unwrap();
        assert_eq!(again, StartDecision::Again(started.clone()));
        assert_eq!(check_start(Some(&started), exp, s0 + 1).unwrap(), started);
        assert_eq!(
            status(&started, exp, s0 + 1),
            TokenStatus::Active {
                expires_at_ms: s0 + 600_000
            }
        );
        assert_eq!(check_access(Some(&started), exp, s0 + 599_999), Ok(()));
        // At and after the window end: expired.
        assert_eq!(
            check_start(Some(&started), exp, s0 + 600_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check_start(Some(&started), exp, s0 + 10_000_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check_access(Some(&started), exp, s0 + 600_000),
            Err(TokenError::Expired)
        );
        // A clock that went backwards is inside the window, not an overflow.
        assert!(check_start(Some(&started), exp, s0 - 5).is_ok());
    }

    #[test]
    fn by_time_extreme_values_do_not_overflow() {
        let exp = TokenExpiry::ByTime {
            window_ms: u64::MAX,
        };
        let mut r = rec();
        r.first_start_ms = Some(u64::MAX - 1);
        assert_eq!(
            status(&r, exp, u64::MAX),
            TokenStatus::Active {
                expires_at_ms: u64::MAX
            }
        );
        let zero = TokenExpiry::ByTime { window_ms: 0 };
        assert_eq!(zero.validate(), Err(TokenError::BadExpiry));
        assert!(TokenExpiry::ByUse.validate().is_ok());
        assert!(exp.validate().is_ok());
        r.first_start_ms = Some(T0);
        assert_eq!(check_start(Some(&r), zero, T0), Err(TokenError::Expired));
    }

    #[test]
    fn deleted_and_unknown_refused() {
        let mut r = rec();
        r.deleted = true;
        for exp in [TokenExpiry::ByUse, TokenExpiry::ByTime { window_ms: 1000 }] {
            assert_eq!(check_start(Some(&r), exp, T0), Err(TokenError::Deleted));
            assert_eq!(check_access(Some(&r), exp, T0), Err(TokenError::Deleted));
            assert_eq!(check_start(None, exp, T0), Err(TokenError::Unknown));
            assert_eq!(check_access(None, exp, T0), Err(TokenError::Unknown));
        }
        // Deleted wins over spent/active.
        r.first_start_ms = Some(T0);
        assert_eq!(
            check_start(Some(&r), TokenExpiry::ByUse, T0 + 1),
            Err(TokenError::Deleted)
        );
        assert_eq!(
            status(&r, TokenExpiry::ByTime { window_ms: 10 }, T0 + 1),
            TokenStatus::Deleted
        );
    }

    #[test]
    fn serde_shapes() {
        let json = serde_json::to_string(&TokenExpiry::ByTime { window_ms: 5 }).unwrap();
        assert_eq!(json, r#"{"kind":"byTime","windowMs":5}"#);
        assert_eq!(
            serde_json::to_string(&TokenExpiry::ByUse).unwrap(),
            r#"{"kind":"byUse"}"#
        );
        let back: TokenExpiry = serde_json::from_str(r#"{"kind":"byTime","windowMs":7}"#).unwrap();
        assert_eq!(back, TokenExpiry::ByTime { window_ms: 7 });
        let r = rec();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"id":"tok_abc123","registeredAtMs":1700000000000,"firstStartMs":null,"deleted":false}"#
        );
        assert_eq!(serde_json::from_str::<TokenRecord>(&json).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&TokenStatus::Active { expires_at_ms: 3 }).unwrap(),
            r#"{"state":"active","expiresAtMs":3}"#
        );
    }

    #[test]
    fn codes_are_distinct_and_mapped() {
        let all = [
            (
                TokenError::MalformedTokenId,
                "malformed_token_id",
                ErrorCode::BadInput,
            ),
            (
                TokenError::TokenIdTooLong { len: 1, max: 0 },
                "token_id_too_long",
                ErrorCode::BadInput,
            ),
            (
                TokenError::DuplicateTokenId,
                "duplicate_token_id",
                ErrorCode::BadInput,
            ),
            (
                TokenError::TokenLimitReached {
                    registered: 1,
                    adding: 1,
                    max: 1,
                },
                "token_limit_reached",
                ErrorCode::BadInput,
            ),
            (
                TokenError::BadExpiry,
                "bad_token_expiry",
                ErrorCode::BadInput,
            ),
            (TokenError::Unknown, "token_unknown", ErrorCode::BadParams),
            (TokenError::Deleted, "token_deleted", ErrorCode::BadParams),
            (TokenError::Spent, "token_spent", ErrorCode::BadParams),
            (TokenError::Expired, "token_expired", ErrorCode::BadParams),
        ];
        let mut codes = HashSet::new();
        for (e, code, cc) in all {
            assert_eq!(e.code(), code);
            assert!(codes.insert(code));
            let ce: Error = e.clone().into();
            assert_eq!(ce.code, cc);
            assert_eq!(ce.message, format!("{code}: {e}"));
        }
    }
}
