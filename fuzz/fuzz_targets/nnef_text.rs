//! The fast NNEF text reader (`liveform::model::nnef_text`), against tract's own parser:
//! whatever it reads, tract reads to the same document. Inputs are capped at 4 KiB: tract's
//! parser is exponential in the nesting of what it is given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::model::nnef_text::{read_document, Outcome};

fuzz_target!(|data: &[u8]| {
    if data.len() > 4096 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Outcome::Read(doc) = read_document(text) {
        let theirs = tract_nnef::ast::parse::parse_document(text)
            .unwrap_or_else(|e| panic!("read here, refused by tract: {e}"));
        assert_eq!(tract_nnef::ast::Document::from(*doc), theirs);
    }
});
