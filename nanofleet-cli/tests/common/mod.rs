//! What the tests that run `nanofleet serve` as a process share.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nanofleet_host::store::SECRET_KEY_ENV;

pub const BIN: &str = env!("CARGO_BIN_EXE_nanofleet");
pub const NO_ENGINE: &str = "unix:///nonexistent/docker.sock";
/// How long `serve` may take to answer `/healthz` (it opens the host and the network).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A port nothing listens on (for a moment): bound, read and released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `nanofleet` with the test's data directory and instance, and no stray configuration.
pub fn nanofleet(data_dir: &Path, instance: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--instance")
        .arg(instance)
        .args(args)
        .env_remove(SECRET_KEY_ENV)
        .env_remove("NANOFLEET_DATA_DIR")
        .env_remove("NANOFLEET_API_URL")
        .env_remove("NANOFLEET_INSTANCE")
        .env_remove("NANOFLEET_DEV")
        .env_remove("NANOFLEET_READY_TIMEOUT")
        .env_remove("NANOFLEET_SERVER")
        .env_remove("NANOFLEET_TOKEN")
        .env_remove("NANOFLEET_TOKEN_FILE")
        .stdin(Stdio::null());
    command
}

/// A running `nanofleet serve`; killed if still running when dropped (a failed test).
pub struct Serve {
    pub child: Child,
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    pub fn start(data_dir: &Path, instance: &str) -> Self {
        Self::start_with(data_dir, instance, &[])
    }

    /// [`start`](Self::start) with more options for `serve` (global ones too).
    pub fn start_with(data_dir: &Path, instance: &str, extra: &[&str]) -> Self {
        Self::start_on(data_dir, instance, free_port(), extra)
    }

    /// [`start_with`](Self::start_with) on `port`: a restart on the same address gives
    /// plugins the same `NANO_API_URL`, so their containers are kept.
    pub fn start_on(data_dir: &Path, instance: &str, port: u16, extra: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen, "--reconcile-interval", "5"];
        args.extend_from_slice(extra);
        let mut child = nanofleet(data_dir, instance, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nanofleet serve starts");
        let pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("[serve] {line}");
                let mut sink = sink.lock().expect("lock");
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        Self {
            child,
            port,
            stderr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits until `GET /healthz` answers 200.
    pub async fn wait_healthy(&mut self) {
        nanofleet_sdk::ensure_crypto_provider();
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("serve exited with {status}:\n{}", self.stderr());
            }
            let health = client.get(format!("{}/healthz", self.url())).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "serve did not answer /healthz within {START_TIMEOUT:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The token printed on stderr at the first start.
    pub fn token(&self) -> Option<String> {
        self.stderr()
            .lines()
            .find_map(|l| l.strip_prefix("API token: "))
            .map(|t| t.trim().to_owned())
    }

    /// `kill -TERM`, then waits (20 s at most) for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve still running 20 s after SIGTERM:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
