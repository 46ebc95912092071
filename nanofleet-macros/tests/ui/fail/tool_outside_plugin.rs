use nanofleet_sdk::tool;

/// Adds.
#[tool]
async fn add(/// The text.
    text: String) -> String {
    text
}

struct Notes;

impl Notes {
    /// Lists.
    #[tool(read_only)]
    fn list(&self) {}
}

fn main() {}
