use nanofleet_sdk::plugin;

struct Counter {
    count: u64,
}

#[plugin(name = "counter", image = "acme/counter:0.0.0", mcp_port = 8080)]
impl Counter {
    /// Counts.
    #[tool]
    fn increment(&mut self) -> u64 {
        self.count += 1;
        self.count
    }
}

fn main() {}
