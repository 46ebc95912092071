//! `nanofleet tokens …` and `nanofleet audit`: scoped API tokens and the audit log. Locally
//! they read and write the store (no engine needed); with `--server`, the server's API, where
//! only the operator token manages tokens.

use nanofleet_host::{api::tokens::TokenRequest, store::Scope};

use crate::{
    cli::{AuditArgs, JsonArg, TokenCreateArgs, TokenNameArgs, TokensCommand},
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, note},
};

/// Runs a `tokens` subcommand.
pub async fn run(ctx: &Context, command: &TokensCommand) -> Result<u8, CliError> {
    match command {
        TokensCommand::Create(args) => create(ctx, args).await,
        TokensCommand::Ls(args) => ls(ctx, args).await,
        TokensCommand::Revoke(args) => revoke(ctx, args).await,
    }
}

async fn create(ctx: &Context, args: &TokenCreateArgs) -> Result<u8, CliError> {
    let scope = Scope::parse(&args.scope)
        .ok_or_else(|| CliError::usage(format!("unknown scope `{}`", clean(&args.scope))))?;
    let created = Fleet::new(ctx)
        .create_token(TokenRequest {
            name: args.name.clone(),
            scope,
        })
        .await?;
    if args.json {
        output::json(&created)?;
    } else {
        output::line(&created.token)?;
        note(format!(
            "created token {} with scope {}; it is shown this once: keep it now (send it as \
             `Authorization: Bearer <token>`, or NANOFLEET_TOKEN for --server)",
            clean(&created.record.name),
            created.record.scope
        ));
    }
    Ok(0)
}

async fn ls(ctx: &Context, args: &JsonArg) -> Result<u8, CliError> {
    let tokens = Fleet::new(ctx).tokens().await?;
    if args.json {
        output::json(&tokens)?;
        return Ok(0);
    }
    if tokens.is_empty() {
        output::line(
            "no tokens; create one with `nanofleet tokens create --name NAME --scope read`",
        )?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                clean(&t.name),
                t.scope.to_string(),
                format_time(t.created_at),
                t.last_used_at
                    .map_or_else(|| "never".to_owned(), format_time),
            ]
        })
        .collect();
    output::raw(&output::table(
        &["NAME", "SCOPE", "CREATED", "LAST USED"],
        &rows,
    ))?;
    Ok(0)
}

async fn revoke(ctx: &Context, args: &TokenNameArgs) -> Result<u8, CliError> {
    let not_found = || {
        CliError::new(format!(
            "no token named `{}`; see `nanofleet tokens ls`",
            clean(&args.name)
        ))
    };
    Fleet::new(ctx)
        .revoke_token(&args.name)
        .await
        .map_err(|failure| {
            if failure.code() == Some("token_not_found") {
                not_found()
            } else {
                failure.into()
            }
        })?;
    note(format!("revoked token {}", clean(&args.name)));
    if args.json {
        output::json(&serde_json::json!({ "revoked": args.name }))?;
    }
    Ok(0)
}

/// `audit`.
pub async fn audit(ctx: &Context, args: &AuditArgs) -> Result<u8, CliError> {
    let entries = Fleet::new(ctx).audit(args.limit).await?;
    if args.json {
        output::json(&entries)?;
        return Ok(0);
    }
    if entries.is_empty() {
        output::line("no mutating calls through the API yet")?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                format_time(e.at),
                clean(&e.who),
                clean(&e.action),
                e.status.to_string(),
            ]
        })
        .collect();
    output::raw(&output::table(&["WHEN", "WHO", "WHAT", "RESULT"], &rows))?;
    Ok(0)
}

/// A stored time (Unix seconds) as `2026-12-04 18:30:00 UTC`.
fn format_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(
        |_| seconds.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}
