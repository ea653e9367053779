//! liveform URL parameters: any query string either parses into validated parameters or is a
//! typed error; what parses survives `to_query` and parses to the same parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::params::{self, ParseOptions, ParsedQuery};
use liveform::querycrypt::QueryKey;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the project's settings, the rest is the query.
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let opts = ParseOptions {
        encryption_only: flags & 1 != 0,
        require_token_id: flags & 2 != 0,
        legacy_ecb_allowed: flags & 4 != 0,
    };
    let query = String::from_utf8_lossy(rest);
    let key = QueryKey::from_bytes([0x5a; 32]);
    let with_key = params::parse_query_with_key(&query, &opts, Some(&key));
    match params::parse_query(&query, &opts) {
        Ok(ParsedQuery::Plain(p)) => {
            assert_eq!(with_key.as_ref(), Ok(&p), "the one-step parse disagrees");
            p.validate().expect("parsed parameters validate");
            let again = params::parse_query(&p.to_query(), &opts)
                .unwrap_or_else(|e| panic!("{:?} does not parse again: {e}", p.to_query()));
            assert_eq!(again, ParsedQuery::Plain(p));
        }
        Ok(ParsedQuery::Encrypted(e)) => {
            assert_eq!(e.open(Some(&key), &opts), with_key);
            assert!(e.open(None, &opts).is_err(), "opened without a key");
        }
        Err(e) => {
            assert!(!e.code().is_empty());
            assert_eq!(with_key.map_err(|e| e.code()), Err(e.code()));
        }
    }
    // The splitter alone never panics either, and never yields more than it was given.
    if let Ok(pairs) = params::split_query(&query) {
        assert!(pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() <= query.len());
    }
});
