//! Behaviour of the sealed upload envelope through its public API: round trips for both suites,
//! and rejection — with the right typed error, never a panic — of every kind of damage.
//! The RFC 9180 known-answer tests are in the module itself (src/envelope.rs).

use liveform::envelope::{
    envelope_suite, generate_keypair, open, seal, EnvelopeError, KeyPair, PrivateKey, PublicKey,
    SealContext, Suite, FIXED_HEADER_LEN, FORMAT_VERSION, MAGIC, TAG_LEN,
};
use liveform::error::{Error, ErrorCode};

#[path = "common/rng.rs"]
mod rng;
use rng::TestRng;

fn context() -> SealContext {
    SealContext::new(
        "proj_01HX",
        "sess_7f3a",
        1_714_000_000_123,
        SealContext::hash_policy(br#"{"face_match":98,"liveness":70,"occlusion":"strict"}"#),
    )
}

fn keypair(suite: Suite, seed: u64) -> KeyPair {
    generate_keypair(suite, &mut TestRng(seed))
}

fn sealed(suite: Suite, plaintext: &[u8]) -> (KeyPair, Vec<u8>) {
    let kp = keypair(suite, 1);
    let env = seal(&kp.public_key, &context(), plaintext, &mut TestRng(2)).unwrap();
    (kp, env)
}

fn code(r: Result<Vec<u8>, EnvelopeError>) -> &'static str {
    match r {
        Ok(_) => "opened",
        Err(e) => e.code(),
    }
}

// ---- round trips and layout ------------------------------------------------------------------

#[test]
fn round_trip_both_suites_various_sizes() {
    for suite in Suite::ALL {
        let kp = keypair(suite, 10);
        let mut rng = TestRng(11);
        for len in [0usize, 1, 15, 16, 17, 1000, 300 * 1024] {
            let pt = rng.bytes(len);
            let env = seal(&kp.public_key, &context(), &pt, &mut rng).unwrap();
            assert_eq!(
                open(&kp.private_key, &context(), &env).unwrap(),
                pt,
                "{suite:?} {len}"
            );
        }
    }
}

#[test]
fn envelope_layout_is_the_documented_one() {
    for suite in Suite::ALL {
        let (_, env) = sealed(suite, b"selfie.jpg bytes");
        let n = suite.encapsulated_key_len();
        assert_eq!(&env[..4], &MAGIC);
        assert_eq!(&env[..4], b"LFEN");
        assert_eq!(env[4], FORMAT_VERSION);
        assert_eq!(u16::from_be_bytes([env[5], env[6]]), suite.id());
        assert_eq!(usize::from(u16::from_be_bytes([env[7], env[8]])), n);
        assert_eq!(
            env.len(),
            FIXED_HEADER_LEN + n + b"selfie.jpg bytes".len() + TAG_LEN
        );
        assert_eq!(envelope_suite(&env), Ok(suite));
    }
}

#[test]
fn suite_ids_are_stable() {
    assert_eq!(Suite::X25519Aes256Gcm.id(), 0x0001);
    assert_eq!(Suite::XWingAes256Gcm.id(), 0x0002);
    assert_eq!(Suite::X25519Aes256Gcm.hpke_ids(), (0x0020, 0x0001, 0x0002));
    assert_eq!(Suite::XWingAes256Gcm.hpke_ids(), (0x647a, 0x0001, 0x0002));
    for suite in Suite::ALL {
        assert_eq!(Suite::from_id(suite.id()), Some(suite));
    }
    assert_eq!(Suite::from_id(0), None);
    assert_eq!(Suite::default(), Suite::X25519Aes256Gcm);
}

#[test]
fn each_seal_uses_a_fresh_ephemeral_key_and_is_deterministic_in_its_rng() {
    let kp = keypair(Suite::X25519Aes256Gcm, 3);
    let a = seal(&kp.public_key, &context(), b"same", &mut TestRng(4)).unwrap();
    let b = seal(&kp.public_key, &context(), b"same", &mut TestRng(5)).unwrap();
    let a_again = seal(&kp.public_key, &context(), b"same", &mut TestRng(4)).unwrap();
    let enc = FIXED_HEADER_LEN..FIXED_HEADER_LEN + 32;
    assert_ne!(
        a[enc.clone()],
        b[enc],
        "different randomness, different ephemeral key"
    );
    assert_ne!(a, b);
    // The core is pure: the same inputs, randomness included, give the same bytes.
    assert_eq!(a, a_again);
}

// ---- damage ----------------------------------------------------------------------------------

/// The error code a single-bit flip at `bit` of an envelope of `suite` must produce.
fn expected_flip_code(suite: Suite, bit: usize) -> &'static [&'static str] {
    let byte = bit / 8;
    match byte {
        0..=3 => &["envelope_bad_magic"],
        4 => &["envelope_unsupported_version"],
        // One bit away from a known id is either unknown or the other suite.
        5 | 6 => &["envelope_unknown_suite", "envelope_suite_mismatch"],
        7 | 8 => &["envelope_malformed"],
        _ => {
            let _ = suite;
            &["envelope_open_failed"]
        }
    }
}

#[test]
fn ten_thousand_random_bit_flips_are_all_rejected() {
    for (suite, flips) in [
        (Suite::X25519Aes256Gcm, 10_000),
        (Suite::XWingAes256Gcm, 2_000),
    ] {
        let (kp, env) = sealed(suite, b"a small jpeg, or rather a stand-in for one");
        let bits = env.len() * 8;
        let mut rng = TestRng(99);
        for _ in 0..flips {
            let bit = rng.below(bits);
            let mut bad = env.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let got = code(open(&kp.private_key, &context(), &bad));
            assert!(
                expected_flip_code(suite, bit).contains(&got),
                "{suite:?}: flipping bit {bit} gave {got}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_of_a_small_envelope_is_rejected() {
    let (kp, env) = sealed(Suite::X25519Aes256Gcm, b"0123456789abcdef0123");
    for bit in 0..env.len() * 8 {
        let mut bad = env.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let got = code(open(&kp.private_key, &context(), &bad));
        assert!(
            expected_flip_code(Suite::X25519Aes256Gcm, bit).contains(&got),
            "bit {bit}: {got}"
        );
    }
}

#[test]
fn every_truncation_is_rejected() {
    for suite in Suite::ALL {
        let (kp, env) = sealed(suite, b"truncate me at every length");
        let shortest_whole = FIXED_HEADER_LEN + suite.encapsulated_key_len() + TAG_LEN;
        for len in 0..env.len() {
            let got = code(open(&kp.private_key, &context(), &env[..len]));
            let want = if len < shortest_whole {
                "envelope_truncated"
            } else {
                "envelope_open_failed"
            };
            assert_eq!(got, want, "{suite:?}: prefix of {len} bytes");
        }
        assert_eq!(
            open(&kp.private_key, &context(), &env).unwrap(),
            b"truncate me at every length"
        );
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let (kp, env) = sealed(Suite::X25519Aes256Gcm, b"x");
    for extra in [&[0u8][..], b"\x00\x00\x00\x00", &[0xff; 100]] {
        let mut longer = env.clone();
        longer.extend_from_slice(extra);
        assert_eq!(
            open(&kp.private_key, &context(), &longer),
            Err(EnvelopeError::OpenFailed)
        );
    }
}

#[test]
fn wrong_key_of_the_same_suite_does_not_open() {
    for suite in Suite::ALL {
        let (_, env) = sealed(suite, b"for someone else");
        let other = keypair(suite, 12345);
        assert_eq!(
            open(&other.private_key, &context(), &env),
            Err(EnvelopeError::OpenFailed)
        );
    }
}

#[test]
fn wrong_context_does_not_open_whichever_field_changes() {
    for suite in Suite::ALL {
        let (kp, env) = sealed(suite, b"bound to its context");
        let base = context();
        let mut variants = Vec::new();
        let mut c = base.clone();
        c.project_id.push('x');
        variants.push(("project_id", c));
        let mut c = base.clone();
        c.project_id = "proj_01HY".into();
        variants.push(("project_id, same length", c));
        let mut c = base.clone();
        c.session_id = "sess_7f3b".into();
        variants.push(("session_id", c));
        let mut c = base.clone();
        c.session_id.clear();
        variants.push(("session_id empty", c));
        let mut c = base.clone();
        c.captured_at_ms += 1;
        variants.push(("captured_at_ms", c));
        let mut c = base.clone();
        c.captured_at_ms ^= 1 << 63;
        variants.push(("captured_at_ms, top bit", c));
        for i in [0usize, 17, 31] {
            let mut c = base.clone();
            c.policy_hash[i] ^= 0x01;
            variants.push(("policy_hash", c));
        }
        // Moving the boundary between the two strings keeps their concatenation: the length
        // prefixes must still tell them apart.
        let mut c = base.clone();
        c.project_id = format!("{}{}", base.project_id, &base.session_id[..1]);
        c.session_id = base.session_id[1..].to_string();
        variants.push(("boundary shift", c));
        for (what, ctx) in variants {
            assert_ne!(ctx.canonical_bytes(), base.canonical_bytes(), "{what}");
            assert_eq!(
                open(&kp.private_key, &ctx, &env),
                Err(EnvelopeError::OpenFailed),
                "{what}"
            );
        }
        assert!(open(&kp.private_key, &base, &env).is_ok());
    }
}

#[test]
fn canonical_context_encoding_is_as_documented() {
    let ctx = SealContext::new("ab", "c", 0x0102_0304_0506_0708, [0xaa; 32]);
    let mut want = Vec::new();
    want.extend_from_slice(&2u64.to_be_bytes());
    want.extend_from_slice(b"ab");
    want.extend_from_slice(&1u64.to_be_bytes());
    want.extend_from_slice(b"c");
    want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    want.extend_from_slice(&[0xaa; 32]);
    assert_eq!(ctx.canonical_bytes(), want);
    assert_ne!(
        SealContext::new("ab", "c", 0, [0; 32]).canonical_bytes(),
        SealContext::new("a", "bc", 0, [0; 32]).canonical_bytes()
    );
    // sha256("abc"), FIPS 180-2 example.
    assert_eq!(
        hex::encode(SealContext::hash_policy(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn wrong_version_bytes_are_rejected() {
    let (kp, env) = sealed(Suite::X25519Aes256Gcm, b"v1");
    for v in [0u8, 2, 0x7f, 0xff] {
        let mut bad = env.clone();
        bad[4] = v;
        assert_eq!(
            open(&kp.private_key, &context(), &bad),
            Err(EnvelopeError::UnsupportedVersion { found: v })
        );
    }
}

#[test]
fn wrong_suite_bytes_are_rejected() {
    for suite in Suite::ALL {
        let (kp, env) = sealed(suite, b"suite");
        for id in [0x0000u16, 0x0003, 0x0100, 0x8001, 0xffff] {
            let mut bad = env.clone();
            bad[5..7].copy_from_slice(&id.to_be_bytes());
            assert_eq!(
                open(&kp.private_key, &context(), &bad),
                Err(EnvelopeError::UnknownSuite { id })
            );
        }
        // Relabelled as the other suite: the key's suite no longer matches.
        let other = Suite::ALL.into_iter().find(|s| *s != suite).unwrap();
        let mut bad = env.clone();
        bad[5..7].copy_from_slice(&other.id().to_be_bytes());
        assert_eq!(
            open(&kp.private_key, &context(), &bad),
            Err(EnvelopeError::SuiteMismatch {
                key: suite,
                envelope: other
            })
        );
        // ... and opened with a key of that other suite, its header contradicts itself.
        let other_key = keypair(other, 77);
        assert_eq!(
            open(&other_key.private_key, &context(), &bad),
            Err(EnvelopeError::Malformed {
                reason: "encapsulated key length does not match the suite"
            })
        );
    }
}

#[test]
fn bad_magic_is_rejected() {
    let (kp, env) = sealed(Suite::X25519Aes256Gcm, b"m");
    for magic in [*b"LFE\x01", *b"lfen", *b"\0\0\0\0", *b"PK\x03\x04"] {
        let mut bad = env.clone();
        bad[..4].copy_from_slice(&magic);
        assert_eq!(
            open(&kp.private_key, &context(), &bad),
            Err(EnvelopeError::BadMagic)
        );
    }
    // A short input that is not a prefix of the magic is not an envelope; one that is, is cut
    // short.
    assert_eq!(
        open(&kp.private_key, &context(), b"{"),
        Err(EnvelopeError::BadMagic)
    );
    assert_eq!(
        open(&kp.private_key, &context(), b"LF"),
        Err(EnvelopeError::Truncated { field: "magic" })
    );
}

#[test]
fn a_key_of_the_other_suite_is_refused_before_decryption() {
    let (_, x_env) = sealed(Suite::X25519Aes256Gcm, b"classic");
    let (_, w_env) = sealed(Suite::XWingAes256Gcm, b"post-quantum");
    let w_key = keypair(Suite::XWingAes256Gcm, 5);
    let x_key = keypair(Suite::X25519Aes256Gcm, 5);
    assert_eq!(
        open(&w_key.private_key, &context(), &x_env),
        Err(EnvelopeError::SuiteMismatch {
            key: Suite::XWingAes256Gcm,
            envelope: Suite::X25519Aes256Gcm
        })
    );
    assert_eq!(
        open(&x_key.private_key, &context(), &w_env),
        Err(EnvelopeError::SuiteMismatch {
            key: Suite::X25519Aes256Gcm,
            envelope: Suite::XWingAes256Gcm
        })
    );
}

#[test]
fn random_garbage_never_opens_and_never_panics() {
    let kp = keypair(Suite::X25519Aes256Gcm, 8);
    let wk = keypair(Suite::XWingAes256Gcm, 8);
    let mut rng = TestRng(2024);
    for i in 0..3_000 {
        let len = rng.below(1400);
        let mut junk = rng.bytes(len);
        // Most random inputs die at the magic; give a third of them a valid-looking header.
        if i % 3 == 0 && junk.len() >= FIXED_HEADER_LEN {
            let suite = Suite::ALL[rng.below(2)];
            junk[..4].copy_from_slice(&MAGIC);
            junk[4] = FORMAT_VERSION;
            junk[5..7].copy_from_slice(&suite.id().to_be_bytes());
            let n = suite.encapsulated_key_len() as u16;
            junk[7..9].copy_from_slice(&n.to_be_bytes());
        }
        assert!(open(&kp.private_key, &context(), &junk).is_err());
        assert!(open(&wk.private_key, &context(), &junk).is_err());
    }
}

#[test]
fn a_low_order_x25519_envelope_key_does_not_open() {
    // enc = the all-zero point: X25519 gives an all-zero secret, which HPKE must reject.
    let (kp, env) = sealed(Suite::X25519Aes256Gcm, b"z");
    let mut bad = env.clone();
    bad[FIXED_HEADER_LEN..FIXED_HEADER_LEN + 32].fill(0);
    assert_eq!(
        open(&kp.private_key, &context(), &bad),
        Err(EnvelopeError::OpenFailed)
    );
}

// ---- keys ------------------------------------------------------------------------------------

#[test]
fn keys_round_trip_through_bytes_and_text() {
    for suite in Suite::ALL {
        let kp = keypair(suite, 21);
        let pk_bytes = kp.public_key.to_bytes();
        assert_eq!(&pk_bytes[..4], b"LFpk");
        assert_eq!(u16::from_be_bytes([pk_bytes[4], pk_bytes[5]]), suite.id());
        assert_eq!(pk_bytes.len(), 6 + suite.public_key_len());
        let sk_bytes = kp.private_key.to_bytes();
        assert_eq!(&sk_bytes[..4], b"LFsk");
        assert_eq!(sk_bytes.len(), 6 + suite.private_key_len());

        let pk = PublicKey::from_bytes(&pk_bytes).unwrap();
        assert_eq!(pk, kp.public_key);
        let pk_text = kp.public_key.to_base64();
        assert!(
            !pk_text.contains(['+', '/', '=']),
            "base64url without padding"
        );
        assert_eq!(PublicKey::from_base64(&pk_text).unwrap(), kp.public_key);
        assert_eq!(pk_text.parse::<PublicKey>().unwrap(), kp.public_key);
        assert_eq!(kp.public_key.to_string(), pk_text);
        assert_eq!(
            PublicKey::from_base64(&format!("  {pk_text}\n")).unwrap(),
            kp.public_key
        );

        let sk = PrivateKey::from_base64(&kp.private_key.to_base64()).unwrap();
        assert_eq!(sk.to_bytes(), kp.private_key.to_bytes());
        assert_eq!(
            PrivateKey::from_bytes(&sk_bytes).unwrap().public_key(),
            kp.public_key
        );
        assert_eq!(sk.suite(), suite);

        // A key read back from text opens what the original sealed.
        let env = seal(&pk, &context(), b"config round trip", &mut TestRng(1)).unwrap();
        assert_eq!(open(&sk, &context(), &env).unwrap(), b"config round trip");
    }
}

#[test]
fn public_key_is_a_json_string() {
    let kp = keypair(Suite::XWingAes256Gcm, 31);
    let json = serde_json::to_string(&kp.public_key).unwrap();
    assert_eq!(json, format!("\"{}\"", kp.public_key.to_base64()));
    let back: PublicKey = serde_json::from_str(&json).unwrap();
    assert_eq!(back, kp.public_key);
    assert!(serde_json::from_str::<PublicKey>("\"not a key\"").is_err());
    assert!(serde_json::from_str::<PublicKey>("42").is_err());
}

#[test]
fn private_key_debug_does_not_leak() {
    let kp = keypair(Suite::X25519Aes256Gcm, 41);
    let secret = kp.private_key.to_base64().to_string();
    let raw_hex = hex::encode(kp.private_key.raw_bytes().as_slice());
    for shown in [format!("{:?}", kp.private_key), format!("{kp:?}")] {
        assert!(
            !shown.contains(&secret) && !shown.contains(&raw_hex),
            "{shown}"
        );
        assert!(shown.contains("X25519Aes256Gcm"));
    }
}

#[test]
fn garbage_keys_are_bad_key_errors() {
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        b"LF".to_vec(),
        b"LFpk".to_vec(),
        b"LFpk\x00".to_vec(),
        b"LFpk\x00\x01".to_vec(),                        // no key
        [b"LFpk\x00\x01".as_slice(), &[7; 31]].concat(), // one byte short
        [b"LFpk\x00\x01".as_slice(), &[7; 33]].concat(), // one byte long
        [b"LFpk\x00\x03".as_slice(), &[7; 32]].concat(), // unknown suite
        [b"LFpk\x00\x00".as_slice(), &[7; 32]].concat(), // suite 0
        [b"LFsk\x00\x01".as_slice(), &[7; 32]].concat(), // a private key's magic
        [b"LFpk\x00\x02".as_slice(), &[7; 32]].concat(), // X-Wing id, X25519 length
        // An X-Wing key whose ML-KEM part is not reduced mod q (all 0xff) is invalid.
        [b"LFpk\x00\x02".as_slice(), &[0xff; 1216]].concat(),
    ];
    let mut rng = TestRng(7);
    for _ in 0..500 {
        let len = rng.below(1300);
        cases.push(rng.bytes(len));
    }
    for bytes in &cases {
        match PublicKey::from_bytes(bytes) {
            Err(e) => assert_eq!(e.code(), "bad_key", "{e}"),
            Ok(_) => panic!("accepted garbage public key {}", hex::encode(bytes)),
        }
    }
    for bytes in [
        vec![],
        b"LFsk\x00\x01".to_vec(),
        [b"LFsk\x00\x01".as_slice(), &[7; 31]].concat(),
        [b"LFsk\x00\x02".as_slice(), &[7; 33]].concat(),
        [b"LFsk\x12\x34".as_slice(), &[7; 32]].concat(),
        [b"LFpk\x00\x01".as_slice(), &[7; 32]].concat(), // a public key's magic
    ] {
        let e = PrivateKey::from_bytes(&bytes).unwrap_err();
        assert_eq!(e.code(), "bad_key", "{e}");
    }
    for text in [
        "",
        "   ",
        "!!!!",
        "LFpk",
        "a",
        "ab=c",
        "TEZwawABAQ",
        "\u{1F600}",
    ] {
        assert_eq!(
            PublicKey::from_base64(text).unwrap_err().code(),
            "bad_key",
            "{text:?}"
        );
        assert_eq!(
            PrivateKey::from_base64(text).unwrap_err().code(),
            "bad_key",
            "{text:?}"
        );
    }
    // Standard base64 with '+' and '/' is not base64url.
    assert!(PublicKey::from_base64("+/+/").is_err());
}

#[test]
fn sealing_to_a_low_order_x25519_key_is_a_key_error() {
    let zero = PublicKey::from_raw(Suite::X25519Aes256Gcm, &[0u8; 32]).unwrap();
    let e = seal(&zero, &context(), b"x", &mut TestRng(1)).unwrap_err();
    assert_eq!(e.code(), "bad_key");
}

#[test]
fn raw_key_lengths_are_checked() {
    for suite in Suite::ALL {
        for len in [0usize, 31, 33, 1215, 1217] {
            if len != suite.public_key_len() {
                assert!(PublicKey::from_raw(suite, &vec![1; len]).is_err());
            }
            if len != suite.private_key_len() {
                assert!(PrivateKey::from_raw(suite, &vec![1; len]).is_err());
            }
        }
    }
}

// ---- errors ----------------------------------------------------------------------------------

#[test]
fn error_codes_are_stable_and_map_to_sdk_errors() {
    let all = [
        (EnvelopeError::BadMagic, "envelope_bad_magic"),
        (
            EnvelopeError::UnsupportedVersion { found: 9 },
            "envelope_unsupported_version",
        ),
        (
            EnvelopeError::UnknownSuite { id: 7 },
            "envelope_unknown_suite",
        ),
        (
            EnvelopeError::Truncated {
                field: "ciphertext",
            },
            "envelope_truncated",
        ),
        (
            EnvelopeError::Malformed { reason: "x" },
            "envelope_malformed",
        ),
        (
            EnvelopeError::SuiteMismatch {
                key: Suite::X25519Aes256Gcm,
                envelope: Suite::XWingAes256Gcm,
            },
            "envelope_suite_mismatch",
        ),
        (EnvelopeError::OpenFailed, "envelope_open_failed"),
        (EnvelopeError::SealFailed, "envelope_seal_failed"),
        (
            EnvelopeError::RngFailed { detail: "x".into() },
            "envelope_rng_failed",
        ),
        (EnvelopeError::BadKey { reason: "x".into() }, "bad_key"),
    ];
    for (e, want) in all {
        assert_eq!(e.code(), want);
        assert!(want.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        let text = e.to_string();
        assert!(!text.is_empty());
        let sdk: Error = e.clone().into();
        let want_code = if want == "bad_key" {
            ErrorCode::BadKey
        } else {
            ErrorCode::Envelope
        };
        assert_eq!(sdk.code, want_code);
        assert_eq!(sdk.message, format!("{want}: {text}"));
        // It is a std error, usable with `?` into Box<dyn Error>.
        let _: Box<dyn std::error::Error> = Box::new(e);
    }
}

// ---- property-style --------------------------------------------------------------------------

#[test]
fn random_contexts_and_plaintexts_round_trip_and_bind() {
    let mut rng = TestRng(0x5eed);
    for suite in Suite::ALL {
        let kp = generate_keypair(suite, &mut rng);
        for _ in 0..60 {
            let project: String = (0..rng.below(40))
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            let session: String = (0..rng.below(40))
                .map(|_| char::from_u32(0x20 + rng.below(0x2000) as u32).unwrap_or('?'))
                .collect();
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&rng.bytes(32));
            let ctx = SealContext::new(project, session, rng.next(), hash);
            let len = rng.below(5000);
            let pt = rng.bytes(len);
            let env = seal(&kp.public_key, &ctx, &pt, &mut rng).unwrap();
            assert_eq!(open(&kp.private_key, &ctx, &env).unwrap(), pt);
            let mut other = ctx.clone();
            match rng.below(4) {
                0 => other.project_id.push('!'),
                1 => other.session_id.insert(0, '!'),
                2 => {
                    other.captured_at_ms = other
                        .captured_at_ms
                        .wrapping_add(1 + rng.below(1000) as u64)
                }
                _ => other.policy_hash[rng.below(32)] ^= 1 << rng.below(8),
            }
            assert_eq!(
                open(&kp.private_key, &other, &env),
                Err(EnvelopeError::OpenFailed)
            );
        }
    }
}
