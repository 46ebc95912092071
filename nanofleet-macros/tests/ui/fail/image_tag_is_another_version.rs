use nanofleet_sdk::plugin;

struct Notes;

// The crate's version is `0.0.0`: the tag was left behind by a version bump.
#[plugin(name = "notes", image = "acme/notes:0.1.0", mcp_port = 8080)]
impl Notes {}

struct Pinned;

#[plugin(name = "pinned", version = "1.2.0", image = "ghcr.io/acme/pinned:v1.1.9", mcp_port = 8080)]
impl Pinned {}

fn main() {}
