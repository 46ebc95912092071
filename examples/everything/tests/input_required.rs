//! Asking the client on protocol 2026-07-28, which has no requests from server to client: the
//! call is answered with `input_required` and the question, the client retries it with the
//! answer, and the tool runs again and gets it. Answers are checked as on older protocols.

mod common;

use common::{router, rpc};
use serde_json::{Value, json};

async fn call(router: &axum::Router, tool: &str, arguments: Value, retry: Option<Value>) -> Value {
    call_as(
        router,
        json!({"elicitation": {}, "sampling": {}}),
        tool,
        arguments,
        retry,
    )
    .await
}

async fn call_as(
    router: &axum::Router,
    capabilities: Value,
    tool: &str,
    arguments: Value,
    answers: Option<Value>,
) -> Value {
    let mut params = json!({"name": tool, "arguments": arguments});
    if let Some(answers) = answers {
        params["inputResponses"] = answers;
    }
    rpc(router, "ada", "tools/call", params, capabilities).await["result"].clone()
}

#[tokio::test]
async fn a_form_goes_back_as_input_required_and_the_retry_brings_the_answer() {
    let router = router();
    let asked = call(
        &router,
        "test_elicitation",
        json!({"message": "Who are you?"}),
        None,
    )
    .await;
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let question = &asked["inputRequests"]["ask-1"];
    assert_eq!(question["method"], "elicitation/create", "{asked}");
    assert_eq!(question["params"]["message"], "Who are you?");
    assert_eq!(
        question["params"]["requestedSchema"]["required"],
        json!(["username", "email"])
    );

    let answer = json!({"ask-1": {"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}});
    let done = call(
        &router,
        "test_elicitation",
        json!({"message": "Who are you?"}),
        Some(answer),
    )
    .await;
    assert_eq!(
        done["content"][0]["text"],
        r#"User response: <action: accept, content: {"email":"ada@example.com","username":"ada"}>"#,
        "{done}"
    );

    // An answer that does not fit the form is the tool's error, naming the field; so is one
    // that is no elicitation result at all.
    for (answer, expected) in [
        (
            json!({"ask-1": {"action": "accept", "content": {"username": "ada"}}}),
            "the required field `email` is missing",
        ),
        (json!({"ask-1": {"action": 7}}), "the answer to `ask-1`"),
    ] {
        let refused = call(
            &router,
            "test_elicitation",
            json!({"message": "Who?"}),
            Some(answer),
        )
        .await;
        assert_tool_error(&refused, expected);
    }
}

/// `result` is an `isError` tool result whose text contains `expected`.
fn assert_tool_error(result: &Value, expected: &str) {
    assert_eq!(result["isError"], true, "{result}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(expected)),
        "{result}"
    );
}

#[tokio::test]
async fn sampling_goes_back_as_input_required_too() {
    let router = router();
    let asked = call(
        &router,
        "test_sampling",
        json!({"prompt": "Capital of France?"}),
        None,
    )
    .await;
    let question = &asked["inputRequests"]["ask-1"];
    assert_eq!(question["method"], "sampling/createMessage", "{asked}");
    assert_eq!(
        question["params"]["messages"][0]["content"]["text"],
        "Capital of France?"
    );
    let answer = json!({"ask-1": {"role": "assistant", "content": {"type": "text", "text": "Paris."}, "model": "m"}});
    let done = call(
        &router,
        "test_sampling",
        json!({"prompt": "Capital of France?"}),
        Some(answer),
    )
    .await;
    assert_eq!(done["content"][0]["text"], "LLM response: Paris.", "{done}");
}

#[tokio::test]
async fn a_client_that_declares_nothing_is_not_asked() {
    let router = router();
    let result = call_as(
        &router,
        json!({}),
        "test_elicitation",
        json!({"message": "Who?"}),
        None,
    )
    .await;
    assert_tool_error(&result, "cannot be asked for elicitation");
}
