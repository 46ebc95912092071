//! `#[tool(task)]` over HTTP, the way a client of MCP's tasks extension drives it: the call
//! answers at once with a task, `tasks/get` shows its progress and then its result, `tasks/cancel`
//! stops it, and another agent cannot see or touch it.

mod common;

use std::time::Duration;

use common::router;
use serde_json::{Value, json};

const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A request as `agent`, from a client that declares the tasks extension when `tasks` is set.
async fn rpc(
    router: &axum::Router,
    agent: &str,
    method: &str,
    params: Value,
    tasks: bool,
) -> Value {
    let extensions = if tasks {
        json!({ TASKS: {} })
    } else {
        json!({})
    };
    common::rpc(
        router,
        agent,
        method,
        params,
        json!({"extensions": extensions}),
    )
    .await
}

async fn get(router: &axum::Router, agent: &str, id: &str) -> Value {
    rpc(router, agent, "tasks/get", json!({"taskId": id}), true).await
}

async fn until_done(router: &axum::Router, id: &str) -> Value {
    for _ in 0..200 {
        let task = get(router, "ada", id).await;
        if task["result"]["status"] != "working" {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never finished");
}

#[tokio::test]
async fn a_client_of_the_extension_gets_a_task_and_polls_it_to_its_result() {
    let router = router();
    let started = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 4}}),
        true,
    )
    .await;
    let task = &started["result"];
    assert_eq!(task["resultType"], "task", "{started}");
    assert_eq!(task["status"], "working", "{started}");
    let id = task["taskId"].as_str().expect("a task id").to_owned();

    // Progress shows as the status message while it runs.
    let mut saw_progress = false;
    for _ in 0..100 {
        let now = get(&router, "ada", &id).await;
        if now["result"]["statusMessage"]
            .as_str()
            .is_some_and(|m| m.contains("step"))
        {
            saw_progress = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_progress, "no progress in the status message");

    let done = until_done(&router, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "counted to 4",
        "{done}"
    );
}

#[tokio::test]
async fn a_client_without_the_extension_gets_the_result_inline() {
    let router = router();
    let answer = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 1}}),
        false,
    )
    .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "counted to 1",
        "{answer}"
    );
}

#[tokio::test]
async fn cancel_stops_a_task_and_other_agents_cannot_see_or_cancel_it() {
    let router = router();
    let started = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 1000}}),
        true,
    )
    .await;
    let id = started["result"]["taskId"].as_str().expect("id").to_owned();

    for method in ["tasks/get", "tasks/cancel"] {
        let refused = rpc(&router, "bob", method, json!({"taskId": id}), true).await;
        assert_eq!(refused["error"]["code"], -32602, "{method}: {refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no task")),
            "{refused}"
        );
    }
    let unknown = get(&router, "ada", "no-such-task").await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    let cancelled = rpc(&router, "ada", "tasks/cancel", json!({"taskId": id}), true).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let done = until_done(&router, &id).await;
    assert_eq!(done["result"]["status"], "cancelled", "{done}");
}

#[tokio::test]
async fn a_question_waits_in_the_task_until_tasks_update_answers_it() {
    let router = router();
    let caps = json!({"extensions": { TASKS: {} }, "elicitation": {}});
    let started = common::rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "elicit_in_task", "arguments": {"message": "Who?"}}),
        caps.clone(),
    )
    .await;
    let id = started["result"]["taskId"].as_str().expect("id").to_owned();
    let mut waiting = Value::Null;
    for _ in 0..100 {
        waiting = common::rpc(
            &router,
            "ada",
            "tasks/get",
            json!({"taskId": id}),
            caps.clone(),
        )
        .await;
        if waiting["result"]["status"] == "input_required" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(waiting["result"]["status"], "input_required", "{waiting}");
    let question = &waiting["result"]["inputRequests"]["ask-1"];
    assert_eq!(question["method"], "elicitation/create", "{waiting}");
    assert_eq!(question["params"]["message"], "Who?");

    let answer =
        json!({"ask-1": {"action": "accept", "content": {"username": "ada", "email": "a@b"}}});
    let updated = common::rpc(
        &router,
        "ada",
        "tasks/update",
        json!({"taskId": id, "inputResponses": answer}),
        caps.clone(),
    )
    .await;
    assert!(updated.get("error").is_none(), "{updated}");
    let done = until_done(&router, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"],
        r#"User response: <action: accept, content: {"email":"a@b","username":"ada"}>"#,
        "{done}"
    );
}
