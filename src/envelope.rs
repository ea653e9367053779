//! The sealed upload envelope: HPKE (RFC 9180, base mode) to the project's public key, bound to
//! the capture's context.
//!
//! The browser holds only the project's [`PublicKey`]; every [`seal`] encapsulates to it with a
//! fresh ephemeral key, so one envelope's secrets say nothing about another's. The backend holds
//! the [`PrivateKey`] and [`open`]s. This module is pure: randomness is passed in (an
//! [`rand_core::CryptoRng`]), and the `*_with_os_rng` helpers are thin wrappers that draw from
//! the operating system (natively) or `crypto.getRandomValues` (in the browser, via `getrandom`'s
//! `wasm_js` backend).
//!
//! # Example
//!
//! ```
//! use liveform::envelope::{self, PrivateKey, PublicKey, SealContext, Suite};
//!
//! // Once, on the backend: make the project's key pair; the public half goes to the page.
//! let pair = envelope::generate_keypair_with_os_rng(Suite::X25519Aes256Gcm)?;
//! let public_text = pair.public_key.to_base64();
//!
//! // In the browser: seal the selfie to the project's public key.
//! let public_key: PublicKey = public_text.parse()?;
//! let policy_hash = SealContext::hash_policy(br#"{"liveness":70}"#);
//! let context = SealContext::new("proj_1", "sess_1", 1_714_000_000_000, policy_hash);
//! let sealed = envelope::seal_with_os_rng(&public_key, &context, b"...jpeg bytes...")?;
//!
//! // On the backend: open it under the context the session says it belongs to.
//! let private_key = PrivateKey::from_base64(&pair.private_key.to_base64())?;
//! assert_eq!(envelope::open(&private_key, &context, &sealed)?, b"...jpeg bytes...");
//! # Ok::<(), envelope::EnvelopeError>(())
//! ```
//!
//! # Suites
//!
//! | [`Suite`] | id (u16) | HPKE KEM | KDF | AEAD |
//! |---|---|---|---|---|
//! | [`Suite::X25519Aes256Gcm`] | `0x0001` | DHKEM(X25519, HKDF-SHA256), `0x0020` | HKDF-SHA256, `0x0001` | AES-256-GCM, `0x0002` |
//! | [`Suite::XWingAes256Gcm`] | `0x0002` | X-Wing (ML-KEM-768 + X25519), `0x647a` | HKDF-SHA256, `0x0001` | AES-256-GCM, `0x0002` |
//!
//! The ids are this format's own, are never reused, and `0x0000` is never valid. The first suite
//! is checked against the official RFC 9180 test vector for `(0x0020, 0x0001, 0x0002)` in this
//! module's tests; X-Wing follows the `hpke` crate's implementation of the HPKE-PQ draft.
//!
//! # Envelope format, version 1
//!
//! All integers are big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic, `b"LFEN"` (`4c 46 45 4e`) |
//! | 4 | 1 | format version, `0x01` |
//! | 5 | 2 | suite id (see above) |
//! | 7 | 2 | `n`, length of the encapsulated key; must equal the suite's (32 for X25519, 1120 for X-Wing) |
//! | 9 | `n` | encapsulated key (HPKE `enc`) |
//! | 9 + `n` | rest | AEAD ciphertext of the plaintext, followed by its 16-byte tag |
//!
//! The HPKE `info` is the fixed [`HPKE_INFO`]. The AEAD associated data is the header (bytes
//! `0 .. 9 + n`, so magic, version, suite and `enc` are all authenticated) followed by
//! [`SealContext::canonical_bytes`]. Opening under any other context, or of an envelope whose
//! header was altered, fails.
//!
//! # Key formats
//!
//! | key | bytes | text |
//! |---|---|---|
//! | [`PublicKey`] | `b"LFpk"`, suite id (u16), raw public key (32 or 1216 bytes) | base64url, no padding |
//! | [`PrivateKey`] | `b"LFsk"`, suite id (u16), raw private key (32 bytes) | base64url, no padding |
//!
//! A raw X25519 private key is stored clamped (RFC 7748); a raw X-Wing private key is its
//! 32-byte seed. A later key format would get a new magic.
//!
//! # Errors
//!
//! Nothing here panics on any input. Every failure is an [`EnvelopeError`], whose
//! [`code`](EnvelopeError::code) is stable: `envelope_bad_magic`, `envelope_unsupported_version`,
//! `envelope_unknown_suite`, `envelope_truncated`, `envelope_malformed`,
//! `envelope_suite_mismatch`, `envelope_open_failed`, `envelope_seal_failed`,
//! `envelope_rng_failed`, `bad_key`. A wrong key, a wrong context and a tampered ciphertext
//! all give the same `envelope_open_failed`, on purpose: the opener learns nothing about which.

// Indexing and unwrapping are how parsers panic; this module uses `get` and `?` instead.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine as _;
use hpke::aead::{AeadTag, AesGcm256};
use hpke::inout::InOutBuf;
use hpke::kdf::HkdfSha256;
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use hpke::rand_core;
pub use hpke::rand_core::CryptoRng;

/// The 4 bytes every envelope starts with.
pub const MAGIC: [u8; 4] = *b"LFEN";
/// The envelope format version this module writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The HPKE `info` string of every envelope: it separates these keys' use from any other.
pub const HPKE_INFO: &[u8] = b"liveform/envelope/v1";
/// Length of the fixed part of the header: magic, version, suite id, encapsulated-key length.
pub const FIXED_HEADER_LEN: usize = 4 + 1 + 2 + 2;
/// Length of the AES-256-GCM tag at the end of every envelope.
pub const TAG_LEN: usize = 16;

const PUBLIC_KEY_MAGIC: [u8; 4] = *b"LFpk";
const PRIVATE_KEY_MAGIC: [u8; 4] = *b"LFsk";
const KEY_PREFIX_LEN: usize = 4 + 2;

// Both suites share the KDF and the AEAD; only the KEM differs.
type Kdf = HkdfSha256;
type Aead = AesGcm256;
type X25519Kem = X25519HkdfSha256;
type XWingKem = XWing;

// base64url; padding is never written, but tolerated on input (some tools add it).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// ---------------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------------

/// An HPKE cipher suite an envelope can be sealed with. The numeric ids are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Suite {
    /// DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + AES-256-GCM; id `0x0001`. The default.
    #[default]
    X25519Aes256Gcm,
    /// X-Wing (ML-KEM-768 + X25519, post-quantum hybrid) + HKDF-SHA256 + AES-256-GCM; id `0x0002`.
    XWingAes256Gcm,
}

impl Suite {
    /// Every suite this build can seal and open.
    pub const ALL: [Suite; 2] = [Suite::X25519Aes256Gcm, Suite::XWingAes256Gcm];

    /// The suite's stable id, as written in envelopes and keys.
    pub const fn id(self) -> u16 {
        match self {
            Suite::X25519Aes256Gcm => 0x0001,
            Suite::XWingAes256Gcm => 0x0002,
        }
    }

    /// The suite with this id, if there is one.
    pub const fn from_id(id: u16) -> Option<Suite> {
        match id {
            0x0001 => Some(Suite::X25519Aes256Gcm),
            0x0002 => Some(Suite::XWingAes256Gcm),
            _ => None,
        }
    }

    /// The HPKE algorithm ids `(kem_id, kdf_id, aead_id)` of the suite (RFC 9180 §7).
    pub const fn hpke_ids(self) -> (u16, u16, u16) {
        match self {
            Suite::X25519Aes256Gcm => (0x0020, 0x0001, 0x0002),
            Suite::XWingAes256Gcm => (0x647a, 0x0001, 0x0002),
        }
    }

    /// A human-readable name of the suite.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::X25519Aes256Gcm => "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM",
            Suite::XWingAes256Gcm => "X-Wing, HKDF-SHA256, AES-256-GCM",
        }
    }

    /// Length in bytes of the suite's encapsulated key (`enc`).
    pub const fn encapsulated_key_len(self) -> usize {
        match self {
            Suite::X25519Aes256Gcm => 32,
            Suite::XWingAes256Gcm => 1120,
        }
    }

    /// Length in bytes of the suite's raw public key.
    pub const fn public_key_len(self) -> usize {
        match self {
            Suite::X25519Aes256Gcm => 32,
            Suite::XWingAes256Gcm => 1216,
        }
    }

    /// Length in bytes of the suite's raw private key.
    pub const fn private_key_len(self) -> usize {
        32
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why sealing or opening an envelope, or reading a key, failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The data does not start with [`MAGIC`]: it is not an envelope.
    BadMagic,
    /// The envelope's format version is not [`FORMAT_VERSION`].
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The envelope names a suite id this build does not know.
    UnknownSuite {
        /// The suite id found.
        id: u16,
    },
    /// The envelope ends before the named field is complete.
    Truncated {
        /// The field that is cut short.
        field: &'static str,
    },
    /// The envelope's header is self-contradictory (e.g. a key length that is not the suite's).
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The envelope was sealed with a different suite than the key's.
    SuiteMismatch {
        /// The key's suite.
        key: Suite,
        /// The envelope's suite.
        envelope: Suite,
    },
    /// Decryption failed: wrong key, wrong context, or altered data (deliberately not told apart).
    OpenFailed,
    /// Encryption failed (the plaintext exceeds AES-GCM's limit).
    SealFailed,
    /// The operating system's or browser's random number generator failed.
    RngFailed {
        /// The generator's own message.
        detail: String,
    },
    /// A key is malformed: bad base64, wrong magic or length, unknown suite, or rejected by the KEM.
    BadKey {
        /// What is wrong.
        reason: String,
    },
}

impl EnvelopeError {
    /// The stable, machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::BadMagic => "envelope_bad_magic",
            EnvelopeError::UnsupportedVersion { .. } => "envelope_unsupported_version",
            EnvelopeError::UnknownSuite { .. } => "envelope_unknown_suite",
            EnvelopeError::Truncated { .. } => "envelope_truncated",
            EnvelopeError::Malformed { .. } => "envelope_malformed",
            EnvelopeError::SuiteMismatch { .. } => "envelope_suite_mismatch",
            EnvelopeError::OpenFailed => "envelope_open_failed",
            EnvelopeError::SealFailed => "envelope_seal_failed",
            EnvelopeError::RngFailed { .. } => "envelope_rng_failed",
            EnvelopeError::BadKey { .. } => "bad_key",
        }
    }

    fn bad_key(reason: impl Into<String>) -> Self {
        EnvelopeError::BadKey {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::BadMagic => f.write_str("not a liveform envelope (bad magic)"),
            EnvelopeError::UnsupportedVersion { found } => {
                write!(
                    f,
                    "envelope format version {found} is not supported (expected {FORMAT_VERSION})"
                )
            }
            EnvelopeError::UnknownSuite { id } => write!(f, "unknown envelope suite id 0x{id:04x}"),
            EnvelopeError::Truncated { field } => write!(f, "envelope truncated in the {field}"),
            EnvelopeError::Malformed { reason } => write!(f, "malformed envelope: {reason}"),
            EnvelopeError::SuiteMismatch { key, envelope } => write!(
                f,
                "envelope suite 0x{:04x} does not match the key's suite 0x{:04x}",
                envelope.id(),
                key.id()
            ),
            EnvelopeError::OpenFailed => {
                f.write_str("envelope does not open (wrong key, wrong context, or altered data)")
            }
            EnvelopeError::SealFailed => f.write_str("sealing failed (plaintext too long)"),
            EnvelopeError::RngFailed { detail } => {
                write!(f, "random number generator failed: {detail}")
            }
            EnvelopeError::BadKey { reason } => write!(f, "bad key: {reason}"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl From<EnvelopeError> for crate::error::Error {
    fn from(e: EnvelopeError) -> Self {
        let code = match e {
            EnvelopeError::BadKey { .. } => crate::error::ErrorCode::BadKey,
            _ => crate::error::ErrorCode::Envelope,
        };
        crate::error::Error::new(code, format!("{}: {}", e.code(), e))
    }
}

// ---------------------------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------------------------

/// What an envelope is bound to: opening it under any other context fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SealContext {
    /// The project the capture belongs to.
    pub project_id: String,
    /// The verification session the capture belongs to.
    pub session_id: String,
    /// When the capture was taken, Unix time in milliseconds (passed in: the core reads no clock).
    pub captured_at_ms: u64,
    /// SHA-256 of the policy snapshot the capture was judged under (see [`SealContext::hash_policy`]).
    pub policy_hash: [u8; 32],
}

impl SealContext {
    /// A context from its four parts.
    pub fn new(
        project_id: impl Into<String>,
        session_id: impl Into<String>,
        captured_at_ms: u64,
        policy_hash: [u8; 32],
    ) -> Self {
        SealContext {
            project_id: project_id.into(),
            session_id: session_id.into(),
            captured_at_ms,
            policy_hash,
        }
    }

    /// SHA-256 of a policy snapshot's bytes, for [`SealContext::policy_hash`].
    pub fn hash_policy(snapshot: &[u8]) -> [u8; 32] {
        Sha256::digest(snapshot).into()
    }

    /// The canonical encoding used in the associated data:
    /// `u64 len ‖ project_id ‖ u64 len ‖ session_id ‖ u64 captured_at_ms ‖ policy_hash[32]`,
    /// integers big-endian, strings UTF-8.
    ///
    /// Every variable field carries its length, so two different contexts never encode alike
    /// (no `("ab","c")` vs `("a","bc")` ambiguity). The prefixes are u64 so that no string
    /// length can overflow them and the encoding is total.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(8 + self.project_id.len() + 8 + self.session_id.len() + 8 + 32);
        for field in [&self.project_id, &self.session_id] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.captured_at_ms.to_be_bytes());
        out.extend_from_slice(&self.policy_hash);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    X25519(<X25519Kem as Kem>::PublicKey),
    // Boxed: an X-Wing key is ~1.6 kB, an X25519 one 32 bytes.
    XWing(Box<<XWingKem as Kem>::PublicKey>),
}

/// A public key envelopes are sealed to. This is all the browser holds.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(PublicInner);

impl PublicKey {
    /// The suite this key belongs to.
    pub fn suite(&self) -> Suite {
        match self.0 {
            PublicInner::X25519(_) => Suite::X25519Aes256Gcm,
            PublicInner::XWing(_) => Suite::XWingAes256Gcm,
        }
    }

    /// The raw public key of the suite's KEM (without the liveform prefix).
    pub fn raw_bytes(&self) -> Vec<u8> {
        match &self.0 {
            PublicInner::X25519(pk) => pk.to_bytes().to_vec(),
            PublicInner::XWing(pk) => pk.to_bytes().to_vec(),
        }
    }

    /// A public key from the suite's raw key bytes; fails if the length or the key is invalid.
    pub fn from_raw(suite: Suite, raw: &[u8]) -> Result<PublicKey, EnvelopeError> {
        if raw.len() != suite.public_key_len() {
            return Err(EnvelopeError::bad_key(format!(
                "a {} public key is {} bytes, got {}",
                suite_short(suite),
                suite.public_key_len(),
                raw.len()
            )));
        }
        let inner = match suite {
            Suite::X25519Aes256Gcm => PublicInner::X25519(
                <X25519Kem as Kem>::PublicKey::from_bytes(raw)
                    .map_err(|_| EnvelopeError::bad_key("invalid X25519 public key"))?,
            ),
            Suite::XWingAes256Gcm => PublicInner::XWing(Box::new(
                <XWingKem as Kem>::PublicKey::from_bytes(raw)
                    .map_err(|_| EnvelopeError::bad_key("invalid X-Wing public key"))?,
            )),
        };
        Ok(PublicKey(inner))
    }

    /// The key's byte form: `b"LFpk"`, suite id (u16 BE), raw key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let raw = self.raw_bytes();
        let mut out = Vec::with_capacity(KEY_PREFIX_LEN + raw.len());
        out.extend_from_slice(&PUBLIC_KEY_MAGIC);
        out.extend_from_slice(&self.suite().id().to_be_bytes());
        out.extend_from_slice(&raw);
        out
    }

    /// A public key from its byte form ([`PublicKey::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, EnvelopeError> {
        let (suite, raw) = split_key_bytes(bytes, PUBLIC_KEY_MAGIC, "public")?;
        PublicKey::from_raw(suite, raw)
    }

    /// The key's text form: base64url of [`PublicKey::to_bytes`], without padding.
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_bytes())
    }

    /// A public key from its text form; surrounding whitespace and padding are tolerated.
    pub fn from_base64(text: &str) -> Result<PublicKey, EnvelopeError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| EnvelopeError::bad_key("public key is not valid base64url"))?;
        PublicKey::from_bytes(&bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("suite", &self.suite())
            .field("key", &self.to_base64())
            .finish()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for PublicKey {
    type Err = EnvelopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_base64(s)
    }
}

// A public key appears in JSON config as its base64url text.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone)]
enum PrivateInner {
    X25519(<X25519Kem as Kem>::PrivateKey),
    XWing(Box<<XWingKem as Kem>::PrivateKey>),
}

/// A private key that opens envelopes. Only the backend holds it.
///
/// It has no `Display`, `Serialize` or revealing `Debug`, so it does not end up in logs or JSON
/// by accident; [`PrivateKey::to_base64`] is the explicit way out. The key material is wiped
/// from memory when dropped.
#[derive(Clone)]
pub struct PrivateKey(PrivateInner);

impl PrivateKey {
    /// The suite this key belongs to.
    pub fn suite(&self) -> Suite {
        match self.0 {
            PrivateInner::X25519(_) => Suite::X25519Aes256Gcm,
            PrivateInner::XWing(_) => Suite::XWingAes256Gcm,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            PrivateInner::X25519(sk) => PublicInner::X25519(X25519Kem::sk_to_pk(sk)),
            PrivateInner::XWing(sk) => PublicInner::XWing(Box::new(XWingKem::sk_to_pk(sk))),
        })
    }

    /// The raw private key of the suite's KEM (X25519: clamped scalar; X-Wing: seed).
    pub fn raw_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match &self.0 {
            PrivateInner::X25519(sk) => sk.to_bytes().to_vec(),
            PrivateInner::XWing(sk) => sk.to_bytes().to_vec(),
        })
    }

    /// A private key from the suite's raw key bytes (an X25519 scalar is clamped on the way in).
    pub fn from_raw(suite: Suite, raw: &[u8]) -> Result<PrivateKey, EnvelopeError> {
        if raw.len() != suite.private_key_len() {
            return Err(EnvelopeError::bad_key(format!(
                "a {} private key is {} bytes, got {}",
                suite_short(suite),
                suite.private_key_len(),
                raw.len()
            )));
        }
        let inner = match suite {
            Suite::X25519Aes256Gcm => PrivateInner::X25519(
                <X25519Kem as Kem>::PrivateKey::from_bytes(raw)
                    .map_err(|_| EnvelopeError::bad_key("invalid X25519 private key"))?,
            ),
            Suite::XWingAes256Gcm => PrivateInner::XWing(Box::new(
                <XWingKem as Kem>::PrivateKey::from_bytes(raw)
                    .map_err(|_| EnvelopeError::bad_key("invalid X-Wing private key"))?,
            )),
        };
        Ok(PrivateKey(inner))
    }

    /// The key's byte form: `b"LFsk"`, suite id (u16 BE), raw key.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let raw = self.raw_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(KEY_PREFIX_LEN + raw.len()));
        out.extend_from_slice(&PRIVATE_KEY_MAGIC);
        out.extend_from_slice(&self.suite().id().to_be_bytes());
        out.extend_from_slice(&raw);
        out
    }

    /// A private key from its byte form ([`PrivateKey::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, EnvelopeError> {
        let (suite, raw) = split_key_bytes(bytes, PRIVATE_KEY_MAGIC, "private")?;
        PrivateKey::from_raw(suite, raw)
    }

    /// The key's text form: base64url of [`PrivateKey::to_bytes`], without padding.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.to_bytes().as_slice()))
    }

    /// A private key from its text form; surrounding whitespace and padding are tolerated.
    pub fn from_base64(text: &str) -> Result<PrivateKey, EnvelopeError> {
        let bytes = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| EnvelopeError::bad_key("private key is not valid base64url"))?,
        );
        PrivateKey::from_bytes(&bytes)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

/// A private key and its public key.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The private half, for the backend.
    pub private_key: PrivateKey,
    /// The public half, for the browser.
    pub public_key: PublicKey,
}

fn suite_short(suite: Suite) -> &'static str {
    match suite {
        Suite::X25519Aes256Gcm => "X25519",
        Suite::XWingAes256Gcm => "X-Wing",
    }
}

/// Splits a key's byte form into its suite and raw key, checking the magic.
fn split_key_bytes<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    kind: &str,
) -> Result<(Suite, &'a [u8]), EnvelopeError> {
    let prefix = bytes
        .get(..KEY_PREFIX_LEN)
        .ok_or_else(|| EnvelopeError::bad_key(format!("{kind} key is too short")))?;
    if prefix.get(..4) != Some(&magic[..]) {
        return Err(EnvelopeError::bad_key(format!(
            "not a liveform {kind} key (bad magic)"
        )));
    }
    let id = read_u16(prefix, 4)
        .ok_or_else(|| EnvelopeError::bad_key(format!("{kind} key is too short")))?;
    let suite = Suite::from_id(id).ok_or_else(|| {
        EnvelopeError::bad_key(format!("{kind} key has unknown suite id 0x{id:04x}"))
    })?;
    let raw = bytes.get(KEY_PREFIX_LEN..).unwrap_or_default();
    Ok((suite, raw))
}

/// A fresh key pair for `suite`, from `rng`.
pub fn generate_keypair(suite: Suite, rng: &mut impl CryptoRng) -> KeyPair {
    let private_key = PrivateKey(match suite {
        Suite::X25519Aes256Gcm => PrivateInner::X25519(X25519Kem::gen_keypair_with_rng(rng).0),
        Suite::XWingAes256Gcm => {
            PrivateInner::XWing(Box::new(XWingKem::gen_keypair_with_rng(rng).0))
        }
    });
    let public_key = private_key.public_key();
    KeyPair {
        private_key,
        public_key,
    }
}

/// [`generate_keypair`] with the OS random number generator (`crypto.getRandomValues` in the
/// browser).
pub fn generate_keypair_with_os_rng(suite: Suite) -> Result<KeyPair, EnvelopeError> {
    with_os_rng(|rng| Ok(generate_keypair(suite, rng)))
}

// ---------------------------------------------------------------------------------------------
// Seal and open
// ---------------------------------------------------------------------------------------------

/// Seals `plaintext` to `public_key`, bound to `context`; returns the envelope bytes.
///
/// `rng` supplies the ephemeral key (32 bytes for X25519, 64 for X-Wing). Fails only if the
/// public key is rejected by the KEM (an X25519 point of low order) or the plaintext exceeds
/// AES-GCM's limit of 2³⁶ − 32 bytes.
pub fn seal(
    public_key: &PublicKey,
    context: &SealContext,
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>, EnvelopeError> {
    let suite = public_key.suite();
    let context_bytes = context.canonical_bytes();
    // The header holds `enc`, which exists only once the KEM has run: build it then.
    let frame = |enc: &[u8]| -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
        let header = encode_header(suite, enc)?;
        let mut aad = Vec::with_capacity(header.len() + context_bytes.len());
        aad.extend_from_slice(&header);
        aad.extend_from_slice(&context_bytes);
        Ok((header, aad))
    };
    match &public_key.0 {
        PublicInner::X25519(pk) => hpke_seal::<X25519Kem>(pk, HPKE_INFO, plaintext, rng, frame),
        PublicInner::XWing(pk) => hpke_seal::<XWingKem>(pk, HPKE_INFO, plaintext, rng, frame),
    }
}

/// [`seal`] with the OS random number generator (`crypto.getRandomValues` in the browser).
pub fn seal_with_os_rng(
    public_key: &PublicKey,
    context: &SealContext,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    with_os_rng(|rng| seal(public_key, context, plaintext, rng))
}

/// Opens an envelope with `private_key` under `context`; returns the plaintext.
///
/// Checks, in order: magic, version, suite (known, and the key's), header lengths, then the
/// AEAD. Any failure is a typed [`EnvelopeError`]; nothing panics on any input.
pub fn open(
    private_key: &PrivateKey,
    context: &SealContext,
    envelope: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let suite = envelope_suite(envelope)?;
    if suite != private_key.suite() {
        return Err(EnvelopeError::SuiteMismatch {
            key: private_key.suite(),
            envelope: suite,
        });
    }
    let parts = parse(envelope)?;
    let context_bytes = context.canonical_bytes();
    let mut aad = Vec::with_capacity(parts.header.len() + context_bytes.len());
    aad.extend_from_slice(parts.header);
    aad.extend_from_slice(&context_bytes);
    match &private_key.0 {
        PrivateInner::X25519(sk) => {
            hpke_open::<X25519Kem>(sk, parts.enc, HPKE_INFO, &aad, parts.ciphertext)
        }
        PrivateInner::XWing(sk) => {
            hpke_open::<XWingKem>(sk, parts.enc, HPKE_INFO, &aad, parts.ciphertext)
        }
    }
}

/// Reads an envelope's suite from its header (magic, version, suite id) without opening it,
/// e.g. for the backend to pick the matching private key.
pub fn envelope_suite(envelope: &[u8]) -> Result<Suite, EnvelopeError> {
    // A short input that agrees with the magic so far is cut short; one that disagrees is not
    // an envelope at all.
    let seen = envelope.get(..MAGIC.len()).unwrap_or(envelope);
    if MAGIC.get(..seen.len()) != Some(seen) {
        return Err(EnvelopeError::BadMagic);
    }
    if seen.len() < MAGIC.len() {
        return Err(EnvelopeError::Truncated { field: "magic" });
    }
    let version = *envelope
        .get(4)
        .ok_or(EnvelopeError::Truncated { field: "version" })?;
    if version != FORMAT_VERSION {
        return Err(EnvelopeError::UnsupportedVersion { found: version });
    }
    let id = read_u16(envelope, 5).ok_or(EnvelopeError::Truncated { field: "suite id" })?;
    Suite::from_id(id).ok_or(EnvelopeError::UnknownSuite { id })
}

/// The parts of a well-formed envelope.
struct Parts<'a> {
    /// Bytes `0 .. 9 + n`: everything before the ciphertext.
    header: &'a [u8],
    enc: &'a [u8],
    /// Ciphertext and tag; at least [`TAG_LEN`] bytes.
    ciphertext: &'a [u8],
}

fn parse(envelope: &[u8]) -> Result<Parts<'_>, EnvelopeError> {
    let suite = envelope_suite(envelope)?;
    let enc_len = read_u16(envelope, 7).ok_or(EnvelopeError::Truncated {
        field: "encapsulated key length",
    })?;
    if usize::from(enc_len) != suite.encapsulated_key_len() {
        return Err(EnvelopeError::Malformed {
            reason: "encapsulated key length does not match the suite",
        });
    }
    let header_len = FIXED_HEADER_LEN + usize::from(enc_len);
    let header = envelope.get(..header_len).ok_or(EnvelopeError::Truncated {
        field: "encapsulated key",
    })?;
    let enc = header
        .get(FIXED_HEADER_LEN..)
        .ok_or(EnvelopeError::Truncated {
            field: "encapsulated key",
        })?;
    let ciphertext = envelope.get(header_len..).unwrap_or_default();
    if ciphertext.len() < TAG_LEN {
        return Err(EnvelopeError::Truncated {
            field: "ciphertext",
        });
    }
    Ok(Parts {
        header,
        enc,
        ciphertext,
    })
}

fn encode_header(suite: Suite, enc: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    // Cannot fail for the suites here (32 and 1120 bytes); checked rather than assumed.
    let enc_len = u16::try_from(enc.len()).map_err(|_| EnvelopeError::Malformed {
        reason: "encapsulated key too long",
    })?;
    let mut header = Vec::with_capacity(FIXED_HEADER_LEN + enc.len());
    header.extend_from_slice(&MAGIC);
    header.push(FORMAT_VERSION);
    header.extend_from_slice(&suite.id().to_be_bytes());
    header.extend_from_slice(&enc_len.to_be_bytes());
    header.extend_from_slice(enc);
    Ok(header)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*pair.first()?, *pair.get(1)?]))
}

/// HPKE base-mode seal of one message with suite `(K, HKDF-SHA256, AES-256-GCM)`.
///
/// `frame(enc)` returns the bytes to put before the ciphertext and the associated data; the
/// result is `prefix ‖ ciphertext ‖ tag`, encrypted in place so a large plaintext is copied once.
fn hpke_seal<K: Kem>(
    pk: &K::PublicKey,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
    frame: impl FnOnce(&[u8]) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError>,
) -> Result<Vec<u8>, EnvelopeError> {
    let (enc, mut sender) =
        hpke::setup_sender_with_rng::<Aead, Kdf, K>(&OpModeS::Base, pk, info, rng).map_err(
            |_| {
                // The only encapsulation failure is an all-zero X25519 shared secret.
                EnvelopeError::bad_key("public key rejected by the KEM (low-order point)")
            },
        )?;
    let (mut out, aad) = frame(enc.to_bytes().as_slice())?;
    let start = out.len();
    out.reserve_exact(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let body = out.get_mut(start..).ok_or(EnvelopeError::SealFailed)?;
    let tag = sender
        .seal_inout_detached(InOutBuf::from(body), &aad)
        .map_err(|_| EnvelopeError::SealFailed)?;
    out.extend_from_slice(tag.to_bytes().as_slice());
    Ok(out)
}

/// HPKE base-mode open of one message with suite `(K, HKDF-SHA256, AES-256-GCM)`.
fn hpke_open<K: Kem>(
    sk: &K::PrivateKey,
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let enc = K::EncappedKey::from_bytes(enc).map_err(|_| EnvelopeError::OpenFailed)?;
    // Decapsulation fails only on an all-zero X25519 secret: to the caller that is just "does
    // not open".
    let mut receiver = hpke::setup_receiver::<Aead, Kdf, K>(&OpModeR::Base, sk, &enc, info)
        .map_err(|_| EnvelopeError::OpenFailed)?;
    let body_len = ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(EnvelopeError::Truncated {
            field: "ciphertext",
        })?;
    let (body, tag) = ciphertext
        .split_at_checked(body_len)
        .ok_or(EnvelopeError::OpenFailed)?;
    let tag = AeadTag::<Aead>::from_bytes(tag).map_err(|_| EnvelopeError::OpenFailed)?;
    let mut plaintext = body.to_vec();
    // aes-gcm checks the tag before it decrypts, so a failure leaves only ciphertext here.
    receiver
        .open_inout_detached(InOutBuf::from(plaintext.as_mut_slice()), aad, &tag)
        .map_err(|_| EnvelopeError::OpenFailed)?;
    Ok(plaintext)
}

// ---------------------------------------------------------------------------------------------
// OS randomness
// ---------------------------------------------------------------------------------------------

/// `getrandom` as an infallible RNG that remembers a failure, so that [`with_os_rng`] can turn it
/// into an error instead of a panic. Whatever was computed from a failed draw is discarded.
struct OsRng {
    failure: Option<getrandom::Error>,
}

impl TryRng for OsRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        if let Err(e) = getrandom::fill(dst) {
            self.failure.get_or_insert(e);
        }
        Ok(())
    }
}

impl TryCryptoRng for OsRng {}

fn with_os_rng<T>(
    f: impl FnOnce(&mut OsRng) -> Result<T, EnvelopeError>,
) -> Result<T, EnvelopeError> {
    let mut rng = OsRng { failure: None };
    let result = f(&mut rng);
    match rng.failure {
        Some(e) => Err(EnvelopeError::RngFailed {
            detail: e.to_string(),
        }),
        None => result,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests that need the module's internals: the RFC 9180 known-answer test runs through the very
// functions `seal` and `open` use. Behavioural tests are in tests/envelope.rs.
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// One entry of the CFRG HPKE test vectors, as stored in tests/data.
    #[derive(Deserialize)]
    struct Vector {
        mode: u8,
        kem_id: u16,
        kdf_id: u16,
        aead_id: u16,
        info: String,
        #[serde(rename = "ikmE")]
        ikm_e: String,
        #[serde(rename = "ikmR")]
        ikm_r: String,
        #[serde(rename = "skRm")]
        sk_rm: String,
        #[serde(rename = "pkRm")]
        pk_rm: String,
        enc: String,
        key: String,
        base_nonce: String,
        exporter_secret: String,
        encryptions: Vec<Encryption>,
        exports: Vec<Export>,
    }

    #[derive(Deserialize)]
    struct Encryption {
        aad: String,
        ct: String,
        nonce: String,
        pt: String,
    }

    #[derive(Deserialize)]
    struct Export {
        exporter_context: String,
        #[serde(rename = "L")]
        len: usize,
        exported_value: String,
    }

    fn vector() -> Vector {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/hpke_rfc9180_base_x25519_sha256_aes256gcm.json"
        ));
        serde_json::from_str(text).unwrap()
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Yields exactly the given bytes, then panics: a test that draws more randomness than the
    /// vector specifies is wrong.
    struct FixedRng(Vec<u8>);

    impl TryRng for FixedRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            assert!(
                dst.len() <= self.0.len(),
                "test drew more randomness than it supplied"
            );
            let rest = self.0.split_off(dst.len());
            dst.copy_from_slice(&self.0);
            self.0 = rest;
            Ok(())
        }
    }
    impl TryCryptoRng for FixedRng {}

    #[test]
    fn vector_is_the_suite_we_use() {
        let v = vector();
        assert_eq!(v.mode, 0, "base mode");
        assert_eq!(
            (v.kem_id, v.kdf_id, v.aead_id),
            Suite::X25519Aes256Gcm.hpke_ids()
        );
        // The type aliases the module seals with carry the same ids.
        assert_eq!(
            (
                X25519Kem::KEM_ID,
                <Kdf as hpke::kdf::Kdf>::KDF_ID,
                <Aead as hpke::aead::Aead>::AEAD_ID
            ),
            (v.kem_id, v.kdf_id, v.aead_id)
        );
    }

    #[test]
    fn rfc9180_keypair_from_ikm_r() {
        let v = vector();
        // Key generation draws Nsk = 32 bytes and runs DeriveKeyPair on them, so feeding it ikmR
        // must give the vector's recipient key pair.
        let kp = generate_keypair(Suite::X25519Aes256Gcm, &mut FixedRng(h(&v.ikm_r)));
        assert_eq!(kp.public_key.raw_bytes(), h(&v.pk_rm));
        // skRm in the vectors is unclamped; the key is stored clamped (RFC 7748).
        let mut clamped = h(&v.sk_rm);
        clamped[0] &= 0xf8;
        clamped[31] = (clamped[31] & 0x7f) | 0x40;
        assert_eq!(kp.private_key.raw_bytes().as_slice(), clamped.as_slice());
        // And skRm itself, read as a key, has the vector's public key.
        let sk = PrivateKey::from_raw(Suite::X25519Aes256Gcm, &h(&v.sk_rm)).unwrap();
        assert_eq!(sk.public_key().raw_bytes(), h(&v.pk_rm));
    }

    #[test]
    fn rfc9180_sender_is_exact() {
        let v = vector();
        let pk = PublicKey::from_raw(Suite::X25519Aes256Gcm, &h(&v.pk_rm)).unwrap();
        let PublicInner::X25519(pk) = &pk.0 else {
            panic!("wrong suite")
        };
        let first = &v.encryptions[0];
        // The seal path `seal` uses, with ikmE as the ephemeral randomness and the vector's
        // info and aad: out = enc ‖ ct, so both the encapsulation and the ciphertext are checked.
        let out = hpke_seal::<X25519Kem>(
            pk,
            &h(&v.info),
            &h(&first.pt),
            &mut FixedRng(h(&v.ikm_e)),
            |enc| Ok((enc.to_vec(), h(&first.aad))),
        )
        .unwrap();
        assert_eq!(hex::encode(&out[..32]), v.enc, "enc");
        assert_eq!(
            hex::encode(&out[32..]),
            first.ct,
            "ciphertext of sequence 0"
        );
    }

    #[test]
    fn rfc9180_envelope_encapsulation_is_exact() {
        // Through the public API: the envelope's `enc` field is the vector's enc.
        let v = vector();
        let pk = PublicKey::from_raw(Suite::X25519Aes256Gcm, &h(&v.pk_rm)).unwrap();
        let ctx = SealContext::new("p", "s", 1, [0; 32]);
        let env = seal(&pk, &ctx, b"x", &mut FixedRng(h(&v.ikm_e))).unwrap();
        assert_eq!(
            hex::encode(&env[FIXED_HEADER_LEN..FIXED_HEADER_LEN + 32]),
            v.enc
        );
    }

    #[test]
    fn rfc9180_receiver_opens_vector_ciphertexts() {
        let v = vector();
        let sk = PrivateKey::from_raw(Suite::X25519Aes256Gcm, &h(&v.sk_rm)).unwrap();
        let PrivateInner::X25519(sk) = &sk.0 else {
            panic!("wrong suite")
        };
        let first = &v.encryptions[0];
        // The open path `open` uses, on the vector's first (sequence 0) ciphertext.
        let pt = hpke_open::<X25519Kem>(sk, &h(&v.enc), &h(&v.info), &h(&first.aad), &h(&first.ct))
            .unwrap();
        assert_eq!(pt, h(&first.pt));
        // Any other aad, info or enc does not open it.
        assert_eq!(
            hpke_open::<X25519Kem>(sk, &h(&v.enc), &h(&v.info), b"Count-9", &h(&first.ct)),
            Err(EnvelopeError::OpenFailed)
        );
        assert_eq!(
            hpke_open::<X25519Kem>(sk, &h(&v.enc), b"other info", &h(&first.aad), &h(&first.ct)),
            Err(EnvelopeError::OpenFailed)
        );
        let mut enc = h(&v.enc);
        enc[0] ^= 1;
        assert_eq!(
            hpke_open::<X25519Kem>(sk, &enc, &h(&v.info), &h(&first.aad), &h(&first.ct)),
            Err(EnvelopeError::OpenFailed)
        );
    }

    #[test]
    fn rfc9180_context_sequence_and_exports() {
        // The whole receiver context of the suite, beyond the one message an envelope holds:
        // sequence numbers advance the nonce as the RFC says, and the exporter matches.
        let v = vector();
        let sk = <X25519Kem as Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
        let enc = <X25519Kem as Kem>::EncappedKey::from_bytes(&h(&v.enc)).unwrap();
        let mut receiver =
            hpke::setup_receiver::<Aead, Kdf, X25519Kem>(&OpModeR::Base, &sk, &enc, &h(&v.info))
                .unwrap();
        assert!(v.encryptions.len() >= 2);
        for (seq, e) in v.encryptions.iter().enumerate() {
            assert_eq!(
                receiver.open(&h(&e.ct), &h(&e.aad)).unwrap(),
                h(&e.pt),
                "sequence {seq}"
            );
        }
        for x in &v.exports {
            let mut out = vec![0u8; x.len];
            receiver.export(&h(&x.exporter_context), &mut out).unwrap();
            assert_eq!(hex::encode(&out), x.exported_value);
        }
    }

    #[test]
    fn rfc9180_key_schedule_outputs() {
        // key and base_nonce are internal to hpke; check them with AES-256-GCM directly: the
        // vector's ciphertexts are AES-256-GCM(key, base_nonce xor seq, aad, pt). The exporter
        // secret is checked by building a context from the three and exporting.
        use aes_gcm::aead::{Aead as _, KeyInit, Payload};
        use aes_gcm::{Aes256Gcm, Key, Nonce};
        let v = vector();
        let key = h(&v.key);
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(key.as_slice()).unwrap());
        for (seq, e) in v.encryptions.iter().enumerate() {
            let mut nonce = h(&v.base_nonce);
            let n = nonce.len();
            for (i, b) in (seq as u64).to_be_bytes().iter().enumerate() {
                nonce[n - 8 + i] ^= b;
            }
            assert_eq!(hex::encode(&nonce), e.nonce, "nonce {seq}");
            let ct = cipher
                .encrypt(
                    &Nonce::try_from(nonce.as_slice()).unwrap(),
                    Payload {
                        msg: &h(&e.pt),
                        aad: &h(&e.aad),
                    },
                )
                .unwrap();
            assert_eq!(hex::encode(ct), e.ct, "ciphertext {seq}");
        }
        use hpke::danger::streaming_enc::{
            create_receiver_context, AeadKey, AeadNonce, ExporterSecret,
        };
        let mut k = AeadKey::<Aead>::default();
        k.0.copy_from_slice(&key);
        let mut nonce = AeadNonce::<Aead>::default();
        nonce.0.copy_from_slice(&h(&v.base_nonce));
        let mut secret = ExporterSecret::<Kdf>::default();
        secret.0.copy_from_slice(&h(&v.exporter_secret));
        let ctx = create_receiver_context::<Aead, Kdf, X25519Kem>(&k, nonce, secret);
        for x in &v.exports {
            let mut out = vec![0u8; x.len];
            ctx.export(&h(&x.exporter_context), &mut out).unwrap();
            assert_eq!(hex::encode(&out), x.exported_value);
        }
    }

    #[test]
    fn os_rng_helpers_work() {
        let kp = generate_keypair_with_os_rng(Suite::X25519Aes256Gcm).unwrap();
        let ctx = SealContext::new("p", "s", 7, SealContext::hash_policy(b"{}"));
        let env = seal_with_os_rng(&kp.public_key, &ctx, b"hello").unwrap();
        assert_eq!(open(&kp.private_key, &ctx, &env).unwrap(), b"hello");
        // Two seals of the same message differ: fresh ephemeral key each time.
        let env2 = seal_with_os_rng(&kp.public_key, &ctx, b"hello").unwrap();
        assert_ne!(env, env2);
    }
}
