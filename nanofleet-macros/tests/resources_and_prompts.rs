//! `#[resource(...)]` and `#[prompt]` methods, driven through the SDK's in-process MCP client:
//! what clients list, what reads and prompts return, per agent, and the errors bad requests get.

use nanofleet_sdk::{
    AgentStore, ToolCall, ToolError,
    completion::Completion,
    plugin,
    prompt::Message,
    rmcp::{
        ServiceError,
        model::{
            ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, ReadResourceRequestParams,
            Reference, ResourceContents,
        },
    },
    testing::TestClient,
};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Notes;

async fn complete_topic(typed: Completion, _: ToolCall) -> Vec<String> {
    ["home", "work", "workshop"]
        .into_iter()
        .filter(|t| t.starts_with(typed.value()))
        .map(str::to_owned)
        .collect()
}

/// Notes, as resources.
#[plugin(name = "notes", image = "nanofleet/notes", mcp_port = 8080)]
impl Notes {
    /// Saves a note.
    #[tool]
    async fn add_note(store: AgentStore, text: String) -> Result<u64, ToolError> {
        Ok(store.collection::<String>("notes").insert(&text).await?)
    }

    /// How many notes the calling agent has.
    #[resource(uri = "notes://count", mime_type = "text/plain")]
    async fn count(store: AgentStore) -> Result<String, ToolError> {
        Ok(store.collection::<String>("notes").len().await?.to_string())
    }

    /// One of the calling agent's notes.
    #[resource(
        uri_template = "notes://{id}",
        name = "note",
        title = "A note",
        mime_type = "text/plain"
    )]
    async fn note(
        store: AgentStore,
        /// The note's id.
        id: u64,
    ) -> Result<Option<String>, ToolError> {
        Ok(store.collection::<String>("notes").get(id).await?)
    }

    /// Summarises the notes on a topic.
    #[prompt(title = "Summarise")]
    fn summarise(
        /// The topic.
        #[arg(complete = complete_topic)]
        topic: String,
        /// At most this many sentences.
        #[arg(default = 3)]
        sentences: u32,
    ) -> Vec<Message> {
        vec![Message::user(format!(
            "Summarise my notes about {topic} in {sentences} sentences."
        ))]
    }

    #[prompt(name = "greet", description = "Says hello to the calling agent.")]
    fn hello(agent: nanofleet_sdk::AgentId) -> String {
        format!("Hello, {agent}!")
    }
}

fn text(contents: &[ResourceContents]) -> String {
    match contents.first() {
        Some(ResourceContents::TextResourceContents { text, .. }) => text.clone(),
        other => panic!("expected text contents, got {other:?}"),
    }
}

fn code(err: ServiceError) -> (i32, String) {
    match err {
        ServiceError::McpError(e) => (e.code.0, e.message.to_string()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test]
async fn resources_are_listed_and_read_per_agent() -> TestResult {
    let client = TestClient::new(&Notes.plugin()?)?;
    let ada = client.connect_as("ada").await?;
    let bob = client.connect_as("bob").await?;
    let id = ada
        .call_text("add_note", json!({"text": "ada's secret"}))
        .await?;

    let listed = ada.peer().list_resources(None).await?;
    let count = &listed.resources[0];
    assert_eq!(
        (count.uri.as_str(), count.name.as_str()),
        ("notes://count", "count")
    );
    assert_eq!(
        count.description.as_deref(),
        Some("How many notes the calling agent has.")
    );
    let templates = ada.peer().list_resource_templates(None).await?;
    let note = &templates.resource_templates[0];
    assert_eq!(note.uri_template, "notes://{id}");
    assert_eq!(note.title.as_deref(), Some("A note"));

    let read = |uri: String| ReadResourceRequestParams::new(uri);
    let mine = ada
        .peer()
        .read_resource(read(format!("notes://{id}")))
        .await?;
    assert_eq!(text(&mine.contents), "ada's secret");
    assert_eq!(
        text(
            &ada.peer()
                .read_resource(read("notes://count".into()))
                .await?
                .contents
        ),
        "1"
    );
    assert_eq!(
        text(
            &bob.peer()
                .read_resource(read("notes://count".into()))
                .await?
                .contents
        ),
        "0"
    );
    // Another agent's note does not exist for bob.
    let (code_, _) = code(
        bob.peer()
            .read_resource(read(format!("notes://{id}")))
            .await
            .expect_err("not bob's"),
    );
    assert_eq!(code_, -32002);
    // A variable that does not parse into the parameter's type is named.
    let (code_, message) = code(
        ada.peer()
            .read_resource(read("notes://abc".into()))
            .await
            .expect_err("not a number"),
    );
    assert_eq!(code_, -32602);
    assert!(message.contains("id"), "{message}");
    Ok(())
}

#[tokio::test]
async fn prompts_take_typed_arguments_with_defaults_and_complete_them() -> TestResult {
    let client = TestClient::new(&Notes.plugin()?)?;
    let ada = client.connect_as("ada").await?;
    let listed = ada.peer().list_prompts(None).await?;
    let names: Vec<&str> = listed.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["summarise", "greet"]);
    let summarise = &listed.prompts[0];
    assert_eq!(summarise.title.as_deref(), Some("Summarise"));
    let arguments = summarise.arguments.as_ref().expect("arguments");
    let required: Vec<(&str, Option<bool>)> = arguments
        .iter()
        .map(|a| (a.name.as_str(), a.required))
        .collect();
    assert_eq!(
        required,
        [("topic", Some(true)), ("sentences", Some(false))]
    );

    let mut get = GetPromptRequestParams::new("summarise");
    get.arguments = json!({"topic": "work"}).as_object().cloned();
    let prompt = ada.peer().get_prompt(get).await?;
    assert_eq!(
        serde_json::to_value(&prompt.messages[0].content)?["text"],
        "Summarise my notes about work in 3 sentences."
    );

    let greet = ada
        .peer()
        .get_prompt(GetPromptRequestParams::new("greet"))
        .await?;
    assert_eq!(
        greet.description.as_deref(),
        Some("Says hello to the calling agent.")
    );
    assert_eq!(
        serde_json::to_value(&greet.messages[0].content)?["text"],
        "Hello, ada!"
    );

    let (code_, message) = code(
        ada.peer()
            .get_prompt(GetPromptRequestParams::new("summarise"))
            .await
            .expect_err("topic is required"),
    );
    assert_eq!(code_, -32602);
    assert!(message.contains("topic"), "{message}");

    let completed = ada
        .peer()
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("summarise"),
            ArgumentInfo::new("topic", "wo"),
        ))
        .await?;
    assert_eq!(completed.completion.values, ["work", "workshop"]);
    Ok(())
}
