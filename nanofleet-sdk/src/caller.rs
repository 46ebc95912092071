//! Who a request is for: the agent named in the URL (`?agent_id=…&agent_sig=…`, checked at the
//! HTTP layer by [`crate::server`]), in the request's `_meta` (`agent_id`, `agent_sig`: the
//! `context.passthrough` convention of hosts that describe plugins in a `plugin.toml`), or the
//! one agent a stdio process serves.
//!
//! A `_meta` identity follows the URL's rules: its signature is checked with the internal
//! token, and required when the host requires signatures. When the URL and `_meta` both name
//! an agent and the two differ, the request is refused: one request is made for one agent.

use rmcp::{ErrorData, RoleServer, service::RequestContext};

use crate::{
    agent::{AgentId, AgentIdError},
    identity::{self, AGENT_ID_PARAM, AGENT_LINK_PARAM, AGENT_SIGNATURE_PARAM},
    plugin::Running,
    tool::RequestAgent,
};

/// The agent a request is for, or why it names none usable.
pub(crate) async fn resolve(
    ctx: &RequestContext<RoleServer>,
    running: &Running,
) -> Result<Result<AgentId, AgentIdError>, ErrorData> {
    let from_url: Option<Result<AgentId, AgentIdError>> = ctx
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<RequestAgent>())
        .map(|a| a.0.clone());
    let base = from_url
        .or_else(|| running.fixed_agent().cloned().map(Ok))
        .unwrap_or(Err(AgentIdError::Missing));
    let Some(raw) = ctx.meta.get(AGENT_ID_PARAM) else {
        return Ok(base);
    };
    let raw = raw.as_str().ok_or_else(|| {
        ErrorData::invalid_params(format!("`_meta.{AGENT_ID_PARAM}` must be a string"), None)
    })?;
    let from_meta = AgentId::new(raw)
        .map_err(|e| ErrorData::invalid_params(format!("`_meta.{AGENT_ID_PARAM}`: {e}"), None))?;
    check_signature(ctx, running, &from_meta).await?;
    match base {
        Ok(agent) if agent != from_meta => Err(ErrorData::invalid_request(
            format!(
                "the request is for agent `{agent}` by its URL and for `{from_meta}` by its \
                 `_meta`: a request is made for one agent"
            ),
            None,
        )),
        Ok(agent) => Ok(Ok(agent)),
        Err(AgentIdError::Missing) => Ok(Ok(from_meta)),
        // The URL names an agent in a form that is not valid: that is the problem to report.
        Err(problem) => Ok(Err(problem)),
    }
}

/// The `_meta` signature and link, by the same rules as the URL's.
async fn check_signature(
    ctx: &RequestContext<RoleServer>,
    running: &Running,
    agent: &AgentId,
) -> Result<(), ErrorData> {
    let text = |param: &str| match ctx.meta.get(param) {
        None => Ok(None),
        Some(value) => value.as_str().map(Some).ok_or_else(|| {
            ErrorData::invalid_params(format!("`_meta.{param}` must be a string"), None)
        }),
    };
    let signature = text(AGENT_SIGNATURE_PARAM)?;
    let link = text(AGENT_LINK_PARAM)?;
    let env = running.env();
    let plugin_id = env.plugin_id.as_deref().unwrap_or(&running.manifest().name);
    match (signature, &env.internal_token) {
        (Some(sig), Some(token))
            if identity::verify_agent(token, plugin_id, agent.as_str(), sig).is_err() =>
        {
            tracing::warn!(agent = %agent, "refused a request with a forged agent signature in _meta");
            Err(ErrorData::invalid_request(
                format!(
                    "`_meta.{AGENT_SIGNATURE_PARAM}` does not match `_meta.{AGENT_ID_PARAM}`: \
                     send the signature the host issued for this agent"
                ),
                None,
            ))
        }
        (None, _) if env.require_agent_signature => Err(ErrorData::invalid_request(
            format!(
                "this plugin requires signed agent ids: `_meta.{AGENT_ID_PARAM}` needs \
                 `_meta.{AGENT_SIGNATURE_PARAM}`"
            ),
            None,
        )),
        (Some(_), Some(_)) => running.check_link(agent, link).await.map_err(|refusal| {
            tracing::warn!(agent = %agent, reason = refusal.code(), "refused a _meta identity on a link that is gone");
            ErrorData::invalid_request(refusal.message(agent.as_str()), None)
        }),
        // Without the token a signature cannot be checked; NanoFleet's host sends none.
        _ => Ok(()),
    }
}
