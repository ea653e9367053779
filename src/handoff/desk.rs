//! The desktop side of a handoff as a pure state machine. The page feeds it events (a ticket
//! arrived, the server reported progress, time passed) with the time passed in, and renders
//! the [`DeskView`] it returns; the view's one-shot [`DeskAction`] says which I/O the page
//! does next (ask for a ticket, close the event stream, start again, capture here).
//!
//! ```text
//! begin → Minting ─ticket→ Waiting ─refresh due→ Minting ─ticket→ Waiting …
//!            (the current code stays on screen while it is valid; a new one replaces it)
//! Minting/Waiting ─claimed→ PhoneConnected ─capturing→ Capturing ─done→ Done(result)
//! any live state ─failed→ Failed(code) │ ─expired→ Expired     (both offer "start again")
//! Minting/Waiting ─use this device→ Local                       (only when offered)
//! ```
//!
//! Progress only moves forward: the event stream replays the current state when it
//! reconnects, and a stale or repeated event never moves the desktop back.
//!
//! Times are the page's monotonic clock (`performance.now()`), never the server's: the
//! server says how long a ticket lives (`expiresInMs`), so clock skew between the two
//! machines does not matter.

use serde::{Deserialize, Serialize};

use super::{handoff_link, parse_handoff_query, qr_svg, HandoffError, MAX_LINK_LEN};
use crate::webhook::AuthStatus;

/// The outcome the desktop shows, as the server reports it (the same fields as the
/// upload's answer, so the desktop ends exactly where a direct capture ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffResult {
    /// The Auth ID.
    pub auth_id: String,
    /// Approved or rejected.
    pub status: AuthStatus,
    /// Where the user goes next (absent when the project has none).
    #[serde(default)]
    pub return_url: Option<String>,
}

/// The session's handoff progress as the server sees it; one event of the event stream.
/// JSON: `{"state":"waiting"}`, `{"state":"done","result":{…}}`, `{"state":"failed","code":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Unknown extra fields are tolerated, so a newer server can add some.
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerState {
    /// No phone has claimed a ticket yet.
    Waiting,
    /// A phone claimed a ticket and has the session.
    Claimed,
    /// The phone pressed Start.
    Capturing,
    /// The session has a result.
    Done {
        /// The result.
        result: HandoffResult,
    },
    /// The phone gave up (`code`: why, e.g. `attempts_exhausted`).
    Failed {
        /// The phone's error code.
        code: String,
    },
    /// The session expired before a result.
    Expired,
}

impl ServerState {
    /// Progress order: waiting 0, claimed 1, capturing 2, any final state 3.
    pub fn rank(&self) -> u8 {
        match self {
            ServerState::Waiting => 0,
            ServerState::Claimed => 1,
            ServerState::Capturing => 2,
            ServerState::Done { .. } | ServerState::Failed { .. } | ServerState::Expired => 3,
        }
    }

    /// Whether nothing follows this state.
    pub fn is_final(&self) -> bool {
        self.rank() == 3
    }

    /// Checks the fields: an error code is 1–64 of `a-z 0-9 _`, an Auth ID 1–128 URL-unreserved
    /// characters, a return URL `http(s)://` without spaces or control characters.
    pub fn validate(&self) -> Result<(), HandoffError> {
        match self {
            ServerState::Failed { code } if !is_code(code) => Err(HandoffError::BadEvent),
            ServerState::Done { result } => {
                let id_ok = !result.auth_id.is_empty()
                    && result.auth_id.len() <= 128
                    && result.auth_id.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    });
                let url_ok = result.return_url.as_deref().is_none_or(|u| {
                    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
                    (lower.starts_with("https://") || lower.starts_with("http://"))
                        && u.len() <= 4096
                        && u.bytes().all(|b| (0x21..=0x7e).contains(&b))
                });
                if id_ok && url_ok {
                    Ok(())
                } else {
                    Err(HandoffError::BadEvent)
                }
            }
            _ => Ok(()),
        }
    }

    /// Parses and validates one event's data.
    pub fn from_json(data: &str) -> Result<Self, HandoffError> {
        if data.len() > 8192 {
            return Err(HandoffError::BadEvent);
        }
        let s: ServerState = serde_json::from_str(data).map_err(|_| HandoffError::BadEvent)?;
        s.validate()?;
        Ok(s)
    }
}

/// A stable snake_case error code.
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Timing rules of the desktop side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeskConfig {
    /// A ticket is replaced this long before it expires (a fifth of its life when that is
    /// shorter), so a phone scanning at the last moment still finds a valid code.
    pub refresh_margin_ms: u64,
    /// Tickets are never asked for more often than this, however short they live.
    pub min_refresh_interval_ms: u64,
    /// Wait before asking again after a failure worth retrying (network, server error).
    pub retry_delay_ms: u64,
    /// Failures in a row before giving up.
    pub max_retries: u32,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            refresh_margin_ms: 30_000,
            min_refresh_interval_ms: 1_000,
            retry_delay_ms: 2_000,
            max_retries: 3,
        }
    }
}

/// Where the desktop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskState {
    /// Asking the server for a ticket (a still-valid earlier code may be on screen).
    Minting,
    /// Showing the code, waiting for a phone.
    Waiting,
    /// A phone opened the link.
    PhoneConnected,
    /// The phone is taking the selfie.
    Capturing,
    /// The result is in.
    Done,
    /// The handoff failed; the view's `error` says why.
    Failed,
    /// The session expired.
    Expired,
    /// The user chose to capture on this device.
    Local,
}

/// I/O for the page to do, given once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskAction {
    /// Nothing.
    #[default]
    None,
    /// Ask the server for a ticket; report with `ticket_issued` or `ticket_failed`.
    Mint,
    /// Close the event stream (a final state was reached).
    CloseEvents,
    /// Start over with a new session.
    Restart,
    /// Close the event stream and show the start screen of a capture on this device.
    UseLocal,
}

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskView {
    /// `handoff`, `result` (done) or `start` (capture here).
    pub screen: &'static str,
    /// The state, for the status line.
    pub state: DeskState,
    /// The link to show as text and copy (only while a valid code is shown).
    pub link: Option<String>,
    /// The link's QR code as SVG (exactly when `link` is set).
    pub qr_svg: Option<String>,
    /// I/O to do now.
    pub action: DeskAction,
    /// The error code when failed.
    pub error: Option<String>,
    /// Whether "start again" is offered.
    pub can_restart: bool,
    /// Whether "use this device" is offered.
    pub allow_local: bool,
    /// The result when done.
    pub result: Option<HandoffResult>,
}

/// Server error codes worth asking again for.
fn is_transient(code: &str) -> bool {
    matches!(code, "network" | "internal" | "unknown" | "timeout")
}

/// The desktop's handoff state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskMachine {
    config: DeskConfig,
    allow_local: bool,
    state: DeskState,
    begun: bool,
    in_flight: bool,
    link: Option<(String, String)>,
    link_expires_ms: f64,
    refresh_at_ms: f64,
    retry_at_ms: Option<f64>,
    failures: u32,
    error: Option<String>,
    result: Option<HandoffResult>,
    action: DeskAction,
}

impl DeskMachine {
    /// A machine that has not asked for a ticket yet. `allow_local`: the user may go back to
    /// capturing on this device ([`super::device::Placement::OfferHandoff`]).
    pub fn new(config: DeskConfig, allow_local: bool) -> Self {
        DeskMachine {
            config,
            allow_local,
            state: DeskState::Minting,
            begun: false,
            in_flight: false,
            link: None,
            link_expires_ms: 0.0,
            refresh_at_ms: 0.0,
            retry_at_ms: None,
            failures: 0,
            error: None,
            result: None,
            action: DeskAction::None,
        }
    }

    /// The state.
    pub fn state(&self) -> DeskState {
        self.state
    }

    fn is_live(&self) -> bool {
        matches!(
            self.state,
            DeskState::Minting
                | DeskState::Waiting
                | DeskState::PhoneConnected
                | DeskState::Capturing
        )
    }

    fn mint(&mut self) {
        self.state = DeskState::Minting;
        self.in_flight = true;
        self.retry_at_ms = None;
        self.action = DeskAction::Mint;
    }

    fn finish(&mut self, state: DeskState) {
        self.state = state;
        self.link = None;
        self.in_flight = false;
        self.retry_at_ms = None;
        self.action = DeskAction::CloseEvents;
    }

    /// The handoff screen opened: ask for the first ticket.
    pub fn begin(&mut self, _now_ms: f64) {
        if !self.begun {
            self.begun = true;
            self.mint();
        }
    }

    /// The server minted a ticket: `link`, living `expires_in_ms` from now. A ticket that
    /// arrives after a phone connected is ignored. A link that is not a handoff link, or a
    /// lifetime of 0, is refused (typed error) and leaves the state as it was.
    pub fn ticket_issued(
        &mut self,
        now_ms: f64,
        link: &str,
        expires_in_ms: u64,
    ) -> Result<(), HandoffError> {
        if link.len() > MAX_LINK_LEN {
            return Err(HandoffError::LinkTooLong {
                len: link.len(),
                max: MAX_LINK_LEN,
            });
        }
        let (base, query) = link.split_once("/?").ok_or(HandoffError::MissingTicket)?;
        let ticket = parse_handoff_query(query)?;
        if handoff_link(base, &ticket)? != link {
            return Err(HandoffError::MalformedTicket);
        }
        if expires_in_ms == 0 {
            return Err(HandoffError::BadTtl { ttl_ms: 0 });
        }
        let svg = qr_svg(link)?;
        if !matches!(self.state, DeskState::Minting | DeskState::Waiting) {
            return Ok(());
        }
        let life = expires_in_ms as f64;
        let margin = (self.config.refresh_margin_ms as f64).min(life / 5.0);
        self.in_flight = false;
        self.failures = 0;
        self.retry_at_ms = None;
        self.state = DeskState::Waiting;
        self.link = Some((link.to_owned(), svg));
        self.link_expires_ms = now_ms + life;
        self.refresh_at_ms =
            now_ms + (life - margin).max(self.config.min_refresh_interval_ms as f64);
        Ok(())
    }

    /// Asking for a ticket failed with the server's (or `network`) error `code`.
    pub fn ticket_failed(&mut self, now_ms: f64, code: &str) {
        if self.state != DeskState::Minting {
            return;
        }
        self.in_flight = false;
        match code {
            "session_expired" => self.finish(DeskState::Expired),
            // A phone got there first (or the session is decided): the event stream brings
            // the news; nothing to ask for.
            "handoff_already_claimed" | "session_decided" | "handoff_session_started" => {}
            c if is_transient(c) && self.failures < self.config.max_retries => {
                self.failures += 1;
                self.retry_at_ms = Some(now_ms + self.config.retry_delay_ms as f64);
            }
            c => {
                self.error = Some(if is_code(c) { c } else { "unknown" }.to_owned());
                self.finish(DeskState::Failed);
            }
        }
    }

    /// Time passed: refresh the ticket when due, retry after a failure, and stop showing a
    /// code once it has expired.
    pub fn tick(&mut self, now_ms: f64) {
        if self.link.is_some() && now_ms >= self.link_expires_ms {
            self.link = None;
        }
        match self.state {
            DeskState::Waiting if now_ms >= self.refresh_at_ms => self.mint(),
            DeskState::Minting
                if !self.in_flight && self.retry_at_ms.is_some_and(|t| now_ms >= t) =>
            {
                self.mint()
            }
            _ => {}
        }
    }

    /// One event from the server's event stream (its `data`, JSON). Malformed data is a
    /// typed error (`bad_handoff_event`) and changes nothing.
    pub fn server_event(&mut self, _now_ms: f64, data: &str) -> Result<(), HandoffError> {
        let event = ServerState::from_json(data)?;
        self.apply(event);
        Ok(())
    }

    /// Applies a server state (forward moves only).
    pub fn apply(&mut self, event: ServerState) {
        let current = match self.state {
            DeskState::Minting | DeskState::Waiting => 0,
            DeskState::PhoneConnected => 1,
            DeskState::Capturing => 2,
            DeskState::Done | DeskState::Failed | DeskState::Expired | DeskState::Local => return,
        };
        if event.rank() <= current {
            return;
        }
        match event {
            ServerState::Waiting => {}
            ServerState::Claimed | ServerState::Capturing => {
                self.state = if event == ServerState::Claimed {
                    DeskState::PhoneConnected
                } else {
                    DeskState::Capturing
                };
                self.link = None;
                self.in_flight = false;
                self.retry_at_ms = None;
                if self.action == DeskAction::Mint {
                    self.action = DeskAction::None; // no ticket is needed any more
                }
            }
            ServerState::Done { result } => {
                self.result = Some(result);
                self.finish(DeskState::Done);
            }
            ServerState::Failed { code } => {
                self.error = Some(code);
                self.finish(DeskState::Failed);
            }
            ServerState::Expired => self.finish(DeskState::Expired),
        }
    }

    /// The event stream closed for good (the browser stopped reconnecting).
    pub fn events_closed(&mut self, _now_ms: f64) {
        if self.is_live() {
            self.error = Some("handoff_connection_lost".into());
            self.state = DeskState::Failed;
            self.link = None;
            self.in_flight = false;
            self.retry_at_ms = None;
        }
    }

    /// "Start again" pressed: only after a failure or expiry.
    pub fn start_again(&mut self) {
        if matches!(self.state, DeskState::Failed | DeskState::Expired) {
            self.action = DeskAction::Restart;
        }
    }

    /// "Use this device instead" pressed: only when offered and no phone has connected.
    pub fn use_this_device(&mut self) {
        if self.allow_local && matches!(self.state, DeskState::Minting | DeskState::Waiting) {
            self.state = DeskState::Local;
            self.link = None;
            self.in_flight = false;
            self.retry_at_ms = None;
            self.action = DeskAction::UseLocal;
        }
    }

    /// The view, handing out the pending action (once).
    pub fn take_view(&mut self) -> DeskView {
        let mut v = self.view();
        v.action = std::mem::take(&mut self.action);
        v
    }

    /// The view, without taking the pending action.
    pub fn view(&self) -> DeskView {
        let screen = match self.state {
            DeskState::Done => "result",
            DeskState::Local => "start",
            _ => "handoff",
        };
        let shown = matches!(self.state, DeskState::Minting | DeskState::Waiting);
        let link = self.link.as_ref().filter(|_| shown);
        DeskView {
            screen,
            state: self.state,
            link: link.map(|(l, _)| l.clone()),
            qr_svg: link.map(|(_, s)| s.clone()),
            action: DeskAction::None,
            error: self
                .error
                .clone()
                .filter(|_| self.state == DeskState::Failed),
            can_restart: matches!(self.state, DeskState::Failed | DeskState::Expired),
            allow_local: self.allow_local && shown,
            result: self.result.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://liveform.example/?handoff=AAECAwQFBgcICQoLDA0O_w";
    const LINK2: &str = "https://liveform.example/?handoff=AQECAwQFBgcICQoLDA0O_w";
    const MIN5: u64 = 300_000;

    /// A machine that has begun, its first Mint taken.
    fn machine(allow_local: bool) -> DeskMachine {
        let mut m = DeskMachine::new(DeskConfig::default(), allow_local);
        m.begin(0.0);
        assert_eq!(m.take_view().action, DeskAction::Mint);
        m
    }

    fn done_json() -> &'static str {
        r#"{"state":"done","result":{"authId":"auth_x1","status":"approved","returnUrl":"https://example.com/done?authId=auth_x1&status=approved"}}"#
    }

    #[test]
    fn happy_path_with_one_shot_actions() {
        let mut m = DeskMachine::new(DeskConfig::default(), false);
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "nothing before begin"
        );
        m.begin(0.0);
        let v = m.take_view();
        assert_eq!(
            (v.screen, v.state, v.action),
            ("handoff", DeskState::Minting, DeskAction::Mint)
        );
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "an action is given once"
        );
        m.begin(1.0);
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "begin is idempotent"
        );

        m.ticket_issued(100.0, LINK, MIN5).unwrap();
        let v = m.take_view();
        assert_eq!(v.state, DeskState::Waiting);
        assert_eq!(v.link.as_deref(), Some(LINK));
        let svg = v.qr_svg.unwrap();
        assert_eq!(svg, qr_svg(LINK).unwrap());
        assert!(!v.allow_local && !v.can_restart && v.error.is_none());

        m.server_event(200.0, r#"{"state":"waiting"}"#).unwrap();
        assert_eq!(m.state(), DeskState::Waiting);
        m.server_event(300.0, r#"{"state":"claimed"}"#).unwrap();
        let v = m.take_view();
        assert_eq!(v.state, DeskState::PhoneConnected);
        assert!(
            v.link.is_none() && v.qr_svg.is_none(),
            "the code goes once used"
        );
        m.server_event(400.0, r#"{"state":"capturing"}"#).unwrap();
        assert_eq!(m.state(), DeskState::Capturing);
        m.server_event(500.0, done_json()).unwrap();
        let v = m.take_view();
        assert_eq!(
            (v.screen, v.state, v.action),
            ("result", DeskState::Done, DeskAction::CloseEvents)
        );
        let r = v.result.unwrap();
        assert_eq!(r.auth_id, "auth_x1");
        assert_eq!(r.status, AuthStatus::Approved);
        assert!(r
            .return_url
            .unwrap()
            .starts_with("https://example.com/done"));
        assert!(!v.can_restart);
    }

    #[test]
    fn the_ticket_is_refreshed_before_it_expires() {
        let mut m = machine(false);
        m.take_view();
        m.ticket_issued(1_000.0, LINK, MIN5).unwrap();
        // 5 minutes: replaced 30 s before the end.
        m.tick(1_000.0 + 269_999.0);
        assert_eq!(m.take_view().action, DeskAction::None);
        m.tick(1_000.0 + 270_000.0);
        let v = m.take_view();
        assert_eq!((v.state, v.action), (DeskState::Minting, DeskAction::Mint));
        assert_eq!(
            v.link.as_deref(),
            Some(LINK),
            "the valid code stays up while minting"
        );
        m.tick(1_000.0 + 280_000.0);
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "one request at a time"
        );
        m.ticket_issued(1_000.0 + 281_000.0, LINK2, MIN5).unwrap();
        let v = m.take_view();
        assert_eq!(
            (v.state, v.link.as_deref()),
            (DeskState::Waiting, Some(LINK2))
        );
        assert_eq!(v.qr_svg.unwrap(), qr_svg(LINK2).unwrap());

        // 5 s: a fifth of the life as margin.
        let mut m = machine(false);
        m.ticket_issued(0.0, LINK, 5_000).unwrap();
        m.tick(3_999.0);
        assert_eq!(m.state(), DeskState::Waiting);
        m.tick(4_000.0);
        assert_eq!(m.state(), DeskState::Minting);

        // Very short lives do not make a request storm, and an expired code is hidden.
        let mut m = machine(false);
        m.take_view();
        m.ticket_issued(0.0, LINK, 200).unwrap();
        m.tick(199.0);
        assert!(m.view().link.is_some());
        m.tick(200.0);
        let v = m.take_view();
        assert_eq!((v.state, v.action), (DeskState::Waiting, DeskAction::None));
        assert!(v.link.is_none(), "an expired code is not shown");
        m.tick(1_000.0);
        assert_eq!(m.take_view().action, DeskAction::Mint);
    }

    #[test]
    fn mint_failures() {
        // Transient: retried after a delay, then given up.
        let mut m = machine(false);
        m.take_view();
        for i in 0..3 {
            let t = i as f64 * 10_000.0;
            m.ticket_failed(t, "network");
            assert_eq!(m.take_view().action, DeskAction::None);
            m.tick(t + 1_999.0);
            assert_eq!(m.take_view().action, DeskAction::None);
            m.tick(t + 2_000.0);
            assert_eq!(m.take_view().action, DeskAction::Mint, "retry {i}");
        }
        m.ticket_failed(40_000.0, "internal");
        let v = m.take_view();
        assert_eq!(
            (v.state, v.error.as_deref()),
            (DeskState::Failed, Some("internal"))
        );
        assert_eq!(v.action, DeskAction::CloseEvents);
        assert!(v.can_restart);
        m.start_again();
        assert_eq!(m.take_view().action, DeskAction::Restart);

        // A success resets the count.
        let mut m = machine(false);
        m.ticket_failed(0.0, "network");
        m.tick(2_000.0);
        m.ticket_issued(2_100.0, LINK, 10_000).unwrap();
        assert_eq!(m.failures, 0);

        // Final answers.
        let mut m = machine(false);
        m.ticket_failed(0.0, "session_expired");
        let v = m.take_view();
        assert_eq!((v.state, v.can_restart), (DeskState::Expired, true));
        let mut m = machine(false);
        m.ticket_failed(0.0, "handoff_disabled");
        assert_eq!(m.view().error.as_deref(), Some("handoff_disabled"));
        let mut m = machine(false);
        m.ticket_failed(0.0, "Not A Code <script>");
        assert_eq!(m.view().error.as_deref(), Some("unknown"));

        // A phone was quicker: wait for the stream, do not retry or fail.
        let mut m = machine(false);
        m.take_view();
        m.ticket_failed(0.0, "handoff_already_claimed");
        m.tick(60_000.0);
        let v = m.take_view();
        assert_eq!((v.state, v.action), (DeskState::Minting, DeskAction::None));
        m.server_event(60_001.0, r#"{"state":"claimed"}"#).unwrap();
        assert_eq!(m.state(), DeskState::PhoneConnected);

        // A failure report outside Minting changes nothing.
        m.ticket_failed(60_002.0, "internal");
        assert_eq!(m.state(), DeskState::PhoneConnected);
    }

    #[test]
    fn progress_only_moves_forward() {
        let mut m = machine(false);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        m.server_event(1.0, r#"{"state":"capturing"}"#).unwrap();
        assert_eq!(m.state(), DeskState::Capturing, "a missed step is skipped");
        for stale in [
            r#"{"state":"waiting"}"#,
            r#"{"state":"claimed"}"#,
            r#"{"state":"capturing"}"#,
        ] {
            m.server_event(2.0, stale).unwrap();
            assert_eq!(m.state(), DeskState::Capturing);
        }
        // A ticket arriving late is ignored (the phone has the session).
        m.ticket_issued(3.0, LINK2, MIN5).unwrap();
        assert!(m.view().link.is_none());
        m.tick(1e9);
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "no refresh once a phone has it"
        );
        m.server_event(4.0, done_json()).unwrap();
        assert_eq!(m.take_view().action, DeskAction::CloseEvents);
        // Replays and contradictions after the end change nothing.
        m.server_event(5.0, done_json()).unwrap();
        m.server_event(5.0, r#"{"state":"failed","code":"attempts_exhausted"}"#)
            .unwrap();
        m.server_event(5.0, r#"{"state":"expired"}"#).unwrap();
        m.events_closed(6.0);
        let v = m.take_view();
        assert_eq!((v.state, v.action), (DeskState::Done, DeskAction::None));
        m.start_again();
        assert_eq!(
            m.take_view().action,
            DeskAction::None,
            "nothing to restart after done"
        );

        // A Mint not yet taken is dropped when a phone connects.
        let mut m = DeskMachine::new(DeskConfig::default(), false);
        m.begin(0.0);
        m.server_event(1.0, r#"{"state":"claimed"}"#).unwrap();
        assert_eq!(m.take_view().action, DeskAction::None);
    }

    #[test]
    fn failures_and_expiry_offer_a_restart() {
        let mut m = machine(true);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        m.server_event(1.0, r#"{"state":"claimed"}"#).unwrap();
        m.server_event(2.0, r#"{"state":"failed","code":"attempts_exhausted"}"#)
            .unwrap();
        let v = m.take_view();
        assert_eq!(v.state, DeskState::Failed);
        assert_eq!(v.error.as_deref(), Some("attempts_exhausted"));
        assert_eq!(v.action, DeskAction::CloseEvents);
        assert!(v.can_restart && !v.allow_local);
        m.start_again();
        assert_eq!(m.take_view().action, DeskAction::Restart);

        let mut m = machine(false);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        m.server_event(1.0, r#"{"state":"expired"}"#).unwrap();
        let v = m.take_view();
        assert_eq!(
            (v.state, v.can_restart, v.link),
            (DeskState::Expired, true, None)
        );

        // The stream gave up for good.
        let mut m = machine(false);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        m.events_closed(1.0);
        let v = m.take_view();
        assert_eq!(v.error.as_deref(), Some("handoff_connection_lost"));
        assert_eq!(v.action, DeskAction::None, "the stream is closed already");
        assert!(v.link.is_none());
    }

    #[test]
    fn use_this_device_only_when_offered() {
        let mut m = machine(false);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        m.take_view();
        m.use_this_device();
        assert_eq!(m.take_view().state, DeskState::Waiting);

        let mut m = machine(true);
        m.ticket_issued(0.0, LINK, MIN5).unwrap();
        assert!(m.view().allow_local);
        m.take_view();
        m.use_this_device();
        let v = m.take_view();
        assert_eq!(
            (v.screen, v.state, v.action),
            ("start", DeskState::Local, DeskAction::UseLocal)
        );
        assert!(v.link.is_none());
        m.server_event(1.0, r#"{"state":"claimed"}"#).unwrap();
        m.tick(1e9);
        let v = m.take_view();
        assert_eq!((v.state, v.action), (DeskState::Local, DeskAction::None));

        // Not once a phone has connected.
        let mut m = machine(true);
        m.server_event(0.0, r#"{"state":"claimed"}"#).unwrap();
        assert!(!m.view().allow_local);
        m.use_this_device();
        assert_eq!(m.state(), DeskState::PhoneConnected);
    }

    #[test]
    fn bad_input_is_a_typed_error_and_changes_nothing() {
        let mut m = machine(false);
        m.take_view();
        let before = m.clone();
        for bad in [
            "",
            "null",
            "{",
            r#"{"state":"teleported"}"#,
            r#"{"state":"failed"}"#,
            r#"{"state":"failed","code":""}"#,
            r#"{"state":"failed","code":"Bad Code"}"#,
            r#"{"state":"done"}"#,
            r#"{"state":"done","result":{"authId":"a b","status":"approved"}}"#,
            r#"{"state":"done","result":{"authId":"a","status":"maybe"}}"#,
            r#"{"state":"done","result":{"authId":"a","status":"approved","returnUrl":"javascript:alert(1)"}}"#,
            r#"{"state":"done","result":{"authId":"a","status":"approved","returnUrl":"https://x/ y"}}"#,
        ] {
            let e = m.server_event(1.0, bad).expect_err(bad);
            assert_eq!(e.code(), "bad_handoff_event", "{bad}");
        }
        let huge = format!(r#"{{"state":"failed","code":"{}"}}"#, "a".repeat(9000));
        assert!(m.server_event(1.0, &huge).is_err());
        for (link, code) in [
            ("https://x.example/?pid=p", "missing_handoff_ticket"),
            ("https://x.example/", "missing_handoff_ticket"),
            (
                "https://x.example/?handoff=short",
                "malformed_handoff_ticket",
            ),
            (
                "https://x.example/?handoff=AAECAwQFBgcICQoLDA0O_w&sid=s",
                "malformed_handoff_ticket",
            ),
            (
                "javascript:x/?handoff=AAECAwQFBgcICQoLDA0O_w",
                "bad_handoff_base_url",
            ),
        ] {
            assert_eq!(
                m.ticket_issued(1.0, link, MIN5).unwrap_err().code(),
                code,
                "{link}"
            );
        }
        assert_eq!(m.ticket_issued(1.0, LINK, 0).unwrap_err().code(), "bad_ttl");
        let long = format!(
            "https://x.example/{}/?handoff=AAECAwQFBgcICQoLDA0O_w",
            "a".repeat(600)
        );
        assert_eq!(
            m.ticket_issued(1.0, &long, MIN5).unwrap_err().code(),
            "handoff_link_too_long"
        );
        assert_eq!(m, before);
    }

    #[test]
    fn server_state_json_shape() {
        let cases = [
            (ServerState::Waiting, r#"{"state":"waiting"}"#),
            (ServerState::Claimed, r#"{"state":"claimed"}"#),
            (ServerState::Capturing, r#"{"state":"capturing"}"#),
            (ServerState::Expired, r#"{"state":"expired"}"#),
            (
                ServerState::Failed {
                    code: "attempts_exhausted".into(),
                },
                r#"{"state":"failed","code":"attempts_exhausted"}"#,
            ),
            (
                ServerState::Done {
                    result: HandoffResult {
                        auth_id: "auth_1".into(),
                        status: AuthStatus::Rejected,
                        return_url: None,
                    },
                },
                r#"{"state":"done","result":{"authId":"auth_1","status":"rejected","returnUrl":null}}"#,
            ),
        ];
        for (s, json) in cases {
            assert_eq!(serde_json::to_string(&s).unwrap(), json);
            assert_eq!(ServerState::from_json(json).unwrap(), s);
        }
        assert!(ServerState::Expired.is_final() && !ServerState::Capturing.is_final());
        // Fields a newer server adds are ignored.
        assert_eq!(
            ServerState::from_json(r#"{"state":"claimed","at":1}"#).unwrap(),
            ServerState::Claimed
        );
    }
}
