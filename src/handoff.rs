//! Desktop → mobile handoff: a short-lived, single-use ticket, its link and its QR code.
//!
//! When the desktop has no usable camera, the backend mints a [`HandoffTicket`] for the
//! desktop's session. The desktop shows [`qr_svg`] of [`handoff_link`]; the phone opens the
//! link, the server [`claim`](HandoffTicket::claim)s the ticket and the phone continues the
//! same session. The desktop follows the phone through server-sent events (see the
//! server's `handoff` module for why SSE rather than polling).
//!
//! # Rules
//!
//! - **Ticket ID**: base64url (no padding) of at least [`MIN_TICKET_BYTES`] = 16 random bytes
//!   (≥ 128 bits) and at most [`MAX_TICKET_BYTES`] = 64, passed in by the caller (the core
//!   reads no RNG). 16 bytes give a 22-character ID.
//! - **Lifetime**: [`DEFAULT_TTL_MS`] = 5 minutes unless configured, between 1 ms and
//!   [`MAX_TTL_MS`] = 30 minutes. A ticket is expired at and after `expires_at_ms`.
//! - **Single use**: the first successful claim marks it claimed; a second claim fails with
//!   `handoff_already_claimed`, a late one with `handoff_expired`. When both apply,
//!   `handoff_already_claimed` is reported. The server makes this atomic with a conditional
//!   update, e.g. `UPDATE handoff SET claimed = 1 WHERE id = ? AND claimed = 0 AND
//!   expires_at_ms > ?`; zero rows changed means the claim lost.
//! - **The link carries only the ticket**: `{base}/?handoff=<ticket>`. The base must be a bare
//!   `http(s)://host[/path]` without query or fragment, so no Token ID, `sid`, key or other
//!   parameter can ride along; the phone gets everything else from the server after the
//!   claim.
//! - **QR code**: medium error correction (M, ~15 % recoverable), byte mode, a 4-module
//!   quiet zone, drawn as an SVG with only a `viewBox` (no pixel width or height), so it scales
//!   crisply to whatever size CSS gives it; `shape-rendering="crispEdges"` avoids
//!   anti-aliased seams between modules.
//!
//! [`device`] decides whether a device captures itself or hands off; [`desk`] is the
//! desktop's state machine while a phone does the capture.

pub mod desk;
pub mod device;

use std::fmt;
use std::fmt::Write as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qrcode::{Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::params;

/// Fewest random bytes in a ticket (128 bits).
pub const MIN_TICKET_BYTES: usize = 16;
/// Most random bytes in a ticket.
pub const MAX_TICKET_BYTES: usize = 64;
/// Default ticket lifetime: 5 minutes.
pub const DEFAULT_TTL_MS: u64 = 5 * 60 * 1000;
/// Longest configurable lifetime: 30 minutes.
pub const MAX_TTL_MS: u64 = 30 * 60 * 1000;
/// Longest session ID, in bytes.
pub const MAX_SESSION_ID_LEN: usize = 128;
/// Longest handoff link accepted by [`qr_svg`] and [`handoff_link`], in bytes.
pub const MAX_LINK_LEN: usize = 512;
/// The query key of the ticket in a handoff link.
pub const HANDOFF_KEY: &str = "handoff";
/// Width of the QR quiet zone, in modules (the QR standard's minimum).
pub const QUIET_ZONE: usize = 4;

/// A desktop→mobile handoff ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffTicket {
    /// The ticket ID: base64url of the random bytes.
    pub id: String,
    /// The capture session the phone will continue.
    pub session_id: String,
    /// When it was minted (unix ms).
    pub created_at_ms: u64,
    /// First instant at which it is expired (unix ms).
    pub expires_at_ms: u64,
    /// Whether a phone has claimed it.
    pub claimed: bool,
}

impl HandoffTicket {
    /// Mints a ticket from `random` (16–64 fresh random bytes) for `session_id`, living
    /// `ttl_ms` from `now_ms`.
    pub fn new(
        random: &[u8],
        session_id: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Self, HandoffError> {
        if !(MIN_TICKET_BYTES..=MAX_TICKET_BYTES).contains(&random.len()) {
            return Err(HandoffError::BadRandom { len: random.len() });
        }
        if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
            return Err(HandoffError::BadTtl { ttl_ms });
        }
        let sid_ok = !session_id.is_empty()
            && session_id.len() <= MAX_SESSION_ID_LEN
            && session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !sid_ok {
            return Err(HandoffError::BadSessionId);
        }
        Ok(HandoffTicket {
            id: URL_SAFE_NO_PAD.encode(random),
            session_id: session_id.to_owned(),
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            claimed: false,
        })
    }

    /// [`Self::new`] with the default 5-minute lifetime.
    pub fn with_default_ttl(
        random: &[u8],
        session_id: &str,
        now_ms: u64,
    ) -> Result<Self, HandoffError> {
        Self::new(random, session_id, now_ms, DEFAULT_TTL_MS)
    }

    /// Whether the ticket is expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// Checks that the ticket could be claimed at `now_ms`, without claiming it.
    pub fn check_claimable(&self, now_ms: u64) -> Result<(), HandoffError> {
        if self.claimed {
            Err(HandoffError::AlreadyClaimed)
        } else if self.is_expired(now_ms) {
            Err(HandoffError::Expired)
        } else {
            Ok(())
        }
    }

    /// Claims the ticket at `now_ms`: succeeds once, before expiry.
    pub fn claim(&mut self, now_ms: u64) -> Result<(), HandoffError> {
        self.check_claimable(now_ms)?;
        self.claimed = true;
        Ok(())
    }

    /// The handoff link for this ticket under `base` (see [`handoff_link`]).
    pub fn link(&self, base: &str) -> Result<String, HandoffError> {
        handoff_link(base, &self.id)
    }
}

/// Checks a ticket ID's shape: canonical base64url without padding of 16–64 bytes.
pub fn validate_ticket_id(id: &str) -> Result<(), HandoffError> {
    // 64 bytes encode to 86 characters; refuse longer text before decoding it.
    if id.len() > 86 {
        return Err(HandoffError::MalformedTicket);
    }
    match URL_SAFE_NO_PAD.decode(id) {
        Ok(bytes) if (MIN_TICKET_BYTES..=MAX_TICKET_BYTES).contains(&bytes.len()) => Ok(()),
        _ => Err(HandoffError::MalformedTicket),
    }
}

/// `{base}/?handoff=<ticket>`. `base` is `http(s)://host[/path]` with no query, fragment,
/// credentials or whitespace; trailing slashes are dropped before `/?handoff=` is added.
pub fn handoff_link(base: &str, ticket_id: &str) -> Result<String, HandoffError> {
    validate_ticket_id(ticket_id)?;
    let lower = base.get(..8).unwrap_or(base).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        base.get(8..)
    } else if lower.starts_with("http://") {
        base.get(7..)
    } else {
        None
    }
    .ok_or(HandoffError::BadBaseUrl)?;
    let host = rest.split('/').next().unwrap_or("");
    let clean = rest.bytes().all(|b| {
        (0x21..=0x7e).contains(&b)
            && !matches!(
                b,
                b'?' | b'#' | b'@' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
    });
    if host.is_empty() || !clean {
        return Err(HandoffError::BadBaseUrl);
    }
    let link = format!("{}/?{HANDOFF_KEY}={ticket_id}", base.trim_end_matches('/'));
    if link.len() > MAX_LINK_LEN {
        return Err(HandoffError::LinkTooLong {
            len: link.len(),
            max: MAX_LINK_LEN,
        });
    }
    Ok(link)
}

/// Reads the ticket ID from the query of an opened handoff link (with or without `?`).
/// Exactly one `handoff` key is required and its value must be a well-formed ticket ID;
/// other keys are ignored (the server gives the phone everything else).
pub fn parse_handoff_query(query: &str) -> Result<String, HandoffError> {
    let pairs = params::split_query(query).map_err(|_| HandoffError::MalformedTicket)?;
    let mut found: Option<String> = None;
    for (k, v) in pairs {
        if k == HANDOFF_KEY {
            if found.is_some() {
                return Err(HandoffError::MalformedTicket);
            }
            found = Some(v);
        }
    }
    let id = found.ok_or(HandoffError::MissingTicket)?;
    validate_ticket_id(&id)?;
    Ok(id)
}

/// The QR code of `link` as a standalone SVG document.
///
/// Error correction M, quiet zone of [`QUIET_ZONE`] modules, one SVG user unit per module:
/// `viewBox="0 0 n n"` with `n = modules + 8` and no `width`/`height`, so the image takes its
/// size from CSS without resampling blur. Light background first, then all dark modules in
/// one `<path>` (horizontal runs merged). No input text is written into the SVG.
pub fn qr_svg(link: &str) -> Result<String, HandoffError> {
    if link.len() > MAX_LINK_LEN {
        return Err(HandoffError::LinkTooLong {
            len: link.len(),
            max: MAX_LINK_LEN,
        });
    }
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
        .map_err(|_| HandoffError::QrEncode)?;
    let width = code.width();
    let colors = code.to_colors();
    let n = width + 2 * QUIET_ZONE;
    let mut svg = String::with_capacity(256 + colors.len() * 4);
    // Writing into a String cannot fail; results are ignored rather than unwrapped.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" shape-rendering="crispEdges" role="img" aria-label="QR code"><path fill="#ffffff" d="M0 0h{n}v{n}H0z"/><path fill="#000000" d=""##
    );
    for (y, row) in colors.chunks(width.max(1)).enumerate() {
        let mut x = 0;
        while x < row.len() {
            if row.get(x) == Some(&Color::Dark) {
                let start = x;
                while row.get(x) == Some(&Color::Dark) {
                    x += 1;
                }
                let _ = write!(
                    svg,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

/// Why a handoff step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffError {
    /// The random input is not 16–64 bytes. Code `bad_ticket_random`.
    BadRandom {
        /// Length given.
        len: usize,
    },
    /// The lifetime is 0 or above [`MAX_TTL_MS`]. Code `bad_ttl`.
    BadTtl {
        /// Lifetime given.
        ttl_ms: u64,
    },
    /// The session ID is empty, too long or not URL-unreserved. Code `bad_session_id`.
    BadSessionId,
    /// The ticket is past its lifetime. Code `handoff_expired`.
    Expired,
    /// The ticket was already claimed. Code `handoff_already_claimed`.
    AlreadyClaimed,
    /// No `handoff` parameter in the link. Code `missing_handoff_ticket`.
    MissingTicket,
    /// A ticket ID of the wrong shape, or given twice. Code `malformed_handoff_ticket`.
    MalformedTicket,
    /// The link base is not a bare `http(s)://host[/path]`. Code `bad_handoff_base_url`.
    BadBaseUrl,
    /// The link is longer than [`MAX_LINK_LEN`]. Code `handoff_link_too_long`.
    LinkTooLong {
        /// Length, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The QR encoder refused the data. Code `qr_encode_failed`.
    QrEncode,
    /// An event from the server's handoff stream is malformed. Code `bad_handoff_event`.
    BadEvent,
    /// A handoff mode other than `off`, `auto`, `always`. Code `bad_handoff_mode`.
    BadMode,
}

impl HandoffError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HandoffError::BadRandom { .. } => "bad_ticket_random",
            HandoffError::BadTtl { .. } => "bad_ttl",
            HandoffError::BadSessionId => "bad_session_id",
            HandoffError::Expired => "handoff_expired",
            HandoffError::AlreadyClaimed => "handoff_already_claimed",
            HandoffError::MissingTicket => "missing_handoff_ticket",
            HandoffError::MalformedTicket => "malformed_handoff_ticket",
            HandoffError::BadBaseUrl => "bad_handoff_base_url",
            HandoffError::LinkTooLong { .. } => "handoff_link_too_long",
            HandoffError::QrEncode => "qr_encode_failed",
            HandoffError::BadEvent => "bad_handoff_event",
            HandoffError::BadMode => "bad_handoff_mode",
        }
    }

    /// The crate-level code: a refused ticket from a link is `bad_params`; everything the
    /// caller configured or passed in is `bad_input`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            HandoffError::Expired
            | HandoffError::AlreadyClaimed
            | HandoffError::MissingTicket
            | HandoffError::MalformedTicket => ErrorCode::BadParams,
            _ => ErrorCode::BadInput,
        }
    }
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffError::BadRandom { len } => write!(
                f,
                "a handoff ticket needs {MIN_TICKET_BYTES} to {MAX_TICKET_BYTES} random bytes, got {len}"
            ),
            HandoffError::BadTtl { ttl_ms } => {
                write!(f, "the handoff lifetime must be 1 to {MAX_TTL_MS} ms, got {ttl_ms}")
            }
            HandoffError::BadSessionId => f.write_str("the session ID must be 1 to 128 bytes of A-Z a-z 0-9 - . _ ~"),
            HandoffError::Expired => f.write_str("the handoff link has expired"),
            HandoffError::AlreadyClaimed => f.write_str("the handoff link was already used"),
            HandoffError::MissingTicket => f.write_str("the link has no handoff ticket"),
            HandoffError::MalformedTicket => f.write_str("the handoff ticket is malformed"),
            HandoffError::BadBaseUrl => {
                f.write_str("the handoff base URL must be http(s)://host[/path] without query or fragment")
            }
            HandoffError::LinkTooLong { len, max } => write!(f, "the handoff link is {len} bytes, more than {max}"),
            HandoffError::QrEncode => f.write_str("the link could not be encoded as a QR code"),
            HandoffError::BadEvent => f.write_str("the handoff progress event is malformed"),
            HandoffError::BadMode => f.write_str("the handoff mode must be off, auto or always"),
        }
    }
}

impl std::error::Error for HandoffError {}

impl From<HandoffError> for Error {
    fn from(e: HandoffError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;
    const RANDOM: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff];
    const ID: &str = "AAECAwQFBgcICQoLDA0O_w";

    fn ticket() -> HandoffTicket {
        HandoffTicket::with_default_ttl(&RANDOM, "sess_1", T0).unwrap()
    }

    #[test]
    fn minting() {
        let t = ticket();
        assert_eq!(t.id, ID);
        assert_eq!(t.id.len(), 22);
        assert_eq!(t.expires_at_ms, T0 + 300_000);
        assert!(!t.claimed);
        assert_eq!(t.session_id, "sess_1");
        assert!(validate_ticket_id(&t.id).is_ok());
        let t = HandoffTicket::new(&[1; 32], "s", T0, 60_000).unwrap();
        assert_eq!(t.expires_at_ms, T0 + 60_000);
        assert_eq!(t.id.len(), 43);
        assert_eq!(
            HandoffTicket::new(&[1; 15], "s", T0, 1),
            Err(HandoffError::BadRandom { len: 15 })
        );
        assert_eq!(
            HandoffTicket::new(&[1; 65], "s", T0, 1),
            Err(HandoffError::BadRandom { len: 65 })
        );
        assert_eq!(
            HandoffTicket::new(&[1; 16], "s", T0, 0),
            Err(HandoffError::BadTtl { ttl_ms: 0 })
        );
        assert_eq!(
            HandoffTicket::new(&[1; 16], "s", T0, MAX_TTL_MS + 1),
            Err(HandoffError::BadTtl {
                ttl_ms: MAX_TTL_MS + 1
            })
        );
        assert!(HandoffTicket::new(&[1; 16], "s", u64::MAX, MAX_TTL_MS).is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(129)] {
            assert_eq!(
                HandoffTicket::new(&[1; 16], bad, T0, 1),
                Err(HandoffError::BadSessionId)
            );
        }
    }

    #[test]
    fn claim_once_before_expiry() {
        let mut t = ticket();
        assert!(t.check_claimable(T0 + 299_999).is_ok());
        assert_eq!(t.claim(T0 + 1_000), Ok(()));
        assert!(t.claimed);
        assert_eq!(t.claim(T0 + 1_001), Err(HandoffError::AlreadyClaimed));
        assert_eq!(t.claim(T0 + 1_000), Err(HandoffError::AlreadyClaimed));
        // Claimed and expired: "already claimed" is reported.
        assert_eq!(t.claim(T0 + 999_999), Err(HandoffError::AlreadyClaimed));
    }

    #[test]
    fn expiry() {
        let mut t = ticket();
        assert!(!t.is_expired(T0 + 299_999));
        assert!(t.is_expired(T0 + 300_000));
        assert_eq!(t.claim(T0 + 300_000), Err(HandoffError::Expired));
        assert_eq!(t.claim(T0 + 10_000_000), Err(HandoffError::Expired));
        assert!(!t.claimed, "a failed claim must not mark the ticket");
        // A clock before creation is not expired.
        assert!(t.check_claimable(T0 - 1).is_ok());
    }

    #[test]
    fn link_carries_only_the_ticket() {
        let t = ticket();
        let link = t.link("https://liveform.example").unwrap();
        assert_eq!(link, format!("https://liveform.example/?handoff={ID}"));
        assert_eq!(t.link("https://liveform.example/").unwrap(), link);
        assert_eq!(
            t.link("https://liveform.example/m///").unwrap(),
            format!("https://liveform.example/m/?handoff={ID}")
        );
        // Exactly one query parameter, and it is the ticket.
        let (_, q) = link.split_once('?').unwrap();
        let pairs = params::split_query(q).unwrap();
        assert_eq!(pairs, vec![("handoff".to_owned(), t.id.clone())]);
        assert_eq!(parse_handoff_query(q).unwrap(), t.id);
        assert!(!link.contains("sess_1"));
        // Bases that could smuggle anything else are refused.
        for bad in [
            "https://liveform.example/?pid=p",
            "https://liveform.example/?",
            "https://liveform.example/#sid=s",
            "https://user:pw@liveform.example/",
            "https://liveform.example/a b",
            "ftp://liveform.example/",
            "https://",
            "https:///x",
            "liveform.example",
            "",
        ] {
            assert_eq!(
                handoff_link(bad, &t.id),
                Err(HandoffError::BadBaseUrl),
                "{bad}"
            );
        }
        assert_eq!(
            handoff_link("https://x.example", "short"),
            Err(HandoffError::MalformedTicket)
        );
        let long_base = format!("https://x.example/{}", "a".repeat(MAX_LINK_LEN));
        assert!(matches!(
            handoff_link(&long_base, &t.id),
            Err(HandoffError::LinkTooLong { .. })
        ));
    }

    #[test]
    fn parse_handoff_queries() {
        let id = ticket().id;
        assert_eq!(parse_handoff_query(&format!("?handoff={id}")).unwrap(), id);
        assert_eq!(
            parse_handoff_query(&format!("x=1&handoff={id}")).unwrap(),
            id
        );
        assert_eq!(parse_handoff_query(""), Err(HandoffError::MissingTicket));
        assert_eq!(
            parse_handoff_query("pid=p"),
            Err(HandoffError::MissingTicket)
        );
        assert_eq!(
            parse_handoff_query(&format!("handoff={id}&handoff={id}")),
            Err(HandoffError::MalformedTicket)
        );
        for bad in [
            "handoff=",
            "handoff=abc",
            "handoff=%zz",
            "handoff=AAAAAAAAAAAAAAAAAAAAAA==",
            "handoff=AAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert_eq!(
                parse_handoff_query(bad),
                Err(HandoffError::MalformedTicket),
                "{bad}"
            );
        }
        let too_long = format!("handoff={}", "A".repeat(87));
        assert_eq!(
            parse_handoff_query(&too_long),
            Err(HandoffError::MalformedTicket)
        );
    }

    /// Reads the dark modules back out of our SVG path (inverse of the renderer).
    fn modules_from_svg(svg: &str, n: usize) -> Vec<bool> {
        let marker = r##"<path fill="#000000" d=""##;
        let start = svg.find(marker).unwrap() + marker.len();
        let d = &svg[start..svg[start..].find('"').unwrap() + start];
        let mut grid = vec![false; n * n];
        for cmd in d.split('M').filter(|s| !s.is_empty()) {
            // "{x} {y}h{len}v1h-{len}z"
            let (xy, rest) = cmd.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let (len, tail) = rest.split_once('v').unwrap();
            let (x, y, len): (usize, usize, usize) =
                (x.parse().unwrap(), y.parse().unwrap(), len.parse().unwrap());
            assert_eq!(tail, format!("1h-{len}z"));
            assert!(len >= 1);
            for i in x..x + len {
                assert!(!grid[y * n + i], "module drawn twice");
                grid[y * n + i] = true;
            }
        }
        grid
    }

    #[test]
    fn qr_svg_is_well_formed_crisp_and_matches_the_code() {
        let link = ticket().link("https://liveform.example").unwrap();
        // 56 bytes in byte mode at level M need version 4 (capacity 62; version 3 holds 42),
        // i.e. 4*4+17 = 33 modules, plus 2*4 quiet zone = 41.
        assert_eq!(link.len(), 56);
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).unwrap();
        assert_eq!(code.version(), qrcode::Version::Normal(4));
        assert_eq!(code.width(), 33);
        assert_eq!(code.error_correction_level(), EcLevel::M);
        let svg = qr_svg(&link).unwrap();
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 41 41""#));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"shape-rendering="crispEdges""#));
        assert!(!svg.contains("width") && !svg.contains("height") && !svg.contains("px"));
        assert!(
            !svg.contains(&ticket().id),
            "no text content leaks into the SVG"
        );
        // Tag balance: one <svg>, two self-closed paths, nothing else.
        assert_eq!(svg.matches('<').count(), 4);
        assert_eq!(svg.matches("/>").count(), 2);
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert_eq!(svg.matches('"').count() % 2, 0);
        // Decoding the path gives back exactly the code's modules, shifted by the quiet zone.
        let grid = modules_from_svg(&svg, 41);
        let colors = code.to_colors();
        for y in 0..41 {
            for x in 0..41 {
                let inside = (4..37).contains(&x) && (4..37).contains(&y);
                let want = inside && colors[(y - 4) * 33 + (x - 4)] == Color::Dark;
                assert_eq!(grid[y * 41 + x], want, "module ({x},{y})");
            }
        }
        // The three finder patterns' corners are dark, the quiet zone light.
        assert!(grid[4 * 41 + 4] && grid[4 * 41 + 36] && grid[36 * 41 + 4]);
        assert!(!grid[0] && !grid[3 * 41 + 3]);
    }

    #[test]
    fn qr_sizes_grow_with_link_length() {
        // (link length, expected version) at level M in byte mode; lower-case letters only,
        // so no segment can be numeric or alphanumeric.
        for (len, version) in [
            (14, 1),
            (15, 2),
            (26, 2),
            (27, 3),
            (42, 3),
            (43, 4),
            (62, 4),
            (63, 5),
            (84, 5),
            (106, 6),
        ] {
            let link = "h".repeat(len);
            let svg = qr_svg(&link).unwrap();
            let n = 17 + 4 * version + 8;
            assert!(
                svg.contains(&format!(r#"viewBox="0 0 {n} {n}""#)),
                "len {len}: want version {version}"
            );
        }
        assert!(matches!(
            qr_svg(&"h".repeat(MAX_LINK_LEN + 1)),
            Err(HandoffError::LinkTooLong { .. })
        ));
        assert!(qr_svg("").is_ok());
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_string(&ticket()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"AAECAwQFBgcICQoLDA0O_w","sessionId":"sess_1","createdAtMs":1700000000000,"expiresAtMs":1700000300000,"claimed":false}"#
        );
        assert_eq!(
            serde_json::from_str::<HandoffTicket>(&json).unwrap(),
            ticket()
        );
    }

    #[test]
    fn codes_are_distinct_and_mapped() {
        let all = [
            (
                HandoffError::BadRandom { len: 1 },
                "bad_ticket_random",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::BadTtl { ttl_ms: 0 },
                "bad_ttl",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::BadSessionId,
                "bad_session_id",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::Expired,
                "handoff_expired",
                ErrorCode::BadParams,
            ),
            (
                HandoffError::AlreadyClaimed,
                "handoff_already_claimed",
                ErrorCode::BadParams,
            ),
            (
                HandoffError::MissingTicket,
                "missing_handoff_ticket",
                ErrorCode::BadParams,
            ),
            (
                HandoffError::MalformedTicket,
                "malformed_handoff_ticket",
                ErrorCode::BadParams,
            ),
            (
                HandoffError::BadBaseUrl,
                "bad_handoff_base_url",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::LinkTooLong { len: 1, max: 0 },
                "handoff_link_too_long",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::QrEncode,
                "qr_encode_failed",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::BadEvent,
                "bad_handoff_event",
                ErrorCode::BadInput,
            ),
            (
                HandoffError::BadMode,
                "bad_handoff_mode",
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
