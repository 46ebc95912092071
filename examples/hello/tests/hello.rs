//! `hello` through the in-process client.

use nanofleet_sdk::testing::TestClient;
use serde_json::json;

#[tokio::test]
async fn greets_on_behalf_of_the_calling_agent() {
    let client = TestClient::new(&hello::Hello.plugin().expect("valid")).expect("starts");
    let agent = client.connect_as("agent-7").await.expect("connect");
    let text = agent
        .call_text("greet", json!({"name": "Ada"}))
        .await
        .expect("greet");
    assert_eq!(text, "Hello, Ada! (asked by agent agent-7)");
    let empty = agent
        .call("greet", json!({"name": "  "}))
        .await
        .expect("call");
    assert_eq!(empty.is_error, Some(true));
}

#[tokio::test]
async fn lists_one_read_only_tool_with_a_described_argument() {
    let client = TestClient::new(&hello::Hello.plugin().expect("valid")).expect("starts");
    let tools = client
        .connect_anonymous()
        .await
        .expect("connect")
        .list_tools()
        .await
        .expect("list");
    assert_eq!(tools.len(), 1);
    let greet = &tools[0];
    assert_eq!(greet.name, "greet");
    assert_eq!(
        greet.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );
    assert_eq!(
        greet.input_schema["properties"]["name"]["description"],
        "Who to greet."
    );
    assert_eq!(greet.input_schema["required"], json!(["name"]));
}

#[test]
fn its_manifest_is_valid() {
    let diagnostics = hello::Hello::manifest().validate();
    assert!(!diagnostics.has_errors(), "{diagnostics}");
}
