//! The plugin binary: `serve` (default), `manifest`, `tools`, `--help`.

fn main() -> std::process::ExitCode {
    hello::Hello.run()
}
