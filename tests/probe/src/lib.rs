//! `probe`: a plugin whose tools try what a plugin's `permissions` govern, and report what
//! happened. The engine tests install it under different grants and check that the runtime,
//! not the plugin, decides: a refused attempt is an error naming the system's answer.

use std::io::Write as _;

use nanofleet_sdk::{Config, Secret, ToolError, plugin};

/// Set in the environment of the child process the `spawn_child` tool starts: the binary
/// then prints [`CHILD_GREETING`] and exits instead of serving.
pub const CHILD_ENV: &str = "PROBE_CHILD";

/// What the child prints.
pub const CHILD_GREETING: &str = "child process ran";

/// The file the data tools write and read, in the data volume.
const DATA_FILE: &str = "/data/probe.txt";

/// The plugin's state: none.
#[derive(Debug, Default)]
pub struct Probe;

/// The probe's settings: one of each kind a test checks (required, sensitive, defaulted).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ProbeConfig {
    /// Greeting
    ///
    /// What `show_config` answers with.
    pub greeting: String,
    /// A secret `check_secret` compares guesses with.
    pub secret: Secret,
    /// How many times `show_config` repeats the greeting.
    #[serde(default = "once")]
    #[schemars(range(min = 1, max = 5))]
    pub repeat: u8,
}

fn once() -> u8 {
    1
}

/// Tries what permissions govern.
#[plugin(
    name = "probe",
    image = "nanofleet-test/probe:dev",
    mcp_port = 8080,
    author = "nanofleet-rs",
    // The narrowest, written out: each test widens or narrows it per install.
    permissions(network = false, filesystem = "read-write", spawn = false, pids = 64),
    config = ProbeConfig
)]
impl Probe {
    /// The greeting, repeated as configured.
    #[tool(read_only)]
    fn show_config(&self, config: Config<ProbeConfig>) -> String {
        vec![config.greeting.as_str(); usize::from(config.repeat)].join(" ")
    }

    /// Whether `guess` is the configured secret (the secret itself is never answered).
    #[tool(read_only)]
    fn check_secret(
        &self,
        config: Config<ProbeConfig>,
        /// The value to compare.
        guess: String,
    ) -> bool {
        config.secret.expose() == guess
    }

    /// Starts this program again as a child process and returns what it printed.
    #[tool]
    fn spawn_child(&self) -> Result<String, ToolError> {
        let output = std::process::Command::new("/proc/self/exe")
            .env(CHILD_ENV, "1")
            .output()
            .map_err(|e| ToolError::new(format!("cannot start a process: {e}")))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Starts four threads and waits for them: allowed whatever the grant.
    #[tool(read_only)]
    fn start_threads(&self) -> Result<String, ToolError> {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                std::thread::Builder::new()
                    .spawn(move || i * 2)
                    .map_err(|e| ToolError::new(format!("cannot start a thread: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        Ok(format!("4 threads ran, sum {sum}"))
    }

    /// Writes `text` to the data volume.
    #[tool]
    fn write_data(
        &self,
        /// What to write.
        text: String,
    ) -> Result<String, ToolError> {
        let mut file = std::fs::File::create(DATA_FILE)
            .map_err(|e| ToolError::new(format!("cannot write {DATA_FILE}: {e}")))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| ToolError::new(format!("cannot write {DATA_FILE}: {e}")))?;
        Ok(format!("wrote {} bytes", text.len()))
    }

    /// GETs `url` with an HTTP client configured as plugins' clients are: through the proxy
    /// in `HTTP_PROXY` when there is one. Returns the status and the body.
    #[tool(read_only)]
    async fn fetch(
        &self,
        /// An `http://` URL.
        url: String,
    ) -> Result<String, ToolError> {
        let mut client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(15));
        if let Ok(proxy) = std::env::var("HTTP_PROXY") {
            let proxy = reqwest::Proxy::all(&proxy)
                .map_err(|e| ToolError::new(format!("bad HTTP_PROXY: {e}")))?;
            client = client.proxy(proxy);
        }
        let client = client
            .build()
            .map_err(|e| ToolError::new(format!("no HTTP client: {e}")))?;
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| ToolError::new(format!("cannot reach {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(format!("{status} {}", body.trim()))
    }

    /// Calls `tool` of the MCP server at `url` the way an agent's client does (initialize,
    /// then `tools/call` in the session it got) and returns the text of the result; an
    /// answer that is not a result is an error quoting it. What an agent on the plugins'
    /// network does with the URL its client file holds.
    #[tool]
    async fn mcp_call(
        &self,
        /// The server's URL, as the client file has it.
        url: String,
        /// The tool to call.
        tool: String,
        /// Its arguments.
        arguments: serde_json::Map<String, serde_json::Value>,
        /// Seconds each request may take before the call is given up (30 when not given):
        /// an address that stopped answering costs no more than that.
        timeout_secs: Option<u64>,
    ) -> Result<String, ToolError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(
                timeout_secs.unwrap_or(30).clamp(1, 300),
            ))
            .build()
            .map_err(|e| ToolError::new(format!("no HTTP client: {e}")))?;
        let post = |body: serde_json::Value, session: Option<&str>| {
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string());
            if let Some(session) = session {
                request = request.header("mcp-session-id", session);
            }
            request.send()
        };
        let init = post(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "probe-agent", "version": "1.0.0"}}}),
            None,
        )
        .await
        .map_err(|e| ToolError::new(format!("cannot reach {url}: {e}")))?;
        let status = init.status();
        let session = init
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let body = init.text().await.unwrap_or_default();
            return Err(ToolError::new(format!(
                "initialize: {status} {}",
                body.trim()
            )));
        }
        let session = session.ok_or_else(|| ToolError::new("initialize: no session id"))?;
        let initialized =
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        post(initialized, Some(&session))
            .await
            .map_err(|e| ToolError::new(format!("initialized: {e}")))?;
        let reply: serde_json::Value = post(
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}}),
            Some(&session),
        )
        .await
        .map_err(|e| ToolError::new(format!("tools/call: {e}")))?
        .json()
        .await
        .map_err(|e| ToolError::new(format!("tools/call: not JSON: {e}")))?;
        let text = reply["result"]["content"][0]["text"].as_str();
        match (text, reply["result"]["isError"].as_bool()) {
            (Some(text), Some(true)) => Err(ToolError::new(format!("the tool failed: {text}"))),
            (Some(text), _) => Ok(text.to_owned()),
            (None, _) => Err(ToolError::new(format!("no result: {reply}"))),
        }
    }

    /// Opens a tunnel to `host:port` with `CONNECT` through the proxy in `HTTP_PROXY` (as a
    /// client does for TLS), sends `GET /` through it and returns the proxy's status line
    /// and the answer's last line.
    #[tool(read_only)]
    async fn tunnel(
        &self,
        /// The destination's host.
        host: String,
        /// The destination's port.
        port: u16,
    ) -> Result<String, ToolError> {
        use base64::Engine as _;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let fail = |what: &str, e: &dyn std::fmt::Display| ToolError::new(format!("{what}: {e}"));
        let proxy = std::env::var("HTTP_PROXY").map_err(|e| fail("no HTTP_PROXY", &e))?;
        let url = reqwest::Url::parse(&proxy).map_err(|e| fail("bad HTTP_PROXY", &e))?;
        let address = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or(80)
        );
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            url.username(),
            url.password().unwrap_or_default()
        ));
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|e| fail("cannot reach the proxy", &e))?;
        let request = format!(
            "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\
             Proxy-Authorization: Basic {credentials}\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| fail("write", &e))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            if stream.read(&mut byte).await.map_err(|e| fail("read", &e))? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        let status = head.lines().next().unwrap_or_default().to_owned();
        if !status.contains(" 200") {
            return Ok(status);
        }
        let get = format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(get.as_bytes())
            .await
            .map_err(|e| fail("write", &e))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(|e| fail("read", &e))?;
        Ok(format!(
            "{status} | {}",
            answer.trim().lines().last().unwrap_or_default()
        ))
    }

    /// Reads what `write_data` wrote.
    #[tool(read_only)]
    fn read_data(&self) -> Result<String, ToolError> {
        std::fs::read_to_string(DATA_FILE)
            .map_err(|e| ToolError::new(format!("cannot read {DATA_FILE}: {e}")))
    }
}
