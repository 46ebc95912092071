//! The `notes` plugin on our SDK with its macros, keeping notes in memory: the same work as
//! the Python and TypeScript peers and `plain-rmcp-notes :memory:`, so that the ratios
//! between them compare frameworks, not storage. (`examples/notes` keeps notes in SQLite,
//! durable; the bench compares it with the other durable contenders.)

#[path = "../memory_notes.rs"]
mod memory_notes;

use memory_notes::MemoryNotes;
use nanofleet_sdk::{AgentId, ToolError, plugin};
use schemars::JsonSchema;
use serde::Serialize;

/// What `add_note` returns.
#[derive(Debug, Serialize, JsonSchema)]
struct Added {
    /// The new note's id.
    id: u64,
    /// How many notes the agent has now.
    count: u64,
}

/// One note.
#[derive(Debug, Serialize, JsonSchema)]
struct Note {
    /// The note's id.
    id: u64,
    /// The note's text.
    text: String,
}

/// What `list_notes` returns.
#[derive(Debug, Serialize, JsonSchema)]
struct NoteList {
    /// The calling agent's notes, oldest first.
    notes: Vec<Note>,
}

/// The largest note accepted, in bytes (as `examples/notes`).
const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Per-agent notes, in memory.
#[derive(Default)]
struct Notes {
    notes: MemoryNotes,
}

/// Per-agent notes, kept in memory.
#[plugin(
    name = "notes",
    image = "nanofleet/notes:0.1.0",
    mcp_port = 8080,
    author = "nanofleet-rs"
)]
impl Notes {
    /// Saves a note for the calling agent.
    #[tool]
    async fn add_note(
        &self,
        agent: AgentId,
        /// The note's text.
        text: String,
    ) -> Result<Added, ToolError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(ToolError::new(format!(
                "the note is {} bytes; notes are at most {MAX_NOTE_BYTES}",
                text.len()
            )));
        }
        let (id, count) = self.notes.add(agent.as_str(), text);
        Ok(Added { id, count })
    }

    /// Lists the calling agent's notes, oldest first.
    #[tool(read_only)]
    async fn list_notes(&self, agent: AgentId) -> Result<NoteList, ToolError> {
        Ok(NoteList {
            notes: self
                .notes
                .list(agent.as_str())
                .into_iter()
                .map(|(id, text)| Note { id, text })
                .collect(),
        })
    }
}

fn main() -> std::process::ExitCode {
    Notes::default().run()
}
