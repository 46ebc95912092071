//! The baseline: the `notes` tools written directly on rmcp, the way a careful rmcp author
//! would (its `#[tool_router]` macros, the router built once, stateless JSON mode), using the
//! same SQLite store as `examples/notes` so only the framework differs; or, given `:memory:`
//! for the data directory, the same in-memory notes as `notes-memory` and the peers.
//!
//! Usage: `plain-rmcp-notes <addr> <data-dir|:memory:>`.

#[path = "../memory_notes.rs"]
mod memory_notes;

use std::sync::Arc;

use nanofleet_sdk::{AgentId, store::Store};
use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{
        common::Extension,
        router::tool::ToolRouter,
        wrapper::{Json, Parameters},
    },
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone)]
struct Notes {
    backend: Backend,
    tool_router: ToolRouter<Notes>,
}

/// Where the notes are kept.
#[derive(Clone)]
enum Backend {
    /// SQLite, durable, as `examples/notes`.
    Durable(Store),
    /// In memory, as `notes-memory` and the peers.
    Memory(Arc<memory_notes::MemoryNotes>),
}

#[derive(Deserialize, JsonSchema)]
struct AddNote {
    /// The note's text.
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Added {
    id: u64,
    count: u64,
}

#[derive(Serialize, JsonSchema)]
struct Note {
    id: u64,
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct NoteList {
    notes: Vec<Note>,
}

fn agent(parts: &http::request::Parts) -> Result<AgentId, ErrorData> {
    let query = parts.uri.query().unwrap_or("");
    let id = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("agent_id="))
        .ok_or_else(|| ErrorData::invalid_params("agent_id query parameter is required", None))?;
    AgentId::new(id).map_err(|e| ErrorData::invalid_params(e.to_string(), None))
}

fn internal(e: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}

#[tool_router]
impl Notes {
    #[tool(description = "Saves a note for the calling agent.")]
    async fn add_note(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<AddNote>,
    ) -> Result<Json<Added>, ErrorData> {
        let agent = agent(&parts)?;
        let (id, count) = match &self.backend {
            Backend::Durable(store) => store
                .for_agent(agent)
                .collection::<String>("notes")
                .insert_counted(&args.text)
                .await
                .map_err(internal)?,
            Backend::Memory(notes) => notes.add(agent.as_str(), args.text),
        };
        Ok(Json(Added { id, count }))
    }

    #[tool(description = "Lists the calling agent's notes, oldest first.")]
    async fn list_notes(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<Json<NoteList>, ErrorData> {
        let agent = agent(&parts)?;
        let notes = match &self.backend {
            Backend::Durable(store) => store
                .for_agent(agent)
                .collection::<String>("notes")
                .list()
                .await
                .map_err(internal)?,
            Backend::Memory(notes) => notes.list(agent.as_str()),
        };
        Ok(Json(NoteList {
            notes: notes
                .into_iter()
                .map(|(id, text)| Note { id, text })
                .collect(),
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Notes {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8095".into());
    let data = args
        .next()
        .unwrap_or_else(|| "target/bench/plain-rmcp-data".into());
    let backend = if data == ":memory:" {
        Backend::Memory(Arc::default())
    } else {
        Backend::Durable(Store::open(&data)?)
    };
    let notes = Notes {
        backend,
        tool_router: Notes::tool_router(),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(notes.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
