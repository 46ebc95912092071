use nanofleet_sdk::plugin;

struct Notes<T>(T);

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl<T> Notes<T> {}

#[plugin(name = "notes", image = "nanofleet/notes:0.0.0", mcp_port = 8080)]
impl Default for Notes<u8> {
    fn default() -> Self {
        Notes(0)
    }
}

fn main() {}
