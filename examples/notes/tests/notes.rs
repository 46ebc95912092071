//! `notes` as its users see it: isolation between agents, persistence across restarts, and
//! NanoFleet's install probe over a real socket with a plain HTTP client.

use nanofleet_sdk::{env::PluginEnv, server, testing::TestClient};
use serde_json::{Value, json};

fn plugin() -> nanofleet_sdk::Plugin {
    notes::plugin().expect("valid plugin")
}

#[tokio::test]
async fn agent_a_never_sees_agent_b_notes() {
    let client = TestClient::new(&plugin()).expect("starts");
    let a = client.connect_as("agent-a").await.expect("a");
    let b = client.connect_as("agent-b").await.expect("b");
    let added = a
        .call_json("add_note", json!({"text": "a's secret"}))
        .await
        .expect("add");
    assert_eq!(added, json!({"id": 1, "count": 1}));
    b.call_json("add_note", json!({"text": "b's note"}))
        .await
        .expect("add");

    let a_notes = a.call_json("list_notes", json!({})).await.expect("list");
    let b_notes = b.call_json("list_notes", json!({})).await.expect("list");
    assert_eq!(a_notes, json!({"notes": [{"id": 1, "text": "a's secret"}]}));
    assert_eq!(b_notes, json!({"notes": [{"id": 1, "text": "b's note"}]}));

    // B cannot delete A's note even knowing its id.
    let deleted = b
        .call_json("delete_note", json!({"id": 1}))
        .await
        .expect("delete");
    assert_eq!(
        deleted,
        json!({"deleted": true}),
        "b deletes its own note 1"
    );
    let a_notes = a.call_json("list_notes", json!({})).await.expect("list");
    assert_eq!(
        a_notes["notes"].as_array().map(Vec::len),
        Some(1),
        "a's note 1 is untouched"
    );
    let again = b
        .call_json("delete_note", json!({"id": 1}))
        .await
        .expect("delete");
    assert_eq!(again, json!({"deleted": false}));
}

#[tokio::test]
async fn notes_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = || PluginEnv {
        data_dir: Some(dir.path().to_owned()),
        ..PluginEnv::default()
    };
    {
        let client = TestClient::with_env(&plugin(), env()).expect("starts");
        let a = client.connect_as("a").await.expect("a");
        a.call_json("add_note", json!({"text": "one"}))
            .await
            .expect("add");
        a.call_json("add_note", json!({"text": "two"}))
            .await
            .expect("add");
        a.call_json("delete_note", json!({"id": 1}))
            .await
            .expect("delete");
    }
    let client = TestClient::with_env(&plugin(), env()).expect("restarts");
    let a = client.connect_as("a").await.expect("a");
    let notes = a.call_json("list_notes", json!({})).await.expect("list");
    assert_eq!(notes, json!({"notes": [{"id": 2, "text": "two"}]}));
    let next = a
        .call_json("add_note", json!({"text": "three"}))
        .await
        .expect("add");
    assert_eq!(
        next,
        json!({"id": 3, "count": 2}),
        "ids are not reused after a restart"
    );
}

#[tokio::test]
async fn missing_agent_is_a_clear_tool_error() {
    let client = TestClient::new(&plugin()).expect("starts");
    let anon = client.connect_anonymous().await.expect("connect");
    let result = anon
        .call("add_note", json!({"text": "x"}))
        .await
        .expect("call");
    assert_eq!(result.is_error, Some(true));
    assert!(nanofleet_sdk::testing::result_text(&result).contains("agent_id"));
}

#[tokio::test]
async fn nanofleet_probe_over_a_real_socket_lists_the_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = PluginEnv {
        data_dir: Some(dir.path().to_owned()),
        mcp_addr: Some("127.0.0.1:0".parse().expect("addr")),
        ..PluginEnv::default()
    };
    let running = plugin().start(env).expect("starts");
    let bound = server::bind(&running).await.expect("binds");
    let url = format!("http://{}/mcp", bound.mcp_addr);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.run(async move {
        let _ = stop_rx.await;
    }));

    // Exactly what NanoFleet's host sends, with a plain HTTP client.
    nanofleet_sdk::ensure_crypto_provider();
    let http = reqwest::Client::new();
    let headers = |req: reqwest::RequestBuilder| {
        req.header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("host", "nanofleet-plugin-notes:8080")
    };
    let init = headers(http.post(&url))
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "nanofleet-api", "version": "1.0.0"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("initialize");
    assert!(init.status().is_success(), "{}", init.status());
    let session = init
        .headers()
        .get("mcp-session-id")
        .expect("session id")
        .to_str()
        .expect("ascii")
        .to_owned();

    let list = headers(http.post(&url))
        .header("mcp-session-id", &session)
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        .send()
        .await
        .expect("tools/list");
    let body: Value = list
        .json()
        .await
        .expect("plain JSON, as the host parses it with .json()");
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["add_note", "list_notes", "delete_note"]);

    let del = http
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("host", "nanofleet-plugin-notes:8080")
        .send()
        .await
        .expect("delete");
    assert!(del.status().is_success(), "{}", del.status());

    let _ = stop_tx.send(());
    server.await.expect("joins").expect("clean shutdown");
}
