//! Crash points: where the fault-injection suite kills the host to prove that every operation
//! can stop at any step and be finished or undone by the next reconcile.
//!
//! Built only with the `fault-injection` feature, which only the test suites turn on; in any
//! other build `crash_point` is empty. With the feature, a process whose
//! [`CRASH_AT_ENV`] names a point sends itself `SIGKILL` when it gets there: no destructor,
//! no flush, no rollback runs, exactly as when an operator or the OOM killer kills it.

/// The environment variable naming the point ([`CRASH_POINTS`]) at which the process kills
/// itself.
pub const CRASH_AT_ENV: &str = "NANOFLEET_CRASH_AT";

/// Every crash point, by operation and then in the order an operation passes them.
pub const CRASH_POINTS: &[&str] = &[
    "install:recorded",
    "install:started",
    "install:ready",
    "install:running",
    "upgrade:staged",
    "upgrade:old-removed",
    "upgrade:renamed",
    "upgrade:recorded",
    "uninstall:marked",
    "uninstall:container-removed",
    "uninstall:agent-rewritten",
    "uninstall:volume-removed",
    "link:stored",
    "unlink:stored",
];

/// Kills the process here when [`CRASH_AT_ENV`] names `point` (with the `fault-injection`
/// feature; otherwise nothing).
#[inline]
pub(crate) fn crash_point(point: &'static str) {
    debug_assert!(
        CRASH_POINTS.contains(&point),
        "unlisted crash point {point}"
    );
    #[cfg(feature = "fault-injection")]
    if std::env::var(CRASH_AT_ENV).is_ok_and(|at| at == point) {
        eprintln!("fault injection: killing the process at {point}");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // SIGKILL to oneself is delivered before kill returns; this is never reached.
        std::process::abort();
    }
}
