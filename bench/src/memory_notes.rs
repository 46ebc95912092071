//! Notes kept in memory, per agent: the storage of the in-memory contenders (`notes-memory`
//! on our SDK, `plain-rmcp-notes :memory:` on plain rmcp), so that they do the same work as
//! the Python and TypeScript peers, which keep notes in a dict / Map. Shared by the two bins
//! through `#[path]`: one definition, the same work on both frameworks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One agent's notes: the next id and the notes by id.
#[derive(Default)]
struct AgentNotes {
    next: u64,
    notes: BTreeMap<u64, String>,
}

/// Every agent's notes, behind one lock (held for a map lookup and an insert or a copy).
#[derive(Default)]
pub struct MemoryNotes {
    agents: Mutex<HashMap<String, AgentNotes>>,
}

impl MemoryNotes {
    /// Saves `text` for `agent`; returns the new note's id and how many notes the agent has.
    pub fn add(&self, agent: &str, text: String) -> (u64, u64) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let notes = agents.entry(agent.to_owned()).or_default();
        notes.next += 1;
        let id = notes.next;
        notes.notes.insert(id, text);
        (id, notes.notes.len() as u64)
    }

    /// `agent`'s notes, oldest first.
    pub fn list(&self, agent: &str) -> Vec<(u64, String)> {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents.get(agent).map_or_else(Vec::new, |notes| {
            notes
                .notes
                .iter()
                .map(|(id, text)| (*id, text.clone()))
                .collect()
        })
    }
}
