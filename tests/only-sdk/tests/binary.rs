//! The binary's start-up checks: the variables its manifest requires, in `--help` and before
//! serving.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_only-sdk-plugin");

/// The plugin's binary with none of the variables its manifest requires.
fn bin() -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("ONLY_SDK_GREETING")
        .env_remove("ONLY_SDK_REGION");
    command
}

#[test]
fn help_lists_the_required_variables() {
    let out = bin().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let own = help
        .find("PLUGIN ENVIRONMENT")
        .unwrap_or_else(|| panic!("no plugin section: {help}"));
    assert!(
        help[own..].contains("\n    ONLY_SDK_GREETING\n    ONLY_SDK_REGION\n"),
        "{help}"
    );
    assert!(help.contains("NANO_INTERNAL_TOKEN"), "{help}");
}

#[test]
fn serve_refuses_to_start_naming_every_missing_variable() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .env("NANOFLEET_MCP_ADDR", "127.0.0.1:0")
        .env("NANOFLEET_DATA_DIR", data.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ONLY_SDK_GREETING is not set") && err.contains("ONLY_SDK_REGION is not set"),
        "{err}"
    );
    assert!(err.contains("requiredEnvVars"), "{err}");

    let out = bin()
        .env("ONLY_SDK_GREETING", "Hello")
        .env("ONLY_SDK_REGION", "")
        .env("NANOFLEET_MCP_ADDR", "127.0.0.1:0")
        .env("NANOFLEET_DATA_DIR", data.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ONLY_SDK_REGION is not set"), "{err}");
    assert!(!err.contains("ONLY_SDK_GREETING"), "{err}");
}

#[test]
fn serve_starts_once_they_are_set() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = bin()
        .env("ONLY_SDK_GREETING", "Hello")
        .env("ONLY_SDK_REGION", "eu")
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
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill");
    child.wait().expect("reaped");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}
