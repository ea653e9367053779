//! Desktop → phone handoff against a real server on loopback with a real SQLite file:
//! ticket rules (link contents, single use, expiry, refresh), concurrent claims, the
//! desktop's event stream following a real phone session to its result.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use liveform::handoff::device::HandoffMode;
use serde_json::{json, Value};

const ORIGIN: &str = "http://127.0.0.1:9";
/// A guard so a broken stream fails the test instead of hanging it (not a timing check).
const GUARD: Duration = Duration::from_secs(90);

/// `POST /api/sessions/{id}/handoff` as the desktop page sends it (with its Origin).
async fn mint(srv: &TestServer, session_id: &str, origin: Option<&str>) -> Resp {
    let mut req = srv
        .client
        .post(srv.url(&format!("/api/sessions/{session_id}/handoff")));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    Resp::from(req.send().await.unwrap()).await
}

async fn claim(srv: &TestServer, ticket: &str) -> Resp {
    srv.post_json("/api/handoff/claim", &json!({ "ticket": ticket }), None)
        .await
}

/// A new session of `pid` for `sub_ok`; its creation body.
async fn session(srv: &TestServer, query: &str) -> Value {
    let r = srv.create_session(query).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Mints a ticket for a new session: (session body, mint body).
async fn minted(srv: &TestServer, query: &str) -> (Value, Value) {
    let s = session(srv, query).await;
    let m = mint(srv, s["sessionId"].as_str().unwrap(), Some(ORIGIN)).await;
    assert_eq!(m.status, 201, "{}", m.text);
    (s, m.body)
}

fn ticket_of(m: &Value) -> String {
    m["ticket"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_random_short_lived_and_claimed_once() {
    let srv = spawn(config(vec![project("p1")])).await;
    let s = session(&srv, "pid=p1&sid=sub_ok&userid=u-1").await;
    assert_eq!(s["handoff"], "auto", "the page learns the project's mode");
    let sid = s["sessionId"].as_str().unwrap();

    let before = now_ms();
    let m = mint(&srv, sid, Some(ORIGIN)).await;
    let after = now_ms();
    assert_eq!(m.status, 201, "{}", m.text);
    let ticket = ticket_of(&m.body);
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&ticket).unwrap().len(),
        16,
        "128 bits"
    );
    // Default lifetime: 5 minutes.
    assert_eq!(m.body["expiresInMs"], 300_000);
    let at = m.body["expiresAtMs"].as_u64().unwrap();
    assert!((before + 300_000..=after + 300_000).contains(&at), "{at}");
    // The database keeps only the ticket's hash.
    let plain = srv.count(&format!(
        "SELECT COUNT(*) FROM handoff_tickets WHERE id_hash = '{ticket}' OR session_id = '{ticket}'"
    ));
    assert_eq!(plain, 0);
    assert_eq!(srv.count("SELECT COUNT(*) FROM handoff_tickets"), 1);

    // A second mint gives a different ticket.
    let m2 = mint(&srv, sid, Some(ORIGIN)).await;
    assert_ne!(ticket_of(&m2.body), ticket);
    let ticket = ticket_of(&m2.body);

    // The phone claims: it gets the desktop's session, as a direct capture would.
    let c = claim(&srv, &ticket).await;
    assert_eq!(c.status, 200, "{}", c.text);
    for key in ["sessionId", "publicKey", "policyHash", "expiresAtMs"] {
        assert_eq!(c.body[key], s[key], "{key}");
    }
    assert_eq!(c.body["project"]["id"], "p1");
    assert_eq!(c.body["policy"], s["policy"]);

    // Once only: the same link again, and no new code for a session a phone has.
    let again = claim(&srv, &ticket).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "handoff_already_claimed")
    );
    let m3 = mint(&srv, sid, Some(ORIGIN)).await;
    assert_eq!((m3.status, m3.code()), (409, "handoff_already_claimed"));
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM handoff_tickets WHERE claimed_at_ms IS NOT NULL"),
        1
    );

    // Tickets that never were, or are not tickets at all.
    let unknown = URL_SAFE_NO_PAD.encode([7u8; 16]);
    let r = claim(&srv, &unknown).await;
    assert_eq!((r.status, r.code()), (404, "handoff_unknown"));
    for bad in ["", "short", "AAAAAAAAAAAAAAAAAAAAAA==", &"A".repeat(87)] {
        let r = claim(&srv, bad).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "malformed_handoff_ticket"),
            "{bad}"
        );
    }
    let r = srv
        .post_json(
            "/api/handoff/claim",
            &json!({ "ticket": ticket, "sid": "x" }),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "bad_json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_carries_only_the_ticket() {
    let mut private = project("priv");
    private.private_mode = true;
    let mut hosted = project("hosted");
    hosted.handoff.base_url = Some("https://verify.example.com/liveform/".into());
    let srv = spawn(config(vec![project("p1"), private, hosted])).await;
    let r = srv
        .post_json(
            "/api/projects/priv/tokens",
            &json!({ "tokenIds": ["tok_secret_1"] }),
            Some(&format!("{API_KEY}-priv")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let cases = [
        ("pid=p1&sid=sub_ok&userid=u-1&cf1=c1", ORIGIN.to_owned()),
        (
            "pid=priv&sid=sub_ok&tokenid=tok_secret_1&userid=u-2",
            ORIGIN.to_owned(),
        ),
        // A configured base wins over the request's Origin.
        (
            "pid=hosted&sid=sub_ok",
            "https://verify.example.com/liveform".to_owned(),
        ),
    ];
    for (query, base) in cases {
        let (s, m) = minted(&srv, query).await;
        let ticket = ticket_of(&m);
        let link = m["link"].as_str().unwrap();
        assert_eq!(link, format!("{base}/?handoff={ticket}"), "{query}");
        let (_, q) = link.split_once('?').unwrap();
        let pairs = liveform::params::split_query(q).unwrap();
        assert_eq!(pairs, vec![("handoff".to_owned(), ticket.clone())]);
        let secrets = [
            s["sessionId"].as_str().unwrap(),
            s["publicKey"].as_str().unwrap(),
            "tok_secret_1",
            "sub_ok",
            "u-1",
            "u-2",
            "c1",
        ];
        for secret in secrets {
            assert!(!link.contains(secret), "{link} contains {secret}");
        }
    }

    // No configured base and no Origin: the server cannot know where the page is.
    let s = session(&srv, "pid=p1&sid=sub_ok").await;
    let sid = s["sessionId"].as_str().unwrap();
    let r = mint(&srv, sid, None).await;
    assert_eq!((r.status, r.code()), (400, "handoff_base_unknown"));
    // An opaque origin (`null`) is no base either.
    let r = mint(&srv, sid, Some("null")).await;
    assert_eq!((r.status, r.code()), (400, "bad_handoff_base_url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_refresh_and_configured_lifetimes() {
    let mut short = project("short");
    short.handoff.ticket_ttl_ms = 1;
    let mut two_min = project("twomin");
    two_min.handoff.ticket_ttl_ms = 120_000;
    let mut cfg = config(vec![project("p1"), short, two_min]);
    cfg.session_ttl_ms = 60_000;
    let srv = spawn(cfg).await;

    // Configured per project, and never beyond the session's own expiry (60 s here).
    let (s, m) = minted(&srv, "pid=twomin&sid=sub_ok").await;
    assert!(m["expiresInMs"].as_u64().unwrap() <= 60_000, "{m}");
    assert_eq!(m["expiresAtMs"], s["expiresAtMs"]);
    let mut cfg2 = config(vec![{
        let mut p = project("twomin");
        p.handoff.ticket_ttl_ms = 120_000;
        p
    }]);
    cfg2.session_ttl_ms = 30 * 60 * 1000;
    let srv2 = spawn(cfg2).await;
    let (_, m) = minted(&srv2, "pid=twomin&sid=sub_ok").await;
    assert_eq!(m["expiresInMs"], 120_000);

    // A 1 ms ticket, claimed after its lifetime: expired, and left unclaimed.
    let (_, m) = minted(&srv, "pid=short&sid=sub_ok").await;
    let at = m["expiresAtMs"].as_u64().unwrap();
    while now_ms() <= at {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = claim(&srv, &ticket_of(&m)).await;
    assert_eq!((r.status, r.code()), (410, "handoff_expired"));
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM handoff_tickets WHERE claimed_at_ms IS NOT NULL"),
        0
    );

    // A refreshed code retires the one before it.
    let (s, first) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let second = mint(&srv, s["sessionId"].as_str().unwrap(), Some(ORIGIN)).await;
    let r = claim(&srv, &ticket_of(&first)).await;
    assert_eq!((r.status, r.code()), (410, "handoff_expired"));
    let r = claim(&srv, &ticket_of(&second.body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Fires `n` claims of each ticket at once (released together by a barrier); returns the
/// (status, code) of every answer.
async fn claim_together(srv: &TestServer, tickets: &[String], n: usize) -> Vec<(u16, String)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(tickets.len() * n));
    let mut tasks = Vec::new();
    for ticket in tickets {
        for _ in 0..n {
            let (barrier, url, ticket) = (
                Arc::clone(&barrier),
                srv.url("/api/handoff/claim"),
                ticket.clone(),
            );
            // One client each: separate connections, truly concurrent requests.
            let client = reqwest::Client::new();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(json!({ "ticket": ticket }).to_string())
                    .send()
                    .await
                    .unwrap();
                let r = Resp::from(r).await;
                (r.status, r.code().to_owned())
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_exactly_one_wins() {
    let srv = spawn(config(vec![project("p1")])).await;
    for round in 0..5 {
        let (s, m) = minted(&srv, "pid=p1&sid=sub_ok").await;
        let answers = claim_together(&srv, &[ticket_of(&m)], 12).await;
        let wins = answers.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(wins, 1, "round {round}: {answers:?}");
        for (st, code) in &answers {
            assert!(
                *st == 200 || (*st == 409 && code == "handoff_already_claimed"),
                "round {round}: {answers:?}"
            );
        }
        let sid = s["sessionId"].as_str().unwrap();
        assert_eq!(
            srv.count(&format!(
                "SELECT COUNT(*) FROM handoff_tickets WHERE session_id = '{sid}' AND claimed_at_ms IS NOT NULL"
            )),
            1
        );
    }

    // Two live tickets of one session (not something the API hands out: minting retires
    // the older one — so the second is written straight into the database) raced by two
    // phones: the session still gets one phone.
    let (s, m) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let sid = s["sessionId"].as_str().unwrap();
    let other = URL_SAFE_NO_PAD.encode([42u8; 16]);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(other.as_bytes()));
    srv.db()
        .execute(
            "INSERT INTO handoff_tickets (id_hash, session_id, created_at_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![hash, sid, now_ms() as i64, (now_ms() + 300_000) as i64],
        )
        .unwrap();
    let answers = claim_together(&srv, &[ticket_of(&m), other], 6).await;
    let wins = answers.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(wins, 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|(st, c)| *st == 200 || (*st == 409 && c == "handoff_already_claimed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let mut off = project("off");
    off.handoff.mode = HandoffMode::Off;
    let mut always = project("always");
    always.handoff.mode = HandoffMode::Always;
    // The per-session request window would refuse the 65 mints below before the ticket
    // limit does; this test is about the ticket limit.
    let mut cfg = config(vec![project("p1"), off, always]);
    cfg.limits = liveform_server::config::LimitsConfig::no_rate_limits();
    let srv = spawn(cfg).await;

    let s = session(&srv, "pid=off&sid=sub_ok").await;
    assert_eq!(s["handoff"], "off");
    let r = mint(&srv, s["sessionId"].as_str().unwrap(), Some(ORIGIN)).await;
    assert_eq!((r.status, r.code()), (403, "handoff_disabled"));
    assert_eq!(
        session(&srv, "pid=always&sid=sub_ok").await["handoff"],
        "always"
    );

    let r = mint(&srv, "ses_nope", Some(ORIGIN)).await;
    assert_eq!((r.status, r.code()), (404, "session_unknown"));

    // Start pressed on the desktop: the capture is there, no phone may take over.
    let (s, m) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let sid = s["sessionId"].as_str().unwrap();
    assert_eq!(srv.start(sid).await.status, 200);
    let r = claim(&srv, &ticket_of(&m)).await;
    assert_eq!((r.status, r.code()), (409, "handoff_session_started"));
    let r = mint(&srv, sid, Some(ORIGIN)).await;
    assert_eq!((r.status, r.code()), (409, "handoff_session_started"));

    // A misbehaving desktop cannot mint without bound.
    let s = session(&srv, "pid=p1&sid=sub_ok").await;
    let sid = s["sessionId"].as_str().unwrap();
    for _ in 0..64 {
        assert_eq!(mint(&srv, sid, Some(ORIGIN)).await.status, 201);
    }
    let r = mint(&srv, sid, Some(ORIGIN)).await;
    assert_eq!((r.status, r.code()), (429, "handoff_ticket_limit"));
}

/// A reader of a `text/event-stream` response.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(srv: &TestServer, session_id: &str) -> Events {
        let resp = srv
            .client
            .get(srv.url(&format!("/api/sessions/{session_id}/handoff/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-store");
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event's data as JSON, or `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(GUARD, async {
            loop {
                if let Some(pos) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..pos + 2).collect();
                    let data: Vec<&str> = block
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    if data.is_empty() {
                        continue; // a keep-alive comment or a retry-only block
                    }
                    return Some(serde_json::from_str(&data.join("\n")).unwrap());
                }
                match self.resp.chunk().await.unwrap() {
                    Some(b) => self.buf.push_str(std::str::from_utf8(&b).unwrap()),
                    None => return None,
                }
            }
        })
        .await
        .expect("the event stream stalled")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_follows_the_phone_to_the_result() {
    let srv = spawn(config(vec![project("p1")])).await;
    let (s, m) = minted(&srv, "pid=p1&sid=sub_ok&userid=u-9&cf1=desk").await;
    let sid = s["sessionId"].as_str().unwrap();
    let mut ev = Events::open(&srv, sid).await;
    assert_eq!(ev.next().await.unwrap(), json!({ "state": "waiting" }));

    // The phone opens the link…
    let phone = claim(&srv, &ticket_of(&m)).await;
    assert_eq!(phone.status, 200, "{}", phone.text);
    assert_eq!(ev.next().await.unwrap(), json!({ "state": "claimed" }));
    // …presses Start…
    assert_eq!(srv.start(sid).await.status, 200);
    assert_eq!(ev.next().await.unwrap(), json!({ "state": "capturing" }));
    // …and uploads the registered person's selfie, sealed as the browser does.
    let now = now_ms();
    let body = seal(
        &phone.body,
        "p1",
        now,
        &payload(photo_jpeg(REFERENCE_PHOTO), true),
    );
    let up = srv.upload_raw(sid, "k-phone-1", now, body).await;
    assert_eq!(up.status, 200, "{}", up.text);

    // The desktop gets the very answer the phone got: same Auth ID, status, return URL.
    let done = ev.next().await.unwrap();
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["authId"], up.body["authId"]);
    assert_eq!(done["result"]["status"], up.body["status"]);
    assert_eq!(done["result"]["returnUrl"], up.body["returnUrl"]);
    let ret = done["result"]["returnUrl"].as_str().unwrap();
    assert!(
        ret.contains("userid=u-9") && ret.contains("cf1=desk"),
        "{ret}"
    );
    assert_eq!(ev.next().await, None, "the stream ends after a final state");

    // A reconnect replays the final state, then ends.
    let mut again = Events::open(&srv, sid).await;
    assert_eq!(again.next().await.unwrap(), done);
    assert_eq!(again.next().await, None);
    // The claimed link still says "already used" after the result.
    let r = claim(&srv, &ticket_of(&m)).await;
    assert_eq!((r.status, r.code()), (409, "handoff_already_claimed"));
}

async fn report_failed(srv: &TestServer, sid: &str, code: String) -> Resp {
    srv.post_json(
        &format!("/api/sessions/{sid}/handoff/failed"),
        &json!({ "code": code }),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_hears_of_failure_and_expiry() {
    let mut cfg = config(vec![project("p1")]);
    cfg.session_ttl_ms = 3_000;
    let srv = spawn(cfg).await;

    // The phone gives up.
    let (s, m) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let sid = s["sessionId"].as_str().unwrap();
    let failed = |code: &str| report_failed(&srv, sid, code.to_owned());
    let r = failed("attempts_exhausted").await;
    assert_eq!((r.status, r.code()), (409, "handoff_not_claimed"));
    let mut ev = Events::open(&srv, sid).await;
    assert_eq!(ev.next().await.unwrap()["state"], "waiting");
    assert_eq!(claim(&srv, &ticket_of(&m)).await.status, 200);
    assert_eq!(ev.next().await.unwrap()["state"], "claimed");
    for bad in ["", "Attempts", "a-b", &"a".repeat(65)] {
        let r = failed(bad).await;
        assert_eq!((r.status, r.code()), (400, "bad_failure_code"), "{bad}");
    }
    assert_eq!(failed("attempts_exhausted").await.status, 204);
    assert_eq!(
        failed("camera_failed").await.status,
        204,
        "repeating is harmless"
    );
    assert_eq!(
        ev.next().await.unwrap(),
        json!({ "state": "failed", "code": "attempts_exhausted" })
    );
    assert_eq!(ev.next().await, None);

    // Nobody comes: the session expires (3 s here) and the stream says so by itself.
    let (s, _) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let mut ev = Events::open(&srv, s["sessionId"].as_str().unwrap()).await;
    assert_eq!(ev.next().await.unwrap()["state"], "waiting");
    assert_eq!(ev.next().await.unwrap(), json!({ "state": "expired" }));
    assert_eq!(ev.next().await, None);

    let r = srv.get("/api/sessions/ses_nope/handoff/events", None).await;
    assert_eq!((r.status, r.code()), (404, "session_unknown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams() {
    let mut srv = spawn(config(vec![project("p1")])).await;
    let (s, _) = minted(&srv, "pid=p1&sid=sub_ok").await;
    let mut ev = Events::open(&srv, s["sessionId"].as_str().unwrap()).await;
    assert_eq!(ev.next().await.unwrap()["state"], "waiting");
    // Graceful shutdown waits for requests in flight; an open stream must not be one forever.
    tokio::time::timeout(GUARD, srv.stop())
        .await
        .expect("shutdown finished with a stream open");
    assert_eq!(ev.next().await, None);
}
