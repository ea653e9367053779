//! Project policy JSON (settings form and snapshot form): typed errors, and a policy that
//! parses is valid, hashes stably, and survives its own snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for parsed in [Policy::from_json(&text), Policy::from_snapshot_json(&text)] {
        match parsed {
            Ok(p) => {
                p.validate().expect("a parsed policy validates");
                let snapshot = serde_json::to_string(&p).expect("a policy serialises");
                let again = Policy::from_snapshot_json(&snapshot)
                    .unwrap_or_else(|e| panic!("snapshot {snapshot} does not parse: {e:?}"));
                assert_eq!(again, p);
                assert_eq!(again.hash(), p.hash());
            }
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
});
