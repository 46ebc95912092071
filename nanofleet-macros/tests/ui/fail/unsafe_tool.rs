use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Reads raw memory.
    #[tool]
    unsafe fn peek(&self, address: u64) -> u8 {
        let _ = address;
        0
    }
}

fn main() {}
