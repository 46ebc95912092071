//! `probe`: a plugin whose tools try what a plugin's `permissions` govern, and report what
//! happened. The engine tests install it under different grants and check that the runtime,
//! not the plugin, decides: a refused attempt is an error naming the system's answer.

use std::io::Write as _;
use std::path::Path;

use nanofleet_sdk::{ToolError, plugin};

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

/// Tries what permissions govern.
#[plugin(
    name = "probe",
    image = "nanofleet-test/probe:dev",
    mcp_port = 8080,
    author = "nanofleet-rs",
    // The narrowest, written out: each test widens or narrows it per install.
    permissions(network = false, filesystem = "read-write", spawn = false, pids = 64)
)]
impl Probe {
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

    /// Reads what `write_data` wrote.
    #[tool(read_only)]
    fn read_data(&self) -> Result<String, ToolError> {
        if !Path::new("/data").exists() {
            return Err(ToolError::new("there is no /data"));
        }
        std::fs::read_to_string(DATA_FILE)
            .map_err(|e| ToolError::new(format!("cannot read {DATA_FILE}: {e}")))
    }
}
