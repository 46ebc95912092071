//! `assign_task` tells the new assignee through the host's API, and stores the assignment
//! even when the host cannot be reached.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    routing::post,
};
use nanofleet_sdk::{
    env::PluginEnv,
    identity::InternalToken,
    testing::{AgentClient, TestClient},
};
use serde_json::{Value, json};

const SECRET: &str = "kanban-test-internal-token-0123456789";

/// What the fake host received: `(agent id, body)` per authorised message, and how many
/// requests it refused.
#[derive(Clone, Default)]
struct Inbox {
    messages: Arc<Mutex<Vec<(String, Value)>>>,
    refused: Arc<Mutex<usize>>,
}

impl Inbox {
    fn messages(&self) -> Vec<(String, Value)> {
        self.messages.lock().expect("lock").clone()
    }
}

/// `POST /internal/agents/{id}/messages`, as the NanoFleet host answers it: 401 without the
/// internal token, 404 for an agent it does not know (`ghost`).
async fn receive(
    State(inbox): State<Inbox>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {SECRET}")) {
        *inbox.refused.lock().expect("lock") += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if agent == "ghost" {
        return StatusCode::NOT_FOUND;
    }
    inbox.messages.lock().expect("lock").push((agent, body));
    StatusCode::NO_CONTENT
}

/// A fake host API on a free local port: its URL and what it receives.
async fn fake_host() -> (String, Inbox) {
    let inbox = Inbox::default();
    let router = Router::new()
        .route("/internal/agents/{id}/messages", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    (url, inbox)
}

fn client(api_url: Option<String>) -> TestClient {
    let env = PluginEnv {
        api_url,
        internal_token: Some(InternalToken::new(SECRET.to_owned()).expect("token")),
        plugin_id: Some("kanban".to_owned()),
        ..PluginEnv::default()
    };
    TestClient::with_env(&kanban::plugin().expect("valid plugin"), env).expect("starts")
}

async fn assign(agent: &AgentClient, id: u64, to: &str) -> Value {
    agent
        .call_json("assign_task", json!({"id": id, "assignee": to}))
        .await
        .expect("assign_task")
}

#[tokio::test]
async fn the_new_assignee_gets_one_message() {
    let (url, inbox) = fake_host().await;
    let client = client(Some(url));
    let alice = client.connect_as("alice").await.expect("alice");
    alice
        .call_json("create_task", json!({"title": "Rotate the keys"}))
        .await
        .expect("create");

    let assigned = assign(&alice, 1, "bob").await;
    assert_eq!(assigned["notified"], true);
    assert_eq!(assigned.get("notification_error"), None);
    assert_eq!(assigned["task"]["assignee"], "bob");
    assert_eq!(
        inbox.messages(),
        [(
            "bob".to_owned(),
            json!({"content": "alice assigned you task #1: Rotate the keys"})
        )]
    );

    // No news, no message: the same assignment again, or a task assigned to oneself.
    assert_eq!(assign(&alice, 1, "bob").await["notified"], false);
    let bob = client.connect_as("bob").await.expect("bob");
    assert_eq!(assign(&bob, 1, "bob").await["notified"], false);
    assert_eq!(inbox.messages().len(), 1);
    assert_eq!(*inbox.refused.lock().expect("lock"), 0);
}

#[tokio::test]
async fn a_failed_notification_keeps_the_assignment() {
    let (url, inbox) = fake_host().await;
    let client = client(Some(url));
    let alice = client.connect_as("alice").await.expect("alice");
    alice
        .call_json("create_task", json!({"title": "Haunt"}))
        .await
        .expect("create");

    let assigned = assign(&alice, 1, "ghost").await;
    assert_eq!(assigned["notified"], false);
    let error = assigned["notification_error"].as_str().expect("error");
    assert!(error.contains("ghost was not told"), "{error}");
    assert_eq!(assigned["task"]["assignee"], "ghost");
    let ghost = client.connect_as("ghost").await.expect("ghost");
    let list = ghost
        .call_json("list_tasks", json!({}))
        .await
        .expect("list");
    assert_eq!(list["tasks"][0]["title"], "Haunt");
    assert!(inbox.messages().is_empty());
}

#[tokio::test]
async fn without_a_host_the_assignment_is_stored_and_says_so() {
    let client = client(None);
    let alice = client.connect_as("alice").await.expect("alice");
    alice
        .call_json("create_task", json!({"title": "Offline"}))
        .await
        .expect("create");

    let assigned = assign(&alice, 1, "bob").await;
    assert_eq!(assigned["notified"], false);
    let error = assigned["notification_error"].as_str().expect("error");
    assert!(
        error.contains("bob was not told") && error.contains("NANO_API_URL"),
        "{error}"
    );
    let bob = client.connect_as("bob").await.expect("bob");
    let list = bob.call_json("list_tasks", json!({})).await.expect("list");
    assert_eq!(list["tasks"][0]["title"], "Offline");
}
