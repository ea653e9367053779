//! The `encrypted=` blob: any text opens only if it was sealed with the key; text sealed with
//! the key opens to exactly what went in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::querycrypt::{self, QueryKey};

const KEY: [u8; 32] = [0x5a; 32];

fuzz_target!(|data: &[u8]| {
    let key = QueryKey::from_bytes(KEY);
    let text = String::from_utf8_lossy(data);
    // As a blob: garbage is a typed error; a legacy blob only with the legacy flag.
    for legacy in [false, true] {
        match querycrypt::decrypt_query_with_format(&key, &text, legacy) {
            Ok((_, format)) => assert!(legacy || format == querycrypt::BlobFormat::Gcm),
            Err(e) => assert!(!e.code().is_empty()),
        }
    }
    // As a query to seal: the round trip is exact, and another key does not open it.
    let nonce: [u8; 12] = std::array::from_fn(|i| data.get(i).copied().unwrap_or(0));
    if let Ok(blob) = querycrypt::encrypt_query(&key, &text, &nonce) {
        let opened = querycrypt::decrypt_query(&key, &blob, false).expect("own blob opens");
        assert_eq!(opened, text);
        let other = QueryKey::from_bytes([0xa5; 32]);
        assert!(querycrypt::decrypt_query(&other, &blob, true).is_err());
    }
    // Key text from a config: hex or base64, never a panic.
    let _ = QueryKey::from_hex(&text);
    let _ = QueryKey::from_base64(&text);
});
