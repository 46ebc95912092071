//! The plugin binary; with `PROBE_CHILD` set, the child process `spawn_child` starts.

fn main() -> std::process::ExitCode {
    if std::env::var_os(probe::CHILD_ENV).is_some() {
        println!("{}", probe::CHILD_GREETING);
        return std::process::ExitCode::SUCCESS;
    }
    probe::Probe.run()
}
