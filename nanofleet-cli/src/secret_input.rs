//! Reading a secret from stdin: typed at a terminal without echo, or piped in. Never from the
//! command line, where shell history and `ps` would show it.

use std::io::{self, IsTerminal as _, Read as _};
use std::process::{Command, Stdio};

use nanofleet_host::store::MAX_API_KEY_VALUE_BYTES;

use crate::{error::CliError, output::note};

/// Exit status after Ctrl-C, as shells report a SIGINT death.
const EXIT_INTERRUPTED: u8 = 130;

/// The value on stdin: one line typed at a terminal (not echoed), or everything piped in,
/// less one trailing newline.
pub async fn read(subject: &str, example: &str) -> Result<String, CliError> {
    let interactive = io::stdin().is_terminal();
    let reading = tokio::task::spawn_blocking(move || {
        if interactive {
            read_line_hidden()
        } else {
            read_piped()
        }
    });
    let value = tokio::select! {
        read = reading => read.map_err(|e| CliError::new(format!("reading stdin failed: {e}")))??,
        _ = tokio::signal::ctrl_c() => {
            if interactive {
                echo_on();
                note("");
            }
            return Err(CliError::new(format!("interrupted; {subject} was not set")).with_code(EXIT_INTERRUPTED));
        }
    };
    let value = value
        .strip_suffix('\n')
        .map(|v| v.strip_suffix('\r').unwrap_or(v))
        .unwrap_or(&value)
        .to_owned();
    if value.is_empty() {
        return Err(CliError::new(format!(
            "no value for {subject} on stdin: type it, or pipe it in, e.g. \
             printf %s \"$VALUE\" | {example}"
        )));
    }
    Ok(value)
}

/// One line from the terminal, not echoed (rpassword: the terminal's own no-echo mode, put
/// back when the line is read).
fn read_line_hidden() -> Result<String, CliError> {
    rpassword::prompt_password("value (not shown): ")
        .map_err(|e| CliError::new(format!("cannot read the value from the terminal: {e}")))
}

fn read_piped() -> Result<String, CliError> {
    // A newline and a carriage return over the limit are still fine: they are stripped.
    let limit = MAX_API_KEY_VALUE_BYTES + 2;
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::new(format!("cannot read the value from stdin: {e}")))?;
    if bytes.len() > limit {
        return Err(CliError::new(format!(
            "the value on stdin is longer than {MAX_API_KEY_VALUE_BYTES} bytes, the most an \
             environment variable here may hold"
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        CliError::new(
            "the value on stdin is not UTF-8 text; an environment variable cannot hold it",
        )
    })
}

/// Turns the terminal's echo back on with `stty`, after Ctrl-C interrupted a hidden read
/// (whose own restoring never runs: its thread is still blocked reading).
fn echo_on() {
    let _ = Command::new("stty")
        .arg("echo")
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
