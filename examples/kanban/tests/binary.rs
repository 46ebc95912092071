//! The `kanban` binary as the host reads it: `manifest` and `tools`.

use std::process::Command;

use nanofleet_sdk::testing::TestClient;

const BIN: &str = env!("CARGO_BIN_EXE_kanban");

fn run(command: &str) -> String {
    let out = Command::new(BIN).arg(command).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn manifest_command_prints_a_valid_manifest_with_the_ui() {
    let parsed = nanofleet_sdk::Manifest::parse_json(&run("manifest"));
    assert!(parsed.is_ok(), "{}", parsed.diagnostics);
    assert!(parsed.diagnostics.is_empty(), "{}", parsed.diagnostics);
    let manifest = parsed.manifest.expect("manifest");
    assert_eq!(manifest.name, "kanban");
    assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest.image, "nanofleet/kanban:0.1.0");
    assert_eq!((manifest.mcp_port, manifest.ui_port), (8080, Some(8081)));
    assert!(manifest.description.starts_with("A task board"));
    let sidebar = manifest.sidebar.expect("sidebar");
    assert_eq!(
        (
            sidebar.icon.as_str(),
            sidebar.label.as_str(),
            sidebar.route.as_str()
        ),
        ("layout-kanban", "Kanban", "/plugins/kanban/ui")
    );
}

#[tokio::test]
async fn tools_command_matches_tools_list() {
    let printed: serde_json::Value = serde_json::from_str(&run("tools")).expect("json");
    let printed: Vec<&str> = printed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let client = TestClient::new(&kanban::plugin().expect("valid")).expect("starts");
    let listed = client
        .connect_anonymous()
        .await
        .expect("connect")
        .list_tools()
        .await
        .expect("list");
    let listed: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(printed, listed);
    assert_eq!(
        listed,
        ["create_task", "list_tasks", "move_task", "assign_task"]
    );
}
