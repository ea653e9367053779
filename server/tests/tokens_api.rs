//! The Token API against a real server: registration, queries, deletion, API keys, limits.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_list_query_delete() {
    let mut p = project("priv");
    p.private_mode = true;
    let srv = spawn(config(vec![p, project("other")])).await;
    let key = format!("{API_KEY}-priv");
    let path = "/api/projects/priv/tokens";

    let r = srv
        .post_json(
            path,
            &json!({ "tokenIds": ["tok_1", "tok_2", "tok_3"] }),
            Some(&key),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["registered"], 3);
    assert_eq!(r.body["live"], 3);
    let r = srv
        .post_json(path, &json!({ "tokenIds": ["tok_4"] }), Some(&key))
        .await;
    assert_eq!(r.body["live"], 4);

    // One token.
    let r = srv.get(&format!("{path}?tokenId=tok_2"), Some(&key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token"]["tokenId"], "tok_2");
    assert_eq!(r.body["token"]["status"]["state"], "unused");
    assert!(r.body["token"]["registeredAtMs"].as_u64().unwrap() > 1_700_000_000_000);
    let r = srv.get(&format!("{path}?tokenId=nope"), Some(&key)).await;
    assert_eq!((r.status, r.code()), (404, "token_unknown"));

    // Pages in ID order.
    let r = srv.get(&format!("{path}?limit=3"), Some(&key)).await;
    let ids: Vec<&str> = r.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tokenId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tok_1", "tok_2", "tok_3"]);
    assert_eq!(r.body["next"], "tok_3");
    let r = srv
        .get(&format!("{path}?limit=3&after=tok_3"), Some(&key))
        .await;
    assert_eq!(r.body["tokens"].as_array().unwrap().len(), 1);
    assert!(r.body["next"].is_null());
    let r = srv.get(&format!("{path}?limit=0"), Some(&key)).await;
    assert_eq!((r.status, r.code()), (400, "bad_query"));

    // Using a token shows in its status.
    let s = srv.open_started("pid=priv&sid=sub_ok&tokenid=tok_1").await;
    assert!(s["sessionId"].is_string());
    let r = srv.get(&format!("{path}?tokenId=tok_1"), Some(&key)).await;
    assert_eq!(r.body["token"]["status"]["state"], "spent");
    assert!(r.body["token"]["firstStartMs"].is_u64());

    // Delete one, then several; deleted tokens stay visible as deleted and free capacity.
    let r = srv.delete(&format!("{path}/tok_2"), None, Some(&key)).await;
    assert_eq!((r.status, r.body["deleted"].as_i64()), (200, Some(1)));
    let r = srv.delete(&format!("{path}/tok_2"), None, Some(&key)).await;
    assert_eq!(r.body["deleted"], 0, "deleting twice is harmless");
    let r = srv
        .delete(&format!("{path}/tok_nope"), None, Some(&key))
        .await;
    assert_eq!((r.status, r.code()), (404, "token_unknown"));
    let r = srv
        .delete(
            path,
            Some(&json!({ "tokenIds": ["tok_3", "tok_4", "tok_nope"] })),
            Some(&key),
        )
        .await;
    assert_eq!(r.body["deleted"], 2);
    let r = srv.get(&format!("{path}?tokenId=tok_3"), Some(&key)).await;
    assert_eq!(r.body["token"]["status"]["state"], "deleted");
    let r = srv.get(path, Some(&key)).await;
    assert_eq!(r.body["live"], 1);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM tokens WHERE project_id = 'priv' AND deleted = 1"),
        3
    );

    // An ID is never registered twice, deleted or not.
    for id in ["tok_1", "tok_3"] {
        let r = srv
            .post_json(path, &json!({ "tokenIds": [id] }), Some(&key))
            .await;
        assert_eq!((r.status, r.code()), (409, "token_exists"), "{id}");
    }
    // A failed registration stores nothing of itself.
    let r = srv
        .post_json(
            path,
            &json!({ "tokenIds": ["tok_new", "tok_1"] }),
            Some(&key),
        )
        .await;
    assert_eq!(r.code(), "token_exists");
    let r = srv
        .get(&format!("{path}?tokenId=tok_new"), Some(&key))
        .await;
    assert_eq!(r.code(), "token_unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_and_scoped() {
    let srv = spawn(config(vec![project("a"), project("b")])).await;
    let path = "/api/projects/a/tokens";
    let body = json!({ "tokenIds": ["t1"] });
    let r = srv.post_json(path, &body, None).await;
    assert_eq!((r.status, r.code()), (401, "api_key_missing"));
    let r = srv.post_json(path, &body, Some("not-a-key")).await;
    assert_eq!((r.status, r.code()), (401, "api_key_invalid"));
    let r = srv
        .post_json(path, &body, Some(&format!("{API_KEY}-b")))
        .await;
    assert_eq!((r.status, r.code()), (403, "api_key_wrong_project"));
    let r = srv.get(path, None).await;
    assert_eq!(r.code(), "api_key_missing");
    let r = srv.delete(&format!("{path}/t1"), None, Some("nope")).await;
    assert_eq!(r.code(), "api_key_invalid");
    let r = srv.get("/api/results/auth_x", None).await;
    assert_eq!(r.code(), "api_key_missing");
    assert_eq!(srv.count("SELECT COUNT(*) FROM tokens"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_rules_and_the_100k_limit() {
    let srv = spawn(config(vec![project("a")])).await;
    let key = format!("{API_KEY}-a");
    let path = "/api/projects/a/tokens";
    let cases = [
        (json!({ "tokenIds": [] }), 400, "no_token_ids"),
        (
            json!({ "tokenIds": ["ok", "bad id"] }),
            400,
            "malformed_token_id",
        ),
        (
            json!({ "tokenIds": ["x".repeat(129)] }),
            400,
            "token_id_too_long",
        ),
        (json!({ "tokenIds": ["d", "d"] }), 400, "duplicate_token_id"),
        (json!({ "tokens": ["d"] }), 400, "bad_json"),
    ];
    for (body, status, code) in cases {
        let r = srv.post_json(path, &body, Some(&key)).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}");
    }

    // 100 000 in one request is the most a project may hold; one more is refused.
    let ids: Vec<String> = (0..100_000).map(|i| format!("t{i:06}")).collect();
    let r = srv
        .post_json(path, &json!({ "tokenIds": ids }), Some(&key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["live"], 100_000);
    let r = srv
        .post_json(path, &json!({ "tokenIds": ["one_more"] }), Some(&key))
        .await;
    assert_eq!((r.status, r.code()), (409, "token_limit_reached"));
    // Deleting frees room.
    let r = srv
        .delete(&format!("{path}/t000000"), None, Some(&key))
        .await;
    assert_eq!(r.status, 200);
    let r = srv
        .post_json(path, &json!({ "tokenIds": ["one_more"] }), Some(&key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM tokens WHERE deleted = 0"),
        100_000
    );
}
