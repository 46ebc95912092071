use nanofleet_sdk::resource;

/// All notes.
#[resource(uri = "notes://all")]
fn all() -> String {
    String::new()
}

fn main() {}
