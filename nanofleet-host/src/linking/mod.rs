//! Agent linking: the host's entries in the file an agent's MCP client reads its servers
//! from (`.mcp.json`, nanobot's `config.json`, codex's `.codex/config.toml`, VS Code's
//! `.vscode/mcp.json`: see [`Client`]).
//!
//! A Claude Code agent finds its plugins in `<workspace>/.mcp.json`:
//!
//! ```json
//! {
//!   "mcpServers": {
//!     "notes": {
//!       "type": "http",
//!       "url": "http://nanofleet-plugin-notes:8080/mcp?agent_id=ada&agent_sig=v1.…"
//!     }
//!   }
//! }
//! ```
//!
//! [`sync_mcp_json`] makes the file say exactly which host-owned plugins the agent is linked
//! to: it adds and updates the wanted ones and removes the others (NanoFleet left unlinked
//! plugins in the file, defect 9), while leaving everything it does not own untouched.
//!
//! The file is never seen half-written and concurrent syncs never lose each other's
//! changes: the read-modify-write runs under an exclusive lock on `.mcp.json.lock` (each
//! client's file has its own), and the new content is written to a temporary file beside
//! it, synced, and renamed over it.

mod client;
mod format;
mod url;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use client::{Client, MAX_TOOL_NAME_LEN, NANOBOT_TOOL_TIMEOUT_SECS};
pub use url::{Credentials, agent_url};

/// The file agents read their MCP servers from, in their workspace.
pub const MCP_JSON: &str = ".mcp.json";

/// The lock file serialising writers of [`MCP_JSON`], next to it. It stays after a sync:
/// removing it while another writer waits on it would let a third writer in alongside.
pub const MCP_JSON_LOCK: &str = ".mcp.json.lock";

/// The largest `.mcp.json` read. A real one is a few KiB; anything far larger is not what
/// the host thinks it is, and is left alone.
pub const MAX_MCP_JSON_BYTES: u64 = 1024 * 1024;

/// A plugin an agent should be linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The plugin's name: the key of its entry in `mcpServers`.
    pub plugin: String,
    /// The URL the agent reaches it at, from [`agent_url`].
    pub url: String,
}

impl LinkTarget {
    /// A link target.
    pub fn new(plugin: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            plugin: plugin.into(),
            url: url.into(),
        }
    }
}

/// What [`sync_mcp_json`] did. The name lists are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Whether the file was written. `false` means it was already right and was not touched.
    pub changed: bool,
    /// Plugins that had no entry and now have one.
    pub added: Vec<String>,
    /// Host-owned plugins whose entry was removed.
    pub removed: Vec<String>,
    /// Plugins whose entry was replaced (e.g. a new port or signature).
    pub updated: Vec<String>,
}

/// Why `.mcp.json` could not be synced. In every case the file is left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The workspace directory does not exist or is not a directory.
    #[error(
        "the agent workspace {} does not exist or is not a directory; create it or fix the \
         agent's workspace path",
        dir.display()
    )]
    NoWorkspace {
        /// The workspace.
        dir: PathBuf,
    },
    /// `.mcp.json` is not valid JSON, or not of the shape agents read.
    #[error(
        "{} cannot be updated: {reason}. The file was left untouched; fix it (or remove it) \
         and link again",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position for a syntax error.
        reason: String,
    },
    /// `.mcp.json` or its lock file is a symbolic link or not a regular file.
    #[error(
        "{} is not a regular file (a symbolic link, directory or device); the host only \
         replaces regular files, so replace it with one and link again",
        path.display()
    )]
    NotARegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The directory of a client's file in the workspace (`.vscode`, `.codex`) is a
    /// symbolic link or not a directory.
    #[error(
        "{} is not a directory (a symbolic link or a file); the host writes client files \
         only inside the workspace, so replace it with a directory and link again",
        path.display()
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// `.mcp.json` is larger than [`MAX_MCP_JSON_BYTES`].
    #[error(
        "{} is {len} bytes, larger than the {MAX_MCP_JSON_BYTES}-byte limit for an MCP \
         configuration; it was left untouched",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// Two targets name the same plugin.
    #[error("plugin {plugin:?} appears twice in the link targets; each plugin has one entry")]
    DuplicateTarget {
        /// The plugin.
        plugin: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "lock" or "write".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Makes `<workspace_dir>/.mcp.json` link exactly the plugins in `wanted` among those the
/// host owns.
///
/// * Every entry of `mcpServers` named in `managed` (or in `wanted`, which counts as
///   managed) but not in `wanted` is removed when the host wrote it (an `http` entry whose
///   URL names the agent, nothing else): an unlinked plugin leaves the file, and a user's own
///   entry that happens to share a plugin's name stays.
/// * Every `wanted` plugin gets the entry `{"type": "http", "url": <url>}`. An existing entry
///   of that name is replaced whole: a host-owned entry holds nothing but what the host put
///   there, and keeping stray keys (an old `headers`, say) would keep stale credentials
///   alive. A user wanting extra settings for a plugin adds their own entry under another
///   name.
/// * Everything else is kept byte for byte, in its order: entries not owned by the host (the
///   user's own servers) and other top-level keys.
///
/// The file is written only when an entry changes, so syncing an already-synced workspace
/// leaves its modification time alone; a missing file with nothing to link stays missing.
/// A whitespace-only file counts as empty. A written file is pretty-printed with two-space
/// indents and a trailing newline and keeps the old file's permission bits (a new file gets
/// the process's default, `0666` less the umask).
///
/// Blocks on file I/O and on the lock: call it from `spawn_blocking` in async code.
///
/// # Errors
///
/// When the workspace is missing, the file is malformed (not JSON, top level or
/// `mcpServers` not an object, duplicate keys), over [`MAX_MCP_JSON_BYTES`], a symbolic
/// link, or cannot be read or written. The file is then left as it was. (For every client
/// file: [`sync_client_config`].)
pub fn sync_mcp_json(
    workspace_dir: &Path,
    managed: &BTreeSet<String>,
    wanted: &[LinkTarget],
) -> Result<SyncOutcome, LinkError> {
    sync_client_config(Client::ClaudeCode, workspace_dir, managed, wanted, None)
}

/// [`sync_mcp_json`] for the file of any [`Client`], with the same rules: the servers'
/// table is found at the client's path (`tools.mcpServers` for nanobot, `servers` for VS
/// Code, `mcp_servers` for codex), host entries have the client's shape, and everything
/// else in the file is kept as written: byte for byte in strict JSON, with its comments and
/// layout in JSONC and TOML. A client's directory in the workspace (`.vscode`, `.codex`) is
/// made when there is first something to write into it.
///
/// `reach` is the address range the plugins' URLs resolve into (the plugin network's, or
/// the loopback range in development mode). For a client that refuses private addresses
/// unless told otherwise (nanobot's `tools.ssrfWhitelist`), the range is listed while the
/// file holds host entries and removed with the last of them; other entries of the list
/// are the user's and stay.
///
/// # Errors
///
/// As [`sync_mcp_json`].
pub fn sync_client_config(
    client: Client,
    workspace_dir: &Path,
    managed: &BTreeSet<String>,
    wanted: &[LinkTarget],
    reach: Option<&str>,
) -> Result<SyncOutcome, LinkError> {
    sync_or_check(client, workspace_dir, managed, wanted, reach, true)
}

/// What [`sync_client_config`] would do, without writing anything or taking the writers'
/// lock (the host replaces files whole, so a read sees one version or the other): whether
/// the file needs a write. The same errors.
///
/// # Errors
///
/// As [`sync_mcp_json`].
pub fn check_client_config(
    client: Client,
    workspace_dir: &Path,
    managed: &BTreeSet<String>,
    wanted: &[LinkTarget],
    reach: Option<&str>,
) -> Result<SyncOutcome, LinkError> {
    sync_or_check(client, workspace_dir, managed, wanted, reach, false)
}

fn sync_or_check(
    client: Client,
    workspace_dir: &Path,
    managed: &BTreeSet<String>,
    wanted: &[LinkTarget],
    reach: Option<&str>,
    write: bool,
) -> Result<SyncOutcome, LinkError> {
    let mut entries = BTreeMap::new();
    for target in wanted {
        let entry = client.entry(&target.url);
        if entries.insert(target.plugin.as_str(), entry).is_some() {
            return Err(LinkError::DuplicateTarget {
                plugin: target.plugin.clone(),
            });
        }
    }
    if !fs::metadata(workspace_dir).is_ok_and(|m| m.is_dir()) {
        return Err(LinkError::NoWorkspace {
            dir: workspace_dir.to_owned(),
        });
    }

    let lock_path = workspace_dir.join(client.lock_name());
    let mut lock = if write {
        Some(fd_lock::RwLock::new(open_lock_file(&lock_path)?))
    } else {
        None
    };
    // flock(2) locks belong to the open file description, so this excludes other threads
    // of this process (each opened the file itself) as well as other processes.
    let _guard = match lock.as_mut() {
        Some(lock) => Some(lock.write().map_err(|source| LinkError::Io {
            action: "lock",
            path: lock_path.clone(),
            source,
        })?),
        None => None,
    };

    let path = workspace_dir.join(client.file_name());
    let dir = path.parent().unwrap_or(workspace_dir);
    let dir_exists = directory_exists(workspace_dir, dir)?;
    let existing = if dir_exists {
        read_existing(&path)?
    } else {
        None
    };
    let malformed = |reason: String| LinkError::Malformed {
        path: path.clone(),
        reason,
    };
    let text = existing.as_ref().map_or("", |(text, _)| text.as_str());
    let mut document = format::parse(client, text).map_err(malformed)?;

    let mut outcome = apply(client, document.as_mut(), managed, &entries).map_err(malformed)?;
    if let Some(reach) = reach {
        let holds_host_entries = document
            .entries()
            .iter()
            .any(|(_, value)| value.as_ref().is_some_and(|v| client.is_host_entry(v)));
        if document
            .allow_range(reach, holds_host_entries)
            .map_err(malformed)?
        {
            outcome.changed = true;
        }
    }
    if !outcome.changed || !write {
        return Ok(outcome);
    }

    let text = document.render().map_err(malformed)?;
    if !dir_exists {
        fs::create_dir(dir).map_err(|source| LinkError::Io {
            action: "create the directory",
            path: dir.to_owned(),
            source,
        })?;
    }
    let permissions = existing.map(|(_, permissions)| permissions);
    write_atomically(dir, &path, text.as_bytes(), permissions)?;
    tracing::debug!(
        path = %path.display(),
        added = ?outcome.added,
        removed = ?outcome.removed,
        updated = ?outcome.updated,
        "synced the agent's client config"
    );
    Ok(outcome)
}

/// Edits the servers of `document`; the outcome's `changed` tells whether anything differs.
fn apply(
    client: Client,
    document: &mut dyn format::ServersFile,
    managed: &BTreeSet<String>,
    entries: &BTreeMap<&str, Value>,
) -> Result<SyncOutcome, String> {
    let mut outcome = SyncOutcome::default();
    let mut current = BTreeMap::new();
    for (name, value) in document.entries() {
        let remove = managed.contains(&name)
            && !entries.contains_key(name.as_str())
            && value.as_ref().is_some_and(|v| client.is_host_entry(v));
        if remove {
            document.remove_entry(&name);
            outcome.removed.push(name);
        } else {
            current.insert(name, value);
        }
    }
    for (&plugin, entry) in entries {
        match current.get(plugin) {
            // Compared as values: our own earlier write, reformatted by an editor, is
            // still right and is not rewritten.
            Some(Some(value)) if value == entry => {}
            Some(_) => {
                document.set_entry(plugin, entry)?;
                outcome.updated.push(plugin.to_owned());
            }
            None => {
                document.set_entry(plugin, entry)?;
                outcome.added.push(plugin.to_owned());
            }
        }
    }
    outcome.removed.sort();
    outcome.changed =
        !(outcome.added.is_empty() && outcome.removed.is_empty() && outcome.updated.is_empty());
    Ok(outcome)
}

/// Whether `dir`, the directory of a client's file inside `workspace` (`.vscode`), is
/// there. A symbolic link there is refused like one in place of the file: following it
/// would read and write outside the workspace.
fn directory_exists(workspace: &Path, dir: &Path) -> Result<bool, LinkError> {
    if dir == workspace {
        return Ok(true);
    }
    match fs::symlink_metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(true),
        Ok(_) => Err(LinkError::NotADirectory {
            path: dir.to_owned(),
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LinkError::Io {
            action: "inspect",
            path: dir.to_owned(),
            source,
        }),
    }
}

fn open_lock_file(path: &Path) -> Result<File, LinkError> {
    refuse_symlink(path)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| LinkError::Io {
            action: "open the lock file",
            path: path.to_owned(),
            source,
        })
}

/// The file's text and permissions, `None` when it does not exist.
fn read_existing(path: &Path) -> Result<Option<(String, Permissions)>, LinkError> {
    let io_error = |source| LinkError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    if !refuse_symlink(path)? {
        return Ok(None);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(err)),
    };
    // Checked on the open descriptor: opening a FIFO for reading would have blocked, but a
    // FIFO cannot get here because `refuse_symlink` saw a regular file first.
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(LinkError::NotARegularFile {
            path: path.to_owned(),
        });
    }
    if metadata.len() > MAX_MCP_JSON_BYTES {
        return Err(LinkError::TooLarge {
            path: path.to_owned(),
            len: metadata.len(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_MCP_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_MCP_JSON_BYTES {
        return Err(LinkError::TooLarge {
            path: path.to_owned(),
            len: bytes.len() as u64,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| LinkError::Malformed {
        path: path.to_owned(),
        reason: format!(
            "it is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    // Editors on Windows may start the file with a byte-order mark, which JSON forbids.
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text);
    Ok(Some((text, metadata.permissions())))
}

/// Errors unless `path` is absent or a regular file; returns whether it exists.
///
/// The rename that replaces `.mcp.json` would replace a symbolic link rather than its
/// target, and following links in a workspace an agent controls could make a privileged
/// host open files elsewhere; neither is right, so a link is refused.
fn refuse_symlink(path: &Path) -> Result<bool, LinkError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(true),
        Ok(_) => Err(LinkError::NotARegularFile {
            path: path.to_owned(),
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LinkError::Io {
            action: "inspect",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces `path` with `contents` so that a reader sees the old file or the new one, never
/// a mix, and the new one survives a crash once this returns.
fn write_atomically(
    dir: &Path,
    path: &Path,
    contents: &[u8],
    permissions: Option<Permissions>,
) -> Result<(), LinkError> {
    let io_error = |action, source| LinkError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    // A new file asks for 0666 and gets the umask applied, like any editor's; an existing
    // file's exact bits are restored below (the umask may have dropped some at creation).
    let mode = permissions.as_ref().map_or(0o666, |p| p.mode() & 0o7777);
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .map_or_else(|| "config".into(), |n| n.to_string_lossy())
        ))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| io_error("create a temporary file for", e))?;
    if let Some(permissions) = permissions {
        temp.as_file()
            .set_permissions(permissions)
            .map_err(|e| io_error("set permissions on", e))?;
    }
    temp.write_all(contents).map_err(|e| io_error("write", e))?;
    temp.as_file().sync_all().map_err(|e| io_error("sync", e))?;
    temp.persist(path)
        .map_err(|e| io_error("replace", e.error))?;
    // The rename is durable only once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync the directory of", e))
}
