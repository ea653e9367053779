//! End-to-end walk through the pure session modules, as the page, the server and the
//! customer's systems would use them together.

use liveform::error::{Error, ErrorCode};
use liveform::handoff::{self, HandoffTicket};
use liveform::params::{self, Field, ParamsError, ParamsSource, ParseOptions, ParsedQuery};
use liveform::querycrypt::{self, QueryKey};
use liveform::returnurl::{self, ReturnFields};
use liveform::tokens::{self, TokenError, TokenExpiry, TokenRecord};
use liveform::webhook::{
    self, AuthStatus, FaceAuthScores, FaceAuthWebhook, OcclusionResult, WebhookSecret,
};

const NOW: u64 = 1_714_566_896_789;

fn project_key() -> QueryKey {
    QueryKey::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap()
}

/// The customer's server seals the query; liveform opens it, checks the token, produces a
/// result, signs the webhook and builds the sealed return URL, which the customer opens.
#[test]
fn private_encrypted_visit_to_webhook_and_return_url() {
    // Customer side: build the URL (pid in clear selects the key, everything else sealed).
    let inner = "sid=sub_abc123&tokenid=tok_abc123&userid=user_12345&cf1=campaign_summer&email=jane%40example.com";
    let blob = querycrypt::encrypt_query(&project_key(), inner, &[0x11; 12]).unwrap();
    let url_query = format!("?pid=proj_abc123&encrypted={blob}");

    // Liveform side: project is private + encryption-only.
    let opts = ParseOptions {
        encryption_only: true,
        require_token_id: true,
        legacy_ecb_allowed: false,
    };
    let ParsedQuery::Encrypted(sealed) = params::parse_query(&url_query, &opts).unwrap() else {
        panic!("expected an encrypted query");
    };
    assert_eq!(sealed.pid.as_deref(), Some("proj_abc123")); // → look up the project key
    let p = sealed.open(Some(&project_key()), &opts).unwrap();
    assert_eq!(p.pid, "proj_abc123");
    assert_eq!(p.sid, "sub_abc123");
    assert_eq!(p.email.as_deref(), Some("jane@example.com"));
    assert_eq!(p.source, ParamsSource::Gcm);

    // Token: registered earlier, used by the Start press; a second Start is refused.
    let rec = TokenRecord::new("tok_abc123", NOW - 86_400_000).unwrap();
    let token_id = p.token_id.as_deref().unwrap();
    assert_eq!(rec.id, token_id);
    tokens::check_access(Some(&rec), TokenExpiry::ByUse, NOW).unwrap();
    let rec = tokens::check_start(Some(&rec), TokenExpiry::ByUse, NOW).unwrap();
    assert_eq!(
        tokens::check_start(Some(&rec), TokenExpiry::ByUse, NOW + 1),
        Err(TokenError::Spent)
    );

    // Result → webhook.
    let scores = FaceAuthScores {
        face_similarity: 98.7,
        liveness: 91.0,
        occlusion: Some(OcclusionResult::Pass),
    };
    let hook = FaceAuthWebhook::new(
        "auth_0001",
        &p.sid,
        AuthStatus::Approved,
        scores,
        NOW + 5_000,
    )
    .unwrap()
    .with_params(&p);
    let body = hook.to_json().unwrap();
    let secret = WebhookSecret::new(b"a-webhook-secret-of-32-bytes-len").unwrap();
    let ts = NOW + 5_100;
    let sig = webhook::sign(&secret, ts, body.as_bytes());
    // Receiver side.
    let ts_header = ts.to_string();
    let got_ts = webhook::parse_timestamp_header(&ts_header).unwrap();
    webhook::verify_fresh(
        &secret,
        got_ts,
        body.as_bytes(),
        &sig,
        NOW + 6_000,
        webhook::DEFAULT_TOLERANCE_MS,
    )
    .unwrap();
    let received = FaceAuthWebhook::from_json(body.as_bytes()).unwrap();
    assert_eq!(received.authentication_id, "auth_0001");
    assert_eq!(received.user_id.as_deref(), Some("user_12345"));
    assert_eq!(received.cf1.as_deref(), Some("campaign_summer"));
    assert_eq!(received.create_time, "2024-05-01T12:35:01.789Z");
    assert!(
        !body.contains("jane"),
        "the e-mail is not part of the webhook"
    );

    // Result → sealed return URL → customer opens it with the same key.
    let fields = ReturnFields::from_params(&p, AuthStatus::Approved, "auth_0001");
    let back = returnurl::build_return_url(
        "https://customer.example/kyc/done?session=42",
        &fields,
        Some((&project_key(), &[0x22; 12])),
    )
    .unwrap();
    let q = back.split_once('?').unwrap().1;
    let pairs = params::split_query(q).unwrap();
    assert_eq!(pairs[0], ("session".to_owned(), "42".to_owned()));
    assert_eq!(pairs[1].0, "encrypted");
    let opened = querycrypt::decrypt_query(&project_key(), &pairs[1].1, false).unwrap();
    let fields_back: Vec<(String, String)> = params::split_query(&opened).unwrap();
    assert_eq!(
        fields_back,
        [
            ("status", "approved"),
            ("authId", "auth_0001"),
            ("submissionId", "sub_abc123"),
            ("userid", "user_12345"),
            ("cf1", "campaign_summer"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn plain_visit_refused_in_encryption_only_mode_and_by_time_token_window() {
    let opts = ParseOptions {
        encryption_only: true,
        ..Default::default()
    };
    let err = params::parse_query("pid=p&sid=s", &opts).unwrap_err();
    assert_eq!(err, ParamsError::PlainParamsRefused);
    let e: Error = err.into();
    assert_eq!(e.code, ErrorCode::BadParams);
    assert_eq!(e.to_string(), "bad_params: plain_params_refused: this project accepts only encrypted queries (encrypted=...)");

    let expiry = TokenExpiry::ByTime {
        window_ms: 10 * 60 * 1000,
    };
    let rec = TokenRecord::new("tok_1", 0).unwrap();
    let rec = tokens::check_start(Some(&rec), expiry, NOW).unwrap();
    assert!(tokens::check_start(Some(&rec), expiry, NOW + 9 * 60 * 1000).is_ok());
    assert_eq!(
        tokens::check_start(Some(&rec), expiry, NOW + 10 * 60 * 1000),
        Err(TokenError::Expired)
    );
}

#[test]
fn desktop_to_mobile_handoff() {
    // Server: mint for the desktop session (random bytes come from the caller's CSPRNG).
    let random = [0x5a_u8; 16];
    let mut ticket = HandoffTicket::with_default_ttl(&random, "sess_desktop_1", NOW).unwrap();
    let link = ticket.link("https://liveform.example/").unwrap();
    let svg = handoff::qr_svg(&link).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("viewBox"));
    // The link holds nothing but the ticket.
    let (_, q) = link.split_once('?').unwrap();
    assert_eq!(params::split_query(q).unwrap().len(), 1);
    assert!(!link.contains("sess_desktop_1"));
    // Phone: opens the link; server claims once.
    let id = handoff::parse_handoff_query(q).unwrap();
    assert_eq!(id, ticket.id);
    ticket.claim(NOW + 30_000).unwrap();
    let again = ticket.claim(NOW + 31_000).unwrap_err();
    assert_eq!(again.code(), "handoff_already_claimed");
    // A second ticket left unclaimed for 5 minutes has expired.
    let mut late = HandoffTicket::with_default_ttl(&[0xa5; 16], "sess_desktop_2", NOW).unwrap();
    assert_eq!(
        late.claim(NOW + handoff::DEFAULT_TTL_MS)
            .unwrap_err()
            .code(),
        "handoff_expired"
    );
}

/// `?` converts every module error into the crate error with "<code>: <text>".
#[test]
fn errors_convert_with_question_mark() {
    fn run(q: &str) -> liveform::error::Result<String> {
        let p = params::parse_query_with_key(q, &ParseOptions::default(), Some(&project_key()))?;
        tokens::validate_token_id(p.token_id.as_deref().unwrap_or("x"))?;
        let t = HandoffTicket::with_default_ttl(&[1; 16], "s", 0)?;
        let link = t.link("https://l.example")?;
        let _ = webhook::WebhookSecret::new(b"0123456789abcdef")?;
        let f = ReturnFields::from_params(&p, AuthStatus::Rejected, "a1");
        Ok(returnurl::build_return_url(
            &link.replace("/?handoff", "/cb?x"),
            &f,
            None,
        )?)
    }
    assert!(run("pid=p&sid=s").is_ok());
    let e = run("pid=p").unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::BadParams,
            "missing_sid: the sid (submission ID) parameter is missing"
        )
    );
    let e = run("pid=p&sid=s&lang=x").unwrap_err();
    assert!(e.message.starts_with("malformed_value: lang "));
    let e = run("encrypted=g1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap_err();
    assert_eq!(e.code, ErrorCode::BadParams);
    assert!(e.message.starts_with("decrypt_failed: "));
    assert_eq!(
        Error::from(TokenError::Spent).message,
        "token_spent: the Token ID was already used"
    );
    assert_eq!(
        Error::from(querycrypt::QueryCryptError::BadKeyLength { len: 3 }).code,
        ErrorCode::BadKey
    );
    assert_eq!(ParamsError::SidNotApproved.code(), "sid_not_approved");
    assert_eq!(ParamsError::SidNotApproved.field(), Some(Field::Sid));
}
