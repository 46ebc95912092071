//! The web UI behind the SDK's `nf_token` check: the page, the whole board, and moves.

use std::time::{Duration, SystemTime};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use nanofleet_sdk::{
    env::PluginEnv,
    identity::{InternalToken, mint_ui_token},
    testing::TestClient,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "kanban-test-internal-token-0123456789";

fn secret() -> InternalToken {
    InternalToken::new(SECRET.to_owned()).expect("token")
}

fn nf_token(secret: &InternalToken, plugin: &str) -> String {
    mint_ui_token(
        secret,
        plugin,
        Some("admin"),
        Duration::from_secs(60),
        SystemTime::now(),
    )
}

/// The plugin with a board alice and bob have put tasks on, and its UI router.
async fn board() -> (TestClient, Router) {
    let env = PluginEnv {
        internal_token: Some(secret()),
        plugin_id: Some("kanban".to_owned()),
        ..PluginEnv::default()
    };
    let client =
        TestClient::with_env(&kanban::plugin().expect("valid plugin"), env).expect("starts");
    for (agent, title) in [
        ("alice", "Alice's"),
        ("bob", "Bob's"),
        ("alice", "Alice's too"),
    ] {
        let agent = client.connect_as(agent).await.expect("connect");
        agent
            .call_json("create_task", json!({"title": title}))
            .await
            .expect("create");
    }
    let ui = nanofleet_sdk::ui::router(client.running())
        .expect("configured")
        .expect("the plugin has a UI");
    (client, ui)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }
}

async fn send(ui: &Router, method: Method, uri: &str, body: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request");
    let response = ui.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

#[tokio::test]
async fn the_page_is_self_contained_and_uses_relative_urls() {
    let (_client, ui) = board().await;
    let token = nf_token(&secret(), "kanban");
    let page = send(&ui, Method::GET, &format!("/?nf_token={token}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    let content_type = &page.headers[header::CONTENT_TYPE];
    assert!(
        content_type
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("frame-ancestors"),
        "framing is the host proxy's to decide: {csp}"
    );
    assert!(page.body.contains("id=\"new-task\""), "the page adds tasks");
    for column in ["todo", "doing", "done"] {
        assert!(page.body.contains(&format!("data-column=\"{column}\"")));
    }
    assert!(page.body.contains("\"api/tasks\"") && page.body.contains("`api/tasks/"));
    assert!(page.body.contains("nf_token"));
    for absolute in ["\"/api", "`/api", "http://", "https://", "src=", "href="] {
        assert!(
            !page.body.contains(absolute),
            "the page contains {absolute}"
        );
    }
}

#[tokio::test]
async fn the_board_shows_every_agents_tasks() {
    let (_client, ui) = board().await;
    let token = nf_token(&secret(), "kanban");
    let answer = send(
        &ui,
        Method::GET,
        &format!("/api/tasks?nf_token={token}"),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let board = answer.json();
    assert_eq!(board["viewer"], "admin");
    let tasks: Vec<(&str, &str)> = board["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["title"].as_str().expect("title"),
                t["assignee"].as_str().expect("assignee"),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("Alice's", "alice"),
            ("Bob's", "bob"),
            ("Alice's too", "alice")
        ]
    );
}

#[tokio::test]
async fn the_admin_moves_any_task() {
    let (client, ui) = board().await;
    let token = nf_token(&secret(), "kanban");
    let moved = send(
        &ui,
        Method::POST,
        &format!("/api/tasks/2/move?nf_token={token}"),
        Some(r#"{"column": "done"}"#),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.json()["column"], "done");
    assert_eq!(moved.json()["title"], "Bob's");

    let bob = client.connect_as("bob").await.expect("bob");
    let list = bob
        .call_json("list_tasks", json!({"column": "done"}))
        .await
        .expect("list");
    assert_eq!(list["tasks"][0]["title"], "Bob's");
}

#[tokio::test]
async fn the_admin_adds_tasks_for_an_agent() {
    let (client, ui) = board().await;
    let token = nf_token(&secret(), "kanban");
    let uri = format!("/api/tasks?nf_token={token}");
    let created = send(
        &ui,
        Method::POST,
        &uri,
        Some(r#"{"title": "  Water the plants ", "assignee": "bob"}"#),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["title"], "Water the plants");
    assert_eq!(created.json()["column"], "todo");
    let bob = client.connect_as("bob").await.expect("bob");
    let list = bob
        .call_json("list_tasks", json!({"column": "todo"}))
        .await
        .expect("list");
    let titles: Vec<&str> = list["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert!(titles.contains(&"Water the plants"), "{list}");

    let nobody = send(
        &ui,
        Method::POST,
        &uri,
        Some(r#"{"title": "Unassigned", "assignee": " "}"#),
    )
    .await;
    assert_eq!(nobody.status, StatusCode::CREATED, "{}", nobody.body);
    assert_eq!(nobody.json()["assignee"], Value::Null);

    let long = "x".repeat(201);
    let too_long = format!(r#"{{"title": "{long}"}}"#);
    for (body, message) in [
        (r#"{"title": "  "}"#, "`title` is empty"),
        (too_long.as_str(), "201 characters"),
        (r#"{"title": "t", "column": "done"}"#, "unknown field"),
        ("[]", "expected struct NewTask"),
    ] {
        let answer = send(&ui, Method::POST, &uri, Some(body)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        let error = answer.json()["error"].as_str().expect("error").to_owned();
        assert!(error.contains(message), "{body}: {error}");
    }
}

#[tokio::test]
async fn bad_moves_are_400_and_unknown_tasks_404() {
    let (_client, ui) = board().await;
    let token = nf_token(&secret(), "kanban");
    let cases = [
        (
            "1",
            Some(r#"{"column": "blocked"}"#),
            StatusCode::BAD_REQUEST,
            "unknown variant",
        ),
        ("1", Some("not json"), StatusCode::BAD_REQUEST, "JSON"),
        ("1", None, StatusCode::BAD_REQUEST, "Content-Type"),
        (
            "one",
            Some(r#"{"column": "done"}"#),
            StatusCode::BAD_REQUEST,
            "one",
        ),
        (
            "99",
            Some(r#"{"column": "done"}"#),
            StatusCode::NOT_FOUND,
            "no task 99",
        ),
    ];
    for (id, body, status, message) in cases {
        let uri = format!("/api/tasks/{id}/move?nf_token={token}");
        let answer = send(&ui, Method::POST, &uri, body).await;
        assert_eq!(answer.status, status, "{id} {body:?}: {}", answer.body);
        let error = answer.json()["error"].as_str().expect("error").to_owned();
        assert!(error.contains(message), "{id} {body:?}: {error}");
    }
}

#[tokio::test]
async fn every_route_needs_a_token_for_this_plugin() {
    let (_client, ui) = board().await;
    let forged = nf_token(
        &InternalToken::new("another-internal-token-0123456789".to_owned()).expect("token"),
        "kanban",
    );
    let elsewhere = nf_token(&secret(), "notes");
    for query in [
        String::new(),
        format!("?nf_token={forged}"),
        format!("?nf_token={elsewhere}"),
    ] {
        for (method, path) in [
            (Method::GET, "/"),
            (Method::GET, "/api/tasks"),
            (Method::POST, "/api/tasks/1/move"),
        ] {
            let body = (method == Method::POST).then_some(r#"{"column": "done"}"#);
            let answer = send(&ui, method.clone(), &format!("{path}{query}"), body).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}{query}"
            );
        }
    }
}
