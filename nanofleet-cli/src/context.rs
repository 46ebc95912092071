//! What every command starts from: the global options turned into a [`HostConfig`], and the
//! store, engine or host opened on demand (only commands that run plugins need the engine).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nanofleet_host::{
    Host, HostConfig,
    names::Instance,
    runtime::{Engine, Offline, Runtime},
    store::Store,
};

use crate::{cli::GlobalArgs, error::CliError, remote::Server};

/// The resolved global options.
#[derive(Debug)]
pub struct Context {
    config: HostConfig,
    /// Whether `--api-url` (or `NANOFLEET_API_URL`) was given, rather than defaulted.
    api_url_given: bool,
    /// The server of `--server`, in remote mode.
    server: Option<Server>,
}

impl Context {
    /// Resolves the global options (flags, then environment, then defaults) and checks them.
    pub fn new(global: &GlobalArgs) -> Result<Self, CliError> {
        let data_dir = match &global.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(CliError::usage("--data-dir is empty: give a directory"));
            }
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        };
        let mut config = HostConfig::new(data_dir);
        if let Some(url) = &global.api_url {
            check_api_url(url)?;
            url.clone_into(&mut config.api_url);
        }
        config.engine = global.engine;
        if let Some(instance) = &global.instance {
            config.instance = check_instance(instance)?;
        }
        config.publish_loopback = global.dev;
        if let Some(secs) = global.ready_timeout {
            config.ready_timeout = Duration::from_secs(secs);
        }
        let server = global
            .server
            .as_deref()
            .map(|url| Server::new(url, global.token_file.as_deref()))
            .transpose()?;
        Ok(Self {
            config,
            api_url_given: global.api_url.is_some(),
            server,
        })
    }

    /// The host configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Whether the API URL given to plugins was set by the user.
    pub fn api_url_given(&self) -> bool {
        self.api_url_given
    }

    /// The server to talk to, in remote mode (`--server`).
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// Opens the store alone: no engine needed.
    pub fn store(&self) -> Result<Store, CliError> {
        Ok(Store::open(&self.config.data_dir)?)
    }

    /// Connects to the engine (`--engine`, at `DOCKER_HOST` or the default socket) without
    /// checking it answers yet.
    pub fn engine(&self) -> Result<Arc<dyn Runtime>, CliError> {
        Ok(self.config.engine.connect()?)
    }

    /// The host, with the engine checked: fails with the engine's one-line message when it
    /// cannot be reached, and refuses while a `serve` runs on the data directory (see
    /// [`crate::writer`]).
    pub async fn host(&self) -> Result<Host, CliError> {
        crate::writer::check_no_server(&self.config.data_dir)?;
        let engine = self.engine()?;
        Ok(Host::open(self.config.clone(), engine).await?)
    }

    /// The host for operations that touch the engine only in development mode (agents and
    /// links): without an engine it still works, and says so only if the engine is needed.
    pub fn host_without_engine(&self) -> Result<Host, CliError> {
        crate::writer::check_no_server(&self.config.data_dir)?;
        self.host_for_reading()
    }

    /// The host for reading, and for changes that touch the store alone (keys, tokens, the
    /// policy), which a running `serve` sees at once: the engine is asked only when a listing
    /// wants a container's state, and one that does not answer leaves that state unknown.
    pub fn host_for_reading(&self) -> Result<Host, CliError> {
        let store = self.store()?;
        Ok(Host::with_store(
            self.config.clone(),
            engine_or_offline(self.config.engine),
            store,
        ))
    }
}

/// The engine (`DOCKER_HOST` or the default socket), or the stand-in saying why there is
/// none: connecting does not talk to the engine yet.
pub fn engine_or_offline(engine: Engine) -> Arc<dyn Runtime> {
    match engine.connect() {
        Ok(engine) => engine,
        Err(err) => Arc::new(Offline::new(err)),
    }
}

/// `$XDG_DATA_HOME/nanofleet`, else `~/.local/share/nanofleet`.
fn default_data_dir() -> Result<PathBuf, CliError> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            // The XDG specification says relative paths are invalid and to be ignored.
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = from_env("XDG_DATA_HOME") {
        return Ok(xdg.join("nanofleet"));
    }
    if let Some(home) = from_env("HOME") {
        return Ok(home.join(".local").join("share").join("nanofleet"));
    }
    Err(CliError::usage(
        "cannot tell where to keep the host's data: neither XDG_DATA_HOME nor HOME is set to \
         an absolute path; pass --data-dir or set NANOFLEET_DATA_DIR",
    ))
}

/// The one `NANO_API_URL` rule (`nanofleet_contracts::env::parse_api_url`), as a usage error.
fn check_api_url(url: &str) -> Result<(), CliError> {
    nanofleet_contracts::env::parse_api_url(url)
        .map(drop)
        .map_err(|e| CliError::usage(format!("--api-url {e}")))
}

/// The one instance rule (`nanofleet_contracts::names::Instance`), as a usage error.
fn check_instance(instance: &str) -> Result<Instance, CliError> {
    Instance::new(instance).map_err(|e| {
        CliError::usage(format!(
            "--instance {}",
            crate::output::clean(&e.to_string())
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_must_be_http() {
        assert!(check_api_url("http://nanofleet-api:3000").is_ok());
        assert!(check_api_url("https://h").is_ok());
        for bad in ["", "http://", "ftp://h", "nanofleet-api:3000", "http://a b"] {
            assert!(check_api_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instances_are_dns_and_label_friendly() {
        assert!(check_instance("test-1").is_ok());
        for bad in ["", "a b", "é", "a.b", "a_b", "Test", &"x".repeat(33)] {
            assert!(check_instance(bad).is_err(), "{bad}");
        }
    }
}
