//! The report: `results.json` (everything measured, every sample) and `results.md` (the
//! tables, the targets with what was measured against them, and every skip with its reason).

use std::fmt::Write as _;

use crate::{
    coldstart,
    contenders::{Skipped, Work},
    hostops, images, profile,
    svg::ratio,
    throughput::{self, Settings},
};

/// The machine the figures come from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// `/proc/cpuinfo` model name.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's description.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_owned()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |k| k.trim().to_owned()),
        }
    }
}

/// A reference target and what was measured against it. Reported, never asserted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The target, in words.
    pub target: String,
    /// What was measured, in words.
    pub measured: String,
    /// Whether it was met (`None`: not measured in this run).
    pub met: Option<bool>,
}

/// Everything one run produced.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// `quick` or `full`.
    pub mode: String,
    /// The machine.
    pub machine: Option<Machine>,
    /// The throughput run lengths.
    pub throughput_settings: Option<Settings>,
    /// Throughput, latency, memory.
    pub throughput: Option<throughput::Outcome>,
    /// Contenders that were not run, and why.
    pub skipped_contenders: Vec<Skipped>,
    /// Image sizes.
    pub images: Vec<images::ImageRow>,
    /// Cold starts.
    pub cold_start: Vec<coldstart::Row>,
    /// Host operations.
    pub host_ops: Option<hostops::Outcome>,
    /// The store section's settings.
    pub store_settings: Option<crate::store::Settings>,
    /// The store: durable against memory, and against its own size.
    pub store: Option<crate::store::Outcome>,
    /// The soak's settings.
    pub soak_settings: Option<crate::soak::Settings>,
    /// The soak, per target.
    pub soak: Vec<crate::soak::Row>,
    /// A long run of tool calls, for memory.
    pub marathon: Option<crate::soak::Marathon>,
    /// The callgrind profiles.
    pub profile: Vec<profile::Target>,
    /// Sections not run or failed, and why.
    pub skipped_sections: Vec<Skipped>,
    /// The reference targets.
    pub checks: Vec<Check>,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn row<'a>(r: &'a Report, key: &str, concurrency: usize) -> Option<&'a throughput::Row> {
    r.throughput
        .as_ref()?
        .rows
        .iter()
        .find(|row| row.key == key && row.concurrency == concurrency)
}

impl Report {
    /// Fills [`Report::checks`] from the measurements.
    pub fn evaluate(&mut self) {
        let mut checks = Vec::new();
        // Every ratio against a peer or plain rmcp compares contenders doing the same work:
        // ours in memory with the in-memory ones, ours on SQLite with the durable ones.
        for (key, name, concurrency, min) in [
            ("plain-rmcp-memory", "plain rmcp, both in memory", 1, 0.95),
            ("plain-rmcp-memory", "plain rmcp, both in memory", 32, 0.95),
            ("plain-rmcp", "plain rmcp, both on SQLite", 1, 0.95),
            ("plain-rmcp", "plain rmcp, both on SQLite", 32, 0.95),
            ("python-sdk", "Python SDK, both in memory", 32, 30.0),
            ("typescript-sdk", "TypeScript SDK, both in memory", 32, 25.0),
            (
                "bare-axum",
                "bare axum (HTTP ceiling; ours in memory)",
                32,
                0.75,
            ),
        ] {
            let r = row(self, key, concurrency);
            checks.push(Check {
                what: format!("c={concurrency} calls/s, ours ÷ {name}"),
                target: format!("≥ {min}×"),
                measured: r.map_or_else(
                    || "not measured".into(),
                    |r| {
                        format!(
                            "{}× ({:.0} vs {:.0} calls/s)",
                            ratio(r.ours_over_this_calls),
                            r.calls_per_sec_median * r.ours_over_this_calls,
                            r.calls_per_sec_median
                        )
                    },
                ),
                met: r.map(|r| r.ours_over_this_calls >= min),
            });
        }
        let (ours, rmcp) = (
            row(self, "nanofleet-memory", 1),
            row(self, "plain-rmcp-memory", 1),
        );
        let p50 = ours.zip(rmcp).map(|(o, p)| o.p50_us / p.p50_us);
        checks.push(Check {
            what: "c=1 p50 latency, ours ÷ plain rmcp, both in memory".into(),
            target: "≤ 1.2×".into(),
            measured: ours.zip(rmcp).map_or_else(
                || "not measured".into(),
                |(o, p)| {
                    format!(
                        "{:.2}× ({:.0} vs {:.0} µs)",
                        o.p50_us / p.p50_us,
                        o.p50_us,
                        p.p50_us
                    )
                },
            ),
            met: p50.map(|x| x <= 1.2),
        });
        // Instructions per call repeat run to run: the stable form of the 0.95× target.
        for (ours, other, name) in [
            ("nanofleet-memory", "plain-rmcp-memory", "in memory"),
            ("nanofleet-macros", "plain-rmcp", "on SQLite"),
        ] {
            let find = |key: &str| self.profile.iter().find(|t| t.key == key);
            let (Some(o), Some(p)) = (find(ours), find(other)) else {
                continue;
            };
            checks.push(Check {
                what: format!("instructions per call, ours ÷ plain rmcp, both {name}"),
                target: "≤ 1.053× (0.95× the speed)".into(),
                measured: format!(
                    "{:.3}× ({:.0} vs {:.0})",
                    o.ir_per_call / p.ir_per_call,
                    o.ir_per_call,
                    p.ir_per_call
                ),
                met: Some(o.ir_per_call / p.ir_per_call <= 1.0 / 0.95),
            });
        }
        if let Some(store) = &self.store {
            let find = |key: &str| store.rows.iter().find(|r| r.key == key);
            if let (Some(memory), Some(durable)) = (find("memory"), find("durable")) {
                let r = durable.calls_per_sec_median / memory.calls_per_sec_median;
                checks.push(Check {
                    what: "durable add_note c=32 ÷ in memory (both from 0 notes)".into(),
                    target: "≥ 0.5×".into(),
                    measured: format!(
                        "{r:.2}× ({:.0} vs {:.0} calls/s)",
                        durable.calls_per_sec_median, memory.calls_per_sec_median
                    ),
                    met: Some(r >= 0.5),
                });
            }
            if let (Some(empty), Some(filled)) = (find("durable"), find("durable-filled")) {
                let r = filled.calls_per_sec_median / empty.calls_per_sec_median;
                checks.push(Check {
                    what: format!(
                        "durable add_note c=32, agent holding {} notes ÷ holding none",
                        filled.notes_before
                    ),
                    target: "≥ 0.9× (flat within noise)".into(),
                    measured: format!(
                        "{r:.2}× ({:.0} vs {:.0} calls/s)",
                        filled.calls_per_sec_median, empty.calls_per_sec_median
                    ),
                    met: Some(r >= 0.9),
                });
            }
        }
        for c in &self.cold_start {
            checks.push(Check {
                what: format!(
                    "cold start {}, create call → first tools/list (median)",
                    c.package
                ),
                target: "< 300 ms".into(),
                measured: format!(
                    "{:.0} ms over {} starts",
                    c.total_ms_median,
                    c.samples.len()
                ),
                met: Some(c.total_ms_median < 300.0),
            });
            checks.push(Check {
                what: format!(
                    "cold start {}, container StartedAt → first tools/list (median)",
                    c.package
                ),
                target: "< 300 ms".into(),
                measured: c
                    .process_ms_median
                    .map_or_else(|| "n/a".into(), |ms| format!("{ms:.0} ms")),
                met: c.process_ms_median.map(|ms| ms < 300.0),
            });
        }
        for i in &self.images {
            let size = images::mib(i.size_bytes);
            checks.push(Check {
                what: format!("image size {}", i.tag),
                target: "< 8 MiB".into(),
                measured: format!("{size:.2} MiB"),
                met: Some(size < 8.0),
            });
        }
        if let Some(m) = &self.marathon {
            checks.push(Check {
                what: format!(
                    "RSS after {} tool calls ÷ after the first {} (notes plugin)",
                    m.calls, m.warmup_calls
                ),
                target: "flat: within 10% (1 MiB at least)".into(),
                measured: format!(
                    "{} → {} MiB (peak {})",
                    mib(Some(m.rss_warm_kib)),
                    mib(Some(m.rss_end_kib)),
                    mib(Some(m.rss_peak_kib))
                ),
                met: Some(m.flat()),
            });
        }
        if let Some(h) = &self.host_ops {
            checks.push(Check {
                what: format!(
                    "install → ready above its own engine create + start step ({}, median \
                     per install)",
                    h.install_image
                ),
                target: format!("≤ {:.0} ms", hostops::INSTALL_OVERHEAD_TARGET_MS),
                measured: format!(
                    "{:.1} ms (a separate create + start: {:.1} ms above it)",
                    h.host_ms_median,
                    h.install_overhead_ms()
                ),
                met: Some(h.host_ms_median <= hostops::INSTALL_OVERHEAD_TARGET_MS),
            });
            if let Some(r) = h.fleet_noop() {
                checks.push(Check {
                    what: format!("reconcile with nothing to do, {} (median)", r.setting),
                    target: format!(
                        "< {:.0} ms (100 plugins, 10,000 agents)",
                        hostops::NOOP_RECONCILE_TARGET_MS
                    ),
                    measured: format!(
                        "{:.1} ms (max {:.1} ms over {} passes){}",
                        r.median_ms,
                        r.max_ms,
                        r.passes_ms.len(),
                        if r.as_expected { "" } else { ", NOT a no-op" }
                    ),
                    met: Some(r.as_expected && r.median_ms < hostops::NOOP_RECONCILE_TARGET_MS),
                });
            }
        }
        let idle = self
            .throughput
            .as_ref()
            .and_then(|t| t.memory.iter().find(|m| m.key == "nanofleet-macros"))
            .and_then(|m| m.idle_kib);
        checks.push(Check {
            what: "idle RSS, nanofleet macros (notes)".into(),
            target: "< 10 MiB".into(),
            measured: idle.map_or_else(
                || "not measured".into(),
                |k| format!("{} MiB", mib(Some(k))),
            ),
            met: idle.map(|k| (k as f64) < 10.0 * 1024.0),
        });
        self.checks = checks;
    }

    /// `results.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# nanofleet-rs benchmark ({} run)\n", self.mode);
        if let Some(m) = &self.machine {
            let _ = writeln!(
                out,
                "Machine: {} logical CPU(s), {}, Linux {}. The load generator runs on the same \
                 CPUs as the server under test (one at a time), so absolute figures are lower \
                 than on a dedicated client; the ratios compare contenders under the same \
                 conditions.\n",
                m.cpus, m.cpu, m.kernel
            );
        }
        self.render_checks(&mut out);
        self.render_throughput(&mut out);
        self.render_store(&mut out);
        self.render_images(&mut out);
        self.render_cold_start(&mut out);
        self.render_host_ops(&mut out);
        self.render_soak(&mut out);
        self.render_profile(&mut out);
        if !self.skipped_sections.is_empty() {
            let _ = writeln!(out, "## Sections not run\n");
            for s in &self.skipped_sections {
                let _ = writeln!(out, "- **{}**: {}", s.name, s.reason);
            }
            let _ = writeln!(out);
        }
        out
    }

    fn render_checks(&self, out: &mut String) {
        if self.checks.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Targets (reported, never asserted)\n\n| what | target | measured | met |\n|---|---|---|---|"
        );
        for c in &self.checks {
            let met = match c.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {met} |",
                c.what, c.target, c.measured
            );
        }
        let _ = writeln!(out);
    }

    fn render_throughput(&self, out: &mut String) {
        let (Some(t), Some(s)) = (&self.throughput, &self.throughput_settings) else {
            return;
        };
        let _ = writeln!(
            out,
            "## Tool-call throughput and latency\n\n`tools/call` with `add_note` and \
             `list_notes` alternating (each pair a fresh agent, so every `list_notes` returns one \
             note whatever the contender's speed), keep-alive HTTP/1.1, loopback. {} round(s) \
             per concurrency; each round runs every contender for {:?} after {:?} of warm-up, \
             in an order rotated every round. Figures are medians over rounds (p50/p99: the \
             median of each round's percentile). Ratios: **ours ÷ this** for calls/s and \
             **this ÷ ours** for p50 and for CPU, so above 1 means ours is better either way. \
             CPU: the server process's user + system time (all its threads, the kernel's work \
             on its sockets and files included) over the measured window, per call; unlike \
             calls/s it does not depend on how the load generator, on the same two cores, is \
             scheduled.\n",
            s.rounds, s.duration, s.warmup
        );
        for work in [Work::InMemory, Work::Durable, Work::Ceiling] {
            let rows: Vec<&throughput::Row> = t.rows.iter().filter(|r| r.work == work).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "### {}\n\n| contender | conc. | calls/s (median) | min–max over rounds | p50 µs | p99 µs | CPU µs/call | ours ÷ this (calls/s) | this ÷ ours (p50) | this ÷ ours (CPU) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                work.title()
            );
            for r in rows {
                let lo = r
                    .calls_per_sec_runs
                    .iter()
                    .copied()
                    .fold(f64::MAX, f64::min);
                let hi = r.calls_per_sec_runs.iter().copied().fold(0.0, f64::max);
                let name = if r.ours {
                    format!("**{}** (ours)", r.contender)
                } else {
                    r.contender.clone()
                };
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0} | {} | {} | {} | {} |",
                    r.concurrency,
                    r.calls_per_sec_median,
                    lo,
                    hi,
                    r.p50_us,
                    r.p99_us,
                    r.cpu_us_per_call
                        .map_or_else(|| "–".to_owned(), |c| format!("{c:.1}")),
                    ratio(r.ours_over_this_calls),
                    ratio(r.this_over_ours_p50),
                    r.this_over_ours_cpu.map_or_else(|| "–".to_owned(), ratio)
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "Chart: `throughput.svg`. Each table compares contenders doing the same work, and \
             its ratios are against ours in that table: in memory, a map of notes per agent \
             (ours and plain rmcp share `bench/src/memory_notes.rs`; the Python and TypeScript \
             peers use a dict / Map, as written in `shared/peers`); on SQLite, the SDK's store \
             (WAL, one row per note, durable, group commit). Bare axum does no MCP and no \
             storage at all: the HTTP ceiling of this machine, against which ours in memory is \
             set. The TypeScript peer builds a new `McpServer` per request, as its stateless \
             example does.\n"
        );
        let skipped: Vec<&Skipped> = self
            .skipped_contenders
            .iter()
            .chain(t.failed.iter())
            .collect();
        if !skipped.is_empty() {
            let _ = writeln!(out, "Not measured:\n");
            for s in skipped {
                let _ = writeln!(out, "- **{}**: {}", s.name, s.reason.replace('\n', " "));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "### Resident memory (VmRSS, MiB)\n\nIdle: started, settled 0.5 s, before any \
             call. Under load: the largest of samples every 10 ms during its concurrency-32 \
             runs. After: once all runs are done.\n\n| contender | idle | max under c=32 | after the runs |\n|---|---:|---:|---:|"
        );
        for m in &t.memory {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                m.contender,
                mib(m.idle_kib),
                mib(m.c32_max_kib),
                mib(m.after_kib)
            );
        }
        let _ = writeln!(out);
    }

    fn render_images(&self, out: &mut String) {
        if self.images.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Image sizes\n\n`FROM scratch`, one static binary (profile `image`: fat LTO, \
             `panic = abort`, stripped), as the engine reports them.\n\n| plugin | image | MiB | MB | built now |\n|---|---|---:|---:|---|"
        );
        for i in &self.images {
            let _ = writeln!(
                out,
                "| {} | `{}` | {:.2} | {:.2} | {} |",
                i.package,
                i.tag,
                images::mib(i.size_bytes),
                i.size_bytes as f64 / 1e6,
                if i.rebuilt { "yes" } else { "no (up to date)" }
            );
        }
        let _ = writeln!(out);
    }

    fn render_cold_start(&self, out: &mut String) {
        if self.cold_start.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Cold start\n\nA fresh hardened container per start (new name, new volume), \
             `tools/list` sent every {:?} until it answers. Medians over {} start(s) per \
             image, images interleaved. **create → ready**: from the engine's create call to \
             the first answer; **engine**: the create + start call alone; **StartedAt → \
             ready**: from the container's start as the engine records it to the first answer \
             (the plugin's own start-up).\n\n| plugin | create → ready ms | engine ms | StartedAt → ready ms | NanoFleet (probe every 1 s) sees it at | our host's probe sees it at |\n|---|---:|---:|---:|---:|---:|",
            coldstart::POLL_EVERY,
            self.cold_start.first().map_or(0, |c| c.samples.len())
        );
        for c in &self.cold_start {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {} | {:.0} ms | {:.0} ms after start |",
                c.package,
                c.total_ms_median,
                c.engine_ms_median,
                c.process_ms_median
                    .map_or_else(|| "n/a".into(), |ms| format!("{ms:.0}")),
                c.nanofleet_probe_sees_it_ms,
                c.our_probe_sees_it_ms
            );
        }
        let _ = writeln!(out);
        for c in &self.cold_start {
            let _ = writeln!(
                out,
                "- {}: ready {:.2} s after the create call; NanoFleet's first probe at {:.0} s \
                 would see it, {:.2} s after it was ready.",
                c.package,
                c.total_ms_median / 1000.0,
                c.nanofleet_probe_sees_it_ms / 1000.0,
                (c.nanofleet_probe_sees_it_ms - c.total_ms_median) / 1000.0
            );
        }
        let _ = writeln!(out);
    }

    fn render_soak(&self, out: &mut String) {
        let Some(settings) = &self.soak_settings else {
            return;
        };
        let _ = writeln!(
            out,
            "## Soak

For {:.0} s, {} keep-alive clients call back to back while {} slow \
             clients hold connections (a third trickle headers a byte a second, a third stall \
             a body, a third send nothing), and `/healthz` is probed every 250 ms on a fresh \
             connection. Every load call's answer is checked; a wrong one fails the section. \
             The servers close slow connections after 30 s.\n\n\
             | target | calls/s | p99 ms | `/healthz` ok / failed | slow closed / opened | RSS start MiB | RSS peak MiB | RSS end MiB |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|",
            settings.duration.as_secs_f64(),
            settings.concurrency,
            settings.slow_clients
        );
        for r in &self.soak {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.1} | {} / {} | {} / {} | {} | {} | {} |",
                r.target,
                r.calls_per_second,
                r.p99_ms,
                r.healthz_ok,
                r.healthz_failed,
                r.slow_closed,
                r.slow_opened,
                mib(Some(r.rss_start_kib)),
                mib(Some(r.rss_peak_kib)),
                mib(Some(r.rss_end_kib)),
            );
        }
        let _ = writeln!(out);
        if let Some(m) = &self.marathon {
            let _ = writeln!(
                out,
                "### Memory over {} tool calls\n\n`examples/notes`, fresh, {} calls \
                 (`add_note`/`list_notes`, fresh agents, 32 connections): resident memory read \
                 after the first {} and sampled every 10 ms through the rest, at {:.0} calls/s. \
                 Warm {} MiB, peak {} MiB, end {} MiB: {}.\n",
                m.calls,
                m.calls,
                m.warmup_calls,
                m.calls_per_second,
                mib(Some(m.rss_warm_kib)),
                mib(Some(m.rss_peak_kib)),
                mib(Some(m.rss_end_kib)),
                if m.flat() {
                    "flat after the warm-up"
                } else {
                    "**it grew after the warm-up**"
                }
            );
        }
    }

    fn render_host_ops(&self, out: &mut String) {
        let Some(h) = &self.host_ops else { return };
        let list = |v: &[f64]| {
            v.iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "## Host operations\n\nThrough `nanofleet_host::Host` on the engine.\n\n\
             ### Install → ready\n\n`{}`, {} installs under fresh names, each followed by the \
             engine's own create + start of the same container spec (another fresh name, \
             `Runtime::create_and_start`), and an uninstall.\n\n\
             | | median ms | each |\n|---|---:|---|\n\
             | engine create + start | {:.1} | {} |\n\
             | install → ready | {:.1} | {} |\n\
             | install → ready less its own engine step (the host's part) | **{:.1}** | {} (target ≤ {:.0}) |\n\
             | install → ready above the separate create + start (medians) | {:.1} | |\n\
             | uninstall (stop, remove, volume) | {:.1} | {} |\n",
            h.install_image,
            h.install_ms.len(),
            h.engine_ms_median,
            list(&h.engine_ms),
            h.install_ms_median,
            list(&h.install_ms),
            h.host_ms_median,
            list(&h.host_ms),
            hostops::INSTALL_OVERHEAD_TARGET_MS,
            h.install_overhead_ms(),
            h.uninstall_ms_median,
            list(&h.uninstall_ms),
        );
        let _ = writeln!(
            out,
            "The install's steps (the host's `{}` spans; medians): \
             checks (store, policy, image present), record (store row), network (the plugin \
             network is there), create_start (the engine), ready (start → `tools/list` \
             answered), persist (tools and status stored).\n\n| step | median ms |\n|---|---:|",
            nanofleet_host::INSTALL_STEP_SPAN
        );
        for step in &h.install_steps {
            let _ = writeln!(out, "| {} | {:.2} |", step.step, step.median_ms);
        }
        let _ = writeln!(
            out,
            "\n### A fleet\n\n{} plugins (`hello`) installed in {:.1} s; {} agents registered \
             (no links yet) in {:.0} ms ({:.2} ms each), {} `.mcp.json` written; then each \
             agent linked to one plugin: the first 1 + 100 + 1000 to one plugin in batches \
             (files counted among all {} workspaces, by inode/mtime, and by \
             `AgentConfigChanged` events), the other {} spread over the rest in {:.1} s.\n\n\
             | agents linked | total ms | ms per link | `.mcp.json` written | events |\n\
             |---:|---:|---:|---:|---:|",
            h.settings.plugins,
            h.fleet_install_ms / 1000.0,
            h.registered,
            h.register_ms,
            h.register_ms / h.registered.max(1) as f64,
            h.register_files_written,
            h.registered,
            h.registered
                .saturating_sub(hostops::LINK_BATCHES.iter().sum()),
            h.bulk_link_ms / 1000.0,
        );
        for l in &h.links {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.2} | {} | {} |",
                l.agents, l.total_ms, l.per_link_ms, l.files_written, l.events
            );
        }
        let _ = writeln!(
            out,
            "\n### Reconcile\n\nA pass lists the engine's containers once, checks each \
             plugin against its listed container, and rewrites an agent's file only when what \
             it is made from, or the file itself (inode, size, mtime), changed since the host \
             wrote it; each pass also reads the files of one agent in {}, so every file is read within \
             that many passes.\n\n\
             | setting | expected | median ms | max ms | passes | as expected |\n\
             |---|---|---:|---:|---:|---|",
            nanofleet_host::host::AGENT_FILES_FULL_CHECK_EVERY
        );
        for r in &h.reconcile {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {} | {} |",
                r.setting,
                r.expected,
                r.median_ms,
                r.max_ms,
                r.passes_ms.len(),
                if r.as_expected {
                    "yes".to_owned()
                } else {
                    format!("**no**: {}", r.actions.join(", "))
                }
            );
        }
        let _ = writeln!(out);
    }

    fn render_store(&self, out: &mut String) {
        let (Some(store), Some(s)) = (&self.store, &self.store_settings) else {
            return;
        };
        let _ = writeln!(
            out,
            "## The store: durable against memory, and against its own size\n\n`add_note` \
             only, {} keep-alive connections, every call as one agent, whose notes grow with \
             each call; {} round(s) of {:?} after {:?} of warm-up, rotated. The filled agent's \
             {} notes were written through the SDK's store before the plugin started ({:.1} s). \
             A durable call answers only after the commit holding its note (group commit: the \
             calls queued together share one transaction).\n\n| server | notes at start | \
             add_note/s (median) | min–max | p50 µs | p99 µs |\n|---|---:|---:|---:|---:|---:|",
            crate::store::CONCURRENCY,
            s.rounds,
            s.duration,
            s.warmup,
            s.prefill,
            store.prefill_secs
        );
        for r in &store.rows {
            let lo = r
                .calls_per_sec_runs
                .iter()
                .copied()
                .fold(f64::MAX, f64::min);
            let hi = r.calls_per_sec_runs.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {lo:.0}–{hi:.0} | {:.0} | {:.0} |",
                r.contender, r.notes_before, r.calls_per_sec_median, r.p50_us, r.p99_us
            );
        }
        let _ = writeln!(out);
    }

    fn render_profile(&self, out: &mut String) {
        if self.profile.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Profile (callgrind)\n\nDetails and reproduction: `profile.md`. Self cost by \
             category, instructions per call:\n"
        );
        let _ = write!(out, "| category |");
        for t in &self.profile {
            let _ = write!(out, " {} |", t.contender);
        }
        let _ = write!(out, "\n|---|");
        for _ in &self.profile {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out);
        let mut names: Vec<&str> = Vec::new();
        for t in &self.profile {
            for c in &t.categories {
                if !names.contains(&c.name.as_str()) {
                    names.push(&c.name);
                }
            }
        }
        for name in names {
            let _ = write!(out, "| {name} |");
            for t in &self.profile {
                let cell = t.categories.iter().find(|c| c.name == name).map_or_else(
                    || "–".to_owned(),
                    |c| {
                        format!(
                            "{:.0} ({:.1}%)",
                            c.ir as f64 / t.calls.max(1) as f64,
                            c.percent
                        )
                    },
                );
                let _ = write!(out, " {cell} |");
            }
            let _ = writeln!(out);
        }
        let _ = write!(out, "| **total per call** |");
        for t in &self.profile {
            let _ = write!(out, " **{:.0}** |", t.ir_per_call);
        }
        let _ = writeln!(out, "\n");
    }
}
