//! The `notes` binary as the host runs it: `manifest`, `tools`, `--help`, serving, and a clean
//! exit on SIGTERM (what `docker stop` sends).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_notes");

#[test]
fn manifest_command_prints_a_valid_manifest_matching_the_tools() {
    let out = Command::new(BIN).arg("manifest").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let parsed = nanofleet_sdk::Manifest::parse_json(&text);
    assert!(parsed.is_ok(), "{}", parsed.diagnostics);
    let manifest = parsed.manifest.expect("manifest");
    assert_eq!((manifest.name.as_str(), manifest.mcp_port), ("notes", 8080));

    let out = Command::new(BIN).arg("tools").output().expect("runs");
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = tools
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["add_note", "list_notes", "delete_note"]);
}

#[test]
fn help_and_bad_commands() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("NANO_INTERNAL_TOKEN") && help.contains("manifest"),
        "{help}"
    );
    let out = Command::new(BIN).arg("frobnicate").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command `frobnicate`"));
}

#[test]
fn malformed_environment_is_reported_by_name_before_serving() {
    let out = Command::new(BIN)
        .env("NANOFLEET_REQUIRE_AGENT_SIGNATURE", "perhaps")
        .env("NANOFLEET_MCP_ADDR", "not an address")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NANOFLEET_REQUIRE_AGENT_SIGNATURE"), "{err}");
    assert!(
        err.contains("NANOFLEET_MCP_ADDR"),
        "both problems at once: {err}"
    );
}

#[test]
fn an_unwritable_data_dir_is_a_startup_error_naming_it() {
    let out = Command::new(BIN)
        .env("NANOFLEET_DATA_DIR", "/proc/no-such-place")
        .env("NANOFLEET_MCP_ADDR", "127.0.0.1:0")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/no-such-place"), "{err}");
}

#[test]
fn serves_and_stops_cleanly_on_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(BIN)
        .env("NANOFLEET_MCP_ADDR", addr.to_string())
        .env("NANOFLEET_DATA_DIR", data.path())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut buf = String::new();
            s.read_to_string(&mut buf).expect("read");
            break buf;
        }
        assert!(Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit}");
}
