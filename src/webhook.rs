//! The pure part of the `faceAuth` webhook: payload, signature and retry schedule.
//!
//! # Payload
//!
//! When a FACE AUTH result is final, the backend POSTs [`FaceAuthWebhook`] as JSON to the
//! webhook URL of the linked ID-check project. The keys are snake_case like the product's
//! existing webhooks (`webhook_trigger`, `submission_id`, …); this JSON goes server to server
//! and is not read by the liveform page. Example:
//!
//! ```json
//! {"webhook_trigger":"faceAuth","authentication_id":"auth_1","submission_id":"sub_1",
//!  "status":"approved","scores":{"face_similarity":99.1,"liveness":88.0,"occlusion":"pass"},
//!  "user_id":"user_12345","cf1":"summer","cf2":null,"cf3":null,
//!  "create_time":"2024-05-01T12:34:56.789Z"}
//! ```
//!
//! `create_time` is UTC with a `Z` suffix and millisecond precision. Receivers should
//! de-duplicate on `authentication_id`: a delivery may arrive more than once.
//!
//! # Signature
//!
//! Each delivery carries two headers:
//! - [`TIMESTAMP_HEADER`] (`X-Liveform-Timestamp`): the send time as unix **milliseconds**,
//!   in decimal;
//! - [`SIGNATURE_HEADER`] (`X-Liveform-Signature`): lower-case hex of
//!   `HMAC-SHA256(secret, "{timestamp}.{body}")`, where `{timestamp}` is exactly the header's
//!   decimal text and `{body}` the exact request body bytes.
//!
//! A receiver recomputes the HMAC over the raw body (before any JSON parsing), compares in
//! constant time ([`verify`]), and refuses timestamps too far from its clock
//! ([`verify_fresh`], default tolerance 5 minutes) so a captured delivery cannot be replayed
//! later. Binding the timestamp into the MAC stops it being changed on its own.
//!
//! # Retries
//!
//! A delivery succeeded when the receiver answered 2xx. Otherwise (any other status, or no
//! answer) it is retried on the schedule of [`retry_delay_ms`]: exponential backoff with
//! "equal jitter" from a random value the caller passes in, up to
//! [`RetryPolicy::max_attempts`] attempts in all.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, ErrorCode};
use crate::params::LiveformParams;

/// The `webhook_trigger` value of a FACE AUTH result.
pub const TRIGGER_FACE_AUTH: &str = "faceAuth";
/// HTTP header carrying the hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-Liveform-Signature";
/// HTTP header carrying the signing timestamp (unix ms, decimal).
pub const TIMESTAMP_HEADER: &str = "X-Liveform-Timestamp";
/// Default allowed distance between a delivery's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE_MS: u64 = 5 * 60 * 1000;
/// Shortest accepted webhook secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// Last instant [`format_utc_ms`] can write with a four-digit year (9999-12-31T23:59:59.999Z).
pub const MAX_FORMATTABLE_MS: u64 = 253_402_300_799_999;

/// The result of one FACE AUTH (an Auth ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStatus {
    /// Same person, and every policy check passed.
    Approved,
    /// Not approved.
    Rejected,
}

impl AuthStatus {
    /// `"approved"` or `"rejected"` — the form used in JSON and in the return URL.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::Approved => "approved",
            AuthStatus::Rejected => "rejected",
        }
    }
}

/// The face-occlusion check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OcclusionResult {
    /// The face is not occluded (or occluded only as the policy allows).
    Pass,
    /// The face is occluded against the policy.
    Fail,
}

/// Scores of one result, on the dashboard's 0–100 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceAuthScores {
    /// Similarity between the registered face and this selfie (0–100).
    pub face_similarity: f64,
    /// Liveness score of the selfie (0–100).
    pub liveness: f64,
    /// Occlusion check outcome; `null` when the policy does not check occlusion.
    pub occlusion: Option<OcclusionResult>,
}

impl FaceAuthScores {
    /// Checks that both scores are finite and within 0–100.
    pub fn validate(&self) -> Result<(), WebhookError> {
        for (name, v) in [
            ("face_similarity", self.face_similarity),
            ("liveness", self.liveness),
        ] {
            if !v.is_finite() || !(0.0..=100.0).contains(&v) {
                return Err(WebhookError::BadScore { name });
            }
        }
        Ok(())
    }
}

/// The `faceAuth` webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceAuthWebhook {
    /// Always [`TRIGGER_FACE_AUTH`].
    pub webhook_trigger: String,
    /// The Auth ID of this result; the de-duplication key.
    pub authentication_id: String,
    /// The approved eKYC submission it was compared against.
    pub submission_id: String,
    /// Approved or rejected.
    pub status: AuthStatus,
    /// Scores.
    pub scores: FaceAuthScores,
    /// The customer's user ID from the liveform URL.
    pub user_id: Option<String>,
    /// Custom field 1 from the liveform URL.
    pub cf1: Option<String>,
    /// Custom field 2 from the liveform URL.
    pub cf2: Option<String>,
    /// Custom field 3 from the liveform URL.
    pub cf3: Option<String>,
    /// When the result was created, UTC ISO-8601 with `Z` (see [`format_utc_ms`]).
    pub create_time: String,
}

impl FaceAuthWebhook {
    /// A payload with no user ID or custom fields (add them with [`Self::with_params`]).
    pub fn new(
        authentication_id: &str,
        submission_id: &str,
        status: AuthStatus,
        scores: FaceAuthScores,
        created_at_ms: u64,
    ) -> Result<Self, WebhookError> {
        if authentication_id.is_empty() {
            return Err(WebhookError::MissingField {
                name: "authentication_id",
            });
        }
        if submission_id.is_empty() {
            return Err(WebhookError::MissingField {
                name: "submission_id",
            });
        }
        scores.validate()?;
        Ok(FaceAuthWebhook {
            webhook_trigger: TRIGGER_FACE_AUTH.to_owned(),
            authentication_id: authentication_id.to_owned(),
            submission_id: submission_id.to_owned(),
            status,
            scores,
            user_id: None,
            cf1: None,
            cf2: None,
            cf3: None,
            create_time: format_utc_ms(created_at_ms)?,
        })
    }

    /// Copies `userid` and `cf1`–`cf3` from the liveform parameters of the session.
    pub fn with_params(mut self, params: &LiveformParams) -> Self {
        self.user_id = params.user_id.clone();
        self.cf1 = params.cf1.clone();
        self.cf2 = params.cf2.clone();
        self.cf3 = params.cf3.clone();
        self
    }

    /// The JSON body to send (and to sign: sign these exact bytes).
    pub fn to_json(&self) -> Result<String, WebhookError> {
        serde_json::to_string(self).map_err(|_| WebhookError::Serialize)
    }

    /// Parses and checks a received body (trigger, required fields, score range).
    pub fn from_json(body: &[u8]) -> Result<Self, WebhookError> {
        let w: FaceAuthWebhook =
            serde_json::from_slice(body).map_err(|_| WebhookError::BadPayload)?;
        if w.webhook_trigger != TRIGGER_FACE_AUTH {
            return Err(WebhookError::BadPayload);
        }
        if w.authentication_id.is_empty() || w.submission_id.is_empty() {
            return Err(WebhookError::BadPayload);
        }
        w.scores.validate()?;
        Ok(w)
    }
}

/// Formats unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
///
/// Works from the proleptic Gregorian calendar without any clock or time-zone data. Times
/// after [`MAX_FORMATTABLE_MS`] (year 9999) are refused.
pub fn format_utc_ms(unix_ms: u64) -> Result<String, WebhookError> {
    if unix_ms > MAX_FORMATTABLE_MS {
        return Err(WebhookError::TimestampOutOfRange);
    }
    let millis = unix_ms % 1000;
    let secs = unix_ms / 1000;
    let (days, sod) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let (y, mo, d) = civil_from_days(days);
    Ok(format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z"
    ))
}

/// Days since 1970-01-01 → (year, month, day), for non-negative day counts.
/// Uses 400-year eras of 146 097 days, with years starting on 1 March so that the leap day
/// is the last day of the year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01: 719 468 days before 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from 1 March, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A webhook signing secret. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct WebhookSecret(Hmac<Sha256>);

impl WebhookSecret {
    /// Takes a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, WebhookError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(WebhookError::WeakSecret { len: secret.len() });
        }
        Hmac::<Sha256>::new_from_slice(secret)
            .map(WebhookSecret)
            .map_err(|_| WebhookError::WeakSecret { len: secret.len() })
    }

    fn mac(&self, timestamp_ms: u64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The lower-case hex HMAC-SHA256 of `"{timestamp_ms}.{body}"`: the value of
/// [`SIGNATURE_HEADER`].
pub fn sign(secret: &WebhookSecret, timestamp_ms: u64, body: &[u8]) -> String {
    hex::encode(secret.mac(timestamp_ms, body).finalize().into_bytes())
}

/// Checks a signature in constant time. Upper- or lower-case hex is accepted.
pub fn verify(
    secret: &WebhookSecret,
    timestamp_ms: u64,
    body: &[u8],
    signature_hex: &str,
) -> Result<(), WebhookError> {
    let sig = hex::decode(signature_hex.trim()).map_err(|_| WebhookError::MalformedSignature)?;
    if sig.len() != 32 {
        return Err(WebhookError::MalformedSignature);
    }
    secret
        .mac(timestamp_ms, body)
        .verify_slice(&sig)
        .map_err(|_| WebhookError::BadSignature)
}

/// [`verify`], and also refuses a timestamp more than `tolerance_ms` away from `now_ms` in
/// either direction (replay protection). The signature is checked first, so an attacker
/// learns nothing about the clock from a forged delivery.
pub fn verify_fresh(
    secret: &WebhookSecret,
    timestamp_ms: u64,
    body: &[u8],
    signature_hex: &str,
    now_ms: u64,
    tolerance_ms: u64,
) -> Result<(), WebhookError> {
    verify(secret, timestamp_ms, body, signature_hex)?;
    if timestamp_ms.abs_diff(now_ms) > tolerance_ms {
        return Err(WebhookError::StaleTimestamp);
    }
    Ok(())
}

/// Parses a [`TIMESTAMP_HEADER`] value (decimal unix ms, digits only).
pub fn parse_timestamp_header(value: &str) -> Result<u64, WebhookError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::MalformedTimestamp);
    }
    v.parse().map_err(|_| WebhookError::MalformedTimestamp)
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// Upper bound of the delay before the second attempt; doubles per attempt.
    pub base_delay_ms: u64,
    /// No delay exceeds this.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    /// 10 attempts, 5 s base, 1 h cap: delays of at most 5 s, 10 s, 20 s, … 1280 s
    /// (about 43 minutes in all at worst).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay_ms: 5_000,
            max_delay_ms: 3_600_000,
        }
    }
}

/// The delay before attempt number `attempt` (1-based), or `None` when that attempt is past
/// `max_attempts` and the delivery is given up.
///
/// Attempt 1 is sent at once (`Some(0)`). For attempt `n ≥ 2` let
/// `cap = min(max_delay_ms, base_delay_ms · 2^(n−2))`; the delay is
/// `cap/2 + random mod (cap − cap/2 + 1)`, i.e. uniformly in `[cap/2, cap]` when `random` is
/// uniform ("equal jitter": never less than half the backoff, so retries cannot bunch up at
/// zero, yet spread so that many failed deliveries do not retry in lock-step). All arithmetic
/// saturates; any `random` is fine.
pub fn retry_delay_ms(policy: &RetryPolicy, attempt: u32, random: u64) -> Option<u64> {
    if attempt == 0 || attempt > policy.max_attempts {
        return None;
    }
    if attempt == 1 {
        return Some(0);
    }
    let shift = attempt - 2;
    let factor = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
    let cap = policy
        .base_delay_ms
        .saturating_mul(factor)
        .min(policy.max_delay_ms);
    let half = cap / 2;
    let span = cap - half; // ≥ half, so [half, cap] is covered
    Some(half + random % span.saturating_add(1))
}

/// Whether an HTTP status means the delivery succeeded (2xx).
pub fn is_delivered(http_status: u16) -> bool {
    (200..300).contains(&http_status)
}

/// Why a webhook could not be built, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// A required payload field is empty. Code `missing_field`.
    MissingField {
        /// The JSON key.
        name: &'static str,
    },
    /// A score is not a finite number in 0–100. Code `bad_score`.
    BadScore {
        /// The JSON key.
        name: &'static str,
    },
    /// A time past year 9999. Code `timestamp_out_of_range`.
    TimestampOutOfRange,
    /// The payload could not be serialised. Code `serialize_failed`.
    Serialize,
    /// A received body is not a valid `faceAuth` payload. Code `bad_payload`.
    BadPayload,
    /// The signing secret is shorter than [`MIN_SECRET_LEN`]. Code `weak_secret`.
    WeakSecret {
        /// Length given.
        len: usize,
    },
    /// The signature header is not 64 hex digits. Code `malformed_signature`.
    MalformedSignature,
    /// The signature does not match body and timestamp. Code `bad_signature`.
    BadSignature,
    /// The timestamp header is not a decimal number. Code `malformed_timestamp`.
    MalformedTimestamp,
    /// The timestamp is outside the tolerance. Code `stale_timestamp`.
    StaleTimestamp,
}

impl WebhookError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingField { .. } => "missing_field",
            WebhookError::BadScore { .. } => "bad_score",
            WebhookError::TimestampOutOfRange => "timestamp_out_of_range",
            WebhookError::Serialize => "serialize_failed",
            WebhookError::BadPayload => "bad_payload",
            WebhookError::WeakSecret { .. } => "weak_secret",
            WebhookError::MalformedSignature => "malformed_signature",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::MalformedTimestamp => "malformed_timestamp",
            WebhookError::StaleTimestamp => "stale_timestamp",
        }
    }

    /// The crate-level code: `bad_key` for a weak secret, otherwise `bad_input`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            WebhookError::WeakSecret { .. } => ErrorCode::BadKey,
            _ => ErrorCode::BadInput,
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingField { name } => write!(f, "{name} must not be empty"),
            WebhookError::BadScore { name } => write!(f, "{name} must be a number from 0 to 100"),
            WebhookError::TimestampOutOfRange => f.write_str("the time is past the year 9999"),
            WebhookError::Serialize => f.write_str("the payload could not be serialised"),
            WebhookError::BadPayload => {
                f.write_str("the body is not a valid faceAuth webhook payload")
            }
            WebhookError::WeakSecret { len } => {
                write!(
                    f,
                    "the webhook secret is {len} bytes; at least {MIN_SECRET_LEN} are required"
                )
            }
            WebhookError::MalformedSignature => f.write_str("the signature is not 64 hex digits"),
            WebhookError::BadSignature => f.write_str("the signature does not match"),
            WebhookError::MalformedTimestamp => {
                f.write_str("the timestamp is not a decimal number of milliseconds")
            }
            WebhookError::StaleTimestamp => {
                f.write_str("the timestamp is outside the allowed window")
            }
        }
    }
}

impl std::error::Error for WebhookError {}

impl From<WebhookError> for Error {
    fn from(e: WebhookError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::new(b"whsec_0123456789abcdef").unwrap()
    }

    fn scores() -> FaceAuthScores {
        FaceAuthScores {
            face_similarity: 99.25,
            liveness: 88.5,
            occlusion: Some(OcclusionResult::Pass),
        }
    }

    #[test]
    fn hmac_known_vector_from_python() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_0123456789abcdef",
        //   b"1714566896789.{\"hello\":\"world\"}", hashlib.sha256).hexdigest())'
        let sig = sign(&secret(), 1_714_566_896_789, br#"{"hello":"world"}"#);
        assert_eq!(sig, PY_SIG);
        assert!(verify(
            &secret(),
            1_714_566_896_789,
            br#"{"hello":"world"}"#,
            PY_SIG
        )
        .is_ok());
    }
    const PY_SIG: &str = "43b0ff5c5107832996b1ee7c74e8162ecfafe4a9a82004377c1f88d83b8fc180";

    #[test]
    fn rfc4231_case_2_through_the_same_primitive() {
        // RFC 4231 test case 2 (key "Jefe" is too short for WebhookSecret, so go direct).
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tampering_is_rejected() {
        let body = br#"{"a":1}"#;
        let sig = sign(&secret(), 1000, body);
        assert_eq!(sig.len(), 64);
        assert!(verify(&secret(), 1000, body, &sig).is_ok());
        assert!(verify(&secret(), 1000, body, &sig.to_uppercase()).is_ok());
        assert_eq!(
            verify(&secret(), 1000, br#"{"a":2}"#, &sig),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(&secret(), 1000, br#"{"a":1} "#, &sig),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(&secret(), 1001, body, &sig),
            Err(WebhookError::BadSignature)
        );
        let other = WebhookSecret::new(b"another-secret-of-enough-length").unwrap();
        assert_eq!(
            verify(&other, 1000, body, &sig),
            Err(WebhookError::BadSignature)
        );
        // Every single flipped hex digit fails.
        for i in 0..sig.len() {
            let mut s = sig.clone().into_bytes();
            s[i] = if s[i] == b'0' { b'1' } else { b'0' };
            let s = String::from_utf8(s).unwrap();
            assert_eq!(
                verify(&secret(), 1000, body, &s),
                Err(WebhookError::BadSignature)
            );
        }
        assert_eq!(
            verify(&secret(), 1000, body, "zz"),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify(&secret(), 1000, body, &sig[..62]),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify(&secret(), 1000, body, ""),
            Err(WebhookError::MalformedSignature)
        );
        // Moving the dot between timestamp and body changes the signed string.
        let a = sign(&secret(), 12, b"3.x");
        let b = sign(&secret(), 123, b"x");
        assert_ne!(a, b);
    }

    #[test]
    fn freshness_window() {
        let body = b"{}";
        let sig = sign(&secret(), 1_000_000, body);
        assert!(verify_fresh(
            &secret(),
            1_000_000,
            body,
            &sig,
            1_000_000 + DEFAULT_TOLERANCE_MS,
            DEFAULT_TOLERANCE_MS
        )
        .is_ok());
        assert!(verify_fresh(
            &secret(),
            1_000_000,
            body,
            &sig,
            1_000_000 - DEFAULT_TOLERANCE_MS,
            DEFAULT_TOLERANCE_MS
        )
        .is_ok());
        assert_eq!(
            verify_fresh(
                &secret(),
                1_000_000,
                body,
                &sig,
                1_000_001 + DEFAULT_TOLERANCE_MS,
                DEFAULT_TOLERANCE_MS
            ),
            Err(WebhookError::StaleTimestamp)
        );
        // A forged signature reports bad_signature even when also stale.
        assert_eq!(
            verify_fresh(&secret(), 1, body, &"0".repeat(64), u64::MAX, 0),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn secrets_and_headers() {
        assert_eq!(
            WebhookSecret::new(b"short").unwrap_err(),
            WebhookError::WeakSecret { len: 5 }
        );
        assert!(WebhookSecret::new(&[0u8; 16]).is_ok());
        assert!(WebhookSecret::new(&[7u8; 200]).is_ok()); // longer than the SHA-256 block
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(<redacted>)");
        assert_eq!(
            parse_timestamp_header(" 1714566896789 "),
            Ok(1_714_566_896_789)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "1e3",
            "abc",
            "99999999999999999999999",
            "+5",
        ] {
            assert_eq!(
                parse_timestamp_header(bad),
                Err(WebhookError::MalformedTimestamp),
                "{bad}"
            );
        }
        assert_eq!(SIGNATURE_HEADER, "X-Liveform-Signature");
        assert_eq!(TIMESTAMP_HEADER, "X-Liveform-Timestamp");
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc_ms(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_ms(1_714_566_896_789).unwrap(),
            "2024-05-01T12:34:56.789Z"
        );
        assert_eq!(
            format_utc_ms(951_782_400_000).unwrap(),
            "2000-02-29T00:00:00.000Z"
        ); // leap day, /400
        assert_eq!(
            format_utc_ms(951_868_799_999).unwrap(),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_utc_ms(4_107_542_400_000).unwrap(),
            "2100-03-01T00:00:00.000Z"
        ); // 2100 not leap
        assert_eq!(
            format_utc_ms(1_709_164_800_000).unwrap(),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_utc_ms(1_735_689_599_999).unwrap(),
            "2024-12-31T23:59:59.999Z"
        );
        assert_eq!(
            format_utc_ms(MAX_FORMATTABLE_MS).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            format_utc_ms(MAX_FORMATTABLE_MS + 1),
            Err(WebhookError::TimestampOutOfRange)
        );
        assert_eq!(
            format_utc_ms(u64::MAX),
            Err(WebhookError::TimestampOutOfRange)
        );
    }

    #[test]
    fn utc_formatting_matches_a_day_by_day_walk() {
        // Independent check: walk the calendar forward one day at a time.
        let mut y = 1970u64;
        let (mut m, mut d) = (1u64, 1u64);
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        for day in 0..(200 * 366) {
            assert_eq!(civil_from_days(day), (y, m, d), "day {day}");
            let mdays = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > mdays {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn payload_json_shape() {
        let params = crate::params::parse_query(
            "pid=p&sid=sub_1&userid=user_12345&cf1=summer&cf3=x",
            &Default::default(),
        )
        .unwrap();
        let crate::params::ParsedQuery::Plain(params) = params else {
            panic!()
        };
        let w = FaceAuthWebhook::new(
            "auth_1",
            "sub_1",
            AuthStatus::Approved,
            scores(),
            1_714_566_896_789,
        )
        .unwrap()
        .with_params(&params);
        let json = w.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"webhook_trigger":"faceAuth","authentication_id":"auth_1","submission_id":"sub_1","status":"approved","scores":{"face_similarity":99.25,"liveness":88.5,"occlusion":"pass"},"user_id":"user_12345","cf1":"summer","cf2":null,"cf3":"x","create_time":"2024-05-01T12:34:56.789Z"}"#
        );
        let back = FaceAuthWebhook::from_json(json.as_bytes()).unwrap();
        assert_eq!(back, w);
        // End to end: sign the exact body, verify it, a changed body fails.
        let sig = sign(&secret(), 1_714_566_900_000, json.as_bytes());
        assert!(verify(&secret(), 1_714_566_900_000, json.as_bytes(), &sig).is_ok());
        let tampered = json.replace("approved", "rejected");
        assert_eq!(
            verify(&secret(), 1_714_566_900_000, tampered.as_bytes(), &sig),
            Err(WebhookError::BadSignature)
        );
        let rejected = FaceAuthWebhook::new(
            "a",
            "s",
            AuthStatus::Rejected,
            FaceAuthScores {
                face_similarity: 0.0,
                liveness: 100.0,
                occlusion: None,
            },
            0,
        )
        .unwrap();
        let j = rejected.to_json().unwrap();
        assert!(j.contains(r#""status":"rejected""#));
        assert!(j.contains(r#""occlusion":null"#));
        assert!(FaceAuthWebhook::from_json(j.replace("faceAuth", "approved").as_bytes()).is_err());
    }

    #[test]
    fn payload_validation() {
        let bad = |fs: f64, lv: f64| FaceAuthScores {
            face_similarity: fs,
            liveness: lv,
            occlusion: None,
        };
        for (fs, lv, name) in [
            (f64::NAN, 50.0, "face_similarity"),
            (101.0, 50.0, "face_similarity"),
            (-0.1, 50.0, "face_similarity"),
            (50.0, f64::INFINITY, "liveness"),
        ] {
            assert_eq!(
                FaceAuthWebhook::new("a", "s", AuthStatus::Approved, bad(fs, lv), 0),
                Err(WebhookError::BadScore { name })
            );
        }
        assert_eq!(
            FaceAuthWebhook::new("", "s", AuthStatus::Approved, scores(), 0),
            Err(WebhookError::MissingField {
                name: "authentication_id"
            })
        );
        assert_eq!(
            FaceAuthWebhook::new("a", "", AuthStatus::Approved, scores(), 0),
            Err(WebhookError::MissingField {
                name: "submission_id"
            })
        );
        assert_eq!(
            FaceAuthWebhook::new("a", "s", AuthStatus::Approved, scores(), u64::MAX),
            Err(WebhookError::TimestampOutOfRange)
        );
        assert_eq!(
            FaceAuthWebhook::from_json(b"not json"),
            Err(WebhookError::BadPayload)
        );
        assert_eq!(
            FaceAuthWebhook::from_json(b"{}"),
            Err(WebhookError::BadPayload)
        );
    }

    #[test]
    fn retry_schedule() {
        let p = RetryPolicy::default();
        assert_eq!(retry_delay_ms(&p, 0, 0), None);
        assert_eq!(retry_delay_ms(&p, 1, 12345), Some(0));
        // random = 0 gives the lower bound, random = cap-half gives the upper bound.
        assert_eq!(retry_delay_ms(&p, 2, 0), Some(2_500));
        assert_eq!(retry_delay_ms(&p, 2, 2_500), Some(5_000));
        assert_eq!(retry_delay_ms(&p, 2, 2_501), Some(2_500)); // wraps
        assert_eq!(retry_delay_ms(&p, 3, 0), Some(5_000));
        assert_eq!(
            retry_delay_ms(&p, 3, u64::MAX),
            Some(5_000 + u64::MAX % 5_001)
        );
        assert_eq!(retry_delay_ms(&p, 10, 0), Some(640_000));
        assert_eq!(retry_delay_ms(&p, 11, 0), None);
        // Bounds for every attempt and many randoms; caps grow then saturate at max.
        let p = RetryPolicy {
            max_attempts: 100,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
        };
        let mut prev_cap = 0;
        for attempt in 2..=100u32 {
            let cap = (1_000u64.saturating_mul(1u64.checked_shl(attempt - 2).unwrap_or(u64::MAX)))
                .min(60_000);
            assert!(cap >= prev_cap);
            prev_cap = cap;
            for r in [0u64, 1, 7, 999, 123_456_789, u64::MAX] {
                let d = retry_delay_ms(&p, attempt, r).unwrap();
                assert!(
                    d >= cap / 2 && d <= cap,
                    "attempt {attempt} r {r}: {d} not in [{}, {cap}]",
                    cap / 2
                );
            }
        }
        assert_eq!(retry_delay_ms(&p, 100, 0), Some(30_000));
        // Degenerate policies do not panic.
        let z = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay_ms: u64::MAX,
            max_delay_ms: u64::MAX,
        };
        assert!(retry_delay_ms(&z, u32::MAX, u64::MAX).is_some());
        let z = RetryPolicy {
            max_attempts: 3,
            base_delay_ms: 0,
            max_delay_ms: 0,
        };
        assert_eq!(retry_delay_ms(&z, 3, 99), Some(0));
        assert!(is_delivered(200) && is_delivered(204) && !is_delivered(301) && !is_delivered(500));
    }

    #[test]
    fn codes_are_distinct_and_mapped() {
        let all = [
            (
                WebhookError::MissingField { name: "x" },
                "missing_field",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::BadScore { name: "x" },
                "bad_score",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::TimestampOutOfRange,
                "timestamp_out_of_range",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::Serialize,
                "serialize_failed",
                ErrorCode::BadInput,
            ),
            (WebhookError::BadPayload, "bad_payload", ErrorCode::BadInput),
            (
                WebhookError::WeakSecret { len: 1 },
                "weak_secret",
                ErrorCode::BadKey,
            ),
            (
                WebhookError::MalformedSignature,
                "malformed_signature",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::BadSignature,
                "bad_signature",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::MalformedTimestamp,
                "malformed_timestamp",
                ErrorCode::BadInput,
            ),
            (
                WebhookError::StaleTimestamp,
                "stale_timestamp",
                ErrorCode::BadInput,
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        for (e, code, cc) in all {
            assert_eq!(e.code(), code);
            assert!(seen.insert(code));
            let ce: Error = e.clone().into();
            assert_eq!(ce.code, cc);
            assert_eq!(ce.message, format!("{code}: {e}"));
        }
    }
}
