//! The redirect to the project's Return URL after a result, with its dynamic fields.
//!
//! # Dynamic fields
//!
//! | key | value |
//! |---|---|
//! | `status` | `approved` or `rejected` |
//! | `authId` | the Auth ID of this result |
//! | `submissionId` | the eKYC submission compared against (the `sid` of the visit) |
//! | `userid` | from the liveform URL, if it had one |
//! | `cf1`, `cf2`, `cf3` | from the liveform URL, if it had them |
//!
//! `userid` and `submissionId` are spelled as in the product's existing dynamic fields.
//! The user's e-mail is deliberately not passed: URLs end up in logs and `Referer` headers.
//!
//! Values are percent-encoded with [`crate::params::percent_encode`] (only `A–Z a–z 0–9 - . _ ~`
//! stay as they are; a space is `%20`). They are appended to the Return URL's existing query
//! (which is kept byte for byte, as is any `#fragment`, which stays last). A Return URL whose
//! query already uses one of these keys (or `encrypted`) is refused
//! (`return_url_key_conflict`): two values for one key would be ambiguous to the receiver.
//!
//! **Encrypted form** (the product's "Return URL Encryption"): the same fields as a query
//! string, sealed with [`crate::querycrypt::encrypt_query`] under the project key, are
//! appended as the single parameter `encrypted=g1.…`, so the customer opens them with the
//! same code as the liveform `encrypted=` parameter.
//!
//! # Return URL rules
//!
//! At most [`MAX_RETURN_URL_LEN`] bytes; `http://` or `https://` (any case) followed by a
//! non-empty host; only printable ASCII without space, `"`, `<`, `>`, `\`, `^`, `` ` ``,
//! `{`, `|`, `}` (i.e. already percent-encoded); a well-formed query if it has one. The
//! finished URL is at most [`MAX_OUTPUT_URL_LEN`] bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::params::{self, percent_encode, LiveformParams, ParamsError};
use crate::querycrypt::{self, QueryCryptError, QueryKey, NONCE_LEN};
use crate::webhook::AuthStatus;

/// Longest configured Return URL, in bytes.
pub const MAX_RETURN_URL_LEN: usize = 2048;
/// Longest finished redirect URL, in bytes.
pub const MAX_OUTPUT_URL_LEN: usize = 8192;
/// Longest `authId`/`submissionId` value, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Key of the result status.
pub const KEY_STATUS: &str = "status";
/// Key of the Auth ID.
pub const KEY_AUTH_ID: &str = "authId";
/// Key of the eKYC submission ID.
pub const KEY_SUBMISSION_ID: &str = "submissionId";
/// Key of the user ID.
pub const KEY_USER_ID: &str = "userid";
/// Key of the sealed form.
pub const KEY_ENCRYPTED: &str = "encrypted";
/// Every key this module may add, in the order it adds them.
pub const RESERVED_KEYS: [&str; 8] = [
    KEY_STATUS,
    KEY_AUTH_ID,
    KEY_SUBMISSION_ID,
    KEY_USER_ID,
    "cf1",
    "cf2",
    "cf3",
    KEY_ENCRYPTED,
];

/// The dynamic fields of one result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnFields {
    /// Approved or rejected.
    pub status: AuthStatus,
    /// The Auth ID.
    pub auth_id: String,
    /// The eKYC submission compared against.
    pub submission_id: String,
    /// The customer's user ID, if the visit had one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Custom field 1.
    #[serde(default)]
    pub cf1: Option<String>,
    /// Custom field 2.
    #[serde(default)]
    pub cf2: Option<String>,
    /// Custom field 3.
    #[serde(default)]
    pub cf3: Option<String>,
}

impl ReturnFields {
    /// The fields for a result of a visit with these parameters.
    pub fn from_params(params: &LiveformParams, status: AuthStatus, auth_id: &str) -> Self {
        ReturnFields {
            status,
            auth_id: auth_id.to_owned(),
            submission_id: params.sid.clone(),
            user_id: params.user_id.clone(),
            cf1: params.cf1.clone(),
            cf2: params.cf2.clone(),
            cf3: params.cf3.clone(),
        }
    }

    /// The fields as a query string (no leading `?`), keys in [`RESERVED_KEYS`] order,
    /// absent and empty optional fields left out.
    pub fn to_query(&self) -> String {
        let pairs: [(&str, Option<&str>); 7] = [
            (KEY_STATUS, Some(self.status.as_str())),
            (KEY_AUTH_ID, Some(self.auth_id.as_str())),
            (KEY_SUBMISSION_ID, Some(self.submission_id.as_str())),
            (KEY_USER_ID, self.user_id.as_deref()),
            ("cf1", self.cf1.as_deref()),
            ("cf2", self.cf2.as_deref()),
            ("cf3", self.cf3.as_deref()),
        ];
        let mut out = String::new();
        for (k, v) in pairs {
            let Some(v) = v.filter(|v| !v.is_empty()) else {
                continue;
            };
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(&percent_encode(v));
        }
        out
    }

    fn validate(&self) -> Result<(), ReturnUrlError> {
        for (name, v) in [
            ("authId", &self.auth_id),
            ("submissionId", &self.submission_id),
        ] {
            let ok = !v.is_empty()
                && v.len() <= MAX_ID_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !ok {
                return Err(ReturnUrlError::BadField { name });
            }
        }
        Ok(())
    }
}

/// Checks a configured Return URL (the rules in the module docs).
pub fn validate_return_url(url: &str) -> Result<(), ReturnUrlError> {
    if url.len() > MAX_RETURN_URL_LEN {
        return Err(ReturnUrlError::TooLong {
            len: url.len(),
            max: MAX_RETURN_URL_LEN,
        });
    }
    let lower_prefix = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower_prefix.starts_with("https://") {
        url.get(8..)
    } else if lower_prefix.starts_with("http://") {
        url.get(7..)
    } else {
        return Err(ReturnUrlError::BadScheme);
    }
    .unwrap_or("");
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_end == 0 {
        return Err(ReturnUrlError::Malformed {
            reason: "has no host",
        });
    }
    let bad_byte = |b: u8| !(0x21..=0x7e).contains(&b) || b"\"<>\\^`{|}".contains(&b);
    if url.bytes().any(bad_byte) {
        return Err(ReturnUrlError::Malformed {
            reason:
                "contains a space, a control or non-ASCII character, or one of \" < > \\ ^ ` { | }",
        });
    }
    let before_fragment = url.split_once('#').map_or(url, |(b, _)| b);
    if let Some((_, query)) = before_fragment.split_once('?') {
        let pairs = params::split_query(query).map_err(|e| match e {
            ParamsError::TooManyParams { .. } => ReturnUrlError::Malformed {
                reason: "has too many query parameters",
            },
            _ => ReturnUrlError::Malformed {
                reason: "has a malformed query",
            },
        })?;
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, _)| RESERVED_KEYS.iter().any(|r| r.eq_ignore_ascii_case(k)))
        {
            return Err(ReturnUrlError::KeyConflict {
                key: reserved_name(k),
            });
        }
    }
    Ok(())
}

fn reserved_name(k: &str) -> &'static str {
    RESERVED_KEYS
        .into_iter()
        .find(|r| r.eq_ignore_ascii_case(k))
        .unwrap_or(KEY_ENCRYPTED)
}

/// Builds the redirect URL: `url` with the dynamic fields appended, in plain, or sealed as
/// one `encrypted=` parameter when `seal` is given (`nonce` must be 12 fresh random bytes).
pub fn build_return_url(
    url: &str,
    fields: &ReturnFields,
    seal: Option<(&QueryKey, &[u8; NONCE_LEN])>,
) -> Result<String, ReturnUrlError> {
    validate_return_url(url)?;
    fields.validate()?;
    let plain = fields.to_query();
    let addition = match seal {
        None => plain,
        Some((key, nonce)) => {
            let blob =
                querycrypt::encrypt_query(key, &plain, nonce).map_err(ReturnUrlError::Seal)?;
            format!("{KEY_ENCRYPTED}={}", percent_encode(&blob))
        }
    };
    let (before, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len() + addition.len() + 2);
    out.push_str(before);
    if !before.contains('?') {
        out.push('?');
    } else if !(before.ends_with('?') || before.ends_with('&')) {
        out.push('&');
    }
    out.push_str(&addition);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    if out.len() > MAX_OUTPUT_URL_LEN {
        return Err(ReturnUrlError::TooLong {
            len: out.len(),
            max: MAX_OUTPUT_URL_LEN,
        });
    }
    Ok(out)
}

/// Why a redirect URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnUrlError {
    /// The Return URL (or the finished URL) is too long. Code `return_url_too_long`.
    TooLong {
        /// Length, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not `http://` or `https://`. Code `return_url_bad_scheme`.
    BadScheme,
    /// Breaks another rule. Code `malformed_return_url`.
    Malformed {
        /// Which rule, in words.
        reason: &'static str,
    },
    /// Its query already uses one of the keys this module adds. Code
    /// `return_url_key_conflict`.
    KeyConflict {
        /// The key.
        key: &'static str,
    },
    /// `authId` or `submissionId` is empty, too long or not URL-unreserved. Code
    /// `bad_return_field`.
    BadField {
        /// The key.
        name: &'static str,
    },
    /// Sealing failed; the code is the inner error's (e.g. `blob_too_long`).
    Seal(QueryCryptError),
}

impl ReturnUrlError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReturnUrlError::TooLong { .. } => "return_url_too_long",
            ReturnUrlError::BadScheme => "return_url_bad_scheme",
            ReturnUrlError::Malformed { .. } => "malformed_return_url",
            ReturnUrlError::KeyConflict { .. } => "return_url_key_conflict",
            ReturnUrlError::BadField { .. } => "bad_return_field",
            ReturnUrlError::Seal(e) => e.code(),
        }
    }

    /// The crate-level code: `bad_key` for key problems while sealing, otherwise `bad_input`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReturnUrlError::Seal(e) if e.error_code() == ErrorCode::BadKey => ErrorCode::BadKey,
            _ => ErrorCode::BadInput,
        }
    }
}

impl fmt::Display for ReturnUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReturnUrlError::TooLong { len, max } => {
                write!(f, "the URL is {len} bytes, more than the {max} allowed")
            }
            ReturnUrlError::BadScheme => {
                f.write_str("the Return URL must start with http:// or https://")
            }
            ReturnUrlError::Malformed { reason } => write!(f, "the Return URL {reason}"),
            ReturnUrlError::KeyConflict { key } => {
                write!(
                    f,
                    "the Return URL's query already has the key {key}, which liveform adds"
                )
            }
            ReturnUrlError::BadField { name } => {
                write!(
                    f,
                    "{name} must be 1 to {MAX_ID_LEN} bytes of A-Z a-z 0-9 - . _ ~"
                )
            }
            ReturnUrlError::Seal(e) => write!(f, "sealing the dynamic fields failed: {e}"),
        }
    }
}

impl std::error::Error for ReturnUrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReturnUrlError::Seal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ReturnUrlError> for Error {
    fn from(e: ReturnUrlError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::split_query;

    fn fields() -> ReturnFields {
        ReturnFields {
            status: AuthStatus::Approved,
            auth_id: "auth_123".into(),
            submission_id: "sub_abc".into(),
            user_id: Some("user+1@x.com".into()),
            cf1: Some("a b&c=d".into()),
            cf2: None,
            cf3: Some("한/€?#%".into()),
        }
    }

    #[test]
    fn plain_no_existing_query() {
        let u = build_return_url("https://shop.example/done", &fields(), None).unwrap();
        assert_eq!(
            u,
            "https://shop.example/done?status=approved&authId=auth_123&submissionId=sub_abc\
             &userid=user%2B1%40x.com&cf1=a%20b%26c%3Dd&cf3=%ED%95%9C%2F%E2%82%AC%3F%23%25"
        );
        // Decoding the query gives the values back exactly.
        let q = u.split_once('?').unwrap().1;
        let pairs = split_query(q).unwrap();
        assert_eq!(pairs[3], ("userid".into(), "user+1@x.com".into()));
        assert_eq!(pairs[4], ("cf1".into(), "a b&c=d".into()));
        assert_eq!(pairs[5], ("cf3".into(), "한/€?#%".into()));
        assert_eq!(pairs.len(), 6);
    }

    #[test]
    fn existing_query_and_fragment_preserved() {
        let f = ReturnFields {
            user_id: None,
            cf1: None,
            cf3: None,
            ..fields()
        };
        let tail = "status=approved&authId=auth_123&submissionId=sub_abc";
        let cases = [
            (
                "https://x.example/cb?a=1&b=%20x",
                format!("https://x.example/cb?a=1&b=%20x&{tail}"),
            ),
            (
                "https://x.example/cb?",
                format!("https://x.example/cb?{tail}"),
            ),
            (
                "https://x.example/cb?a=1&",
                format!("https://x.example/cb?a=1&{tail}"),
            ),
            (
                "https://x.example/cb#frag",
                format!("https://x.example/cb?{tail}#frag"),
            ),
            (
                "https://x.example/cb?a=1#f?x=1",
                format!("https://x.example/cb?a=1&{tail}#f?x=1"),
            ),
            (
                "HTTP://localhost:8080",
                format!("HTTP://localhost:8080?{tail}"),
            ),
        ];
        for (base, want) in cases {
            assert_eq!(build_return_url(base, &f, None).unwrap(), want, "{base}");
        }
        let r = ReturnFields {
            status: AuthStatus::Rejected,
            ..f
        };
        assert!(build_return_url("https://x.example/", &r, None)
            .unwrap()
            .contains("status=rejected"));
    }

    #[test]
    fn sealed_form_is_one_param_and_opens() {
        let key = QueryKey::from_bytes([3; 32]);
        let u = build_return_url(
            "https://x.example/cb?keep=1#top",
            &fields(),
            Some((&key, &[5; 12])),
        )
        .unwrap();
        let (before, frag) = u.split_once('#').unwrap();
        assert_eq!(frag, "top");
        let q = before.split_once('?').unwrap().1;
        let pairs = split_query(q).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0], ("keep".into(), "1".into()));
        assert_eq!(pairs[1].0, "encrypted");
        assert!(pairs[1].1.starts_with("g1."));
        let inner = querycrypt::decrypt_query(&key, &pairs[1].1, false).unwrap();
        assert_eq!(inner, fields().to_query());
        // Nothing readable leaks into the URL.
        assert!(!u.contains("auth_123") && !u.contains("sub_abc") && !u.contains("status"));
        // Wrong key cannot open it.
        assert!(
            querycrypt::decrypt_query(&QueryKey::from_bytes([4; 32]), &pairs[1].1, false).is_err()
        );
    }

    #[test]
    fn from_params_carries_visit_fields() {
        let crate::params::ParsedQuery::Plain(p) = crate::params::parse_query(
            "pid=p&sid=sub_9&userid=u1&cf2=two&email=a%40b.co",
            &Default::default(),
        )
        .unwrap() else {
            panic!()
        };
        let f = ReturnFields::from_params(&p, AuthStatus::Rejected, "auth_9");
        assert_eq!(
            f.to_query(),
            "status=rejected&authId=auth_9&submissionId=sub_9&userid=u1&cf2=two"
        );
    }

    #[test]
    fn bad_return_urls() {
        let f = fields();
        let err = |u: &str| build_return_url(u, &f, None).unwrap_err();
        assert_eq!(err("ftp://x.example/"), ReturnUrlError::BadScheme);
        assert_eq!(err("javascript:alert(1)"), ReturnUrlError::BadScheme);
        assert_eq!(err("//x.example/"), ReturnUrlError::BadScheme);
        assert_eq!(err(""), ReturnUrlError::BadScheme);
        assert_eq!(err("https"), ReturnUrlError::BadScheme);
        assert!(matches!(err("https://"), ReturnUrlError::Malformed { .. }));
        assert!(matches!(
            err("https:///path"),
            ReturnUrlError::Malformed { .. }
        ));
        assert!(matches!(
            err("https://x.example/a b"),
            ReturnUrlError::Malformed { .. }
        ));
        assert!(matches!(
            err("https://x.example/\n"),
            ReturnUrlError::Malformed { .. }
        ));
        assert!(matches!(
            err("https://x.example/ü"),
            ReturnUrlError::Malformed { .. }
        ));
        assert!(matches!(
            err("https://x.example/<script>"),
            ReturnUrlError::Malformed { .. }
        ));
        assert!(matches!(
            err("https://x.example/?a=%zz"),
            ReturnUrlError::Malformed { .. }
        ));
        assert_eq!(
            err("https://x.example/?status=old"),
            ReturnUrlError::KeyConflict { key: "status" }
        );
        assert_eq!(
            err("https://x.example/?a=1&AUTHID=x"),
            ReturnUrlError::KeyConflict { key: "authId" }
        );
        assert_eq!(
            err("https://x.example/?encrypted=x"),
            ReturnUrlError::KeyConflict { key: "encrypted" }
        );
        assert_eq!(
            err("https://x.example/?cf2"),
            ReturnUrlError::KeyConflict { key: "cf2" }
        );
        // A reserved word in the fragment is not a query key.
        assert!(build_return_url("https://x.example/#status=1", &f, None).is_ok());
        let long = format!("https://x.example/{}", "a".repeat(MAX_RETURN_URL_LEN));
        assert!(matches!(
            err(&long),
            ReturnUrlError::TooLong {
                max: MAX_RETURN_URL_LEN,
                ..
            }
        ));
    }

    #[test]
    fn bad_fields_and_output_limit() {
        for (auth, sub, name) in [
            ("", "s", "authId"),
            ("a b", "s", "authId"),
            ("a", "", "submissionId"),
            ("a", "s/1", "submissionId"),
        ] {
            let f = ReturnFields {
                auth_id: auth.into(),
                submission_id: sub.into(),
                ..fields()
            };
            assert_eq!(
                build_return_url("https://x.example/", &f, None),
                Err(ReturnUrlError::BadField { name })
            );
        }
        // Every custom field at its maximum in 3-byte characters still fits.
        let big = "한".repeat(85);
        let f = ReturnFields {
            cf1: Some(big.clone()),
            cf2: Some(big.clone()),
            cf3: Some(big),
            ..fields()
        };
        let u = build_return_url("https://x.example/", &f, None).unwrap();
        assert!(u.len() <= MAX_OUTPUT_URL_LEN);
        // An absurd field that would overflow the output is refused, plain or sealed.
        let f = ReturnFields {
            cf1: Some("€".repeat(1000)),
            ..fields()
        };
        assert!(matches!(
            build_return_url("https://x.example/", &f, None),
            Err(ReturnUrlError::TooLong {
                max: MAX_OUTPUT_URL_LEN,
                ..
            })
        ));
        let key = QueryKey::from_bytes([3; 32]);
        let e = build_return_url("https://x.example/", &f, Some((&key, &[0; 12]))).unwrap_err();
        assert_eq!(e.code(), "blob_too_long");
    }

    #[test]
    fn codes_are_distinct_and_mapped() {
        let all = [
            (
                ReturnUrlError::TooLong { len: 1, max: 0 },
                "return_url_too_long",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::BadScheme,
                "return_url_bad_scheme",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::Malformed { reason: "r" },
                "malformed_return_url",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::KeyConflict { key: "status" },
                "return_url_key_conflict",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::BadField { name: "authId" },
                "bad_return_field",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::Seal(QueryCryptError::BlobTooLong { len: 1, max: 0 }),
                "blob_too_long",
                ErrorCode::BadInput,
            ),
            (
                ReturnUrlError::Seal(QueryCryptError::BadKeyLength { len: 1 }),
                "bad_key_length",
                ErrorCode::BadKey,
            ),
        ];
        for (e, code, cc) in all {
            assert_eq!(e.code(), code);
            let ce: Error = e.clone().into();
            assert_eq!(ce.code, cc);
            assert_eq!(ce.message, format!("{code}: {e}"));
        }
    }
}
