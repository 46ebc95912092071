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
