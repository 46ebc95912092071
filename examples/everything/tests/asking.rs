//! Tools that ask the client (elicitation, sampling) and resource subscriptions, through an
//! MCP client in process: what reaches the client, what comes back, and what a client that
//! cannot be asked or notified is told.

// `resources/subscribe` is legacy-only from protocol 2026-07-28 on; clients before it use it.
#![allow(deprecated)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use everything::{WATCHED, plugin};
use nanofleet_sdk::{
    rmcp::{
        ServiceError,
        model::{
            ElicitResult, ElicitationAction, SubscribeRequestParams, UnsubscribeRequestParams,
        },
    },
    testing::{AgentClient, Answers, Notification, TestClient},
};
use serde_json::json;

fn test_client() -> TestClient {
    TestClient::new(&plugin().expect("the plugin builds")).expect("starts")
}

fn error_of(err: ServiceError) -> (i32, String) {
    match err {
        ServiceError::McpError(e) => (e.code.0, e.message.to_string()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test]
async fn sampling_sends_the_prompt_to_the_clients_model_and_returns_its_answer() {
    let client = test_client();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    #[allow(deprecated)] // sampling is deprecated from protocol 2026-07-28 on
    let answers = Answers::new().sample_with(move |request| {
        let text = serde_json::to_value(&request.messages).unwrap_or_default();
        record
            .lock()
            .expect("succeeds")
            .push((text, request.max_tokens));
        nanofleet_sdk::rmcp::model::CreateMessageResult::new(
            nanofleet_sdk::rmcp::model::SamplingMessage::assistant_text("Four."),
            "test-model".into(),
        )
    });
    let agent = client
        .connect_answering("ada", answers)
        .await
        .expect("succeeds");
    let text = agent
        .call_text("test_sampling", json!({"prompt": "What is 2+2?"}))
        .await
        .expect("succeeds");
    assert_eq!(text, "LLM response: Four.");
    let seen = seen.lock().expect("succeeds");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0[0]["content"]["text"], "What is 2+2?");
    assert_eq!(seen[0].1, 100);
}

#[tokio::test]
async fn an_accepted_form_comes_back_checked() {
    let client = test_client();
    let answers = Answers::new().accept_forms(|message, schema| {
        assert_eq!(message, "Who are you?");
        assert_eq!(schema["required"], json!(["username", "email"]));
        json!({"username": "ada", "email": "ada@example.com"})
    });
    let agent = client
        .connect_answering("ada", answers)
        .await
        .expect("succeeds");
    let text = agent
        .call_text("test_elicitation", json!({"message": "Who are you?"}))
        .await
        .expect("succeeds");
    assert_eq!(
        text,
        r#"User response: <action: accept, content: {"email":"ada@example.com","username":"ada"}>"#
    );
}

#[tokio::test]
async fn an_answer_that_does_not_fit_the_form_is_an_error_naming_the_field() {
    let client = test_client();
    for (answer, expected) in [
        (
            json!({"username": "ada"}),
            "the required field `email` is missing",
        ),
        (
            json!({"username": 7, "email": "a@b"}),
            "`username`: expected string, got a number",
        ),
        (
            json!({"username": "ada", "email": "a@b", "admin": true}),
            "`admin` is not a field of the form",
        ),
    ] {
        let answers = Answers::new().accept_forms(move |_, _| answer.clone());
        let agent = client
            .connect_answering("ada", answers)
            .await
            .expect("succeeds");
        let result = agent
            .call("test_elicitation", json!({"message": "Who?"}))
            .await
            .expect("succeeds");
        assert_eq!(result.is_error, Some(true), "{expected}");
        let text = nanofleet_sdk::testing::result_text(&result);
        assert!(text.contains(expected), "{text}");
    }
}

#[tokio::test]
async fn enum_answers_outside_the_choices_are_refused() {
    let client = test_client();
    let answers = Answers::new().accept_forms(
        |_, _| json!({"untitledSingle": "option1", "titledMulti": ["value1", "value9"]}),
    );
    let agent = client
        .connect_answering("ada", answers)
        .await
        .expect("succeeds");
    let result = agent
        .call("test_elicitation_sep1330_enums", json!({}))
        .await
        .expect("succeeds");
    assert_eq!(result.is_error, Some(true));
    let text = nanofleet_sdk::testing::result_text(&result);
    assert!(
        text.contains("`titledMulti`: \"value9\" is not one of"),
        "{text}"
    );
}

#[tokio::test]
async fn declined_and_cancelled_forms_say_so() {
    let client = test_client();
    let agent = client
        .connect_answering("ada", Answers::new().decline_forms())
        .await
        .expect("succeeds");
    let text = agent
        .call_text("test_elicitation", json!({"message": "Who?"}))
        .await
        .expect("succeeds");
    assert_eq!(text, "User response: <action: decline>");

    let cancel = Answers::new().elicit_with(|_, _| ElicitResult::new(ElicitationAction::Cancel));
    let agent = client
        .connect_answering("ada", cancel)
        .await
        .expect("succeeds");
    let text = agent
        .call_text("test_elicitation_sep1034_defaults", json!({}))
        .await
        .expect("succeeds");
    assert_eq!(text, "Elicitation completed: action=cancel, content=null");
}

#[tokio::test]
async fn a_client_that_declared_nothing_is_not_asked_and_the_tool_says_why() {
    let client = test_client();
    let agent = client.connect_as("ada").await.expect("succeeds");
    for (tool, args, what) in [
        (
            "test_elicitation",
            json!({"message": "Who?"}),
            "elicitation",
        ),
        ("test_sampling", json!({"prompt": "Hi"}), "sampling"),
    ] {
        let result = agent.call(tool, args).await.expect("succeeds");
        assert_eq!(result.is_error, Some(true));
        let text = nanofleet_sdk::testing::result_text(&result);
        assert!(
            text.contains(&format!("cannot be asked for {what}")),
            "{text}"
        );
    }
}

/// Waits until `agent` has received `count` updates of `uri`.
async fn updates_of(agent: &AgentClient, uri: &str, count: usize) -> usize {
    let seen = || {
        agent
            .notifications()
            .iter()
            .filter(|n| matches!(n, Notification::ResourceUpdated(u) if u == uri))
            .count()
    };
    for _ in 0..100 {
        if seen() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen()
}

#[tokio::test]
async fn a_subscriber_is_told_of_changes_until_it_unsubscribes() {
    let client = test_client();
    let agent = client
        .connect_answering("ada", Answers::new().decline_forms())
        .await
        .expect("succeeds");
    agent
        .peer()
        .subscribe(SubscribeRequestParams::new(WATCHED))
        .await
        .expect("subscribes");
    let text = agent
        .call_text("update_watched_resource", json!({}))
        .await
        .expect("succeeds");
    assert_eq!(text, "notified 1 subscriber(s)");
    assert_eq!(updates_of(&agent, WATCHED, 1).await, 1);

    agent
        .peer()
        .unsubscribe(UnsubscribeRequestParams::new(WATCHED))
        .await
        .expect("unsubscribes");
    let text = agent
        .call_text("update_watched_resource", json!({}))
        .await
        .expect("succeeds");
    assert_eq!(text, "notified 0 subscriber(s)");
}

#[tokio::test]
async fn subscriptions_are_refused_without_a_channel_or_to_unknown_resources() {
    let client = test_client();
    let stateless = client.connect_as("ada").await.expect("succeeds");
    let (code, message) = error_of(
        stateless
            .peer()
            .subscribe(SubscribeRequestParams::new(WATCHED))
            .await
            .expect_err("is refused"),
    );
    assert_eq!(code, -32600);
    assert!(
        message.contains("need a channel for notifications"),
        "{message}"
    );

    let with_session = client
        .connect_answering("ada", Answers::new().decline_forms())
        .await
        .expect("succeeds");
    let (code, _) = error_of(
        with_session
            .peer()
            .subscribe(SubscribeRequestParams::new("test://no-such-resource"))
            .await
            .expect_err("is refused"),
    );
    assert_eq!(code, -32002);
}

#[tokio::test]
async fn every_form_of_the_fixture_is_a_valid_elicitation_schema() {
    for form in [
        everything::user_info_form(),
        everything::defaults_form(),
        everything::enums_form(),
    ] {
        let wire = serde_json::to_value(form).expect("succeeds");
        assert_eq!(wire["type"], "object");
        assert!(
            wire["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty())
        );
    }
}
