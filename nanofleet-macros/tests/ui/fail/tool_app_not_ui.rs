use nanofleet_sdk::plugin;

struct Board;

#[plugin(name = "board", image = "nanofleet/board:0.0.0", mcp_port = 8080)]
impl Board {
    /// Shows the board.
    #[tool(app = "https://example.com/board")]
    fn show(&self) -> String {
        String::new()
    }
}

fn main() {}
