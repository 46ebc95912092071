//! The plugin binary: `serve` (default), `manifest`, `tools`, `--help`.

fn main() -> std::process::ExitCode {
    kanban::Kanban::default().run()
}
