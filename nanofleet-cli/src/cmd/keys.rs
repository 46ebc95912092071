//! `nanofleet keys …`: the API keys plugins require. A value is read from stdin, never from
//! the command line (where shell history and `ps` would show it), and never printed. With
//! `--server` they go through the server's API, with the same output.

use std::collections::BTreeMap;

use nanofleet_host::{
    api::{keys::KeyValue, plugins::PluginInfo},
    manifest::rules,
};
use serde::Serialize;
use serde_json::json;

use crate::{
    cli::{JsonArg, KeyNameArgs, KeysCommand},
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, note},
    secret_input,
};

/// Runs a `keys` subcommand. None of them needs the engine.
pub async fn run(ctx: &Context, command: &KeysCommand) -> Result<u8, CliError> {
    match command {
        KeysCommand::Set(args) => set(ctx, args).await,
        KeysCommand::Ls(args) => ls(ctx, args).await,
        KeysCommand::Rm(args) => rm(ctx, args).await,
    }
}

async fn set(ctx: &Context, args: &KeyNameArgs) -> Result<u8, CliError> {
    let name = &args.name;
    // Before waiting for a value: a bad name is a usage error.
    rules::check_env_var_name(name)
        .and_then(|()| rules::check_env_var_not_reserved(name))
        .map_err(|v| CliError::usage(format!("invalid API key name: {v}")))?;
    let fleet = Fleet::new(ctx);
    let value = secret_input::read(
        &format!("API key {name}"),
        &format!("nanofleet keys set {name}"),
    )
    .await?;
    fleet.set_key(name, KeyValue { value }).await?;
    let plugins = fleet.plugins().await?;
    let users = required_by(&plugins)
        .remove(name.as_str())
        .unwrap_or_default();
    if users.is_empty() {
        note(format!("set API key {name}"));
    } else {
        note(format!(
            "set API key {name}; restart {} to use the new value",
            users.join(", ")
        ));
    }
    if args.json {
        output::json(&json!({ "name": name, "set": true, "requiredBy": users }))?;
    }
    Ok(0)
}

/// An API key as `keys ls --json` shows it: never its value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyRow {
    name: String,
    /// Whether a value is stored; unset keys are listed when an installed plugin needs them.
    set: bool,
    required_by: Vec<String>,
}

async fn ls(ctx: &Context, args: &JsonArg) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let names = fleet.key_names().await?;
    let plugins = fleet.plugins().await?;
    let mut required = required_by(&plugins);
    let mut rows: Vec<KeyRow> = names
        .into_iter()
        .map(|name| KeyRow {
            required_by: required.remove(&name).unwrap_or_default(),
            name,
            set: true,
        })
        .collect();
    rows.extend(required.into_iter().map(|(name, plugins)| KeyRow {
        name,
        set: false,
        required_by: plugins,
    }));
    if args.json {
        output::json(&rows)?;
        return Ok(0);
    }
    if rows.is_empty() {
        output::line("no API keys set; set one with `nanofleet keys set <NAME>`")?;
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                clean(&r.name),
                if r.set { "yes" } else { "NO" }.to_owned(),
                if r.required_by.is_empty() {
                    "-".to_owned()
                } else {
                    r.required_by.join(", ")
                },
            ]
        })
        .collect();
    output::raw(&output::table(&["NAME", "SET", "REQUIRED BY"], &table))?;
    Ok(0)
}

async fn rm(ctx: &Context, args: &KeyNameArgs) -> Result<u8, CliError> {
    let not_set = || {
        CliError::new(format!(
            "no API key named `{}` is set; see `nanofleet keys ls`",
            clean(&args.name)
        ))
    };
    let fleet = Fleet::new(ctx);
    fleet.remove_key(&args.name).await.map_err(|failure| {
        if failure.code() == Some("key_not_found") {
            not_set()
        } else {
            failure.into()
        }
    })?;
    let plugins = fleet.plugins().await?;
    let users = required_by(&plugins)
        .remove(args.name.as_str())
        .unwrap_or_default();
    note(format!("removed API key {}", args.name));
    if args.json {
        output::json(&json!({ "name": args.name, "removed": true, "requiredBy": users }))?;
    }
    if !users.is_empty() {
        note(format!(
            "warning: {} {} it: running containers keep the old value, but will not start \
             again until it is set",
            users.join(", "),
            if users.len() == 1 {
                "requires"
            } else {
                "require"
            }
        ));
    }
    Ok(0)
}

/// Key name → the installed plugins requiring it.
fn required_by(plugins: &[PluginInfo]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for plugin in plugins {
        for key in &plugin.manifest.required_env_vars {
            map.entry(key.clone())
                .or_default()
                .push(plugin.name.clone());
        }
    }
    map
}
