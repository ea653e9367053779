//! The envelope opener. Raw inputs, and edits (bit flips, cuts, insertions) of one valid
//! envelope: each is a typed error, never a panic, and nothing but the untouched envelope ever
//! opens — an accepted edit would be a forgery.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use liveform::envelope::{self, KeyPair, PrivateKey, PublicKey, SealContext, Suite};

// Reproducible keys and ephemeral keys for the fixture (not a secure generator).
#[path = "../../tests/common/rng.rs"]
mod rng;
use rng::TestRng as FixedRng;

struct Fixture {
    keys: [KeyPair; 2],
    sealed: [Vec<u8>; 2],
    context: SealContext,
}

const PLAINTEXT: &[u8] = b"{\"version\":1,\"frame\":\"not really a jpeg\"}";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = FixedRng(7);
        let context = SealContext::new("demo", "sess_1", 1_714_000_000_000, [3; 32]);
        let keys = [
            envelope::generate_keypair(Suite::X25519Aes256Gcm, &mut rng),
            envelope::generate_keypair(Suite::XWingAes256Gcm, &mut rng),
        ];
        let sealed = [0, 1].map(|i| {
            envelope::seal(&keys[i].public_key, &context, PLAINTEXT, &mut rng)
                .expect("fixture seals")
        });
        Fixture {
            keys,
            sealed,
            context,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let which = usize::from(mode & 1);
    let key: &PrivateKey = &f.keys[which].private_key;
    let candidate = if mode & 2 == 0 {
        rest.to_vec()
    } else {
        // Edits of the valid envelope: 3-byte commands (op, position, value).
        let mut e = f.sealed[which].clone();
        for cmd in rest.chunks_exact(3) {
            let at = usize::from(cmd[1]) * 7 % (e.len() + 1);
            match cmd[0] % 4 {
                0 if at < e.len() => e[at] ^= cmd[2] | 1,
                1 => e.truncate(at),
                2 => e.insert(at, cmd[2]),
                _ if at < e.len() => {
                    e.remove(at);
                }
                _ => {}
            }
        }
        e
    };
    let _ = envelope::envelope_suite(&candidate);
    match envelope::open(key, &f.context, &candidate) {
        Ok(plain) => {
            assert_eq!(candidate, f.sealed[which], "an altered envelope opened");
            assert_eq!(plain, PLAINTEXT);
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
    // Another context never opens even the untouched envelope.
    let moved = SealContext::new("demo", "sess_2", 1_714_000_000_000, [3; 32]);
    assert!(envelope::open(key, &moved, &candidate).is_err());
    // Key material from configs and sessions.
    let _ = PublicKey::from_bytes(rest);
    let _ = PrivateKey::from_bytes(rest);
    let text = String::from_utf8_lossy(rest);
    let _ = PublicKey::from_base64(&text);
    let _ = PrivateKey::from_base64(&text);
});
