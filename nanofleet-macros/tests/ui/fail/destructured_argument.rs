use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Moves.
    #[tool]
    fn move_to(&self, (x, y): (i32, i32)) -> String {
        format!("{x},{y}")
    }
}

fn main() {}
