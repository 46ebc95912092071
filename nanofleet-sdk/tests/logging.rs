//! What a served plugin logs: one INFO line per tool call, and none of rmcp's per-request
//! lines under the default filter.

mod common;

use std::sync::{Arc, Mutex};

use nanofleet_sdk::{server::DEFAULT_LOG_FILTER, testing::TestClient};
use serde_json::json;
use tracing_subscriber::EnvFilter;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Everything written by the subscriber, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs three calls (a success, a tool error, an unknown tool) as `alice` and one anonymous
/// success, with the logs filtered by `filter`, and returns what was logged.
async fn log_of_calls(filter: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let client = TestClient::new(&common::plugin())?;
    let alice = client.connect_as("alice").await?;
    alice.call("echo", json!({"text": "hi"})).await?;
    let failed = alice.call("echo", json!({"text": 5})).await?;
    assert_eq!(failed.is_error, Some(true));
    assert!(alice.call("no_such_tool", json!({})).await.is_err());
    let anonymous = client.connect_anonymous().await?;
    anonymous.call("echo", json!({"text": "hi"})).await?;
    Ok(captured.lines())
}

fn calls(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|line| line.contains("nanofleet_sdk::call"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn one_info_line_per_call_with_tool_agent_duration_and_outcome() -> TestResult {
    let lines = log_of_calls(DEFAULT_LOG_FILTER).await?;
    let calls = calls(&lines);
    assert_eq!(calls.len(), 4, "{lines:#?}");
    for (line, (tool, agent, outcome)) in calls.iter().zip([
        ("echo", Some("alice"), "ok"),
        ("echo", Some("alice"), "tool_error"),
        ("no_such_tool", Some("alice"), "protocol_error"),
        ("echo", None, "ok"),
    ]) {
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("tool call"), "{line}");
        assert!(line.contains(&format!("tool=\"{tool}\"")), "{line}");
        assert!(line.contains(&format!("outcome=\"{outcome}\"")), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
        match agent {
            Some(agent) => assert!(line.contains(&format!("agent={agent}")), "{line}"),
            None => assert!(!line.contains("agent="), "{line}"),
        }
    }
    // Nothing else is logged for these calls at INFO: rmcp's own lines are filtered out
    // (its warning about the refused call stays).
    let info: Vec<&String> = lines.iter().filter(|l| l.contains(" INFO ")).collect();
    assert_eq!(info, calls, "{lines:#?}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("rmcp") && !l.contains(" WARN ")),
        "{lines:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn rmcp_logs_at_info_without_the_default_filter() -> TestResult {
    // What the default filter is for: at plain `info`, rmcp's lines are there.
    let lines = log_of_calls("info").await?;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains(" rmcp::service: ")),
        "{lines:#?}"
    );
    assert_eq!(calls(&lines).len(), 4, "{lines:#?}");
    Ok(())
}
