//! Resources, templates, prompts, completion and rich content through an MCP client, in
//! process: what each returns, and the error each bad request gets.

use everything::{PNG, plugin};
use nanofleet_sdk::{
    rmcp::{
        ServiceError,
        model::{
            ArgumentInfo, CompleteRequestParams, ContentBlock, GetPromptRequestParams,
            PaginatedRequestParams, ReadResourceRequestParams, Reference, ResourceContents,
        },
    },
    testing::{AgentClient, TestClient},
};
use serde_json::json;

async fn client() -> (TestClient, AgentClient) {
    let client = TestClient::new(&plugin().expect("the plugin builds")).expect("starts");
    let agent = client.connect_as("ada").await.expect("connects");
    (client, agent)
}

/// The JSON-RPC error code and message of a failed request.
fn error_of(err: ServiceError) -> (i32, String) {
    match err {
        ServiceError::McpError(e) => (e.code.0, e.message.to_string()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

fn read(uri: &str) -> ReadResourceRequestParams {
    ReadResourceRequestParams::new(uri)
}

fn prompt(name: &str, arguments: serde_json::Value) -> GetPromptRequestParams {
    let mut params = GetPromptRequestParams::new(name);
    params.arguments = arguments.as_object().cloned();
    params
}

#[tokio::test]
async fn initialize_advertises_resources_prompts_and_completions() {
    let (_client, agent) = client().await;
    let info = agent.peer().peer_info().expect("initialized");
    let caps = &info.capabilities;
    assert!(caps.resources.is_some() && caps.prompts.is_some() && caps.completions.is_some());
    assert!(caps.tools.is_some() && caps.logging.is_some());
}

#[tokio::test]
async fn resources_are_listed_and_read_as_text_and_blob() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    let listed = peer.list_resources(None).await.expect("list");
    let uris: Vec<&str> = listed.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "test://static-text",
            "test://static-binary",
            "test://watched-resource"
        ]
    );
    assert!(listed.next_cursor.is_none());
    assert!(listed.resources.iter().all(|r| r.description.is_some()));

    let text = peer
        .read_resource(read("test://static-text"))
        .await
        .expect("read");
    assert_eq!(
        serde_json::to_value(&text.contents).expect("json"),
        json!([{"uri": "test://static-text", "mimeType": "text/plain",
                "text": "This is the content of the static text resource."}])
    );
    let blob = peer
        .read_resource(read("test://static-binary"))
        .await
        .expect("read");
    match &blob.contents[..] {
        [
            ResourceContents::BlobResourceContents {
                mime_type, blob, ..
            },
        ] => {
            assert_eq!(mime_type.as_deref(), Some("image/png"));
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .expect("standard base64");
            assert_eq!(bytes, PNG);
        }
        other => panic!("expected one blob, got {other:?}"),
    }
}

#[tokio::test]
async fn templates_are_listed_and_their_variables_reach_the_handler() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    let templates = peer.list_resource_templates(None).await.expect("list");
    assert_eq!(
        templates.resource_templates[0].uri_template,
        "test://template/{id}/data"
    );
    let data = peer
        .read_resource(read("test://template/123/data"))
        .await
        .expect("read");
    match &data.contents[..] {
        [
            ResourceContents::TextResourceContents {
                uri,
                text,
                mime_type,
                ..
            },
        ] => {
            assert_eq!(uri, "test://template/123/data");
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            let value: serde_json::Value = serde_json::from_str(text).expect("json");
            assert_eq!(value["id"], "123");
            assert_eq!(value["data"], "Data for ID: 123");
        }
        other => panic!("expected one text, got {other:?}"),
    }
    // Percent-encoded variables arrive decoded.
    let data = peer
        .read_resource(read("test://template/a%20b/data"))
        .await
        .expect("read");
    let text = serde_json::to_value(&data.contents[0]).expect("json")["text"].clone();
    assert!(text.as_str().is_some_and(|t| t.contains("a b")), "{text}");
}

#[tokio::test]
async fn unknown_resources_get_resource_not_found_and_bad_cursors_invalid_params() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    for uri in [
        "test://nothing",
        "test://template/1/2/data",
        "not a uri",
        "",
    ] {
        let (code, message) = error_of(peer.read_resource(read(uri)).await.expect_err(uri));
        assert_eq!(code, -32002, "{uri}: {message}");
        assert!(message.contains(uri), "{message}");
    }
    let bad = PaginatedRequestParams::default().with_cursor(Some("bogus".into()));
    let (code, message) = error_of(peer.list_resources(Some(bad)).await.expect_err("cursor"));
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("invalid cursor"), "{message}");
}

#[tokio::test]
async fn prompts_are_listed_with_their_arguments_and_expanded() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    let listed = peer.list_prompts(None).await.expect("list");
    let names: Vec<&str> = listed.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "test_simple_prompt",
            "test_prompt_with_arguments",
            "test_prompt_with_embedded_resource",
            "test_prompt_with_image"
        ]
    );
    assert!(listed.prompts.iter().all(|p| p.description.is_some()));
    let with_args = &listed.prompts[1];
    assert_eq!(
        serde_json::to_value(&with_args.arguments).expect("json"),
        json!([
            {"name": "arg1", "description": "First test argument", "required": true},
            {"name": "arg2", "description": "Second test argument", "required": true}
        ])
    );

    let simple = peer
        .get_prompt(GetPromptRequestParams::new("test_simple_prompt"))
        .await
        .expect("get");
    assert_eq!(
        serde_json::to_value(&simple.messages).expect("json"),
        json!([{"role": "user", "content": {"type": "text",
                "text": "This is a simple prompt for testing."}}])
    );
    let filled = peer
        .get_prompt(prompt(
            "test_prompt_with_arguments",
            json!({"arg1": "testValue1", "arg2": "testValue2"}),
        ))
        .await
        .expect("get");
    let text = serde_json::to_string(&filled.messages).expect("json");
    assert!(
        text.contains("arg1='testValue1', arg2='testValue2'"),
        "{text}"
    );

    let embedded = peer
        .get_prompt(prompt(
            "test_prompt_with_embedded_resource",
            json!({"resourceUri": "test://example-resource"}),
        ))
        .await
        .expect("get");
    assert!(matches!(
        &embedded.messages[0].content,
        ContentBlock::Resource(r) if serde_json::to_value(&r.resource).expect("json")["uri"] == "test://example-resource"
    ));
    let image = peer
        .get_prompt(GetPromptRequestParams::new("test_prompt_with_image"))
        .await
        .expect("get");
    assert!(
        matches!(&image.messages[0].content, ContentBlock::Image(i) if i.mime_type == "image/png")
    );
}

#[tokio::test]
async fn bad_prompt_requests_name_what_is_wrong() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    let (code, message) = error_of(
        peer.get_prompt(prompt("test_prompt_with_arguments", json!({"arg1": "x"})))
            .await
            .expect_err("arg2 missing"),
    );
    assert_eq!(code, -32602);
    assert!(
        message.contains("missing required argument `arg2`"),
        "{message}"
    );
    let (code, message) = error_of(
        peer.get_prompt(prompt("test_prompt_with_arguments", json!({})))
            .await
            .expect_err("both missing"),
    );
    assert_eq!(code, -32602);
    assert!(message.contains("`arg1`, `arg2`"), "{message}");
    let (code, message) = error_of(
        peer.get_prompt(GetPromptRequestParams::new("no_such_prompt"))
            .await
            .expect_err("unknown"),
    );
    assert_eq!(code, -32602);
    assert!(
        message.contains("unknown prompt `no_such_prompt`"),
        "{message}"
    );
}

#[tokio::test]
async fn completion_suggests_from_the_named_function_and_refuses_unknown_references() {
    let (_client, agent) = client().await;
    let peer = agent.peer();
    let complete = |reference: Reference, argument: &str, value: &str| {
        CompleteRequestParams::new(reference, ArgumentInfo::new(argument, value))
    };
    let result = peer
        .complete(complete(
            Reference::for_prompt("test_prompt_with_arguments"),
            "arg1",
            "test",
        ))
        .await
        .expect("complete");
    assert_eq!(result.completion.values, ["test", "testing", "tested"]);
    let result = peer
        .complete(complete(
            Reference::for_prompt("test_prompt_with_arguments"),
            "arg1",
            "testi",
        ))
        .await
        .expect("complete");
    assert_eq!(result.completion.values, ["testing"]);
    // A declared argument without a completion function: no suggestions.
    let result = peer
        .complete(complete(
            Reference::for_prompt("test_prompt_with_arguments"),
            "arg2",
            "x",
        ))
        .await
        .expect("complete");
    assert!(result.completion.values.is_empty());
    let result = peer
        .complete(complete(
            Reference::for_resource("test://template/{id}/data"),
            "id",
            "1",
        ))
        .await
        .expect("complete");
    assert_eq!(result.completion.values, ["1", "123"]);

    for (reference, argument, needle) in [
        (
            Reference::for_prompt("nope"),
            "arg1",
            "unknown prompt `nope`",
        ),
        (
            Reference::for_prompt("test_prompt_with_arguments"),
            "arg9",
            "has no argument `arg9`",
        ),
        (
            Reference::for_resource("test://other/{id}"),
            "id",
            "no resource template",
        ),
    ] {
        let (code, message) = error_of(
            peer.complete(complete(reference, argument, ""))
                .await
                .expect_err(needle),
        );
        assert_eq!(code, -32602, "{message}");
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test]
async fn tools_return_rich_content_in_order() {
    let (_client, agent) = client().await;
    let result = agent
        .call("test_multiple_content_types", json!({}))
        .await
        .expect("call");
    let kinds: Vec<String> = result
        .content
        .iter()
        .map(|c| {
            serde_json::to_value(c).expect("json")["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["text", "image", "resource"]);
    let audio = agent
        .call("test_audio_content", json!({}))
        .await
        .expect("call");
    assert_eq!(
        serde_json::to_value(&audio.content[0]).expect("json")["mimeType"],
        "audio/wav"
    );
    let failed = agent
        .call("test_error_handling", json!({}))
        .await
        .expect("call");
    assert_eq!(failed.is_error, Some(true));
    // Rich results have no output schema.
    let tools = agent.list_tools().await.expect("tools");
    let mixed = tools
        .iter()
        .find(|t| t.name == "test_multiple_content_types")
        .expect("listed");
    assert!(mixed.output_schema.is_none());
    let raw = tools
        .iter()
        .find(|t| t.name == "json_schema_2020_12_tool")
        .expect("listed");
    assert_eq!(
        raw.input_schema.get("$schema"),
        Some(&json!("https://json-schema.org/draft/2020-12/schema"))
    );
    assert_eq!(
        raw.input_schema.get("additionalProperties"),
        Some(&json!(false))
    );
}
