//! Embedding the capture in another site, against a real server on loopback: the package and
//! models load from any origin, the API answers only the sites a project lists in
//! `embedOrigins` (preflights included), and a session opens from another site only when its
//! project lists that site.

mod common;

use std::sync::Arc;

use common::*;
use liveform_server::state::StaticDirs;
use serde_json::json;

const SHOP: &str = "http://shop.127.0.0.1.nip.example:9000";
const OTHER: &str = "https://elsewhere.example";

async fn server() -> (TestServer, TempDir) {
    let mut embedded = project("p1");
    embedded.embed_origins = vec![format!("{SHOP}/").trim_end_matches('/').to_uppercase()];
    let pkg = TempDir::new();
    std::fs::write(pkg.0.join("liveform.js"), "export {};\n").unwrap();
    let dirs = StaticDirs {
        pkg: Some(pkg.0.clone()),
        ..StaticDirs::default()
    };
    let srv = spawn_in(
        config(vec![embedded, project("p2")]),
        Arc::new(TempDir::new()),
        dirs,
    )
    .await;
    (srv, pkg)
}

/// A JSON POST as a page on `origin` sends it (`None`: a server's request, no Origin).
async fn post_from(
    srv: &TestServer,
    path: &str,
    origin: Option<&str>,
    body: serde_json::Value,
) -> Resp {
    let mut req = srv
        .client
        .post(srv.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    Resp::from(req.send().await.unwrap()).await
}

async fn create_from(srv: &TestServer, origin: Option<&str>, query: &str) -> Resp {
    post_from(srv, "/api/sessions", origin, json!({ "query": query })).await
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_listed_site_embeds_and_others_are_refused() {
    let (srv, _pkg) = server().await;

    // Preflight of the JSON POST: answered for the listed site (normalised), not for others.
    let preflight = |origin: &'static str| {
        srv.client
            .request(reqwest::Method::OPTIONS, srv.url("/api/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = Resp::from(preflight(SHOP).await.unwrap()).await;
    assert_eq!(ok.status, 204);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(SHOP));
    assert!(header(&ok, "access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let allowed = header(&ok, "access-control-allow-headers").unwrap();
    for h in ["content-type", "idempotency-key", "x-liveform-captured-at"] {
        assert!(allowed.contains(h), "{allowed} lacks {h}");
    }
    assert_eq!(header(&ok, "access-control-allow-credentials"), None);
    let refused = Resp::from(preflight(OTHER).await.unwrap()).await;
    assert_eq!(header(&refused, "access-control-allow-origin"), None);

    // The listed site opens a session of its project, and may read the answer.
    let r = create_from(&srv, Some(SHOP), "pid=p1&sid=sub_ok").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(SHOP));
    // The same site may not open sessions of a project that does not list it.
    let r = create_from(&srv, Some(SHOP), "pid=p2&sid=sub_ok").await;
    assert_eq!(
        (r.status, r.code()),
        (403, "origin_not_allowed"),
        "{}",
        r.text
    );
    // An unlisted site: refused, and the browser could not even read why.
    let r = create_from(&srv, Some(OTHER), "pid=p1&sid=sub_ok").await;
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"));
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = create_from(&srv, Some("null"), "pid=p1&sid=sub_ok").await;
    assert_eq!((r.status, r.code()), (403, "origin_not_allowed"));

    // The server's own page (same origin) and servers without an Origin need no listing.
    let own = srv.base.trim_end_matches('/').to_owned();
    let r = create_from(&srv, Some(&own), "pid=p2&sid=sub_ok").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = create_from(&srv, None, "pid=p2&sid=sub_ok").await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The session's later calls answer the listed site too (Start, here).
    let id = create_from(&srv, Some(SHOP), "pid=p1&sid=sub_ok")
        .await
        .body["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = post_from(
        &srv,
        &format!("/api/sessions/{id}/start"),
        Some(SHOP),
        json!({}),
    )
    .await;
    assert_eq!(start.status, 200, "{}", start.text);
    assert_eq!(header(&start, "access-control-allow-origin"), Some(SHOP));

    // A site embedding the capture is not where the phone goes: without handoff.baseUrl the
    // handoff link cannot be built from its Origin.
    let fresh = create_from(&srv, Some(SHOP), "pid=p1&sid=sub_ok")
        .await
        .body["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mint = post_from(
        &srv,
        &format!("/api/sessions/{fresh}/handoff"),
        Some(SHOP),
        json!({}),
    )
    .await;
    assert_eq!(
        (mint.status, mint.code()),
        (400, "handoff_base_unknown"),
        "{}",
        mint.text
    );

    // The package is public: any site may load it.
    let pkg = srv
        .client
        .get(srv.url("/pkg/liveform.js"))
        .header("origin", OTHER)
        .send()
        .await
        .unwrap();
    let pkg = Resp::from(pkg).await;
    assert_eq!(pkg.status, 200);
    assert_eq!(header(&pkg, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&pkg, "cross-origin-resource-policy"),
        Some("cross-origin")
    );
}

#[test]
fn a_bad_embed_origin_is_refused_at_start() {
    let mut p = project("p1");
    p.embed_origins = vec!["https://shop.example/checkout".into()];
    let err = liveform_server::state::check_config(&config(vec![p])).unwrap_err();
    assert!(err.contains("embedOrigins"), "{err}");
}
