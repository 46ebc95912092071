//! The plugin binary: `serve` (default), `manifest`, `tools`, `--help`.

fn main() -> std::process::ExitCode {
    nanofleet_sdk::cli::run(everything::plugin)
}
