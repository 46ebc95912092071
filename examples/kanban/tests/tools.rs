//! The tools as agents use them: each agent sees and moves the tasks assigned to it, hands
//! tasks on, and gets errors it can act on.

use nanofleet_sdk::{
    env::PluginEnv,
    testing::{AgentClient, TestClient, result_text},
};
use serde_json::{Value, json};

fn client() -> TestClient {
    TestClient::new(&kanban::plugin().expect("valid plugin")).expect("starts")
}

async fn create(agent: &AgentClient, title: &str) -> Value {
    agent
        .call_json("create_task", json!({"title": title}))
        .await
        .expect("create_task")
}

/// The titles `list_tasks` gives `agent`, with `args`.
async fn titles(agent: &AgentClient, args: Value) -> Vec<String> {
    let list = agent.call_json("list_tasks", args).await.expect("list");
    list["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["title"].as_str().expect("title").to_owned())
        .collect()
}

/// The text of a call that must fail.
async fn error(agent: &AgentClient, tool: &str, args: Value) -> String {
    let result = agent.call(tool, args).await.expect("call");
    assert_eq!(result.is_error, Some(true), "{result:?}");
    result_text(&result)
}

#[tokio::test]
async fn each_agent_lists_the_tasks_assigned_to_it() {
    let client = client();
    let alice = client.connect_as("alice").await.expect("alice");
    let bob = client.connect_as("bob").await.expect("bob");

    let task = alice
        .call_json(
            "create_task",
            json!({"title": "  Write the spec ", "description": "Two pages."}),
        )
        .await
        .expect("create");
    assert!(task["created_at"].as_u64().expect("created_at") > 0);
    assert_eq!(
        task,
        json!({
            "id": 1, "title": "Write the spec", "description": "Two pages.", "column": "todo",
            "assignee": "alice", "created_by": "alice", "created_at": task["created_at"],
        })
    );
    create(&alice, "Review the PR").await;
    create(&bob, "Deploy").await;
    let nobodys = alice
        .call_json(
            "create_task",
            json!({"title": "Someday", "assign_to_me": false}),
        )
        .await
        .expect("create");
    assert_eq!(nobodys["assignee"], Value::Null);

    assert_eq!(
        titles(&alice, json!({})).await,
        ["Write the spec", "Review the PR"]
    );
    assert_eq!(titles(&bob, json!({})).await, ["Deploy"]);

    let moved = alice
        .call_json("move_task", json!({"id": 2, "column": "doing"}))
        .await
        .expect("move");
    assert_eq!(
        (moved["id"].as_u64(), &moved["column"]),
        (Some(2), &json!("doing"))
    );
    assert_eq!(
        titles(&alice, json!({"column": "doing"})).await,
        ["Review the PR"]
    );
    assert_eq!(
        titles(&alice, json!({"column": "todo"})).await,
        ["Write the spec"]
    );
    assert!(titles(&alice, json!({"column": "done"})).await.is_empty());
}

#[tokio::test]
async fn others_tasks_look_like_missing_ones() {
    let client = client();
    let alice = client.connect_as("alice").await.expect("alice");
    let bob = client.connect_as("bob").await.expect("bob");
    create(&alice, "Alice's task").await;

    let theirs = error(&bob, "move_task", json!({"id": 1, "column": "done"})).await;
    let missing = error(&bob, "move_task", json!({"id": 99, "column": "done"})).await;
    assert_eq!(theirs.replace('1', "N"), missing.replace("99", "N"));
    assert!(theirs.contains("no task 1 assigned to you"), "{theirs}");

    let theirs = error(&bob, "assign_task", json!({"id": 1, "assignee": "bob"})).await;
    let missing = error(&bob, "assign_task", json!({"id": 99, "assignee": "bob"})).await;
    assert_eq!(theirs.replace('1', "N"), missing.replace("99", "N"));

    let list = alice
        .call_json("list_tasks", json!({}))
        .await
        .expect("list");
    assert_eq!(list["tasks"][0]["column"], "todo", "untouched");
    assert_eq!(list["tasks"][0]["assignee"], "alice", "untouched");
}

#[tokio::test]
async fn assigning_hands_a_task_over() {
    let client = client();
    let alice = client.connect_as("alice").await.expect("alice");
    let bob = client.connect_as("bob").await.expect("bob");
    let carol = client.connect_as("carol").await.expect("carol");
    create(&alice, "Hand me on").await;

    let assigned = alice
        .call_json("assign_task", json!({"id": 1, "assignee": "bob"}))
        .await
        .expect("assign");
    assert_eq!(assigned["task"]["assignee"], "bob");
    assert_eq!(titles(&bob, json!({})).await, ["Hand me on"]);
    assert!(titles(&alice, json!({})).await.is_empty());

    // Bob has it now: he moves it, Alice no longer can.
    bob.call_json("move_task", json!({"id": 1, "column": "doing"}))
        .await
        .expect("bob moves");
    error(&alice, "move_task", json!({"id": 1, "column": "done"})).await;

    // The assignee hands it on; the creator may still take it back; anyone else may not.
    bob.call_json("assign_task", json!({"id": 1, "assignee": "carol"}))
        .await
        .expect("bob hands on");
    error(&bob, "move_task", json!({"id": 1, "column": "done"})).await;
    alice
        .call_json("assign_task", json!({"id": 1, "assignee": "alice"}))
        .await
        .expect("the creator takes it back");
    let refused = error(&carol, "assign_task", json!({"id": 1, "assignee": "carol"})).await;
    assert!(refused.contains("no task 1"), "{refused}");
    assert_eq!(
        titles(&alice, json!({"column": "doing"})).await,
        ["Hand me on"]
    );
}

#[tokio::test]
async fn bad_input_names_the_field_and_the_problem() {
    let client = client();
    let alice = client.connect_as("alice").await.expect("alice");
    create(&alice, "A task").await;

    let cases = [
        ("create_task", json!({"title": "   "}), ["`title`", "empty"]),
        (
            "create_task",
            json!({"title": "x".repeat(201)}),
            ["`title`", "201 characters"],
        ),
        (
            "create_task",
            json!({"title": "ok", "description": "é".repeat(4001)}),
            ["`description`", "4001 characters"],
        ),
        ("create_task", json!({}), ["`title`", "missing"]),
        (
            "move_task",
            json!({"id": 1, "column": "blocked"}),
            ["`column`", "unknown variant `blocked`"],
        ),
        (
            "list_tasks",
            json!({"column": "Done"}),
            ["`column`", "unknown variant `Done`"],
        ),
        (
            "move_task",
            json!({"id": -1, "column": "done"}),
            ["`id`", "-1"],
        ),
        (
            "assign_task",
            json!({"id": 1, "assignee": " bob"}),
            ["`assignee` \" bob\"", "not an agent id"],
        ),
    ];
    for (tool, args, expected) in cases {
        let text = error(&alice, tool, args.clone()).await;
        for part in expected {
            assert!(
                text.contains(part),
                "{tool} {args}: {text:?} lacks {part:?}"
            );
        }
    }
    // A title of exactly 200 characters, in any script, is fine.
    create(&alice, &"ü".repeat(200)).await;
}

#[tokio::test]
async fn tools_are_described_and_annotated() {
    let client = client();
    let tools = client
        .connect_anonymous()
        .await
        .expect("connect")
        .list_tools()
        .await
        .expect("list");
    let hints = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).expect(name);
        let a = tool.annotations.clone().unwrap_or_default();
        (a.read_only_hint, a.idempotent_hint, a.destructive_hint)
    };
    assert_eq!(hints("list_tasks"), (Some(true), None, None));
    assert_eq!(hints("create_task"), (None, None, Some(false)));
    assert_eq!(hints("move_task"), (None, Some(true), Some(false)));
    assert_eq!(hints("assign_task"), (None, Some(true), Some(false)));

    let create = tools
        .iter()
        .find(|t| t.name == "create_task")
        .expect("create_task");
    let schema = &create.input_schema;
    assert_eq!(schema["required"], json!(["title"]));
    assert_eq!(schema["properties"]["assign_to_me"]["default"], true);
    assert!(schema["properties"]["title"]["description"].is_string());
    let output = create.output_schema.as_ref().expect("structured output");
    assert!(output["properties"]["column"].is_object(), "{output:?}");

    // Only arguments are in the schemas: the agent, store and API client are injected.
    let assign = tools
        .iter()
        .find(|t| t.name == "assign_task")
        .expect("assign_task");
    let properties = assign.input_schema["properties"]
        .as_object()
        .expect("properties");
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["assignee", "id"]);
}

#[tokio::test]
async fn the_board_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = || PluginEnv {
        data_dir: Some(dir.path().to_owned()),
        ..PluginEnv::default()
    };
    let plugin = kanban::plugin().expect("valid plugin");
    {
        let client = TestClient::with_env(&plugin, env()).expect("starts");
        let alice = client.connect_as("alice").await.expect("alice");
        create(&alice, "Kept").await;
        alice
            .call_json("move_task", json!({"id": 1, "column": "done"}))
            .await
            .expect("move");
    }
    let client = TestClient::with_env(&plugin, env()).expect("restarts");
    let alice = client.connect_as("alice").await.expect("alice");
    assert_eq!(titles(&alice, json!({"column": "done"})).await, ["Kept"]);
    let next = create(&alice, "Next").await;
    assert_eq!(next["id"], 2);
}
