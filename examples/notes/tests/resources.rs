//! Each note as a resource (`notes://{id}`), its subscriptions and the summary prompt, per
//! agent: the same URI names a different note for every agent, and neither reading, watching
//! nor completing it crosses from one agent to another.

// `resources/subscribe` is legacy-only from protocol 2026-07-28 on; clients before it use it.
#![allow(deprecated)]

use std::time::Duration;

use nanofleet_sdk::{
    rmcp::model::{
        ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, ReadResourceRequestParams,
        Reference, SubscribeRequestParams,
    },
    testing::{AgentClient, Answers, Notification, TestClient},
};
use serde_json::json;

fn client() -> TestClient {
    TestClient::new(&notes::plugin().expect("valid plugin")).expect("starts")
}

async fn read(agent: &AgentClient, uri: &str) -> Result<String, String> {
    agent
        .peer()
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map(|r| serde_json::to_value(&r.contents[0]).expect("json")["text"].to_string())
        .map_err(|e| e.to_string())
}

fn updates(agent: &AgentClient) -> Vec<String> {
    agent
        .notifications()
        .into_iter()
        .filter_map(|n| match n {
            Notification::ResourceUpdated(uri) => Some(uri),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_same_uri_is_a_different_note_for_every_agent() {
    let client = client();
    let ada = client.connect_as("ada").await.expect("ada");
    let bob = client.connect_as("bob").await.expect("bob");
    ada.call_json("add_note", json!({"text": "ada's"}))
        .await
        .expect("add");
    assert_eq!(read(&ada, "notes://1").await, Ok("\"ada's\"".into()));
    let err = read(&bob, "notes://1")
        .await
        .expect_err("bob has no note 1");
    assert!(err.contains("no resource at `notes://1`"), "{err}");
    bob.call_json("add_note", json!({"text": "bob's"}))
        .await
        .expect("add");
    assert_eq!(read(&bob, "notes://1").await, Ok("\"bob's\"".into()));
    assert_eq!(read(&ada, "notes://1").await, Ok("\"ada's\"".into()));
}

#[tokio::test]
async fn a_subscriber_hears_of_its_own_agents_changes_only() {
    let client = client();
    let ada = client
        .connect_answering("ada", Answers::new().decline_forms())
        .await
        .expect("ada");
    let bob = client.connect_as("bob").await.expect("bob");
    ada.call_json("add_note", json!({"text": "first"}))
        .await
        .expect("add");
    ada.peer()
        .subscribe(SubscribeRequestParams::new("notes://1"))
        .await
        .expect("subscribes to its own note");

    // Bob's note 1 changes: not ada's note 1.
    bob.call_json("add_note", json!({"text": "bob's"}))
        .await
        .expect("add");
    bob.call_json("delete_note", json!({"id": 1}))
        .await
        .expect("delete");
    // Ada's does.
    ada.call_json("delete_note", json!({"id": 1}))
        .await
        .expect("delete");
    for _ in 0..100 {
        if !updates(&ada).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for a stray notification of bob's to arrive too, were there one.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(updates(&ada), ["notes://1"]);

    // A note the agent does not have cannot be watched.
    let err = ada
        .peer()
        .subscribe(SubscribeRequestParams::new("notes://7"))
        .await
        .expect_err("no such note");
    assert!(err.to_string().contains("notes://7"), "{err}");
}

#[tokio::test]
async fn the_summary_prompt_and_id_completion_see_the_agents_notes_only() {
    let client = client();
    let ada = client.connect_as("ada").await.expect("ada");
    let bob = client.connect_as("bob").await.expect("bob");
    for text in ["buy milk", "call mum"] {
        ada.call_json("add_note", json!({"text": text}))
            .await
            .expect("add");
    }
    bob.call_json("add_note", json!({"text": "bob's plan"}))
        .await
        .expect("add");
    let mut get = GetPromptRequestParams::new("summarise_notes");
    get.arguments = json!({"focus": "errands"}).as_object().cloned();
    let prompt = ada.peer().get_prompt(get).await.expect("prompt");
    let text = serde_json::to_value(&prompt.messages[0].content).expect("json")["text"].clone();
    assert_eq!(
        text,
        "Here are my notes:\n- (1) buy milk\n- (2) call mum\nSummarise them, focusing on errands."
    );

    let completed = bob
        .peer()
        .complete(CompleteRequestParams::new(
            Reference::for_resource("notes://{id}"),
            ArgumentInfo::new("id", ""),
        ))
        .await
        .expect("completes");
    assert_eq!(completed.completion.values, ["1"]);
}
