//! The `notes` plugin written on the SDK's programmatic API (no macros): the bench runs it
//! beside the macro-built `examples/notes` to show the macros cost nothing, and beside plain
//! rmcp to show what the SDK costs.
//!
//! Each agent sees only its own notes: the [`AgentStore`] a tool gets is bound to the agent
//! the request was made for.

use nanofleet_sdk::{
    AgentStore, Error, Manifest, Plugin,
    tool::{Json, NoArgs, Tool, ToolCall, ToolError},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const NOTES: &str = "notes";

/// Arguments of `add_note`.
#[derive(Debug, Deserialize, JsonSchema)]
struct AddNote {
    /// The note's text.
    text: String,
}

/// Result of `add_note`.
#[derive(Debug, Serialize, JsonSchema)]
struct Added {
    /// The new note's id, for `delete_note`.
    id: u64,
    /// How many notes the agent has now.
    count: u64,
}

/// One note.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
struct Note {
    /// The note's id.
    id: u64,
    /// The note's text.
    text: String,
}

/// Result of `list_notes`.
#[derive(Debug, Serialize, JsonSchema)]
struct NoteList {
    /// The calling agent's notes, oldest first.
    notes: Vec<Note>,
}

/// Arguments of `delete_note`.
#[derive(Debug, Deserialize, JsonSchema)]
struct DeleteNote {
    /// The id `add_note` returned.
    id: u64,
}

/// Result of `delete_note`.
#[derive(Debug, Serialize, JsonSchema)]
struct Deleted {
    /// Whether a note with that id existed (and is now gone).
    deleted: bool,
}

/// The largest note accepted, in bytes.
const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The plugin's manifest.
fn manifest() -> Manifest {
    Manifest::new(
        "notes",
        env!("CARGO_PKG_VERSION"),
        "nanofleet/notes:0.1.0",
        8080,
    )
    .with_description("Per-agent notes: each agent keeps its own, and they survive restarts.")
    .with_author("nanofleet-rs")
}

/// The plugin: `add_note`, `list_notes`, `delete_note`.
fn plugin() -> Result<Plugin, Error> {
    Plugin::builder(manifest())
        .uses_store()
        .tool(
            Tool::new("add_note", "Saves a note for the calling agent.")
                .output::<Added>()
                .handler(|args: AddNote, call: ToolCall| async move {
                    if args.text.len() > MAX_NOTE_BYTES {
                        return Err(ToolError::new(format!(
                            "the note is {} bytes; notes are at most {MAX_NOTE_BYTES}",
                            args.text.len()
                        )));
                    }
                    let notes = call.extract::<AgentStore>()?.collection::<String>(NOTES);
                    let (id, count) = notes.insert_counted(&args.text).await?;
                    Ok(Json(Added { id, count }))
                }),
        )
        .tool(
            Tool::new(
                "list_notes",
                "Lists the calling agent's notes, oldest first.",
            )
            .read_only(true)
            .output::<NoteList>()
            .handler(|_: NoArgs, call: ToolCall| async move {
                let notes = call.extract::<AgentStore>()?.collection::<String>(NOTES);
                let notes = notes
                    .list()
                    .await?
                    .into_iter()
                    .map(|(id, text)| Note { id, text });
                Ok::<_, ToolError>(Json(NoteList {
                    notes: notes.collect(),
                }))
            }),
        )
        .tool(
            Tool::new(
                "delete_note",
                "Deletes one of the calling agent's notes by id.",
            )
            .destructive(true)
            .idempotent(true)
            .output::<Deleted>()
            .handler(|args: DeleteNote, call: ToolCall| async move {
                let notes = call.extract::<AgentStore>()?.collection::<String>(NOTES);
                Ok::<_, ToolError>(Json(Deleted {
                    deleted: notes.remove(args.id).await?,
                }))
            }),
        )
        .build()
}

fn main() -> std::process::ExitCode {
    nanofleet_sdk::cli::run(plugin)
}
