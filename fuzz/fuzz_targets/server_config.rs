//! The reference server's config JSON: it deserialises or is an error, and every check that
//! start-up runs without a database (`check_config`) answers without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform_server::config::Config;
use liveform_server::state::check_config;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = serde_json::from_slice::<Config>(data) {
        if let Err(e) = check_config(&config) {
            assert!(!e.is_empty());
        }
    }
});
