//! `nanofleet call`: a tool call as an agent, for trying a plugin out.

use std::time::Duration;

use rmcp::{
    ServiceExt as _,
    model::{CallToolRequestParams, CallToolResult},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Map, Value};

use crate::{cli::CallArgs, context::Context, error::CliError, output};

/// How long a call through `--url` may take, connection included.
const URL_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls the tool and prints its text (or, with `--json`, the whole result); a result
/// flagged `isError` exits with 1.
pub async fn run(ctx: &Context, args: &CallArgs) -> Result<u8, CliError> {
    let arguments = parse_arguments(args.args.as_deref())?;
    let (plugin, tool, result) = match &args.url {
        Some(url) => {
            // With --url the one positional is the tool.
            if args.tool.is_some() {
                return Err(CliError::usage(
                    "with --url, name only the tool: nanofleet call --url URL TOOL",
                ));
            }
            let url = url_for_agent(url, args.agent.as_deref())?;
            let result = call_url(&url, &args.plugin, arguments).await?;
            (url, args.plugin.clone(), result)
        }
        None => {
            let tool = args.tool.clone().ok_or_else(|| {
                CliError::usage(
                    "name the plugin and the tool: nanofleet call PLUGIN TOOL --agent ID",
                )
            })?;
            let agent = args
                .agent
                .as_deref()
                .ok_or_else(|| CliError::usage("--agent ID is required without --url"))?;
            let host = ctx.host().await?;
            let result = host.call(&args.plugin, agent, &tool, arguments).await?;
            (args.plugin.clone(), tool, result)
        }
    };
    if args.json {
        output::json(&result)?;
    } else {
        let text = nanofleet_sdk::testing::result_text(&result);
        match &result.structured_content {
            Some(structured) if text.is_empty() => output::json(structured)?,
            _ => output::line(text)?,
        }
    }
    if result.is_error == Some(true) {
        return Err(CliError::new(format!(
            "tool `{}` of plugin `{}` reported an error",
            output::clean(&tool),
            output::clean(&plugin)
        )));
    }
    Ok(0)
}

/// `url`, with `agent_id=<agent>` added when an agent is given and the URL names none.
fn url_for_agent(url: &str, agent: Option<&str>) -> Result<String, CliError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "--url `{}` is not an http:// or https:// URL, e.g. http://127.0.0.1:8080/mcp",
            output::clean(url)
        )));
    }
    let names_agent = url
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("agent_id=")));
    Ok(match agent {
        Some(agent) if !names_agent => nanofleet_host::linking::agent_url(url, agent, None),
        _ => url.to_owned(),
    })
}

/// One MCP session with the server at `url`, one call.
async fn call_url(
    url: &str,
    tool: &str,
    arguments: Map<String, Value>,
) -> Result<CallToolResult, CliError> {
    let fail = |e: String| {
        CliError::new(format!(
            "calling {} at {}: {e}",
            output::clean(tool),
            output::clean(url)
        ))
    };
    let call = async {
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let session = ().serve(transport).await.map_err(|e| fail(e.to_string()))?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = Some(arguments);
        let result = session
            .call_tool(params)
            .await
            .map_err(|e| fail(e.to_string()));
        let _ = session.cancel().await;
        result
    };
    tokio::time::timeout(URL_CALL_TIMEOUT, call)
        .await
        .map_err(|_| fail(format!("no answer within {URL_CALL_TIMEOUT:?}")))?
}

/// `--args`: a JSON object, or nothing for no arguments.
fn parse_arguments(text: Option<&str>) -> Result<Map<String, Value>, CliError> {
    let Some(text) = text else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::usage(
            "--args must be a JSON object of the tool's arguments, e.g. --args '{\"name\":\"Ada\"}'",
        )),
        Err(err) => Err(CliError::usage(format!(
            "--args is not valid JSON ({err}); give an object, e.g. --args '{{\"name\":\"Ada\"}}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_agent_unless_they_name_one() {
        assert_eq!(
            url_for_agent("http://127.0.0.1:8080/mcp", Some("ada"))
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:8080/mcp?agent_id=ada")
        );
        assert_eq!(
            url_for_agent("http://h/mcp?agent_id=bob", Some("ada"))
                .ok()
                .as_deref(),
            Some("http://h/mcp?agent_id=bob")
        );
        assert_eq!(
            url_for_agent("http://h/mcp", None).ok().as_deref(),
            Some("http://h/mcp")
        );
        assert!(url_for_agent("h:8080/mcp", None).is_err_and(|e| e.code == 2));
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert!(parse_arguments(None).is_ok_and(|m| m.is_empty()));
        assert!(parse_arguments(Some(r#"{"name":"Ada"}"#)).is_ok_and(|m| m.len() == 1));
        for bad in ["[]", "1", "{", ""] {
            assert!(
                parse_arguments(Some(bad)).is_err_and(|e| e.code == 2),
                "{bad}"
            );
        }
    }
}
