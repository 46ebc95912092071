//! `nanofleet tools <plugin>`: an installed plugin's tools as the host recorded them from
//! the plugin's own `tools/list` (at install, upgrade and every start), without calling it.

use serde_json::Value;

use crate::{
    cli::ToolsArgs,
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, plural},
};

/// Prints the tools: a table, or with `--json` the tool objects exactly as listed.
pub async fn run(ctx: &Context, args: &ToolsArgs) -> Result<u8, CliError> {
    let record = Fleet::new(ctx)
        .plugin(&args.plugin)
        .await
        .map_err(|failure| {
            if failure.code() == Some("plugin_not_found") {
                CliError::new(format!(
                    "plugin `{}` is not installed; `nanofleet ls` lists those that are",
                    clean(&args.plugin)
                ))
            } else {
                failure.into()
            }
        })?;
    if args.json {
        output::json(&record.tools)?;
        return Ok(0);
    }
    if record.tools.is_empty() {
        output::line(format!(
            "{} {} lists no tools",
            record.name,
            clean(&record.manifest.version)
        ))?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = record.tools.iter().map(row).collect();
    let mut text = format!(
        "{} {}: {}\n\n",
        record.name,
        clean(&record.manifest.version),
        plural(rows.len(), "tool", "tools")
    );
    text.push_str(&output::table(
        &["TOOL", "ARGUMENTS", "HINTS", "DESCRIPTION"],
        &rows,
    ));
    text.push_str("\n* required; `nanofleet tools --json` shows the input schemas\n");
    output::raw(&text)?;
    Ok(0)
}

/// One tool in a row: its name, its arguments (required ones marked `*`), the hints its
/// annotations give, and the first line of its description.
fn row(tool: &Value) -> Vec<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let name = text(tool.get("name"));
    let schema = tool.get("inputSchema");
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let arguments: Vec<String> = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .keys()
                .map(|key| {
                    let mark = if required.contains(&key.as_str()) {
                        "*"
                    } else {
                        ""
                    };
                    format!("{key}{mark}")
                })
                .collect()
        })
        .unwrap_or_default();
    let annotations = tool.get("annotations");
    let flag = |key: &str| {
        annotations
            .and_then(|a| a.get(key))
            .and_then(Value::as_bool)
    };
    let mut hints = Vec::new();
    if flag("readOnlyHint") == Some(true) {
        hints.push("read-only");
    } else if flag("destructiveHint") == Some(true) {
        hints.push("destructive");
    }
    if flag("idempotentHint") == Some(true) {
        hints.push("idempotent");
    }
    if flag("openWorldHint") == Some(true) {
        hints.push("open-world");
    }
    let description = text(tool.get("description"));
    let first_line = description.lines().next().unwrap_or_default();
    vec![
        clean(&name),
        clean(&arguments.join(", ")),
        hints.join(", "),
        clean(first_line),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_say_arguments_hints_and_the_first_line() {
        let tool = json!({
            "name": "add_note",
            "description": "Adds a note.\nMore detail.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": {"type": "string"}, "tags": {"type": "array"} },
                "required": ["text"]
            },
            "annotations": { "readOnlyHint": false, "destructiveHint": false, "idempotentHint": true }
        });
        assert_eq!(
            row(&tool),
            ["add_note", "tags, text*", "idempotent", "Adds a note."]
        );
        let bare = json!({ "name": "ping", "inputSchema": {"type": "object"} });
        assert_eq!(row(&bare), ["ping", "", "", ""]);
    }
}
