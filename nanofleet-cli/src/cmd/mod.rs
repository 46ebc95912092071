//! One module per group of commands, and what they share.

pub mod agents;
pub mod build;
pub mod call;
pub mod completions;
pub mod config;
pub mod dev;
pub mod inspect;
pub mod keys;
pub mod logs;
pub mod new;
pub mod plugins;
pub mod policy;
pub mod serve;
pub mod tokens;
pub mod tools;
pub mod ui;
pub mod validate;

use nanofleet_host::{HostEvent, api::plugins::PluginInfo, manifest::Network};
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::output::{clean, note, plural};

/// Prints, on stderr, which agents' `.mcp.json` the last operation rewrote, from the
/// host's events; returns how many files changed.
pub fn report_changes(events: &mut broadcast::Receiver<HostEvent>) -> usize {
    let mut changed = 0;
    loop {
        match events.try_recv() {
            Ok(HostEvent::AgentConfigChanged {
                agent_id,
                path,
                added,
                removed,
                updated,
                warnings,
            }) => {
                changed += 1;
                let mut what = Vec::new();
                for (verb, plugins) in
                    [("added", added), ("removed", removed), ("updated", updated)]
                {
                    if !plugins.is_empty() {
                        what.push(format!("{verb} {}", plugins.join(", ")));
                    }
                }
                note(format!(
                    "updated {} (agent {}): {}",
                    clean(&path.display().to_string()),
                    clean(&agent_id),
                    what.join("; ")
                ));
                for warning in warnings {
                    note(format!("warning: {}", clean(&warning)));
                }
            }
            Ok(_) => {}
            Err(TryRecvError::Lagged(missed)) => {
                note(format!("({missed} more changes not shown)"));
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => return changed,
        }
    }
}

/// The names of a plugin's tools.
pub fn tool_names(record: &PluginInfo) -> Vec<&str> {
    record
        .tools
        .iter()
        .map(|t| t.get("name").and_then(|n| n.as_str()).unwrap_or("?"))
        .collect()
}

/// `3 tools: add_note, list_notes, delete_note`.
pub fn tools_summary(record: &PluginInfo) -> String {
    let names = tool_names(record);
    let count = plural(names.len(), "tool", "tools");
    if names.is_empty() {
        count
    } else {
        format!("{count}: {}", clean(&names.join(", ")))
    }
}

/// The network column of `ls`: `none`, `allow N` or `unrestricted`.
pub fn network_summary(network: &Network) -> String {
    match network {
        Network::None => "none".into(),
        Network::Allow(list) => format!("allow {}", list.len()),
        Network::Unrestricted => "unrestricted".into(),
    }
}

/// A plugin's grant in one line: network, data volume, processes, resources.
pub fn permissions_summary(record: &PluginInfo) -> String {
    let p = &record.permissions;
    let mut parts = vec![format!("network {}", clean(&p.network.to_string()))];
    parts.push(format!("data {}", p.filesystem));
    parts.push(
        if p.process.spawn {
            "may spawn"
        } else {
            "no spawning"
        }
        .into(),
    );
    if let Some(memory) = p.resources.memory {
        parts.push(format!("memory {memory}"));
    }
    if let Some(cpus) = p.resources.cpus {
        parts.push(format!("cpus {cpus}"));
    }
    if let Some(pids) = p.resources.pids {
        parts.push(format!("pids {pids}"));
    }
    parts.join(", ")
}
