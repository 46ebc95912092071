//! `nanofleet inspect`: what a plugin image says about itself, from its labels alone.

use nanofleet_build::{ImageInfo, inspect_image};
use serde_json::Value;

use crate::{
    cli::InspectArgs,
    cmd::build::engine,
    context::Context,
    error::CliError,
    output::{self, clean, note, plural},
};

/// Prints the manifest, the tools with their schemas, the labels, the size and the digest.
pub async fn run(ctx: &Context, args: &InspectArgs) -> Result<u8, CliError> {
    let docker = engine().await?;
    // An installed plugin's name means the image it runs; anything else is an image reference.
    let installed = match ctx.store() {
        Ok(store) => store.get_plugin(&args.target).await.ok().flatten(),
        Err(_) => None,
    };
    let reference = installed.as_ref().map_or(args.target.as_str(), |record| {
        record.manifest.image.as_str()
    });
    if installed.is_some() {
        note(format!(
            "plugin `{}` runs image {}",
            clean(&args.target),
            clean(reference)
        ));
    }
    let info = inspect_image(&docker, reference).await?;
    if args.json {
        output::json(&info)?;
    } else {
        output::raw(&render(&info))?;
    }
    Ok(0)
}

/// The human-readable form.
pub fn render(info: &ImageInfo) -> String {
    let m = &info.manifest;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("{} {}", clean(&m.name), clean(&m.version)));
    if !m.description.is_empty() {
        line(format!("  {}", clean(&m.description)));
    }
    line(format!("image       {}", clean(&m.image)));
    line(format!("id          {}", clean(&info.id)));
    if !info.repo_digests.is_empty() {
        line(format!(
            "digests     {}",
            clean(&info.repo_digests.join(", "))
        ));
    }
    if !info.tags.is_empty() {
        line(format!("tags        {}", clean(&info.tags.join(", "))));
    }
    line(format!(
        "size        {:.2} MiB",
        info.size_bytes as f64 / (1024.0 * 1024.0)
    ));
    if let Some(user) = &info.user {
        line(format!("user        {}", clean(user)));
    }
    let ports = match m.ui_port {
        Some(ui) => format!("mcp {}, ui {ui}", m.mcp_port),
        None => format!("mcp {}", m.mcp_port),
    };
    line(format!("ports       {ports}"));
    if !m.required_env_vars.is_empty() {
        line(format!(
            "needs env   {}",
            clean(&m.required_env_vars.join(", "))
        ));
    }
    let p = &m.permissions;
    line(format!("network     {}", clean(&p.network.to_string())));
    line(format!(
        "data        {}; {}",
        p.filesystem,
        if p.process.spawn {
            "may start processes"
        } else {
            "starts no processes"
        }
    ));
    let resources = &p.resources;
    if !resources.is_empty() {
        let mut asked = Vec::new();
        if let Some(memory) = resources.memory {
            asked.push(format!("memory {memory}"));
        }
        if let Some(cpus) = resources.cpus {
            asked.push(format!("cpus {cpus}"));
        }
        if let Some(pids) = resources.pids {
            asked.push(format!("pids {pids}"));
        }
        line(format!("resources   {}", asked.join(", ")));
    }
    if let Some(requirement) = &m.min_host_version {
        line(format!("needs host  {}", clean(requirement)));
    }
    if !m.config.is_empty() {
        let settings: Vec<String> = m
            .config
            .iter()
            .map(|(key, s)| {
                let mut about = vec![s.kind.as_str()];
                if s.required {
                    about.push("required");
                }
                if s.sensitive {
                    about.push("sensitive");
                }
                format!("{} ({})", clean(key), about.join(", "))
            })
            .collect();
        line(format!("settings    {}", settings.join(", ")));
    }
    match &info.tools {
        None => {
            line("tools       (not recorded: the image was not built by nanofleet build)".into())
        }
        Some(tools) => {
            line(format!(
                "tools       {}",
                plural(tools.len(), "tool", "tools")
            ));
            for tool in tools {
                let description = tool.description.as_deref().unwrap_or_default();
                line(format!(
                    "  {}  {}",
                    clean(&tool.name),
                    clean(first_line(description))
                ));
                let schema = Value::Object((*tool.input_schema).clone());
                for (name, required, kind) in parameters(&schema) {
                    line(format!(
                        "      {}{}: {}",
                        clean(&name),
                        if required { "" } else { "?" },
                        clean(&kind)
                    ));
                }
            }
        }
    }
    line("labels".into());
    for (key, value) in &info.labels {
        let shown = if value.len() > 60 || value.contains('\n') {
            format!("({} bytes)", value.len())
        } else {
            clean(value)
        };
        line(format!("  {}={shown}", clean(key)));
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// `(name, required, type)` of each property of an input schema.
fn parameters(schema: &Value) -> Vec<(String, bool, String)> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let kind = match &prop["type"] {
                        Value::String(kind) => kind.clone(),
                        Value::Array(kinds) => kinds
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" | "),
                        _ => "any".to_owned(),
                    };
                    (name.clone(), required.contains(&name.as_str()), kind)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_show_required_and_types() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"text": {"type": "string"}, "limit": {"type": ["integer", "null"]}},
            "required": ["text"]
        });
        let mut found = parameters(&schema);
        found.sort();
        assert_eq!(
            found,
            [
                ("limit".to_owned(), false, "integer | null".to_owned()),
                ("text".to_owned(), true, "string".to_owned())
            ]
        );
        assert!(parameters(&serde_json::json!({})).is_empty());
    }
}
