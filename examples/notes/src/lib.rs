//! `notes`: per-agent notes, persisted in the plugin's data volume.
//!
//! Each agent sees only its own notes: the [`AgentStore`] a tool gets is bound to the agent
//! the request was made for. Each note is also a resource, `notes://{id}`, which clients can
//! read and subscribe to (adding or deleting a note tells the agent's subscribed clients), and
//! `summarise_notes` is a prompt built from the agent's notes.

use nanofleet_sdk::{
    AgentStore, Error, Plugin, ToolCall, ToolError, completion::Completion, plugin,
    prompt::Message, subscription::ResourceUpdates,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const NOTES: &str = "notes";

/// The largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// What `add_note` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Added {
    /// The new note's id, for `delete_note`.
    pub id: u64,
    /// How many notes the agent has now.
    pub count: u64,
}

/// One note.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Note {
    /// The note's id.
    pub id: u64,
    /// The note's text.
    pub text: String,
}

/// What `list_notes` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteList {
    /// The calling agent's notes, oldest first.
    pub notes: Vec<Note>,
}

/// What `delete_note` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// Whether a note with that id existed (and is now gone).
    pub deleted: bool,
}

/// The plugin's state: none; the notes live in each agent's store.
#[derive(Debug, Default)]
pub struct Notes;

/// Per-agent notes: each agent keeps its own, and they survive restarts.
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
        store: AgentStore,
        updates: ResourceUpdates,
        /// The note's text.
        text: String,
    ) -> Result<Added, ToolError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(ToolError::new(format!(
                "the note is {} bytes; notes are at most {MAX_NOTE_BYTES}",
                text.len()
            )));
        }
        let (id, count) = store
            .collection::<String>(NOTES)
            .insert_counted(&text)
            .await?;
        updates.changed(&note_uri(id)).await;
        Ok(Added { id, count })
    }

    /// Lists the calling agent's notes, oldest first.
    #[tool(read_only)]
    async fn list_notes(&self, store: AgentStore) -> Result<NoteList, ToolError> {
        let notes = store.collection::<String>(NOTES).list().await?;
        Ok(NoteList {
            notes: notes
                .into_iter()
                .map(|(id, text)| Note { id, text })
                .collect(),
        })
    }

    /// Deletes one of the calling agent's notes by id.
    #[tool(destructive, idempotent)]
    async fn delete_note(
        &self,
        store: AgentStore,
        updates: ResourceUpdates,
        /// The id `add_note` returned.
        id: u64,
    ) -> Result<Deleted, ToolError> {
        let deleted = store.collection::<String>(NOTES).remove(id).await?;
        if deleted {
            updates.changed(&note_uri(id)).await;
        }
        Ok(Deleted { deleted })
    }

    /// One of the calling agent's notes.
    #[resource(uri_template = "notes://{id}", name = "note", mime_type = "text/plain")]
    async fn note(
        &self,
        store: AgentStore,
        /// The id `add_note` returned.
        #[arg(complete = complete_note_id)]
        id: u64,
    ) -> Result<Option<String>, ToolError> {
        Ok(store.collection::<String>(NOTES).get(id).await?)
    }

    /// Asks the model to summarise the calling agent's notes.
    #[prompt(title = "Summarise my notes")]
    async fn summarise_notes(
        &self,
        store: AgentStore,
        /// What the summary should focus on, if anything.
        focus: Option<String>,
    ) -> Result<Message, ToolError> {
        let notes = store.collection::<String>(NOTES).list().await?;
        let mut text = String::from("Here are my notes:\n");
        for (id, note) in &notes {
            text.push_str(&format!("- ({id}) {note}\n"));
        }
        match focus {
            Some(focus) => text.push_str(&format!("Summarise them, focusing on {focus}.")),
            None => text.push_str("Summarise them."),
        }
        Ok(Message::user(text))
    }
}

/// The resource URI of note `id`.
pub fn note_uri(id: u64) -> String {
    format!("notes://{id}")
}

/// Completes a note id from the calling agent's notes.
async fn complete_note_id(typed: Completion, call: ToolCall) -> Result<Vec<String>, ToolError> {
    let store: AgentStore = call.extract()?;
    let notes = store.collection::<String>(NOTES).list().await?;
    Ok(notes
        .into_iter()
        .map(|(id, _)| id.to_string())
        .filter(|id| id.starts_with(typed.value()))
        .collect())
}

/// The plugin, for tests and embedding.
pub fn plugin() -> Result<Plugin, Error> {
    Notes.plugin()
}
