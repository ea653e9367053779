//! Liveform URL parameters: parsing, validation and the whole error contract.
//!
//! # Parameters
//!
//! | key | meaning | required | allowed value (after percent-decoding) | max bytes |
//! |---|---|---|---|---|
//! | `pid` | add-on project ID | yes | `A–Z a–z 0–9 - . _ ~` | [`MAX_PID_LEN`] = 64 |
//! | `sid` (alias `submissionId`) | approved eKYC submission ID | yes | `A–Z a–z 0–9 - . _ ~` | [`MAX_SID_LEN`] = 128 |
//! | `tokenid` | private-mode Token ID | if [`ParseOptions::require_token_id`] | as [`crate::tokens`]: `A–Z a–z 0–9 - . _ ~` | 128 |
//! | `userid` | customer's user ID | no | `A–Z a–z 0–9 - . _ ~ @ + : = /` | [`MAX_USER_ID_LEN`] = 128 |
//! | `email` | user e-mail | no | `local@domain` (see below) | [`MAX_EMAIL_LEN`] = 254 |
//! | `cf1`, `cf2`, `cf3` | custom fields | no | any Unicode text without control characters | [`MAX_CUSTOM_FIELD_LEN`] = 256 |
//! | `lang` | UI language | no | BCP 47-like: 2–3 letters, then `-` subtags of 1–8 letters/digits | [`MAX_LANG_LEN`] = 35 |
//! | `encrypted` | the whole query sealed (see [`crate::querycrypt`]) | no | a `g1.`/`e1.` blob | [`querycrypt::MAX_BLOB_LEN`] = 4096 |
//!
//! E-mail shape: exactly one `@`; local part 1–64 bytes of letters, digits and
//! ``!#$%&'*+/=?^_`{|}~-`` with single dots not at either end (quoted local parts are not
//! supported); domain of at least two dot-separated labels, each 1–63 letters, digits or
//! hyphens, not starting or ending with a hyphen, the last one not all digits. Internationalised
//! domains must be sent in their `xn--` form.
//!
//! # Decoding rules
//!
//! - A leading `?` is ignored. The query is split on `&`; empty segments are skipped; each
//!   segment is split at its first `=` (a segment without `=` is a key with an empty value).
//! - Keys and values are decoded as `application/x-www-form-urlencoded` (what the browser's
//!   `URLSearchParams` does): `+` is a space and `%XX` is a byte; the bytes must be UTF-8.
//!   A `%` not followed by two hex digits is an error (`bad_percent_encoding`), as is invalid
//!   UTF-8 (`invalid_utf8`) — in any segment, even one with an unknown key.
//! - Keys are matched ASCII-case-insensitively (`userId` = `userid`). Unknown keys are
//!   ignored (analytics parameters and the like pass through harmlessly).
//! - A key given twice is an error (`duplicate_key`), whatever the values; `sid` and
//!   `submissionId` count as the same key.
//! - An empty value is the same as an absent key (`email=&pid=p` has no e-mail).
//! - The whole query is at most [`MAX_QUERY_LEN`] bytes in at most [`MAX_PAIRS`] segments.
//! - Values are never echoed into error messages (they may be personal data).
//!
//! # Encrypted queries
//!
//! `encrypted=<blob>` carries the whole query sealed with the project key. Next to it only
//! `pid` may appear in plain (the product's own example URL is `?pid=…&encrypted=…`: the
//! server needs the project to find the key); any other liveform key beside it is refused
//! (`mixed_plain_and_encrypted`). Inside the blob the same rules apply, with `encrypted`
//! itself refused (`nested_encrypted`). `pid` may be inside, outside or both; when both, they
//! must be equal (`pid_mismatch`).
//!
//! In **encryption-only mode** ([`ParseOptions::encryption_only`]) a query without
//! `encrypted` is refused as a whole (`plain_params_refused`). The product documents mark the
//! FACE AUTH `sid` as "encryption required", so production face-auth projects should run with
//! this flag on; it stays a setting (default off) so test projects and demos can use plain
//! links.
//!
//! Parsing is in two steps because the key depends on the project: [`parse_query`] gives
//! either plain parameters or an [`EncryptedQuery`]; [`EncryptedQuery::open`] takes the key.
//! [`parse_query_with_key`] does both when the key is known up front.
//!
//! # Error codes decided later
//!
//! `pid_unknown`, `project_closed`, `sid_unknown` and `sid_not_approved` can only be decided
//! by the server (they need its data), but they are part of this contract and are defined
//! here as [`ParamsError`] variants so the page and the server share one list.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::querycrypt::{self, BlobFormat, QueryCryptError, QueryKey};
use crate::tokens;

/// Longest accepted query string, in bytes.
pub const MAX_QUERY_LEN: usize = 8192;
/// Most `&`-separated segments accepted in one query.
pub const MAX_PAIRS: usize = 64;
/// Longest `pid`, in bytes.
pub const MAX_PID_LEN: usize = 64;
/// Longest `sid`, in bytes.
pub const MAX_SID_LEN: usize = 128;
/// Longest `tokenid`, in bytes.
pub const MAX_TOKEN_ID_LEN: usize = tokens::MAX_TOKEN_ID_LEN;
/// Longest `userid`, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;
/// Longest `email`, in bytes (the SMTP path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest `cf1`/`cf2`/`cf3`, in bytes of UTF-8.
pub const MAX_CUSTOM_FIELD_LEN: usize = 256;
/// Longest `lang`, in bytes.
pub const MAX_LANG_LEN: usize = 35;

/// A liveform parameter (a recognised query key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// `pid`
    Pid,
    /// `sid` (also `submissionId`)
    Sid,
    /// `tokenid`
    TokenId,
    /// `userid`
    UserId,
    /// `email`
    Email,
    /// `cf1`
    Cf1,
    /// `cf2`
    Cf2,
    /// `cf3`
    Cf3,
    /// `lang`
    Lang,
    /// `encrypted`
    Encrypted,
}

impl Field {
    /// Every field, in canonical order.
    pub const ALL: [Field; 10] = [
        Field::Pid,
        Field::Sid,
        Field::TokenId,
        Field::UserId,
        Field::Email,
        Field::Cf1,
        Field::Cf2,
        Field::Cf3,
        Field::Lang,
        Field::Encrypted,
    ];

    /// The canonical query key.
    pub fn key(self) -> &'static str {
        match self {
            Field::Pid => "pid",
            Field::Sid => "sid",
            Field::TokenId => "tokenid",
            Field::UserId => "userid",
            Field::Email => "email",
            Field::Cf1 => "cf1",
            Field::Cf2 => "cf2",
            Field::Cf3 => "cf3",
            Field::Lang => "lang",
            Field::Encrypted => "encrypted",
        }
    }

    /// The longest accepted value, in bytes.
    pub fn max_len(self) -> usize {
        match self {
            Field::Pid => MAX_PID_LEN,
            Field::Sid => MAX_SID_LEN,
            Field::TokenId => MAX_TOKEN_ID_LEN,
            Field::UserId => MAX_USER_ID_LEN,
            Field::Email => MAX_EMAIL_LEN,
            Field::Cf1 | Field::Cf2 | Field::Cf3 => MAX_CUSTOM_FIELD_LEN,
            Field::Lang => MAX_LANG_LEN,
            Field::Encrypted => querycrypt::MAX_BLOB_LEN,
        }
    }

    /// The field a (decoded) query key names, matched ASCII-case-insensitively.
    pub fn from_key(key: &str) -> Option<Field> {
        let k = key.to_ascii_lowercase();
        Some(match k.as_str() {
            "pid" => Field::Pid,
            "sid" | "submissionid" => Field::Sid,
            "tokenid" => Field::TokenId,
            "userid" => Field::UserId,
            "email" => Field::Email,
            "cf1" => Field::Cf1,
            "cf2" => Field::Cf2,
            "cf3" => Field::Cf3,
            "lang" => Field::Lang,
            "encrypted" => Field::Encrypted,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Project settings that change how a query is judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseOptions {
    /// Encryption-only mode: only `encrypted=` queries are accepted.
    pub encryption_only: bool,
    /// Private mode with pre-registered tokens: `tokenid` is required.
    pub require_token_id: bool,
    /// Accept legacy `e1.` (AES-256-ECB) blobs. Off unless a project still needs it.
    pub legacy_ecb_allowed: bool,
}

/// How the parameters reached us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ParamsSource {
    /// In plain query parameters.
    #[default]
    Plain,
    /// In a `g1.` (AES-256-GCM) blob.
    Gcm,
    /// In a legacy `e1.` (AES-256-ECB) blob.
    LegacyEcb,
}

impl From<BlobFormat> for ParamsSource {
    fn from(f: BlobFormat) -> Self {
        match f {
            BlobFormat::Gcm => ParamsSource::Gcm,
            BlobFormat::LegacyEcb => ParamsSource::LegacyEcb,
        }
    }
}

/// Validated liveform parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveformParams {
    /// Add-on project ID.
    pub pid: String,
    /// The approved eKYC submission ID to compare against.
    pub sid: String,
    /// Private-mode Token ID.
    #[serde(default)]
    pub token_id: Option<String>,
    /// The customer's user ID.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The user's e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Custom field 1.
    #[serde(default)]
    pub cf1: Option<String>,
    /// Custom field 2.
    #[serde(default)]
    pub cf2: Option<String>,
    /// Custom field 3.
    #[serde(default)]
    pub cf3: Option<String>,
    /// UI language tag.
    #[serde(default)]
    pub lang: Option<String>,
    /// Whether they came in plain or sealed (and how).
    #[serde(default)]
    pub source: ParamsSource,
}

impl LiveformParams {
    /// Minimal parameters (`pid` and `sid`), validated.
    pub fn new(pid: &str, sid: &str) -> Result<Self, ParamsError> {
        let p = LiveformParams {
            pid: pid.to_owned(),
            sid: sid.to_owned(),
            token_id: None,
            user_id: None,
            email: None,
            cf1: None,
            cf2: None,
            cf3: None,
            lang: None,
            source: ParamsSource::Plain,
        };
        p.validate()?;
        Ok(p)
    }

    /// The value of one field, if set (`encrypted` is never a value here).
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Pid => Some(self.pid.as_str()),
            Field::Sid => Some(self.sid.as_str()),
            Field::TokenId => self.token_id.as_deref(),
            Field::UserId => self.user_id.as_deref(),
            Field::Email => self.email.as_deref(),
            Field::Cf1 => self.cf1.as_deref(),
            Field::Cf2 => self.cf2.as_deref(),
            Field::Cf3 => self.cf3.as_deref(),
            Field::Lang => self.lang.as_deref(),
            Field::Encrypted => None,
        }
    }

    /// Checks every field against the rules in the module docs (for values that did not come
    /// through [`parse_query`], e.g. deserialised from JSON). Empty optional values count as
    /// malformed here: absent is `None`.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.pid.is_empty() {
            return Err(ParamsError::MissingPid);
        }
        if self.sid.is_empty() {
            return Err(ParamsError::MissingSid);
        }
        for field in Field::ALL {
            if let Some(v) = self.get(field) {
                validate_value(field, v)?;
            }
        }
        Ok(())
    }

    /// The canonical query string: keys in [`Field::ALL`] order, absent fields left out, values
    /// percent-encoded with [`percent_encode`]. `parse_query(p.to_query())` gives `p` back
    /// (with `source` = plain). This is also the plaintext to pass to
    /// [`querycrypt::encrypt_query`].
    pub fn to_query(&self) -> String {
        let mut out = String::new();
        for field in Field::ALL {
            if let Some(v) = self.get(field) {
                if !out.is_empty() {
                    out.push('&');
                }
                out.push_str(field.key());
                out.push('=');
                out.push_str(&percent_encode(v));
            }
        }
        out
    }
}

/// The outcome of the first parsing step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedQuery {
    /// Plain, validated parameters.
    Plain(LiveformParams),
    /// An encrypted query, to be opened with the project's key.
    Encrypted(EncryptedQuery),
}

/// An `encrypted=` query not yet opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedQuery {
    /// The plain `pid` beside the blob, validated, if there was one (it selects the key).
    pub pid: Option<String>,
    /// The decoded blob (`g1.…` or `e1.…`).
    pub blob: String,
}

impl EncryptedQuery {
    /// Opens the blob with the project's key (`None` when the project has none) and validates
    /// what is inside.
    pub fn open(
        &self,
        key: Option<&QueryKey>,
        opts: &ParseOptions,
    ) -> Result<LiveformParams, ParamsError> {
        let key = key.ok_or(ParamsError::Decrypt(QueryCryptError::KeyNotConfigured))?;
        let (plain, format) =
            querycrypt::decrypt_query_with_format(key, &self.blob, opts.legacy_ecb_allowed)
                .map_err(ParamsError::Decrypt)?;
        let mut inner = RawFields::parse(&plain)?;
        if inner.seen(Field::Encrypted) {
            return Err(ParamsError::NestedEncrypted);
        }
        match (&self.pid, inner.value(Field::Pid)) {
            (Some(outer), Some(inside)) if outer != inside => return Err(ParamsError::PidMismatch),
            (Some(outer), None) => inner.set(Field::Pid, outer.clone()),
            _ => {}
        }
        inner.build(ParamsSource::from(format), opts)
    }
}

/// First step: parses a query string (with or without the leading `?`).
pub fn parse_query(query: &str, opts: &ParseOptions) -> Result<ParsedQuery, ParamsError> {
    let raw = RawFields::parse(query)?;
    if let Some(blob) = raw.value(Field::Encrypted) {
        if let Some(other) = Field::ALL
            .into_iter()
            .find(|&f| f != Field::Pid && f != Field::Encrypted && raw.value(f).is_some())
        {
            return Err(ParamsError::MixedPlainAndEncrypted { field: other });
        }
        check_len(Field::Encrypted, blob)?;
        let pid = match raw.value(Field::Pid) {
            Some(p) => {
                validate_value(Field::Pid, p)?;
                Some(p.to_owned())
            }
            None => None,
        };
        return Ok(ParsedQuery::Encrypted(EncryptedQuery {
            pid,
            blob: blob.to_owned(),
        }));
    }
    if opts.encryption_only {
        return Err(ParamsError::PlainParamsRefused);
    }
    raw.build(ParamsSource::Plain, opts).map(ParsedQuery::Plain)
}

/// Both steps at once, for a caller that already holds the project's key (or knows it has
/// none).
pub fn parse_query_with_key(
    query: &str,
    opts: &ParseOptions,
    key: Option<&QueryKey>,
) -> Result<LiveformParams, ParamsError> {
    match parse_query(query, opts)? {
        ParsedQuery::Plain(p) => Ok(p),
        ParsedQuery::Encrypted(e) => e.open(key, opts),
    }
}

/// Splits and decodes a query string into `(key, value)` pairs, in order, with the length
/// and segment limits and decoding rules of this module (no key lookup, duplicates kept).
pub fn split_query(query: &str) -> Result<Vec<(String, String)>, ParamsError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    if query.len() > MAX_QUERY_LEN {
        return Err(ParamsError::QueryTooLong {
            len: query.len(),
            max: MAX_QUERY_LEN,
        });
    }
    let mut pairs = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        if pairs.len() >= MAX_PAIRS {
            return Err(ParamsError::TooManyParams { max: MAX_PAIRS });
        }
        let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
        pairs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(pairs)
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` → space, `%XX` → byte,
/// result must be UTF-8.
pub fn percent_decode(input: &str) -> Result<String, ParamsError> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex_val);
                let lo = bytes.next().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push((h << 4) | l),
                    _ => return Err(ParamsError::BadPercentEncoding),
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| ParamsError::InvalidUtf8)
}

/// Percent-encodes a component: every byte except the RFC 3986 unreserved set
/// (`A–Z a–z 0–9 - . _ ~`) becomes `%XX` (upper-case hex). Spaces become `%20`, never `+`,
/// so the result means the same to every query decoder.
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_upper(b >> 4));
            out.push(hex_upper(b & 0x0f));
        }
    }
    out
}

/// The upper-case hex digit of a nibble (`n` < 16).
fn hex_upper(n: u8) -> char {
    match n {
        0..=9 => char::from(b'0' + n),
        _ => char::from(b'A' + (n & 0x0f) - 10),
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Raw decoded values of the recognised keys, before validation.
struct RawFields {
    seen: [bool; Field::ALL.len()],
    values: [Option<String>; Field::ALL.len()],
}

impl RawFields {
    fn parse(query: &str) -> Result<Self, ParamsError> {
        let mut raw = RawFields {
            seen: [false; Field::ALL.len()],
            values: Default::default(),
        };
        for (k, v) in split_query(query)? {
            let Some(field) = Field::from_key(&k) else {
                continue;
            };
            let i = field.index();
            if raw.seen[i] {
                return Err(ParamsError::DuplicateKey { field });
            }
            raw.seen[i] = true;
            if !v.is_empty() {
                raw.values[i] = Some(v);
            }
        }
        Ok(raw)
    }

    fn seen(&self, field: Field) -> bool {
        self.seen[field.index()]
    }

    fn value(&self, field: Field) -> Option<&str> {
        self.values[field.index()].as_deref()
    }

    fn set(&mut self, field: Field, v: String) {
        self.values[field.index()] = Some(v);
    }

    fn take(&mut self, field: Field) -> Option<String> {
        self.values[field.index()].take()
    }

    /// Validates in canonical field order and builds the parameters.
    fn build(
        mut self,
        source: ParamsSource,
        opts: &ParseOptions,
    ) -> Result<LiveformParams, ParamsError> {
        let pid = self.take(Field::Pid).ok_or(ParamsError::MissingPid)?;
        validate_value(Field::Pid, &pid)?;
        let sid = self.take(Field::Sid).ok_or(ParamsError::MissingSid)?;
        validate_value(Field::Sid, &sid)?;
        let mut opt = |field: Field| -> Result<Option<String>, ParamsError> {
            match self.take(field) {
                Some(v) => validate_value(field, &v).map(|()| Some(v)),
                None => Ok(None),
            }
        };
        let token_id = opt(Field::TokenId)?;
        let user_id = opt(Field::UserId)?;
        let email = opt(Field::Email)?;
        let cf1 = opt(Field::Cf1)?;
        let cf2 = opt(Field::Cf2)?;
        let cf3 = opt(Field::Cf3)?;
        let lang = opt(Field::Lang)?;
        if opts.require_token_id && token_id.is_none() {
            return Err(ParamsError::MissingTokenId);
        }
        Ok(LiveformParams {
            pid,
            sid,
            token_id,
            user_id,
            email,
            cf1,
            cf2,
            cf3,
            lang,
            source,
        })
    }
}

fn check_len(field: Field, v: &str) -> Result<(), ParamsError> {
    if v.len() > field.max_len() {
        Err(ParamsError::TooLong {
            field,
            len: v.len(),
            max: field.max_len(),
        })
    } else {
        Ok(())
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Validates one non-empty decoded value of `field`.
fn validate_value(field: Field, v: &str) -> Result<(), ParamsError> {
    check_len(field, v)?;
    let malformed = |reason: &'static str| Err(ParamsError::Malformed { field, reason });
    if v.is_empty() {
        return malformed("is empty");
    }
    match field {
        Field::Pid | Field::Sid | Field::TokenId => {
            if !v.bytes().all(is_unreserved) {
                return malformed("may only contain A-Z a-z 0-9 - . _ ~");
            }
        }
        Field::UserId => {
            if !v
                .bytes()
                .all(|b| is_unreserved(b) || matches!(b, b'@' | b'+' | b':' | b'=' | b'/'))
            {
                return malformed("may only contain A-Z a-z 0-9 - . _ ~ @ + : = /");
            }
        }
        Field::Email => {
            if let Err(reason) = check_email(v) {
                return malformed(reason);
            }
        }
        Field::Cf1 | Field::Cf2 | Field::Cf3 => {
            if v.chars().any(char::is_control) {
                return malformed("may not contain control characters");
            }
        }
        Field::Lang => {
            if !is_lang_tag(v) {
                return malformed("must be a language tag such as en, ko or pt-BR");
            }
        }
        // The blob's format and contents are checked when it is opened.
        Field::Encrypted => {}
    }
    Ok(())
}

fn check_email(v: &str) -> Result<(), &'static str> {
    let mut parts = v.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("must contain exactly one @");
    };
    if local.is_empty() || local.len() > 64 {
        return Err("local part must be 1 to 64 bytes");
    }
    let local_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
    });
    if !local_ok {
        return Err("local part has a character or dot that is not allowed");
    }
    if domain.len() > 253 {
        return Err("domain is too long");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("domain needs at least two labels");
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err("domain label is malformed");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("top-level domain cannot be numeric");
    }
    Ok(())
}

fn is_lang_tag(v: &str) -> bool {
    let mut parts = v.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Every way a liveform query can be refused. `code()` is the stable contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// The query exceeds [`MAX_QUERY_LEN`]. Code `query_too_long`.
    QueryTooLong {
        /// Length given, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_PAIRS`] segments. Code `too_many_params`.
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// A `%` not followed by two hex digits. Code `bad_percent_encoding`.
    BadPercentEncoding,
    /// Decoded bytes are not UTF-8. Code `invalid_utf8`.
    InvalidUtf8,
    /// No `pid` (or an empty one). Code `missing_pid`.
    MissingPid,
    /// No `sid` (or an empty one). Code `missing_sid`.
    MissingSid,
    /// Private mode needs a `tokenid` and there is none. Code `missing_tokenid`.
    MissingTokenId,
    /// A value breaks its field's rule. Code `malformed_value`.
    Malformed {
        /// The field.
        field: Field,
        /// Which rule, in words.
        reason: &'static str,
    },
    /// A value exceeds its field's limit. Code `value_too_long`.
    TooLong {
        /// The field.
        field: Field,
        /// Length given, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A key appears twice. Code `duplicate_key`.
    DuplicateKey {
        /// The field.
        field: Field,
    },
    /// Encryption-only mode and no `encrypted=`. Code `plain_params_refused`.
    PlainParamsRefused,
    /// A plain liveform key (other than `pid`) beside `encrypted=`. Code
    /// `mixed_plain_and_encrypted`.
    MixedPlainAndEncrypted {
        /// The first plain field found.
        field: Field,
    },
    /// The plain `pid` and the one inside the blob differ. Code `pid_mismatch`.
    PidMismatch,
    /// The decrypted query itself contains `encrypted`. Code `nested_encrypted`.
    NestedEncrypted,
    /// The blob could not be opened; the code is the inner error's
    /// (see [`QueryCryptError::code`]).
    Decrypt(QueryCryptError),
    /// (Server.) No such project. Code `pid_unknown`.
    PidUnknown,
    /// (Server.) The project is closed: authentication disabled. Code `project_closed`.
    ProjectClosed,
    /// (Server.) No such eKYC submission in the linked project. Code `sid_unknown`.
    SidUnknown,
    /// (Server.) The submission exists but is not approved. Code `sid_not_approved`.
    SidNotApproved,
}

impl ParamsError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ParamsError::QueryTooLong { .. } => "query_too_long",
            ParamsError::TooManyParams { .. } => "too_many_params",
            ParamsError::BadPercentEncoding => "bad_percent_encoding",
            ParamsError::InvalidUtf8 => "invalid_utf8",
            ParamsError::MissingPid => "missing_pid",
            ParamsError::MissingSid => "missing_sid",
            ParamsError::MissingTokenId => "missing_tokenid",
            ParamsError::Malformed { .. } => "malformed_value",
            ParamsError::TooLong { .. } => "value_too_long",
            ParamsError::DuplicateKey { .. } => "duplicate_key",
            ParamsError::PlainParamsRefused => "plain_params_refused",
            ParamsError::MixedPlainAndEncrypted { .. } => "mixed_plain_and_encrypted",
            ParamsError::PidMismatch => "pid_mismatch",
            ParamsError::NestedEncrypted => "nested_encrypted",
            ParamsError::Decrypt(e) => e.code(),
            ParamsError::PidUnknown => "pid_unknown",
            ParamsError::ProjectClosed => "project_closed",
            ParamsError::SidUnknown => "sid_unknown",
            ParamsError::SidNotApproved => "sid_not_approved",
        }
    }

    /// The field the error is about, where there is one.
    pub fn field(&self) -> Option<Field> {
        match self {
            ParamsError::Malformed { field, .. }
            | ParamsError::TooLong { field, .. }
            | ParamsError::DuplicateKey { field }
            | ParamsError::MixedPlainAndEncrypted { field } => Some(*field),
            ParamsError::MissingPid | ParamsError::PidMismatch | ParamsError::PidUnknown => {
                Some(Field::Pid)
            }
            ParamsError::MissingSid | ParamsError::SidUnknown | ParamsError::SidNotApproved => {
                Some(Field::Sid)
            }
            ParamsError::MissingTokenId => Some(Field::TokenId),
            ParamsError::NestedEncrypted | ParamsError::Decrypt(_) => Some(Field::Encrypted),
            _ => None,
        }
    }

    /// The crate-level code: `bad_key` for key problems, otherwise `bad_params`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ParamsError::Decrypt(e) => e.error_code(),
            _ => ErrorCode::BadParams,
        }
    }
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamsError::QueryTooLong { len, max } => {
                write!(f, "the query is {len} bytes, more than the {max} allowed")
            }
            ParamsError::TooManyParams { max } => {
                write!(f, "the query has more than {max} parameters")
            }
            ParamsError::BadPercentEncoding => {
                f.write_str("the query has a % not followed by two hex digits")
            }
            ParamsError::InvalidUtf8 => f.write_str("a decoded query value is not valid UTF-8"),
            ParamsError::MissingPid => f.write_str("the pid parameter is missing"),
            ParamsError::MissingSid => f.write_str("the sid (submission ID) parameter is missing"),
            ParamsError::MissingTokenId => f.write_str("this project requires a tokenid parameter"),
            ParamsError::Malformed { field, reason } => write!(f, "{field} {reason}"),
            ParamsError::TooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes, more than the {max} allowed")
            }
            ParamsError::DuplicateKey { field } => write!(f, "{field} is given more than once"),
            ParamsError::PlainParamsRefused => {
                f.write_str("this project accepts only encrypted queries (encrypted=...)")
            }
            ParamsError::MixedPlainAndEncrypted { field } => {
                write!(f, "{field} may not be given in plain beside encrypted")
            }
            ParamsError::PidMismatch => {
                f.write_str("the plain pid differs from the pid inside the encrypted query")
            }
            ParamsError::NestedEncrypted => {
                f.write_str("an encrypted query may not contain another encrypted parameter")
            }
            ParamsError::Decrypt(e) => write!(f, "{e}"),
            ParamsError::PidUnknown => f.write_str("no project has this pid"),
            ParamsError::ProjectClosed => {
                f.write_str("the project is closed; authentication is disabled")
            }
            ParamsError::SidUnknown => f.write_str("no eKYC submission has this sid"),
            ParamsError::SidNotApproved => f.write_str("the eKYC submission is not approved"),
        }
    }
}

impl std::error::Error for ParamsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParamsError::Decrypt(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParamsError> for Error {
    fn from(e: ParamsError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(q: &str) -> Result<LiveformParams, ParamsError> {
        match parse_query(q, &ParseOptions::default())? {
            ParsedQuery::Plain(p) => Ok(p),
            ParsedQuery::Encrypted(_) => panic!("unexpected encrypted"),
        }
    }

    fn key() -> QueryKey {
        QueryKey::from_bytes([0x42; 32])
    }

    #[test]
    fn full_plain_query() {
        let p = plain(
            "?pid=proj_abc123&sid=sub_abc123&tokenid=tok_abc123&userid=user_12345\
             &email=jane.doe%40example.com&cf1=campaign_summer&cf2=source+web&cf3=%ED%95%9C&lang=pt-BR",
        )
        .unwrap();
        assert_eq!(p.pid, "proj_abc123");
        assert_eq!(p.sid, "sub_abc123");
        assert_eq!(p.token_id.as_deref(), Some("tok_abc123"));
        assert_eq!(p.user_id.as_deref(), Some("user_12345"));
        assert_eq!(p.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(p.cf1.as_deref(), Some("campaign_summer"));
        assert_eq!(p.cf2.as_deref(), Some("source web"));
        assert_eq!(p.cf3.as_deref(), Some("한"));
        assert_eq!(p.lang.as_deref(), Some("pt-BR"));
        assert_eq!(p.source, ParamsSource::Plain);
    }

    #[test]
    fn minimal_and_aliases_and_case() {
        let p = plain("pid=p&sid=s").unwrap();
        assert_eq!((p.pid.as_str(), p.sid.as_str()), ("p", "s"));
        assert_eq!(p.email, None);
        let p = plain("PID=p&submissionId=s&userId=u&tokenId=t").unwrap();
        assert_eq!(p.sid, "s");
        assert_eq!(p.user_id.as_deref(), Some("u"));
        assert_eq!(p.token_id.as_deref(), Some("t"));
        // Key names may themselves be percent-encoded.
        assert_eq!(plain("p%69d=p&sid=s").unwrap().pid, "p");
    }

    #[test]
    fn unknown_keys_and_empty_segments_ignored() {
        let p = plain("&&pid=p&utm_source=x&&sid=s&action=addveri&flag&").unwrap();
        assert_eq!(p.pid, "p");
        assert_eq!(p.sid, "s");
    }

    #[test]
    fn empty_value_is_absent() {
        let p = plain("pid=p&sid=s&email=&cf1=").unwrap();
        assert_eq!(p.email, None);
        assert_eq!(p.cf1, None);
        assert_eq!(plain("pid=&sid=s"), Err(ParamsError::MissingPid));
        assert_eq!(plain("pid&sid=s"), Err(ParamsError::MissingPid));
    }

    #[test]
    fn missing_required() {
        assert_eq!(plain(""), Err(ParamsError::MissingPid));
        assert_eq!(plain("?"), Err(ParamsError::MissingPid));
        assert_eq!(plain("sid=s"), Err(ParamsError::MissingPid));
        assert_eq!(plain("pid=p"), Err(ParamsError::MissingSid));
        assert_eq!(plain("pid=p&sid="), Err(ParamsError::MissingSid));
        // Order: pid is reported before sid, and before later malformed fields.
        assert_eq!(plain("email=bad"), Err(ParamsError::MissingPid));
        assert_eq!(plain("pid=p&email=bad"), Err(ParamsError::MissingSid));
    }

    #[test]
    fn private_mode_requires_token() {
        let opts = ParseOptions {
            require_token_id: true,
            ..Default::default()
        };
        assert_eq!(
            parse_query("pid=p&sid=s", &opts).map(|_| ()),
            Err(ParamsError::MissingTokenId)
        );
        assert!(parse_query("pid=p&sid=s&tokenid=t", &opts).is_ok());
        assert_eq!(
            parse_query("pid=p&sid=s&tokenid=", &opts).map(|_| ()),
            Err(ParamsError::MissingTokenId)
        );
    }

    fn malformed_field(q: &str) -> Option<Field> {
        match plain(q) {
            Err(ParamsError::Malformed { field, .. }) => Some(field),
            other => panic!("{q}: expected malformed_value, got {other:?}"),
        }
    }

    #[test]
    fn charset_per_field() {
        assert_eq!(malformed_field("pid=a%20b&sid=s"), Some(Field::Pid));
        assert_eq!(malformed_field("pid=a/b&sid=s"), Some(Field::Pid));
        assert_eq!(malformed_field("pid=p&sid=%3Cscript%3E"), Some(Field::Sid));
        assert_eq!(
            malformed_field("pid=p&sid=s&tokenid=a%2Bb"),
            Some(Field::TokenId)
        );
        assert_eq!(
            malformed_field("pid=p&sid=s&userid=a%20b"),
            Some(Field::UserId)
        );
        assert_eq!(
            malformed_field("pid=p&sid=s&userid=%3C"),
            Some(Field::UserId)
        );
        assert_eq!(malformed_field("pid=p&sid=s&cf1=a%0Ab"), Some(Field::Cf1));
        assert_eq!(malformed_field("pid=p&sid=s&cf2=%00"), Some(Field::Cf2));
        assert_eq!(malformed_field("pid=p&sid=s&cf3=%C2%85"), Some(Field::Cf3)); // U+0085 NEL
        assert_eq!(malformed_field("pid=p&sid=s&lang=e"), Some(Field::Lang));
        assert_eq!(
            malformed_field("pid=p&sid=s&lang=english"),
            Some(Field::Lang)
        );
        assert_eq!(malformed_field("pid=p&sid=s&lang=en_US"), Some(Field::Lang));
        assert_eq!(malformed_field("pid=p&sid=s&lang=en-"), Some(Field::Lang));
        // Accepted edge values.
        assert!(plain("pid=a.b~c-d_e&sid=0&userid=a%40b%2Bc%3Ad%3De%2Ff").is_ok());
        assert!(plain("pid=p&sid=s&cf1=%22quotes%22+%26+%3D+emoji+%F0%9F%98%80").is_ok());
        assert!(plain("pid=p&sid=s&lang=zh-Hant-TW").is_ok());
        assert!(plain("pid=p&sid=s&lang=ko").is_ok());
    }

    #[test]
    fn email_shape() {
        for good in [
            "a@b.co",
            "jane.doe+tag@mail.example.com",
            "x_y-z@sub-domain.example",
            "o'brien@example.ie",
            "a@xn--bcher-kva.example",
        ] {
            let q = format!("pid=p&sid=s&email={}", percent_encode(good));
            assert_eq!(plain(&q).unwrap().email.as_deref(), Some(good), "{good}");
        }
        for bad in [
            "plain",
            "a@@b.co",
            "a@b@c.co",
            "@b.co",
            "a@",
            "a@b",
            ".a@b.co",
            "a.@b.co",
            "a..b@b.co",
            "a b@b.co",
            "a@-b.co",
            "a@b-.co",
            "a@b..co",
            "a@b.c_o",
            "a@1.2.3.4",
            "jané@b.co",
            "a@bü.co",
        ] {
            let q = format!("pid=p&sid=s&email={}", percent_encode(bad));
            assert_eq!(malformed_field(&q), Some(Field::Email), "{bad}");
        }
        let long_local = format!("{}@b.co", "a".repeat(65));
        let q = format!("pid=p&sid=s&email={long_local}");
        assert_eq!(malformed_field(&q), Some(Field::Email));
        let long_label = format!("a@{}.co", "b".repeat(64));
        let q = format!("pid=p&sid=s&email={long_label}");
        assert_eq!(malformed_field(&q), Some(Field::Email));
    }

    #[test]
    fn over_long_values() {
        let cases = [
            (Field::Pid, MAX_PID_LEN),
            (Field::Sid, MAX_SID_LEN),
            (Field::TokenId, MAX_TOKEN_ID_LEN),
            (Field::UserId, MAX_USER_ID_LEN),
            (Field::Cf1, MAX_CUSTOM_FIELD_LEN),
            (Field::Cf2, MAX_CUSTOM_FIELD_LEN),
            (Field::Cf3, MAX_CUSTOM_FIELD_LEN),
        ];
        for (field, max) in cases {
            let base = |v: &str| {
                let mut p = LiveformParams::new("p", "s").unwrap();
                match field {
                    Field::Pid => p.pid = v.into(),
                    Field::Sid => p.sid = v.into(),
                    Field::TokenId => p.token_id = Some(v.into()),
                    Field::UserId => p.user_id = Some(v.into()),
                    Field::Cf1 => p.cf1 = Some(v.into()),
                    Field::Cf2 => p.cf2 = Some(v.into()),
                    Field::Cf3 => p.cf3 = Some(v.into()),
                    _ => unreachable!(),
                }
                p.to_query()
            };
            assert!(plain(&base(&"a".repeat(max))).is_ok(), "{field} at limit");
            assert_eq!(
                plain(&base(&"a".repeat(max + 1))),
                Err(ParamsError::TooLong {
                    field,
                    len: max + 1,
                    max
                }),
                "{field} over limit"
            );
        }
        // Limits are in bytes of UTF-8: 86 three-byte chars = 258 bytes.
        let q = format!("pid=p&sid=s&cf1={}", percent_encode(&"한".repeat(86)));
        assert_eq!(
            plain(&q),
            Err(ParamsError::TooLong {
                field: Field::Cf1,
                len: 258,
                max: 256
            })
        );
        // Email: 254 ok, 255 too long.
        let email = |n: usize| format!("{}@{}.co", "a".repeat(64), "b".repeat(n - 64 - 1 - 3));
        let q = format!("pid=p&sid=s&email={}", email(254));
        // 254 bytes passes the length rule; its 186-byte label is then malformed.
        assert_eq!(malformed_field(&q), Some(Field::Email));
        let q = format!("pid=p&sid=s&email={}", email(255));
        assert_eq!(
            plain(&q),
            Err(ParamsError::TooLong {
                field: Field::Email,
                len: 255,
                max: 254
            })
        );
        let q = format!("pid=p&sid=s&lang=en-{}", "a".repeat(33));
        assert!(matches!(
            plain(&q),
            Err(ParamsError::TooLong {
                field: Field::Lang,
                ..
            })
        ));
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(
            plain("pid=p&sid=s&pid=p"),
            Err(ParamsError::DuplicateKey { field: Field::Pid })
        );
        assert_eq!(
            plain("pid=p&sid=s&submissionId=t"),
            Err(ParamsError::DuplicateKey { field: Field::Sid })
        );
        assert_eq!(
            plain("pid=p&sid=s&email=&email="),
            Err(ParamsError::DuplicateKey {
                field: Field::Email
            })
        );
        assert_eq!(
            plain("pid=p&sid=s&CF1=a&cf1=b"),
            Err(ParamsError::DuplicateKey { field: Field::Cf1 })
        );
        // Unknown keys may repeat.
        assert!(plain("pid=p&sid=s&x=1&x=2").is_ok());
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("").unwrap(), "");
        assert_eq!(percent_decode("a+b").unwrap(), "a b");
        assert_eq!(percent_decode("a%2Bb").unwrap(), "a+b");
        assert_eq!(percent_decode("%2b%2B").unwrap(), "++");
        assert_eq!(percent_decode("%25").unwrap(), "%");
        assert_eq!(percent_decode("%2525").unwrap(), "%25"); // decoded once only
        assert_eq!(percent_decode("%E2%82%AC").unwrap(), "€");
        assert_eq!(percent_decode("€").unwrap(), "€"); // raw UTF-8 passes
        assert_eq!(percent_decode("%00").unwrap(), "\0");
        assert_eq!(percent_decode("%"), Err(ParamsError::BadPercentEncoding));
        assert_eq!(percent_decode("%4"), Err(ParamsError::BadPercentEncoding));
        assert_eq!(percent_decode("a%zz"), Err(ParamsError::BadPercentEncoding));
        assert_eq!(percent_decode("%G0"), Err(ParamsError::BadPercentEncoding));
        assert_eq!(percent_decode("%+1"), Err(ParamsError::BadPercentEncoding));
        assert_eq!(percent_decode("%FF"), Err(ParamsError::InvalidUtf8));
        assert_eq!(percent_decode("%E2%82"), Err(ParamsError::InvalidUtf8)); // truncated sequence
        assert_eq!(percent_decode("%C0%80"), Err(ParamsError::InvalidUtf8)); // overlong NUL
        assert_eq!(percent_decode("%ED%A0%80"), Err(ParamsError::InvalidUtf8)); // surrogate
                                                                                // In a query: bad escapes anywhere are refused, even under an unknown key.
        assert_eq!(
            plain("pid=p&sid=s&x=%zz"),
            Err(ParamsError::BadPercentEncoding)
        );
        assert_eq!(plain("pid=p&sid=s&%ff=1"), Err(ParamsError::InvalidUtf8));
        // '=' inside a value is kept (split at the first '=').
        assert_eq!(
            split_query("cf1=a=b").unwrap(),
            vec![("cf1".into(), "a=b".into())]
        );
        // An encoded '&' does not split.
        assert_eq!(
            plain("pid=p&sid=s&cf1=a%26sid%3Dx").unwrap().cf1.as_deref(),
            Some("a&sid=x")
        );
    }

    #[test]
    fn percent_encode_round_trip() {
        for s in [
            "",
            "abc",
            "a b+c&d=e%f",
            "€ 한 😀",
            "~-._",
            "\u{0}\u{7f}",
            "/?#[]@!$'()*,;",
        ] {
            let e = percent_encode(s);
            assert!(e.bytes().all(|b| is_unreserved(b) || b == b'%'), "{e}");
            assert_eq!(percent_decode(&e).unwrap(), s);
        }
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn query_limits() {
        let q = format!("pid=p&sid=s&x={}", "a".repeat(MAX_QUERY_LEN));
        assert_eq!(
            plain(&q),
            Err(ParamsError::QueryTooLong {
                len: q.len(),
                max: MAX_QUERY_LEN
            })
        );
        let q = format!("pid=p&sid=s{}", "&x=1".repeat(MAX_PAIRS - 2));
        assert!(plain(&q).is_ok());
        let q = format!("pid=p&sid=s{}", "&x=1".repeat(MAX_PAIRS - 1));
        assert_eq!(
            plain(&q),
            Err(ParamsError::TooManyParams { max: MAX_PAIRS })
        );
    }

    #[test]
    fn to_query_round_trip() {
        let p = plain("pid=p&sid=s&userid=u%2B1&email=a%40b.co&cf1=x+%26+y&cf3=%E2%82%AC&lang=en")
            .unwrap();
        let q = p.to_query();
        assert_eq!(
            q,
            "pid=p&sid=s&userid=u%2B1&email=a%40b.co&cf1=x%20%26%20y&cf3=%E2%82%AC&lang=en"
        );
        assert_eq!(plain(&q).unwrap(), p);
    }

    #[test]
    fn encrypted_round_trip_gcm() {
        let inner = "pid=proj_1&sid=sub_1&userid=u1&cf1=summer";
        let blob = querycrypt::encrypt_query(&key(), inner, &[9; 12]).unwrap();
        let q = format!("pid=proj_1&encrypted={blob}");
        let parsed = parse_query(&q, &ParseOptions::default()).unwrap();
        let ParsedQuery::Encrypted(e) = parsed else {
            panic!("expected encrypted")
        };
        assert_eq!(e.pid.as_deref(), Some("proj_1"));
        let p = e.open(Some(&key()), &ParseOptions::default()).unwrap();
        assert_eq!(p.sid, "sub_1");
        assert_eq!(p.cf1.as_deref(), Some("summer"));
        assert_eq!(p.source, ParamsSource::Gcm);
        // The whole query as one blob, no plain pid.
        let q = format!("encrypted={blob}");
        let p2 = parse_query_with_key(&q, &ParseOptions::default(), Some(&key())).unwrap();
        assert_eq!(p2, p);
    }

    #[test]
    fn encrypted_pid_outside_only_and_mismatch() {
        let blob = querycrypt::encrypt_query(&key(), "sid=s1&email=a%40b.co", &[1; 12]).unwrap();
        let p = parse_query_with_key(
            &format!("pid=outer&encrypted={blob}"),
            &ParseOptions::default(),
            Some(&key()),
        )
        .unwrap();
        assert_eq!(p.pid, "outer");
        assert_eq!(p.email.as_deref(), Some("a@b.co"));
        assert_eq!(
            parse_query_with_key(
                &format!("encrypted={blob}"),
                &ParseOptions::default(),
                Some(&key())
            ),
            Err(ParamsError::MissingPid)
        );
        let blob = querycrypt::encrypt_query(&key(), "pid=inner&sid=s1", &[1; 12]).unwrap();
        assert_eq!(
            parse_query_with_key(
                &format!("pid=outer&encrypted={blob}"),
                &ParseOptions::default(),
                Some(&key())
            ),
            Err(ParamsError::PidMismatch)
        );
        // A malformed plain pid beside the blob is caught before any decryption.
        assert!(matches!(
            parse_query(
                &format!("pid=a%20b&encrypted={blob}"),
                &ParseOptions::default()
            ),
            Err(ParamsError::Malformed {
                field: Field::Pid,
                ..
            })
        ));
    }

    #[test]
    fn encrypted_and_plain_together_refused() {
        let blob = querycrypt::encrypt_query(&key(), "pid=p&sid=s", &[1; 12]).unwrap();
        for extra in [
            "sid=s",
            "userid=u",
            "tokenid=t",
            "cf2=x",
            "lang=en",
            "email=a%40b.co",
        ] {
            let q = format!("encrypted={blob}&{extra}");
            assert!(
                matches!(
                    parse_query(&q, &ParseOptions::default()),
                    Err(ParamsError::MixedPlainAndEncrypted { .. })
                ),
                "{extra}"
            );
        }
        // Unknown keys beside it are fine, so are empty liveform keys.
        assert!(parse_query(
            &format!("encrypted={blob}&utm=1&email="),
            &ParseOptions::default()
        )
        .is_ok());
        assert_eq!(
            parse_query(
                &format!("encrypted={blob}&encrypted={blob}"),
                &ParseOptions::default()
            ),
            Err(ParamsError::DuplicateKey {
                field: Field::Encrypted
            })
        );
    }

    #[test]
    fn nested_encrypted_refused() {
        let blob =
            querycrypt::encrypt_query(&key(), "pid=p&sid=s&encrypted=g1.AAAA", &[1; 12]).unwrap();
        assert_eq!(
            parse_query_with_key(
                &format!("encrypted={blob}"),
                &ParseOptions::default(),
                Some(&key())
            ),
            Err(ParamsError::NestedEncrypted)
        );
    }

    #[test]
    fn encryption_only_mode() {
        let opts = ParseOptions {
            encryption_only: true,
            ..Default::default()
        };
        assert_eq!(
            parse_query("pid=p&sid=s", &opts),
            Err(ParamsError::PlainParamsRefused)
        );
        assert_eq!(parse_query("", &opts), Err(ParamsError::PlainParamsRefused));
        assert_eq!(
            parse_query("pid=p", &opts),
            Err(ParamsError::PlainParamsRefused)
        );
        let blob = querycrypt::encrypt_query(&key(), "pid=p&sid=s", &[1; 12]).unwrap();
        let p =
            parse_query_with_key(&format!("pid=p&encrypted={blob}"), &opts, Some(&key())).unwrap();
        assert_eq!(p.source, ParamsSource::Gcm);
        // Inner values are validated like plain ones, and private mode applies inside.
        let opts = ParseOptions {
            encryption_only: true,
            require_token_id: true,
            ..Default::default()
        };
        assert_eq!(
            parse_query_with_key(&format!("encrypted={blob}"), &opts, Some(&key())),
            Err(ParamsError::MissingTokenId)
        );
        let bad = querycrypt::encrypt_query(&key(), "pid=p&sid=s&email=nope", &[1; 12]).unwrap();
        assert!(matches!(
            parse_query_with_key(&format!("encrypted={bad}"), &opts, Some(&key())),
            Err(ParamsError::Malformed {
                field: Field::Email,
                ..
            })
        ));
    }

    #[test]
    fn encrypted_failures_surface_crypt_codes() {
        let opts = ParseOptions::default();
        let blob = querycrypt::encrypt_query(&key(), "pid=p&sid=s", &[1; 12]).unwrap();
        let q = format!("encrypted={blob}");
        let e = parse_query_with_key(&q, &opts, None).unwrap_err();
        assert_eq!(e.code(), "key_not_configured");
        assert_eq!(Error::from(e).code, ErrorCode::BadKey);
        let other = QueryKey::from_bytes([1; 32]);
        let e = parse_query_with_key(&q, &opts, Some(&other)).unwrap_err();
        assert_eq!(e, ParamsError::Decrypt(QueryCryptError::DecryptFailed));
        assert_eq!(e.code(), "decrypt_failed");
        assert_eq!(Error::from(e).code, ErrorCode::BadParams);
        let e = parse_query_with_key("encrypted=zzz", &opts, Some(&key())).unwrap_err();
        assert_eq!(e.code(), "unknown_blob_format");
        // Legacy ECB: refused unless the project opted in.
        let ecb = querycrypt::encrypt_query_legacy_ecb(&key(), "pid=p&sid=s").unwrap();
        let q = format!("encrypted={ecb}");
        assert_eq!(
            parse_query_with_key(&q, &opts, Some(&key()))
                .unwrap_err()
                .code(),
            "legacy_ecb_not_allowed"
        );
        let legacy = ParseOptions {
            legacy_ecb_allowed: true,
            ..Default::default()
        };
        let p = parse_query_with_key(&q, &legacy, Some(&key())).unwrap();
        assert_eq!(p.source, ParamsSource::LegacyEcb);
        // Over-long blob is refused before decryption.
        let q = format!("encrypted=g1.{}", "A".repeat(querycrypt::MAX_BLOB_LEN));
        assert!(matches!(
            parse_query(&q, &opts),
            Err(ParamsError::TooLong {
                field: Field::Encrypted,
                ..
            })
        ));
    }

    #[test]
    fn validate_deserialised_params() {
        let json = r#"{"pid":"p","sid":"s","userId":"u","email":"bad"}"#;
        let p: LiveformParams = serde_json::from_str(json).unwrap();
        assert!(matches!(
            p.validate(),
            Err(ParamsError::Malformed {
                field: Field::Email,
                ..
            })
        ));
        let p: LiveformParams = serde_json::from_str(r#"{"pid":"","sid":"s"}"#).unwrap();
        assert_eq!(p.validate(), Err(ParamsError::MissingPid));
        let p: LiveformParams = serde_json::from_str(r#"{"pid":"p","sid":""}"#).unwrap();
        assert_eq!(p.validate(), Err(ParamsError::MissingSid));
        let mut p = LiveformParams::new("p", "s").unwrap();
        p.cf1 = Some(String::new());
        assert!(matches!(
            p.validate(),
            Err(ParamsError::Malformed {
                field: Field::Cf1,
                ..
            })
        ));
        let json = serde_json::to_string(&LiveformParams::new("p", "s").unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"pid":"p","sid":"s","tokenId":null,"userId":null,"email":null,"cf1":null,"cf2":null,"cf3":null,"lang":null,"source":"plain"}"#
        );
    }

    #[test]
    fn every_code_is_stable_distinct_and_mapped() {
        let all = [
            (
                ParamsError::QueryTooLong { len: 1, max: 0 },
                "query_too_long",
            ),
            (ParamsError::TooManyParams { max: 0 }, "too_many_params"),
            (ParamsError::BadPercentEncoding, "bad_percent_encoding"),
            (ParamsError::InvalidUtf8, "invalid_utf8"),
            (ParamsError::MissingPid, "missing_pid"),
            (ParamsError::MissingSid, "missing_sid"),
            (ParamsError::MissingTokenId, "missing_tokenid"),
            (
                ParamsError::Malformed {
                    field: Field::Pid,
                    reason: "r",
                },
                "malformed_value",
            ),
            (
                ParamsError::TooLong {
                    field: Field::Pid,
                    len: 1,
                    max: 0,
                },
                "value_too_long",
            ),
            (
                ParamsError::DuplicateKey { field: Field::Pid },
                "duplicate_key",
            ),
            (ParamsError::PlainParamsRefused, "plain_params_refused"),
            (
                ParamsError::MixedPlainAndEncrypted { field: Field::Sid },
                "mixed_plain_and_encrypted",
            ),
            (ParamsError::PidMismatch, "pid_mismatch"),
            (ParamsError::NestedEncrypted, "nested_encrypted"),
            (ParamsError::PidUnknown, "pid_unknown"),
            (ParamsError::ProjectClosed, "project_closed"),
            (ParamsError::SidUnknown, "sid_unknown"),
            (ParamsError::SidNotApproved, "sid_not_approved"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (e, code) in all {
            assert_eq!(e.code(), code);
            assert!(seen.insert(code), "duplicate code {code}");
            let ce: Error = e.clone().into();
            assert_eq!(ce.code, ErrorCode::BadParams);
            assert_eq!(ce.message, format!("{code}: {e}"));
            assert!(code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert_eq!(ParamsError::SidNotApproved.field(), Some(Field::Sid));
        // Messages never echo values.
        let e = plain("pid=p&sid=s&email=secret%40x").unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }
}
