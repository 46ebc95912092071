use nanofleet_sdk::plugin;

struct Notes;

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Notes {
    /// Summarises.
    #[prompt]
    fn summarise(&self) -> String {
        String::new()
    }

    /// Summarises too.
    #[prompt(name = "summarise")]
    fn summarise_again(&self) -> String {
        String::new()
    }
}

fn main() {}
