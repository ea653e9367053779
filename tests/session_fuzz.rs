//! Deterministic fuzzing of every function in the session modules that takes outside input:
//! none may panic, and what parses must round-trip. A fixed-seed generator keeps failures
//! reproducible; no extra crates are needed.

use liveform::handoff::{self, HandoffTicket};
use liveform::params::{self, ParseOptions, ParsedQuery};
use liveform::querycrypt::{self, QueryKey};
use liveform::returnurl::{self, ReturnFields};
use liveform::tokens::{self, TokenExpiry, TokenRecord};
use liveform::webhook::{self, AuthStatus, FaceAuthWebhook, RetryPolicy, WebhookSecret};

/// xorshift64* — small, deterministic, good enough to explore input shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "pid",
    "sid",
    "tokenid",
    "userid",
    "email",
    "cf1",
    "cf2",
    "cf3",
    "lang",
    "encrypted",
    "submissionId",
    "handoff",
    "PID",
    "=",
    "=",
    "&",
    "&",
    "?",
    "#",
    "%",
    "%2",
    "%zz",
    "%25",
    "%41",
    "%C3%A9",
    "%FF",
    "%E2%82",
    "%00",
    "+",
    " ",
    "a",
    "b",
    "p1",
    "s_1",
    "@",
    "a@b.co",
    "x.y",
    "-",
    "~",
    "g1.",
    "e1.",
    "AAAA",
    "____",
    "é",
    "한",
    "😀",
    "\u{0}",
    "\n",
    "\u{85}",
    "en-US",
    "0123456789",
];

fn gen_query(rng: &mut Rng) -> String {
    let n = rng.below(24);
    let tail: String = (0..n).map(|_| rng.pick(PIECES)).collect();
    // Half the time start from the required keys so that later segments get exercised.
    if rng.below(2) == 0 {
        format!("pid=p1&sid=s_1&{tail}")
    } else {
        tail
    }
}

fn gen_bytes_string(rng: &mut Rng) -> String {
    let n = rng.below(80);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn all_options() -> Vec<ParseOptions> {
    let mut v = Vec::new();
    for encryption_only in [false, true] {
        for require_token_id in [false, true] {
            for legacy_ecb_allowed in [false, true] {
                v.push(ParseOptions {
                    encryption_only,
                    require_token_id,
                    legacy_ecb_allowed,
                });
            }
        }
    }
    v
}

#[test]
fn params_never_panic_and_round_trip() {
    let key = QueryKey::from_bytes([9; 32]);
    let opts = all_options();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed_ok = 0;
    for i in 0..30_000 {
        let q = if i % 3 == 0 {
            gen_bytes_string(&mut rng)
        } else {
            gen_query(&mut rng)
        };
        let _ = params::percent_decode(&q);
        let _ = params::split_query(&q);
        for o in &opts {
            if let Ok(ParsedQuery::Plain(p)) = params::parse_query(&q, o) {
                parsed_ok += 1;
                // Anything accepted re-encodes to a query that parses to the same value.
                let again = params::parse_query_with_key(&p.to_query(), o, None).unwrap();
                assert_eq!(again, p, "round trip of {q:?}");
                assert!(p.validate().is_ok());
            }
            let _ = params::parse_query_with_key(&q, o, Some(&key));
            let _ = params::parse_query_with_key(&q, o, None);
        }
    }
    assert!(
        parsed_ok > 1_000,
        "the generator should hit many valid queries, got {parsed_ok}"
    );
}

#[test]
fn well_formed_queries_survive_mutation() {
    // Start from valid queries and flip/insert/delete bytes.
    let key = QueryKey::from_bytes([9; 32]);
    let seeds = [
        "pid=proj_abc123&sid=sub_abc123&tokenid=tok_1&userid=u1&email=a%40b.co&cf1=x+y&lang=ko"
            .to_owned(),
        format!(
            "pid=p&encrypted={}",
            querycrypt::encrypt_query(&key, "sid=s&cf2=%E2%82%AC", &[1; 12]).unwrap()
        ),
        format!(
            "encrypted={}",
            querycrypt::encrypt_query_legacy_ecb(&key, "pid=p&sid=s").unwrap()
        ),
    ];
    let mut rng = Rng(42);
    let opts = all_options();
    for i in 0..20_000 {
        let mut b = seeds[i % seeds.len()].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            let pos = rng.below(b.len() + 1);
            match rng.below(3) {
                0 if pos < b.len() => b[pos] ^= 1 << rng.below(8),
                1 => b.insert(pos, rng.next() as u8),
                _ if pos < b.len() => {
                    b.remove(pos);
                }
                _ => {}
            }
        }
        let q = String::from_utf8_lossy(&b);
        for o in &opts {
            let _ = params::parse_query_with_key(&q, o, Some(&key));
        }
    }
}

#[test]
fn decrypt_never_panics() {
    let key = QueryKey::from_bytes([1; 32]);
    let mut rng = Rng(7);
    let b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .";
    for _ in 0..20_000 {
        let prefix = rng.pick(&["g1.", "e1.", "", "g2.", "e1", "G1."]);
        let n = rng.below(120);
        let body: String = (0..n)
            .map(|_| b64.as_bytes()[rng.below(b64.len())] as char)
            .collect();
        let blob = format!("{prefix}{body}");
        for legacy in [false, true] {
            let _ = querycrypt::decrypt_query(&key, &blob, legacy);
        }
        let _ = QueryKey::from_hex(&body);
        let _ = QueryKey::from_base64(&body);
        let _ = querycrypt::decrypt_query(&key, &gen_bytes_string(&mut rng), true);
    }
}

#[test]
fn tokens_handoff_returnurl_webhook_never_panic() {
    let mut rng = Rng(0xDEAD_BEEF);
    let secret = WebhookSecret::new(b"0123456789abcdef0123").unwrap();
    let key = QueryKey::from_bytes([2; 32]);
    let fields = ReturnFields {
        status: AuthStatus::Approved,
        auth_id: "a1".into(),
        submission_id: "s1".into(),
        user_id: None,
        cf1: Some("x".into()),
        cf2: None,
        cf3: None,
    };
    let url_pieces: &[&str] = &[
        "https://",
        "http://",
        "HTTPS://",
        "x.example",
        "/",
        "?",
        "#",
        "&",
        "=",
        "status",
        "a",
        "%",
        "%20",
        " ",
        "é",
        "@",
        "\u{7f}",
        "..",
        ":8080",
        "encrypted",
        "cf1",
    ];
    for i in 0..20_000u64 {
        let s = if i % 2 == 0 {
            gen_bytes_string(&mut rng)
        } else {
            gen_query(&mut rng)
        };
        let _ = tokens::validate_token_id(&s);
        let _ = tokens::validate_registration(&[s.as_str(), "a"], rng.below(200_000));
        let _ = tokens::check_capacity(rng.next() as usize, rng.next() as usize);
        let _ = handoff::parse_handoff_query(&s);
        let _ = handoff::validate_ticket_id(&s);
        let _ = webhook::parse_timestamp_header(&s);
        let _ = FaceAuthWebhook::from_json(s.as_bytes());
        let _ = webhook::verify(&secret, rng.next(), s.as_bytes(), &s);
        let _ = webhook::format_utc_ms(rng.next());
        let policy = RetryPolicy {
            max_attempts: rng.next() as u32,
            base_delay_ms: rng.next(),
            max_delay_ms: rng.next(),
        };
        let _ = webhook::retry_delay_ms(&policy, rng.next() as u32, rng.next());
        let url: String = (0..rng.below(10)).map(|_| rng.pick(url_pieces)).collect();
        let _ = returnurl::validate_return_url(&url);
        let _ = returnurl::build_return_url(&url, &fields, None);
        let _ = returnurl::build_return_url(&url, &fields, Some((&key, &[0; 12])));
        let _ = handoff::handoff_link(&url, "AAECAwQFBgcICQoLDA0O_w");
        let rec = TokenRecord {
            id: "t".into(),
            registered_at_ms: rng.next(),
            first_start_ms: if rng.below(2) == 0 {
                None
            } else {
                Some(rng.next())
            },
            deleted: rng.below(4) == 0,
        };
        for expiry in [
            TokenExpiry::ByUse,
            TokenExpiry::ByTime {
                window_ms: rng.next(),
            },
        ] {
            let now = rng.next();
            let _ = tokens::check_start(Some(&rec), expiry, now);
            let _ = tokens::check_access(Some(&rec), expiry, now);
            let _ = tokens::status(&rec, expiry, now);
        }
        let mut t = match HandoffTicket::new(
            &[3; 16],
            "s",
            rng.next(),
            1 + rng.next() % handoff::MAX_TTL_MS,
        ) {
            Ok(t) => t,
            Err(e) => panic!("valid inputs refused: {e}"),
        };
        let _ = t.claim(rng.next());
        let _ = t.claim(rng.next());
        if i % 50 == 0 {
            // QR encoding is the slow one; fewer rounds, but arbitrary text.
            let _ = handoff::qr_svg(&s);
        }
    }
}
