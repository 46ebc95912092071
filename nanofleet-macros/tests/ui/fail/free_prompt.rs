use nanofleet_sdk::prompt;

/// Summarises.
#[prompt]
fn summarise() -> String {
    String::new()
}

fn main() {}
