//! `nanofleet config …`: a plugin's typed settings, and the `--config KEY=VALUE` of install
//! and upgrade. Sensitive values are never printed; one given without `=` is read from stdin.
//! With `--server` they go through the server's API, with the same output.

use nanofleet_host::{
    api::config::ConfigList,
    host::{ConfigSource, display_value},
    manifest::config::{ConfigValues, check_key},
};
use serde_json::Value;

use crate::{
    cli::{ConfigCommand, ConfigLsArgs, ConfigRmArgs, ConfigSetArgs, ConfigValueArgs},
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, note},
    secret_input,
};

/// Runs a `config` subcommand.
pub async fn run(ctx: &Context, command: &ConfigCommand) -> Result<u8, CliError> {
    match command {
        ConfigCommand::Ls(args) => ls(ctx, args).await,
        ConfigCommand::Set(args) => set(ctx, args).await,
        ConfigCommand::Rm(args) => rm(ctx, args).await,
    }
}

async fn ls(ctx: &Context, args: &ConfigLsArgs) -> Result<u8, CliError> {
    let list = Fleet::new(ctx).settings(&args.plugin).await?;
    print(&list, args.json)
}

async fn set(ctx: &Context, args: &ConfigSetArgs) -> Result<u8, CliError> {
    let values = read_assignments(&args.plugin, &args.values).await?;
    let changes = values.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let list = Fleet::new(ctx).configure(&args.plugin, changes).await?;
    let keys: Vec<&str> = args
        .values
        .iter()
        .map(|a| a.split_once('=').map_or(a.as_str(), |(k, _)| k))
        .collect();
    note(format!(
        "set {} of {}; it runs with the new values",
        keys.join(", "),
        clean(&args.plugin)
    ));
    print(&list, args.json)
}

async fn rm(ctx: &Context, args: &ConfigRmArgs) -> Result<u8, CliError> {
    for key in &args.keys {
        check_key(key).map_err(|reason| {
            CliError::usage(format!("invalid setting key `{}`: {reason}", clean(key)))
        })?;
    }
    let changes = args.keys.iter().map(|k| (k.clone(), None)).collect();
    let list = Fleet::new(ctx).configure(&args.plugin, changes).await?;
    note(format!(
        "removed the values of {} from {}; defaults apply",
        args.keys.join(", "),
        clean(&args.plugin)
    ));
    print(&list, args.json)
}

fn print(list: &ConfigList, as_json: bool) -> Result<u8, CliError> {
    let ConfigList { plugin, settings } = list;
    if as_json {
        output::json(list)?;
        return Ok(0);
    }
    if settings.is_empty() {
        note(format!("plugin {} declares no settings", clean(plugin)));
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = settings
        .iter()
        .map(|s| {
            let value = match (&s.value, s.sensitive, s.source) {
                (_, true, ConfigSource::Set | ConfigSource::Default) => "(hidden)".to_owned(),
                (Some(value), false, _) => clean(&display_value(value)),
                _ => "-".to_owned(),
            };
            let mut kind = s.kind.clone();
            if s.required {
                kind.push_str(", required");
            }
            if s.sensitive {
                kind.push_str(", sensitive");
            }
            vec![
                clean(&s.key),
                kind,
                s.source.as_str().to_owned(),
                value,
                clean(
                    s.title
                        .as_deref()
                        .or(s.description.as_deref())
                        .unwrap_or(""),
                ),
            ]
        })
        .collect();
    output::raw(&output::table(
        &["KEY", "TYPE", "SOURCE", "VALUE", "ABOUT"],
        &rows,
    ))?;
    let missing: Vec<&str> = settings
        .iter()
        .filter(|s| s.source == ConfigSource::Missing)
        .map(|s| s.key.as_str())
        .collect();
    if !missing.is_empty() {
        note(format!(
            "the plugin cannot start until these are set: {}",
            missing.join(", ")
        ));
    }
    Ok(0)
}

/// The values of `--config` options for install and upgrade, as strings: the host reads each
/// as its setting's type.
pub async fn values_of(plugin: &str, args: &ConfigValueArgs) -> Result<ConfigValues, CliError> {
    read_assignments(plugin, &args.values).await
}

/// `KEY=VALUE` and at most one bare `KEY`, whose value is read from stdin.
async fn read_assignments(plugin: &str, assignments: &[String]) -> Result<ConfigValues, CliError> {
    let mut values = ConfigValues::new();
    let mut from_stdin = None;
    for assignment in assignments {
        let (key, value) = match assignment.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (assignment.as_str(), None),
        };
        check_key(key).map_err(|reason| {
            CliError::usage(format!(
                "invalid setting key `{}`: {reason}; write KEY=VALUE",
                clean(key)
            ))
        })?;
        if values.contains_key(key) || from_stdin.as_deref() == Some(key) {
            return Err(CliError::usage(format!("setting `{key}` is given twice")));
        }
        match value {
            Some(value) => {
                values.insert(key.to_owned(), Value::String(value.to_owned()));
            }
            None if from_stdin.is_some() => {
                return Err(CliError::usage(
                    "only one setting can be read from stdin per command; give the others \
                     as KEY=VALUE",
                ));
            }
            None => from_stdin = Some(key.to_owned()),
        }
    }
    if let Some(key) = from_stdin {
        let value = secret_input::read(
            &format!("setting {key} of {plugin}"),
            &format!("nanofleet config set {plugin} {key}"),
        )
        .await?;
        values.insert(key, Value::String(value));
    }
    Ok(values)
}
