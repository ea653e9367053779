//! Property tests (proptest) of the rules an attacker pushes on: the sealed envelope, Token
//! IDs and their expiry, and handoff tickets. Each property is checked on a few hundred
//! generated cases per run; a failure prints the smallest case proptest could shrink it to.
#![cfg(not(target_arch = "wasm32"))]

use liveform::envelope::{self, KeyPair, SealContext, Suite};
use liveform::handoff::{self, HandoffError, HandoffTicket, MAX_TICKET_BYTES, MIN_TICKET_BYTES};
use liveform::tokens::{
    self, StartDecision, TokenError, TokenExpiry, TokenRecord, MAX_TOKENS_PER_PROJECT,
    MAX_TOKEN_ID_LEN,
};
use proptest::prelude::*;

// Keys and ephemeral keys from a seed proptest chooses, so they shrink and replay with the case.
#[path = "common/rng.rs"]
mod rng;
use rng::TestRng as CaseRng;

fn suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::X25519Aes256Gcm), Just(Suite::XWingAes256Gcm)]
}

fn context() -> impl Strategy<Value = SealContext> {
    (
        "[a-z0-9_]{1,16}",
        "[A-Za-z0-9_-]{1,24}",
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(p, s, t, h)| SealContext::new(p, s, t, h))
}

/// A context that differs from `c` in exactly one of its four parts.
fn altered(c: &SealContext, part: u8, salt: u64) -> SealContext {
    let mut d = c.clone();
    match part % 4 {
        0 => d.project_id.push('x'),
        1 => d.session_id = format!("{}{}", d.session_id, salt % 10),
        2 => d.captured_at_ms = d.captured_at_ms.wrapping_add(1 + salt % 1000),
        _ => d.policy_hash[(salt % 32) as usize] ^= 1 + (salt % 255) as u8,
    }
    d
}

fn sealed(suite: Suite, seed: u64, ctx: &SealContext, plaintext: &[u8]) -> (KeyPair, Vec<u8>) {
    let mut rng = CaseRng(seed);
    let keys = envelope::generate_keypair(suite, &mut rng);
    let env = envelope::seal(&keys.public_key, ctx, plaintext, &mut rng).expect("seals");
    (keys, env)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// What is sealed opens to exactly itself, under its own key and context.
    #[test]
    fn envelope_round_trips(suite in suite(), seed: u64, ctx in context(),
                            plaintext in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (keys, env) = sealed(suite, seed, &ctx, &plaintext);
        prop_assert_eq!(envelope::envelope_suite(&env), Ok(suite));
        prop_assert_eq!(envelope::open(&keys.private_key, &ctx, &env), Ok(plaintext));
    }

    /// Any change to any byte, any cut, and any byte added make it a typed error.
    #[test]
    fn envelope_edits_never_open(suite in suite(), seed: u64, ctx in context(),
                                 plaintext in proptest::collection::vec(any::<u8>(), 0..256),
                                 at: prop::sample::Index, flip in 1u8..=255, cut: prop::sample::Index,
                                 extra: u8) {
        let (keys, env) = sealed(suite, seed, &ctx, &plaintext);
        let mut flipped = env.clone();
        let i = at.index(env.len());
        flipped[i] ^= flip;
        prop_assert!(envelope::open(&keys.private_key, &ctx, &flipped).is_err(), "byte {} flipped", i);
        let short = &env[..cut.index(env.len())];
        prop_assert!(envelope::open(&keys.private_key, &ctx, short).is_err());
        let mut longer = env.clone();
        longer.push(extra);
        prop_assert!(envelope::open(&keys.private_key, &ctx, &longer).is_err());
    }

    /// Another project, session, capture time or policy does not open it; nor another key.
    #[test]
    fn envelope_is_bound_to_its_context_and_key(suite in suite(), seed: u64, ctx in context(),
                                                part: u8, salt: u64) {
        let (keys, env) = sealed(suite, seed, &ctx, b"selfie");
        prop_assert!(envelope::open(&keys.private_key, &altered(&ctx, part, salt), &env).is_err());
        let other = envelope::generate_keypair(suite, &mut CaseRng(seed ^ 0x5555));
        prop_assert!(envelope::open(&other.private_key, &ctx, &env).is_err());
    }

    /// A Token ID is accepted exactly when it is 1–128 bytes of `A–Z a–z 0–9 - . _ ~`.
    #[test]
    fn token_id_format(id in "[A-Za-z0-9._~ /%+-]{0,140}") {
        let expected = !id.is_empty()
            && id.len() <= MAX_TOKEN_ID_LEN
            && id.bytes().all(tokens::is_token_id_byte);
        prop_assert_eq!(tokens::validate_token_id(&id).is_ok(), expected, "{:?}", id);
    }

    /// A registration passes exactly when every ID is well formed, none repeats, and the
    /// project stays within its capacity.
    #[test]
    fn token_registration(ids in proptest::collection::vec("[a-c_ ]{1,3}", 0..12),
                          registered in prop_oneof![0usize..10, (MAX_TOKENS_PER_PROJECT - 12)..=MAX_TOKENS_PER_PROJECT]) {
        let distinct = ids.iter().collect::<std::collections::HashSet<_>>().len() == ids.len();
        let formed = ids.iter().all(|id| tokens::validate_token_id(id).is_ok());
        let fits = registered + ids.len() <= MAX_TOKENS_PER_PROJECT;
        let r = tokens::validate_registration(&ids, registered);
        prop_assert_eq!(r.is_ok(), distinct && formed && fits, "{:?}", r);
        if !fits {
            let limit_reached = matches!(r, Err(TokenError::TokenLimitReached { .. }));
            prop_assert!(limit_reached, "capacity is checked first: {:?}", r);
        }
    }

    /// By use: the first Start is the only one, at any times. By time: every Start inside
    /// the window after the first is admitted, none at or after its end.
    #[test]
    fn token_starts(window in 1u64..1_000_000, first in 0u64..1 << 40,
                    later in proptest::collection::vec(0u64..2_000_000, 1..8)) {
        let fresh = TokenRecord::new("tok_1", 0).unwrap();
        for expiry in [TokenExpiry::ByUse, TokenExpiry::ByTime { window_ms: window }] {
            let started = match tokens::decide_start(Some(&fresh), expiry, first) {
                Ok(StartDecision::First(r)) => r,
                other => return Err(TestCaseError::fail(format!("first Start: {other:?}"))),
            };
            prop_assert_eq!(started.first_start_ms, Some(first));
            for &dt in &later {
                let again = tokens::decide_start(Some(&started), expiry, first + dt);
                match expiry {
                    TokenExpiry::ByUse => prop_assert_eq!(again, Err(TokenError::Spent)),
                    TokenExpiry::ByTime { window_ms } if dt < window_ms => {
                        prop_assert_eq!(again, Ok(StartDecision::Again(started.clone())))
                    }
                    TokenExpiry::ByTime { .. } => prop_assert_eq!(again, Err(TokenError::Expired)),
                }
            }
            let mut deleted = started.clone();
            deleted.deleted = true;
            prop_assert_eq!(tokens::check_access(Some(&deleted), expiry, first), Err(TokenError::Deleted));
        }
        prop_assert_eq!(tokens::decide_start(None, TokenExpiry::ByUse, first), Err(TokenError::Unknown));
    }

    /// A ticket is claimable once, only before it expires, and a claim does not depend on
    /// anything but the time and whether it was claimed.
    #[test]
    fn ticket_claims(random in proptest::collection::vec(any::<u8>(), MIN_TICKET_BYTES..=MAX_TICKET_BYTES),
                     now in 0u64..1 << 40, ttl in 1u64..=handoff::MAX_TTL_MS,
                     tries in proptest::collection::vec(0u64..2 * handoff::MAX_TTL_MS, 1..6)) {
        let ticket = HandoffTicket::new(&random, "sess_1", now, ttl).unwrap();
        prop_assert_eq!(ticket.expires_at_ms, now + ttl);
        let mut claimed = None;
        for (n, &dt) in tries.iter().enumerate() {
            let mut t = ticket.clone();
            if let Some(at) = claimed {
                // Replay the winning claim first, then try again.
                t.claim(at).unwrap();
            }
            let r = t.claim(now + dt);
            let want = if claimed.is_some() {
                Err(HandoffError::AlreadyClaimed)
            } else if dt >= ttl {
                Err(HandoffError::Expired)
            } else {
                Ok(())
            };
            prop_assert_eq!(&r, &want, "try {}", n);
            if r.is_ok() {
                claimed = Some(now + dt);
            }
        }
    }

    /// A minted ticket's link carries only the ticket, and the phone reads back the same one.
    #[test]
    fn ticket_links_round_trip(random in proptest::collection::vec(any::<u8>(), MIN_TICKET_BYTES..=MAX_TICKET_BYTES),
                               host in "[a-z]{1,12}(\\.[a-z]{2,6}){0,2}(:[0-9]{2,5})?",
                               path in "(/[a-z0-9_-]{1,8}){0,3}/?", https: bool) {
        let ticket = HandoffTicket::with_default_ttl(&random, "sess_1", 0).unwrap();
        let base = format!("{}://{host}{path}", if https { "https" } else { "http" });
        let link = ticket.link(&base).unwrap();
        let (_, query) = link.split_once('?').unwrap();
        prop_assert_eq!(query, format!("handoff={}", ticket.id));
        prop_assert_eq!(handoff::parse_handoff_query(query), Ok(ticket.id.clone()));
    }

    /// Ticket IDs are exactly the canonical base64url of 16–64 bytes.
    #[test]
    fn ticket_id_shape(bytes in proptest::collection::vec(any::<u8>(), 0..80), cut in 0usize..3) {
        use base64::Engine;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let in_range = (MIN_TICKET_BYTES..=MAX_TICKET_BYTES).contains(&bytes.len());
        prop_assert_eq!(handoff::validate_ticket_id(&id).is_ok(), in_range);
        // Cutting 1 or 2 characters leaves a length no base64 text has, or fewer bytes.
        let short = &id[..id.len().saturating_sub(cut)];
        if cut > 0 && in_range && bytes.len() > MIN_TICKET_BYTES {
            let decodes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(short);
            prop_assert_eq!(handoff::validate_ticket_id(short).is_ok(),
                            decodes.is_ok_and(|b| b.len() >= MIN_TICKET_BYTES));
        }
    }
}
