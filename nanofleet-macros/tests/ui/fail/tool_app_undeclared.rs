use nanofleet_sdk::plugin;

struct Board;

#[plugin(name = "board", image = "nanofleet/board:0.0.0", mcp_port = 8080)]
impl Board {
    /// Shows the board.
    #[tool(app = "ui://board/view")]
    fn show(&self) -> String {
        String::new()
    }

    /// The page, at another URI.
    #[resource(uri = "ui://board/page")]
    fn page(&self) -> &'static str {
        "<!doctype html>"
    }
}

fn main() {}
