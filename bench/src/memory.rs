//! Resident memory of the process contenders: `VmRSS` from `/proc/<pid>/status`, read once
//! (idle) or sampled every [`SAMPLE_EVERY`] on a plain thread while load runs (the maximum is
//! kept), so a busy async runtime cannot delay the samples.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};

/// How often [`Sampler`] reads `VmRSS`.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The resident set size of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS line in /proc/{pid}/status"))
}

/// Samples `VmRSS` of one process until stopped; keeps the maximum.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            loop {
                if let Ok(kib) = rss_kib(pid) {
                    max = max.max(kib);
                }
                if flag.load(Ordering::Relaxed) {
                    return max;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns the largest `VmRSS` seen, in KiB (0 if none could be read).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |thread| thread.join().unwrap_or(0))
    }
}

impl Drop for Sampler {
    /// A sampler dropped unfinished (the run failed or was interrupted) stops its thread.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The CPU time `pid` has used, user and system, all its threads: `utime + stime` from
/// `/proc/<pid>/stat`, which counts in `USER_HZ` ticks (100 per second on Linux).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file; `rest` starts at field 3.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i - 3)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no field {i} in /proc/{pid}/stat"))
    };
    Ok(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}
