//! The in-process test client: notifications, typed results, environment and state.

use std::sync::atomic::{AtomicU64, Ordering};

use nanofleet_sdk::{
    Manifest, Plugin,
    testing::{LogMessage, Notification, Progress, TestClient},
    tool::{Context, Json, LogLevel, NoArgs, State, Tool, ToolCall, ToolError},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Deserialize, JsonSchema)]
struct Steps {
    /// How many steps to report.
    steps: u32,
    /// What to log at the end.
    note: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Point {
    x: i32,
    y: i32,
}

/// A counter given to the plugin as state.
struct Counter(AtomicU64);

fn plugin() -> Plugin {
    Plugin::builder(
        Manifest::new("t", "0.1.0", "t:0.1.0", 8080).with_required_env_vars(["API_KEY"]),
    )
    .state(Counter(AtomicU64::new(1)))
    .tool(Tool::new("work", "Reports progress, then logs.").handler(
        |args: Steps, call: ToolCall| async move {
            let ctx: Context = call.extract()?;
            for step in 1..=args.steps {
                ctx.progress(f64::from(step), Some(f64::from(args.steps)), Some("step"))
                    .await;
                tokio::task::yield_now().await;
            }
            ctx.log(LogLevel::Warning, args.note).await;
            Ok::<_, ToolError>(format!("{} steps", args.steps))
        },
    ))
    .tool(
        Tool::new("point", "A point.")
            .output::<Point>()
            .handler(|_: NoArgs, _: ToolCall| async { Json(Point { x: 1, y: -2 }) }),
    )
    .tool(
        Tool::new("primes", "Some primes.")
            .output::<Vec<u32>>()
            .handler(|_: NoArgs, _: ToolCall| async { Json(vec![2, 3, 5]) }),
    )
    .tool(
        Tool::new("fails", "Always fails.")
            .handler(|_: NoArgs, _: ToolCall| async { Err::<String, _>(ToolError::new("nope")) }),
    )
    .tool(
        Tool::new("key", "The API key's length and the plugin id.").handler(
            |_: NoArgs, call: ToolCall| async move {
                let key = call.env().require_var("API_KEY")?;
                let id = call.env().plugin_id.clone().unwrap_or_default();
                Ok::<_, ToolError>(format!("{} {id}", key.len()))
            },
        ),
    )
    // A number is not an object: declared with `output`, it travels as `{"result": n}`.
    .tool(
        Tool::new("count", "Bumps the counter.")
            .output::<u64>()
            .handler(|_: NoArgs, call: ToolCall| async move {
                let counter: State<Counter> = call.extract()?;
                Ok::<_, ToolError>(Json(counter.0.0.fetch_add(1, Ordering::Relaxed)))
            }),
    )
    .tool(Tool::new("store", "Writes to the shared store.").handler(
        |_: NoArgs, call: ToolCall| async move {
            let store: nanofleet_sdk::SharedStore = call.extract()?;
            store.put("k", &1).await?;
            Ok::<_, ToolError>("stored")
        },
    ))
    .build()
    .expect("valid plugin")
}

fn progress(step: u32, total: u32) -> Notification {
    Notification::Progress(Progress {
        progress: f64::from(step),
        total: Some(f64::from(total)),
        message: Some("step".into()),
    })
}

#[tokio::test]
async fn each_call_gets_its_own_notifications_and_the_client_keeps_them_all() -> TestResult {
    let client = TestClient::new(&plugin())?;
    let alice = client.connect_as("alice").await?;

    let (two, three) = tokio::join!(
        alice.call_recorded("work", json!({"steps": 2, "note": "two done"})),
        alice.call_recorded("work", json!({"steps": 3, "note": "three done"})),
    );
    let (two, three) = (two?, three?);
    assert_eq!(two.text(), "2 steps");
    let warning = |text: &str| {
        Notification::Log(LogMessage {
            level: LogLevel::Warning,
            logger: None,
            data: json!(text),
        })
    };
    assert_eq!(
        two.notifications,
        [progress(1, 2), progress(2, 2), warning("two done")]
    );
    assert_eq!(
        three.notifications,
        [
            progress(1, 3),
            progress(2, 3),
            progress(3, 3),
            warning("three done")
        ]
    );
    assert_eq!(three.progress().len(), 3);
    assert_eq!(three.logs()[0].text(), "three done");

    // A call without notifications has none; the client has every one so far.
    let quiet = alice.call_recorded("point", json!({})).await?;
    assert!(quiet.notifications.is_empty());
    let all = alice.notifications();
    assert_eq!(all.len(), 7, "{all:?}");
    assert_eq!(
        all.iter()
            .filter(|n| matches!(n, Notification::Log(_)))
            .count(),
        2
    );

    // Another client of the same plugin has its own.
    let bob = client.connect_as("bob").await?;
    assert!(bob.notifications().is_empty());
    Ok(())
}

#[tokio::test]
async fn call_as_decodes_structured_results_without_the_wrapper() -> TestResult {
    let client = TestClient::new(&plugin())?;
    let alice = client.connect_as("alice").await?;
    let point: Point = alice.call_as("point", json!({})).await?;
    assert_eq!(point, Point { x: 1, y: -2 });
    let primes: Vec<u32> = alice.call_as("primes", json!({})).await?;
    assert_eq!(primes, [2, 3, 5]);
    // `call_json` still shows what was sent.
    assert_eq!(
        alice.call_json("primes", json!({})).await?,
        json!({"result": [2, 3, 5]})
    );

    let err = alice.call_as::<Vec<String>>("primes", json!({})).await;
    let message = err.expect_err("numbers are not strings").to_string();
    assert!(
        message.contains("the result of `primes` is not a"),
        "{message}"
    );
    assert!(message.contains("at `[0]`"), "{message}");
    let message = alice
        .call_as::<Point>("fails", json!({}))
        .await
        .expect_err("the tool fails")
        .to_string();
    assert_eq!(message, "tool `fails` failed: nope");
    let message = alice
        .call_as::<String>("work", json!({"steps": 0, "note": ""}))
        .await
        .expect_err("text only")
        .to_string();
    assert!(
        message.contains("returned no structured content"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn the_builder_supplies_the_plugins_variables_and_the_sdks() -> TestResult {
    let plugin = plugin();
    let client = TestClient::builder(&plugin)
        .env("API_KEY", "secret")
        .env("NANO_PLUGIN_ID", "t-2")
        .build()?;
    let alice = client.connect_as("alice").await?;
    assert_eq!(alice.call_text("key", json!({})).await?, "6 t-2");
    let env = client.running().env();
    assert_eq!(env.var("API_KEY"), Some("secret"));
    assert_eq!(env.var("NANO_PLUGIN_ID"), None);

    // Without it, the tool says what is missing; the client itself still starts.
    let bare = TestClient::new(&plugin)?.connect_as("alice").await?;
    let message = bare
        .call_text("key", json!({}))
        .await
        .expect_err("unset")
        .to_string();
    assert!(message.contains("API_KEY is not set"), "{message}");

    // SDK variables are checked as at start-up.
    let err = TestClient::builder(&plugin)
        .env("NANOFLEET_MCP_ADDR", "not an address")
        .build()
        .expect_err("bad value");
    assert!(err.to_string().contains("NANOFLEET_MCP_ADDR"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_builder_replaces_state_and_keeps_the_store_where_told() -> TestResult {
    let plugin = plugin();
    let alice = TestClient::new(&plugin)?.connect_as("alice").await?;
    assert_eq!(alice.call_as::<u64>("count", json!({})).await?, 1);

    let client = TestClient::builder(&plugin)
        .state(Counter(AtomicU64::new(41)))
        .build()?;
    let alice = client.connect_as("alice").await?;
    assert_eq!(alice.call_as::<u64>("count", json!({})).await?, 41);
    assert_eq!(alice.call_as::<u64>("count", json!({})).await?, 42);

    let dir = tempfile::tempdir()?;
    let client = TestClient::builder(&plugin).data_dir(dir.path()).build()?;
    let alice = client.connect_as("alice").await?;
    assert_eq!(alice.call_text("store", json!({})).await?, "stored");
    assert!(dir.path().join(nanofleet_sdk::store::STORE_FILE).exists());
    Ok(())
}

/// A state type nobody gives the plugin.
struct Clock;

#[tokio::test]
async fn a_state_type_nobody_supplies_stops_the_plugin_at_start_naming_who_takes_it() -> TestResult
{
    let plugin = Plugin::builder(Manifest::new("t", "0.1.0", "t:0.1.0", 8080))
        .tool(
            Tool::new("now", "The time.")
                .requires::<State<Clock>>()
                .handler(|_: NoArgs, call: ToolCall| async move {
                    let _clock: State<Clock> = call.extract()?;
                    Ok::<_, ToolError>("tick")
                }),
        )
        .build()?;
    let err = TestClient::new(&plugin).expect_err("no Clock was given");
    let message = err.to_string();
    assert!(
        message.contains("tool `now` takes `State<testing::Clock>`"),
        "{message}"
    );
    // The test client may supply it in the plugin's place.
    let client = TestClient::builder(&plugin).state(Clock).build()?;
    let alice = client.connect_as("alice").await?;
    assert_eq!(alice.call_text("now", json!({})).await?, "tick");
    Ok(())
}
