//! The opened upload payload (JSON with the frames, track and signals): typed errors, and a
//! payload that is accepted serialises and reads back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::upload::UploadPayload;

fuzz_target!(|data: &[u8]| {
    match UploadPayload::from_slice(data) {
        Ok(p) => {
            let bytes = p.to_vec().expect("an accepted payload serialises");
            assert_eq!(UploadPayload::from_slice(&bytes).as_ref(), Ok(&p));
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
});
