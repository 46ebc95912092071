//! The `/mcp` endpoint at the HTTP level: NanoFleet's install probe, bad input, Host and
//! Origin policy, body limits.

mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode, header};
use nanofleet_sdk::testing::TestClient;

fn client() -> TestClient {
    TestClient::new(&plugin()).expect("plugin starts")
}

#[tokio::test]
async fn nanofleet_install_probe_lists_tools_in_plain_json() {
    let router = client().router();
    // 1. initialize: 2xx with a session id.
    let (resp, body) = post_json(&router, "/mcp", initialize_body()).await;
    assert!(resp.status().is_success(), "{} {body}", resp.status());
    let session = resp
        .headers()
        .get("mcp-session-id")
        .expect("initialize must hand out a session id")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        json(&body)["result"]["serverInfo"]["name"] == "probe",
        "{body}"
    );
    // 2. tools/list with that session, no notifications/initialized, parsed as plain JSON.
    let req = post("/mcp")
        .header("mcp-session-id", &session)
        .body(Body::from(rpc(2, "tools/list", serde_json::json!({}))))
        .expect("request");
    let (resp, body) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::OK, "{body}");
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .expect("content type");
    assert!(
        ct.to_str().expect("ascii").starts_with("application/json"),
        "{ct:?}"
    );
    let names: Vec<String> = json(&body)["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["echo", "whoami", "count"]);
    // 3. DELETE with the session header is accepted.
    let req = Request::delete("/mcp")
        .header(header::HOST, "localhost")
        .header("mcp-session-id", &session)
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn stateless_clients_need_no_session_at_all() {
    let router = client().router();
    let call = rpc(
        7,
        "tools/call",
        serde_json::json!({"name": "echo", "arguments": {"text": "hi", "times": 2}}),
    );
    let (resp, body) = post_json(&router, "/mcp?agent_id=a", call).await;
    assert_eq!(resp.status(), StatusCode::OK, "{body}");
    assert!(resp.headers().get("mcp-session-id").is_none());
    assert_eq!(
        json(&body)["result"]["content"][0]["text"],
        "hihi",
        "{body}"
    );
}

#[tokio::test]
async fn container_dns_name_is_accepted_and_unknown_hosts_are_not() {
    let router = client().router();
    for (host, ok) in [
        ("nanofleet-plugin-probe:8080", true),
        ("localhost:8080", true),
        ("127.0.0.1", true),
        ("evil.example:8080", false),
        ("nanofleet-plugin-other:8080", false),
    ] {
        let req = Request::post("/mcp")
            .header(header::HOST, host)
            .header(header::ACCEPT, ACCEPT_BOTH)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(rpc(1, "tools/list", serde_json::json!({}))))
            .expect("request");
        let (resp, body) = send(&router, req).await;
        assert_eq!(
            resp.status().is_success(),
            ok,
            "Host {host}: {} {body}",
            resp.status()
        );
        if !ok {
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "Host {host}");
        }
    }
}

#[tokio::test]
async fn pages_on_other_hosts_are_refused_and_local_ones_are_not() {
    let router = client().router();
    let with_origin = |origin: &str| {
        post("/mcp")
            .header(header::ORIGIN, origin)
            .body(Body::from(initialize_body()))
            .expect("request")
    };
    // DNS rebinding: the page's own host, resolved to this machine, is still in `Origin`.
    for foreign in [
        "https://evil.example",
        "http://evil.example:8080",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:8080",
        "null",
    ] {
        let (resp, body) = send(&router, with_origin(foreign)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{foreign}: {body}");
    }
    // A browser-based client on this machine (an inspector) works, on any port.
    for local in [
        "http://localhost:6274",
        "http://127.0.0.1:3000",
        "https://localhost",
        "http://[::1]:8080",
        "http://nanofleet-plugin-probe:8080",
    ] {
        let (resp, body) = send(&router, with_origin(local)).await;
        assert!(
            resp.status().is_success(),
            "{local}: {} {body}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn malformed_json_gets_a_parse_error_not_a_crash() {
    let router = client().router();
    // What JSON-RPC promises: -32700 for text that is not JSON, -32600 for JSON that is not a
    // JSON-RPC message; with HTTP 400, as Streamable HTTP asks (rmcp alone answers 415 text).
    for (bad, code) in [
        ("{", -32700),
        ("not json", -32700),
        ("[1,2", -32700),
        ("", -32700),
        ("{\"jsonrpc\":\"2.0\",\"id\":1}", -32600),
        ("[]", -32600),
    ] {
        let (resp, body) = post_json(&router, "/mcp", bad.to_owned()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(error["jsonrpc"], "2.0", "{bad:?}: {body}");
        assert_eq!(error["id"], serde_json::Value::Null, "{bad:?}: {body}");
        assert_eq!(error["error"]["code"], code, "{bad:?}: {body}");
    }
    // The server is still healthy afterwards.
    let (resp, _) = post_json(&router, "/mcp", rpc(1, "tools/list", serde_json::json!({}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let router = client().router();
    let (resp, body) = post_json(
        &router,
        "/mcp",
        rpc(3, "tools/frobnicate", serde_json::json!({})),
    )
    .await;
    assert!(
        resp.status().is_success() || resp.status().is_client_error(),
        "{body}"
    );
    let v = json(&body);
    assert_eq!(v["error"]["code"], -32601, "{body}");
}

#[tokio::test]
async fn unknown_tool_is_an_invalid_params_error_listing_the_tools() {
    let router = client().router();
    let (_, body) = post_json(
        &router,
        "/mcp",
        rpc(
            4,
            "tools/call",
            serde_json::json!({"name": "nope", "arguments": {}}),
        ),
    )
    .await;
    let v = json(&body);
    assert_eq!(v["error"]["code"], -32602, "{body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("message")
            .contains("nope"),
        "{body}"
    );
    assert_eq!(
        v["error"]["data"]["tools"],
        serde_json::json!(["echo", "whoami", "count"])
    );
}

#[tokio::test]
async fn arguments_of_the_wrong_type_name_the_field() {
    let router = client().router();
    for (args, field) in [
        (serde_json::json!({"text": 5}), "`text`"),
        (serde_json::json!({"text": "x", "times": "many"}), "`times`"),
        (serde_json::json!({"times": 1}), "`text`"),
    ] {
        let (resp, body) = post_json(
            &router,
            "/mcp",
            rpc(
                5,
                "tools/call",
                serde_json::json!({"name": "echo", "arguments": args}),
            ),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK, "{body}");
        let v = json(&body);
        assert_eq!(v["result"]["isError"], true, "{body}");
        let text = v["result"]["content"][0]["text"].as_str().expect("text");
        assert!(text.contains(field), "{field} not named in {text}");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let router = client().router();
    let huge = "x".repeat(nanofleet_sdk::server::MAX_BODY_BYTES + 1);
    let call = rpc(
        6,
        "tools/call",
        serde_json::json!({"name": "echo", "arguments": {"text": huge}}),
    );
    let (resp, _) = post_json(&router, "/mcp", call.clone()).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Also when the client holds a session (the body then streams to rmcp's own limit).
    let req = post("/mcp")
        .header("mcp-session-id", "abc")
        .body(Body::from(call))
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn wrong_content_type_and_accept_are_refused() {
    let router = client().router();
    let req = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(initialize_body()))
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let req = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "text/html")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(initialize_body()))
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn get_is_405_and_delete_needs_a_session() {
    let router = client().router();
    let req = Request::get("/mcp")
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        resp.headers().get(header::ALLOW).expect("allow"),
        "POST, DELETE"
    );
    let req = Request::delete("/mcp")
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn healthz_names_the_plugin() {
    let router = client().router();
    let req = Request::get("/healthz")
        .body(Body::empty())
        .expect("request");
    let (resp, body) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        json(&body),
        serde_json::json!({"status": "ok", "name": "probe", "version": "1.2.3"})
    );
}

#[tokio::test]
async fn a_client_that_can_be_asked_gets_a_session_of_its_own_and_can_end_it() {
    use tower::ServiceExt as _;
    let router = client().router();
    let init = rpc(
        1,
        "initialize",
        serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "inspector", "version": "1.0.0"}
        }),
    );
    // The reply streams (the session service answers in SSE) and names the session.
    let req = post("/mcp").body(Body::from(init)).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    drop(resp);

    // The session's standalone stream opens (GET is 405 only for stateless clients).
    let req = Request::get("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", &session)
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    drop(resp);

    // Ending it ends it: the id then names nothing, and the session service says so.
    let req = Request::delete("/mcp")
        .header(header::HOST, "localhost")
        .header("mcp-session-id", &session)
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let req = Request::get("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", &session)
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The `_meta` every request of protocol 2026-07-28 carries in place of a handshake.
fn meta_2026() -> serde_json::Value {
    serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test-client", "version": "1.0.0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

#[tokio::test]
async fn protocol_2026_07_28_discovers_and_calls_without_a_handshake() {
    let router = client().router();
    // server/discover: what initialize told, without a session.
    let req = post("/mcp")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .body(Body::from(rpc(
            1,
            "server/discover",
            serde_json::json!({"_meta": meta_2026()}),
        )))
        .expect("request");
    let (resp, body) = send(&router, req).await;
    assert_eq!(resp.status(), StatusCode::OK, "{body}");
    let result = &json(&body)["result"];
    assert!(
        result["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.contains(&"2026-07-28".into()) && v.contains(&"2024-11-05".into())),
        "{body}"
    );
    assert!(result["capabilities"]["tools"].is_object(), "{body}");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "probe"
    );

    // tools/call with the standard headers and per-request metadata, agent from the URL.
    let call = |method_header: Option<&str>| {
        let mut req = post("/mcp?agent_id=ada")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-name", "whoami");
        if let Some(method) = method_header {
            req = req.header("mcp-method", method);
        }
        req.body(Body::from(rpc(
            2,
            "tools/call",
            serde_json::json!({"name": "whoami", "arguments": {}, "_meta": meta_2026()}),
        )))
        .expect("request")
    };
    let (resp, body) = send(&router, call(Some("tools/call"))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{body}");
    assert_eq!(json(&body)["result"]["content"][0]["text"], "ada", "{body}");

    // The Mcp-Method header is required on this revision, and must name the body's method.
    let (resp, body) = send(&router, call(None)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
    let (resp, body) = send(&router, call(Some("tools/list"))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
}
