//! Agent identity per request, the per-agent store through MCP, and signed agent ids.

mod common;

use common::*;
use nanofleet_sdk::{
    env::PluginEnv,
    identity::{InternalToken, sign_agent},
    testing::TestClient,
};
use serde_json::json;

#[tokio::test]
async fn identity_is_read_per_request_not_per_session() {
    let client = TestClient::new(&plugin()).expect("starts");
    let router = client.router();
    let (resp, _) = post_json(&router, "/mcp?agent_id=alice", initialize_body()).await;
    let session = resp
        .headers()
        .get("mcp-session-id")
        .expect("session")
        .to_str()
        .expect("ascii")
        .to_owned();
    for agent in ["alice", "bob"] {
        let req = post(&format!("/mcp?agent_id={agent}"))
            .header("mcp-session-id", &session)
            .body(rpc(2, "tools/call", json!({"name": "whoami"})).into())
            .expect("request");
        let (_, body) = send(&router, req).await;
        assert_eq!(json(&body)["result"]["content"][0]["text"], agent, "{body}");
    }
}

#[tokio::test]
async fn each_agent_has_its_own_store() {
    let client = TestClient::new(&plugin()).expect("starts");
    let (alice, bob) = (
        client.connect_as("alice").await.expect("alice"),
        client.connect_as("bob").await.expect("bob"),
    );
    for expected in 1..=3 {
        assert_eq!(
            alice.call_json("count", json!({})).await.expect("count")["count"],
            expected
        );
    }
    assert_eq!(
        bob.call_json("count", json!({})).await.expect("count")["count"],
        1
    );
}

#[tokio::test]
async fn a_tool_needing_an_agent_fails_clearly_without_one() {
    let client = TestClient::new(&plugin()).expect("starts");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "?agent_id=<id>"),
        (&[("agent_id", "")], "empty"),
        (&[("agent_id", &"x".repeat(200))], "200 bytes"),
        (&[("agent_id", "a\u{7}b")], "control character"),
        (&[("agent_id", "a"), ("agent_id", "b")], "more than once"),
    ];
    for (query, expected) in cases {
        let session = client
            .connect_with_query(query)
            .await
            .expect("tools that need no agent still work");
        // A tool without an agent still works...
        assert_eq!(
            session
                .call_text("echo", json!({"text": "ok"}))
                .await
                .expect("echo"),
            "ok"
        );
        // ...one that needs an agent fails with a message saying why, for both kinds.
        for tool in ["whoami", "count"] {
            let result = session.call(tool, json!({})).await.expect("call");
            assert_eq!(result.is_error, Some(true), "{tool} {query:?}");
            let text = nanofleet_sdk::testing::result_text(&result);
            assert!(text.contains(expected), "{query:?}: {text}");
        }
    }
}

fn signed_env(require: bool) -> (PluginEnv, InternalToken) {
    let token = InternalToken::generate();
    let env = PluginEnv {
        internal_token: Some(token.clone()),
        plugin_id: Some("probe".into()),
        require_agent_signature: require,
        ..PluginEnv::default()
    };
    (env, token)
}

#[tokio::test]
async fn signatures_are_required_when_the_host_says_so() {
    let (env, token) = signed_env(true);
    let client = TestClient::with_env(&plugin(), env).expect("starts");
    let router = client.router();
    let good = sign_agent(&token, "probe", "alice");
    let forged = sign_agent(&InternalToken::generate(), "probe", "alice");
    let for_bob = sign_agent(&token, "probe", "bob");
    let call = || rpc(1, "tools/call", json!({"name": "whoami"}));
    for (query, status, code) in [
        (
            "agent_id=alice".to_owned(),
            403,
            Some("agent_signature_required"),
        ),
        (
            format!("agent_id=alice&agent_sig={forged}"),
            403,
            Some("agent_signature_invalid"),
        ),
        (
            format!("agent_id=alice&agent_sig={for_bob}"),
            403,
            Some("agent_signature_invalid"),
        ),
        (
            "agent_id=alice&agent_sig=v1.AAAA".to_owned(),
            403,
            Some("agent_signature_invalid"),
        ),
        (format!("agent_id=alice&agent_sig={good}"), 200, None),
    ] {
        let (resp, body) = post_json(&router, &format!("/mcp?{query}"), call()).await;
        assert_eq!(resp.status().as_u16(), status, "{query}: {body}");
        if let Some(code) = code {
            assert_eq!(json(&body)["error"], code, "{body}");
        } else {
            assert_eq!(
                json(&body)["result"]["content"][0]["text"],
                "alice",
                "{body}"
            );
        }
    }
    // The install probe names no agent and still lists tools.
    let probe = client.connect_anonymous().await.expect("probe");
    assert_eq!(probe.list_tools().await.expect("tools").len(), 3);
    // The rmcp client with the host-written URL works end to end.
    let alice = client.connect_signed("alice", &good).await.expect("signed");
    assert_eq!(
        alice.call_text("whoami", json!({})).await.expect("whoami"),
        "alice"
    );
}

#[tokio::test]
async fn a_present_signature_is_checked_even_when_not_required() {
    let (env, token) = signed_env(false);
    let client = TestClient::with_env(&plugin(), env).expect("starts");
    let router = client.router();
    let (resp, _) = post_json(
        &router,
        "/mcp?agent_id=alice",
        rpc(1, "tools/list", json!({})),
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "bare agent_id accepted, as NanoFleet's host sends it"
    );
    let forged = sign_agent(&token, "probe", "mallory");
    let (resp, _) = post_json(
        &router,
        &format!("/mcp?agent_id=alice&agent_sig={forged}"),
        rpc(1, "tools/list", json!({})),
    )
    .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn requiring_signatures_without_a_token_is_a_startup_error() {
    let env = PluginEnv {
        require_agent_signature: true,
        ..PluginEnv::default()
    };
    let err = TestClient::with_env(&plugin(), env).expect_err("must refuse");
    assert!(err.to_string().contains("NANO_INTERNAL_TOKEN"), "{err}");
}

/// `tools/call whoami` with `meta` as the request's `_meta`, on `path`.
async fn whoami_with_meta(
    router: &axum::Router,
    path: &str,
    meta: serde_json::Value,
) -> serde_json::Value {
    let body = rpc(9, "tools/call", json!({"name": "whoami", "_meta": meta}));
    let (_, body) = post_json(router, path, body).await;
    json(&body)
}

#[tokio::test]
async fn the_agent_may_come_in_meta_and_must_agree_with_the_url() {
    let router = TestClient::new(&plugin()).expect("starts").router();
    // `_meta` alone names the agent.
    let reply = whoami_with_meta(&router, "/mcp", json!({"agent_id": "carol"})).await;
    assert_eq!(reply["result"]["content"][0]["text"], "carol", "{reply}");
    // Both, agreeing.
    let reply =
        whoami_with_meta(&router, "/mcp?agent_id=carol", json!({"agent_id": "carol"})).await;
    assert_eq!(reply["result"]["content"][0]["text"], "carol", "{reply}");
    // Both, differing: refused before the tool runs.
    let reply = whoami_with_meta(&router, "/mcp?agent_id=carol", json!({"agent_id": "dave"})).await;
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`carol`") && message.contains("`dave`") && message.contains("one agent"),
        "{reply}"
    );
    // Not a string, or not a valid id.
    let reply = whoami_with_meta(&router, "/mcp", json!({"agent_id": 7})).await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("must be a string"),
        "{reply}"
    );
    let reply = whoami_with_meta(&router, "/mcp", json!({"agent_id": " x"})).await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("white space"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_meta_identity_follows_the_signature_rules() {
    let (env, token) = signed_env(true);
    let router = TestClient::with_env(&plugin(), env)
        .expect("starts")
        .router();
    let good = sign_agent(&token, "probe", "erin");
    let forged = sign_agent(&InternalToken::generate(), "probe", "erin");

    let reply = whoami_with_meta(
        &router,
        "/mcp",
        json!({"agent_id": "erin", "agent_sig": good}),
    )
    .await;
    assert_eq!(reply["result"]["content"][0]["text"], "erin", "{reply}");
    for (meta, needle) in [
        (
            json!({"agent_id": "erin", "agent_sig": forged}),
            "does not match",
        ),
        (json!({"agent_id": "erin"}), "requires signed agent ids"),
        (
            json!({"agent_id": "erin", "agent_sig": 5}),
            "must be a string",
        ),
    ] {
        let reply = whoami_with_meta(&router, "/mcp", meta).await;
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {reply}");
        assert!(reply["result"].is_null(), "the tool must not run: {reply}");
    }
}

/// A host's callback API that knows which link each agent has: `GET /internal/agents/{id}`.
async fn links_host(
    links: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
) -> String {
    use axum::{
        Json,
        extract::{Path, State},
        http::StatusCode,
        routing::get,
    };
    type Links = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;
    async fn agent(
        State(links): State<Links>,
        Path(id): Path<String>,
    ) -> Result<Json<serde_json::Value>, StatusCode> {
        let link = links.lock().expect("lock").get(&id).cloned();
        link.map(|link| Json(json!({"id": id, "name": id, "link": link})))
            .ok_or(StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/internal/agents/{id}", get(agent))
        .with_state(links);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axum::serve(listener, app).into_future());
    format!("http://{addr}")
}

#[tokio::test]
async fn an_unlinked_or_relinked_agents_old_url_stops_working() {
    use nanofleet_sdk::contracts::callback::LINK_CACHE_TTL;
    let links = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    links
        .lock()
        .expect("lock")
        .insert("alice".to_owned(), "l1".to_owned());
    let (mut env, token) = signed_env(true);
    env.api_url = Some(links_host(links.clone()).await);
    let router = TestClient::with_env(&plugin(), env)
        .expect("starts")
        .router();
    let sig = sign_agent(&token, "probe", "alice");
    let call = |link: Option<&str>| {
        let query = match link {
            Some(link) => format!("agent_id=alice&agent_sig={sig}&agent_link={link}"),
            None => format!("agent_id=alice&agent_sig={sig}"),
        };
        let router = router.clone();
        async move {
            let body = rpc(1, "tools/call", json!({"name": "whoami"}));
            let (resp, body) = post_json(&router, &format!("/mcp?{query}"), body).await;
            (resp.status().as_u16(), json(&body))
        }
    };

    let (status, body) = call(Some("l1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "alice", "{body}");
    for link in [Some("l0"), None] {
        let (status, body) = call(link).await;
        assert_eq!(status, 403, "{link:?}: {body}");
        assert_eq!(body["error"], "agent_link_replaced", "{body}");
    }

    // Unlinked: the URL stops working once the plugin's last answer is out of date.
    links.lock().expect("lock").remove("alice");
    tokio::time::sleep(LINK_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    let (status, body) = call(Some("l1")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "agent_not_linked", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not linked"),
        "{body}"
    );

    // Linked again: the new URL works as soon as the refusal may be rechecked; the old one
    // does not come back.
    links
        .lock()
        .expect("lock")
        .insert("alice".to_owned(), "l2".to_owned());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = call(Some("l2")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(Some("l1")).await;
    assert_eq!(status, 403);

    // The same rules for an identity in `_meta`.
    let stale = whoami_with_meta(
        &router,
        "/mcp",
        json!({"agent_id": "alice", "agent_sig": sig, "agent_link": "l1"}),
    )
    .await;
    let message = stale["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("earlier link"), "{stale}");
    assert!(stale["result"].is_null(), "the tool must not run: {stale}");
    let current = whoami_with_meta(
        &router,
        "/mcp",
        json!({"agent_id": "alice", "agent_sig": sig, "agent_link": "l2"}),
    )
    .await;
    assert_eq!(
        current["result"]["content"][0]["text"], "alice",
        "{current}"
    );
}

#[tokio::test]
async fn a_host_that_cannot_be_asked_leaves_the_signature_in_charge() {
    // Nothing listens there: the plugin goes by the signature rather than refuse everyone
    // while its host restarts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let (mut env, token) = signed_env(true);
    env.api_url = Some(format!("http://{addr}"));
    let router = TestClient::with_env(&plugin(), env)
        .expect("starts")
        .router();
    let sig = sign_agent(&token, "probe", "alice");
    let (resp, body) = post_json(
        &router,
        &format!("/mcp?agent_id=alice&agent_sig={sig}&agent_link=l1"),
        rpc(1, "tools/call", json!({"name": "whoami"})),
    )
    .await;
    assert_eq!(resp.status(), 200, "{body}");
    let forged = sign_agent(&InternalToken::generate(), "probe", "alice");
    let (resp, _) = post_json(
        &router,
        &format!("/mcp?agent_id=alice&agent_sig={forged}&agent_link=l1"),
        rpc(1, "tools/call", json!({"name": "whoami"})),
    )
    .await;
    assert_eq!(resp.status(), 403, "a forged signature is still refused");
}
