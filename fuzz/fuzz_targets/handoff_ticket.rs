//! Handoff links: the ticket read from a phone's query, and links built from base URLs.
//! A ticket that is accepted makes a link whose query reads back to the same ticket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveform::handoff;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match handoff::parse_handoff_query(&text) {
        Ok(ticket) => {
            handoff::validate_ticket_id(&ticket).expect("a parsed ticket is well formed");
            let link = handoff::handoff_link("https://liveform.example", &ticket)
                .expect("a parsed ticket makes a link");
            let query = link.split_once('?').map_or("", |(_, q)| q);
            assert_eq!(
                handoff::parse_handoff_query(query).as_deref(),
                Ok(ticket.as_str())
            );
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
    // The text as a base URL (from a config or the desktop's Origin) and as a bare ticket.
    let (base, ticket) = text
        .split_once(' ')
        .unwrap_or((&text, "AAAAAAAAAAAAAAAAAAAAAA"));
    if let Ok(link) = handoff::handoff_link(base, ticket) {
        assert!(link.len() <= handoff::MAX_LINK_LEN);
        let query = link.rsplit_once("/?").map_or("", |(_, q)| q);
        assert_eq!(handoff::parse_handoff_query(query).as_deref(), Ok(ticket));
    }
    let _ = handoff::validate_ticket_id(&text);
});
