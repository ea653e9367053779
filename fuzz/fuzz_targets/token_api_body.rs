//! Token API bodies (`{"tokenIds":[…]}`) and Token IDs: typed errors, and a registration that
//! passes holds only well-formed, distinct IDs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::tokens;
use liveform_server::tokens_api::TokenIds;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<TokenIds>(data) {
        match tokens::validate_registration(&body.token_ids, 0) {
            Ok(()) => {
                let mut seen = std::collections::HashSet::new();
                for id in &body.token_ids {
                    tokens::validate_token_id(id).expect("each registered ID is well formed");
                    assert!(seen.insert(id), "a duplicate passed");
                }
            }
            Err(e) => assert!(!e.code().is_empty()),
        }
    }
    let _ = tokens::validate_token_id(&String::from_utf8_lossy(data));
});
