//! `nanofleet call`: a tool call as an agent, for trying a plugin out.

use serde_json::{Map, Value};

use crate::{cli::CallArgs, context::Context, error::CliError, output};

/// Calls the tool and prints its text (or, with `--json`, the whole result); a result
/// flagged `isError` exits with 1.
pub async fn run(ctx: &Context, args: &CallArgs) -> Result<u8, CliError> {
    let arguments = parse_arguments(args.args.as_deref())?;
    let host = ctx.host().await?;
    let result = host
        .call(&args.plugin, &args.agent, &args.tool, arguments)
        .await?;
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
            output::clean(&args.tool),
            output::clean(&args.plugin)
        )));
    }
    Ok(0)
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
