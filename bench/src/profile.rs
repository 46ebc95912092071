//! Where a tool call's instructions go: the release `notes` binary (and, for comparison, the
//! same plugin on the programmatic API and plain rmcp on the same store) under callgrind,
//! serving a fixed number of `tools/call` requests from the load generator at concurrency 1.
//!
//! Instrumentation is off while the server starts and warms up, on for exactly the measured
//! calls, then off again before it shuts down, so start-up and shutdown are not in the
//! profile. Reproduce by hand (the bench does exactly this):
//!
//! ```text
//! cargo build --release -p notes -p nanofleet-bench
//! NANOFLEET_MCP_ADDR=127.0.0.1:8077 NANOFLEET_DATA_DIR=$(mktemp -d) RUST_LOG=warn \
//!   valgrind --tool=callgrind --instr-atstart=no \
//!   --callgrind-out-file=target/bench/callgrind.out.nanofleet-macros target/release/notes &
//! # after some warm-up calls:
//! callgrind_control -i on <pid>
//! # 2000 calls (add_note/list_notes alternating, c=1), then:
//! callgrind_control -i off <pid>; kill -TERM <pid>
//! callgrind_annotate --inclusive=yes target/bench/callgrind.out.nanofleet-macros | head -60
//! callgrind_annotate --threshold=100 target/bench/callgrind.out.nanofleet-macros   # self cost
//! ```
//!
//! or run only this section: `target/release/nanofleet-bench --only profile`.
//!
//! Callgrind counts user-space instructions (`Ir`): time spent in the kernel (socket reads
//! and writes, SQLite's `write`/`fsync`) and waiting is not in these figures.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use crate::{
    contenders::Contender,
    load::{self, Length},
};

/// Calls before instrumentation starts.
const WARMUP_CALLS: u64 = 200;

/// How the profile is taken.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Settings {
    /// Measured calls per target.
    pub calls: u64,
}

/// Instructions attributed to one group (self cost, summed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Share {
    /// The group (a cost category, a crate, or a function).
    pub name: String,
    /// Instructions.
    pub ir: u64,
    /// Of the program total, percent.
    pub percent: f64,
}

/// One profiled server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Target {
    /// The contender.
    pub contender: String,
    /// Its key.
    pub key: String,
    /// What it does with the notes: ratios are taken within the same work.
    pub work: crate::contenders::Work,
    /// Whether it is the reference of its work.
    pub ours: bool,
    /// Measured calls.
    pub calls: u64,
    /// Total instructions while instrumented.
    pub total_ir: u64,
    /// Instructions per call.
    pub ir_per_call: f64,
    /// Self cost by category (SQLite, JSON, rmcp, HTTP, ours, …), largest first.
    pub categories: Vec<Share>,
    /// Self cost by crate (or C library), largest first.
    pub crates: Vec<Share>,
    /// The largest inclusive costs (callgrind_annotate --inclusive=yes), largest first.
    pub top_inclusive: Vec<Share>,
    /// The largest self costs, largest first.
    pub top_self: Vec<Share>,
    /// The callgrind output file.
    pub file: PathBuf,
}

/// Profiles each contender named by `keys`.
pub async fn run(
    contenders: &[Contender],
    keys: &[&str],
    settings: Settings,
    bin_dir: &Path,
    out_dir: &Path,
) -> Result<Vec<Target>> {
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("{tool} is not installed (apt-get install valgrind)");
        }
    }
    let mut targets = Vec::new();
    for key in keys {
        let c = contenders
            .iter()
            .find(|c| c.key == *key)
            .with_context(|| format!("no contender {key}"))?;
        targets.push(one(c, settings, bin_dir, out_dir).await?);
    }
    Ok(targets)
}

fn callgrind_control(args: &[&str]) -> Result<()> {
    let out = Command::new("callgrind_control")
        .args(args)
        .output()
        .context("cannot run callgrind_control")?;
    if !out.status.success() {
        bail!(
            "callgrind_control {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

async fn one(c: &Contender, settings: Settings, bin_dir: &Path, out_dir: &Path) -> Result<Target> {
    let file = out_dir.join(format!("callgrind.out.{}", c.key));
    let _ = std::fs::remove_file(&file);
    let wrapper: Vec<String> = vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "--instr-atstart=no".into(),
        format!("--callgrind-out-file={}", file.display()),
    ];
    let (c2, bin, out) = (c.clone(), bin_dir.to_owned(), out_dir.to_owned());
    let mut server = tokio::task::spawn_blocking(move || {
        c2.start_wrapped(&wrapper, &bin, &out, Duration::from_secs(120))
    })
    .await??;
    eprintln!(
        "  {}: under callgrind (pid {}), {WARMUP_CALLS} warm-up calls, then {} measured",
        c.name, server.pid, settings.calls
    );
    load::run(server.addr, 1, Length::Calls(WARMUP_CALLS))
        .await
        .context("warm-up under callgrind")?;
    let pid = server.pid.to_string();
    callgrind_control(&["-i", "on", &pid])?;
    let stats = load::run(server.addr, 1, Length::Calls(settings.calls))
        .await
        .context("measured calls under callgrind")?;
    callgrind_control(&["-i", "off", &pid])?;
    let exited = tokio::task::spawn_blocking(move || {
        let exited = server.terminate(Duration::from_secs(60));
        drop(server);
        exited
    })
    .await??;
    if !exited || !file.exists() {
        bail!(
            "{} did not shut down cleanly under callgrind: no profile at {}",
            c.name,
            file.display()
        );
    }
    let inclusive = annotate(&file, &["--inclusive=yes", "--threshold=100"])?;
    let exclusive = annotate(&file, &["--threshold=100"])?;
    let total_ir = exclusive.total;
    let pct = |ir: u64| 100.0 * ir as f64 / total_ir.max(1) as f64;
    let share = |(name, ir): (String, u64)| Share {
        name,
        ir,
        percent: pct(ir),
    };
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_crate: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_function: BTreeMap<String, u64> = BTreeMap::new();
    for f in &exclusive.functions {
        let krate = crate_of(&f.function, &f.object);
        *by_category.entry(category(&krate).into()).or_default() += f.ir;
        *by_crate.entry(krate).or_default() += f.ir;
        *by_function.entry(f.function.clone()).or_default() += f.ir;
    }
    let sorted = |map: BTreeMap<String, u64>, n: usize| -> Vec<Share> {
        let mut v: Vec<(String, u64)> = map.into_iter().collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.1));
        v.into_iter().take(n).map(share).collect()
    };
    let mut seen = std::collections::HashSet::new();
    let top_inclusive = inclusive
        .functions
        .iter()
        .filter(|f| seen.insert(f.function.clone()))
        .take(40)
        .map(|f| share((f.function.clone(), f.ir)))
        .collect();
    Ok(Target {
        contender: c.name.into(),
        key: c.key.into(),
        work: c.work,
        ours: c.ours,
        calls: stats.calls,
        total_ir,
        ir_per_call: total_ir as f64 / stats.calls.max(1) as f64,
        categories: sorted(by_category, usize::MAX),
        crates: sorted(by_crate, 20),
        top_self: sorted(by_function, 25),
        top_inclusive,
        file,
    })
}

/// One line of `callgrind_annotate`.
struct Line {
    ir: u64,
    function: String,
    object: String,
}

/// A parsed `callgrind_annotate` report.
struct Annotated {
    total: u64,
    functions: Vec<Line>,
}

fn annotate(file: &Path, args: &[&str]) -> Result<Annotated> {
    let out = Command::new("callgrind_annotate")
        .args(args)
        .arg(file)
        .output()
        .context("cannot run callgrind_annotate")?;
    if !out.status.success() {
        bail!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_annotate(&String::from_utf8_lossy(&out.stdout))
}

/// Parses lines like `1,234 (12.5%)  file:function [object]`.
fn parse_annotate(text: &str) -> Result<Annotated> {
    let mut total = None;
    let mut functions = Vec::new();
    let mut last_object = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(')') else {
            continue;
        };
        let rest = rest.trim();
        if rest == "PROGRAM TOTALS" {
            total = Some(ir);
            continue;
        }
        let (location, object) = match rest.rsplit_once(" [") {
            Some((loc, obj)) if obj.ends_with(']') => (loc, obj.trim_end_matches(']').to_owned()),
            _ => (rest, last_object.clone()),
        };
        last_object.clone_from(&object);
        let function = location
            .split_once(':')
            .map_or(location, |(_, f)| f)
            .to_owned();
        functions.push(Line {
            ir,
            function,
            object,
        });
    }
    Ok(Annotated {
        total: total.context("callgrind_annotate printed no PROGRAM TOTALS")?,
        functions,
    })
}

/// The crate a (demangled) Rust symbol belongs to, or the C library of a C symbol. Drop glue
/// and other `core` generics are charged to the crate of their type parameter.
fn crate_of(function: &str, object: &str) -> String {
    let f = function.trim_start_matches(['<', '&', '*']);
    let f = f.strip_prefix("mut ").unwrap_or(f);
    let f = f.strip_prefix("dyn ").unwrap_or(f);
    if f.starts_with("sqlite3") {
        return "sqlite (C)".into();
    }
    if f.starts_with("__rust") || f.starts_with("__rdl") || f.starts_with("rust_") {
        return "alloc".into();
    }
    if !f.contains("::") {
        let lib = Path::new(object)
            .file_name()
            .map_or_else(|| object.to_owned(), |n| n.to_string_lossy().into_owned());
        return if object.contains("libc.so") && is_malloc(f) {
            "glibc malloc".into()
        } else if object.contains("libc.so") {
            "glibc".into()
        } else if object.ends_with("/notes") || object.ends_with("/plain-rmcp-notes") {
            // Unqualified symbols in our binary are SQLite's (compiled in) and compiler builtins.
            "sqlite (C)".into()
        } else {
            lib
        };
    }
    let head = f.split("::").next().unwrap_or(f).to_owned();
    if matches!(head.as_str(), "core" | "alloc" | "std")
        && let Some(start) = f.find('<')
    {
        let inner = f[start + 1..].trim_start_matches(['<', '&', '*', '(']);
        let inner = inner.strip_prefix("mut ").unwrap_or(inner);
        let inner = inner.strip_prefix("dyn ").unwrap_or(inner);
        if let Some((krate, _)) = inner.split_once("::")
            && !matches!(krate, "core" | "alloc" | "std")
            && krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return krate.to_owned();
        }
    }
    head
}

fn is_malloc(f: &str) -> bool {
    matches!(
        f,
        "malloc"
            | "free"
            | "realloc"
            | "calloc"
            | "cfree"
            | "_int_malloc"
            | "_int_free"
            | "_int_realloc"
            | "malloc_consolidate"
            | "unlink_chunk"
            | "tcache_get"
            | "tcache_put"
            | "_int_free_merge_chunk"
            | "_int_free_create_chunk"
            | "_int_free_maybe_consolidate"
            | "alloc_perturb"
            | "__libc_malloc"
            | "__libc_free"
            | "__libc_realloc"
            | "__libc_calloc"
            | "__malloc_arena_thread_freeres"
    ) || f.starts_with("malloc")
        || f.starts_with("__GI___libc_malloc")
        || f.starts_with("__GI___libc_free")
}

/// The cost category of a crate.
fn category(krate: &str) -> &'static str {
    match krate {
        "sqlite (C)" | "rusqlite" | "libsqlite3_sys" | "hashlink" => {
            "SQLite (C library + rusqlite)"
        }
        "serde_json" | "serde" | "serde_core" | "ryu" | "itoa" | "schemars" => {
            "JSON (serde, serde_json)"
        }
        "rmcp" => "rmcp (MCP protocol, Streamable HTTP service)",
        "hyper" | "hyper_util" | "axum" | "axum_core" | "tower" | "tower_http" | "tower_layer"
        | "tower_service" | "http" | "http_body" | "http_body_util" | "httparse" | "httpdate"
        | "matchit" | "form_urlencoded" | "percent_encoding" | "bytes" | "sse_stream" => {
            "HTTP (hyper, axum, tower, http)"
        }
        "tokio" | "mio" | "futures_util" | "futures_core" | "futures_channel" | "futures_task"
        | "futures_executor" | "tokio_util" | "tokio_stream" | "parking_lot"
        | "parking_lot_core" | "crossbeam_utils" => "async runtime (tokio, futures)",
        "tracing" | "tracing_core" | "tracing_subscriber" | "sharded_slab" => "tracing",
        "nanofleet_sdk" | "notes" | "nanofleet_macros" | "plain_rmcp_notes" => {
            "our code (nanofleet_sdk, the plugin)"
        }
        "hmac" | "sha2" | "subtle" | "digest" | "base64" => "signatures (hmac, sha2)",
        "glibc malloc" => "allocator (glibc malloc)",
        "glibc" => "glibc (memcpy, syscalls wrappers, …)",
        "core" | "alloc" | "std" | "hashbrown" => "Rust core/alloc/std",
        _ => "other",
    }
}

/// `profile.md`: per target, the categories, crates and top functions.
pub fn render(targets: &[Target]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Profile: where a tool call's instructions go\n\n\
         Each server below served the same calls under callgrind (`add_note`/`list_notes` \
         alternating, each pair a fresh agent, keep-alive, concurrency 1); instrumentation was \
         on only for the measured calls (not start-up, warm-up or shutdown). Figures are \
         user-space instructions (`Ir`): kernel time (socket I/O, SQLite's `write`/`fsync`) \
         and waiting are not in them. Self cost is grouped by the crate each function belongs \
         to (drop glue and `core` generics are charged to their type's crate).\n"
    );
    // Instruction counts repeat run to run, so these ratios are the noise-free comparison
    // the throughput tables cannot give: the macros against the programmatic API they expand
    // to, and the SDK against plain rmcp.
    for ours in targets.iter().filter(|t| t.ours) {
        for other in targets.iter().filter(|t| !t.ours && t.work == ours.work) {
            let _ = writeln!(
                out,
                "**{}**: {:.0} instructions per call; **{}**: {:.0} ({:.3}×).\n",
                ours.contender,
                ours.ir_per_call,
                other.contender,
                other.ir_per_call,
                ours.ir_per_call / other.ir_per_call
            );
        }
    }
    if let Some(ours) = targets.first()
        && let Some(top) = ours.categories.first()
    {
        let _ = writeln!(
            out,
            "**Largest cost on our tool-call path: {}** — {:.1}% of {}'s instructions \
             ({:.0} per call).\n",
            top.name,
            top.percent,
            ours.contender,
            top.ir as f64 / ours.calls.max(1) as f64
        );
    }
    for t in targets {
        let _ = writeln!(
            out,
            "## {}\n\n{} calls, {} instructions ({:.0} per call). Data: `{}`.\n",
            t.contender,
            t.calls,
            t.total_ir,
            t.ir_per_call,
            t.file.display()
        );
        let _ = writeln!(
            out,
            "### Self cost by category\n\n| category | Ir per call | share |\n|---|---:|---:|"
        );
        for s in &t.categories {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.1}% |",
                s.name,
                s.ir as f64 / t.calls.max(1) as f64,
                s.percent
            );
        }
        let _ = writeln!(
            out,
            "\n### Self cost by crate (top 20)\n\n| crate | share |\n|---|---:|"
        );
        for s in &t.crates {
            let _ = writeln!(out, "| `{}` | {:.1}% |", s.name, s.percent);
        }
        let _ = writeln!(
            out,
            "\n### Top inclusive costs (`callgrind_annotate --inclusive=yes`)\n\n\
             Inclusive cost counts a function with everything it calls; async `poll` frames \
             nest, so the top rows are the runtime and the HTTP connection task that contain \
             everything else.\n\n| function | share |\n|---|---:|"
        );
        for s in &t.top_inclusive {
            let _ = writeln!(out, "| `{}` | {:.1}% |", escape(&s.name), s.percent);
        }
        let _ = writeln!(
            out,
            "\n### Top self costs\n\n| function | share |\n|---|---:|"
        );
        for s in &t.top_self {
            let _ = writeln!(out, "| `{}` | {:.1}% |", escape(&s.name), s.percent);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "## Reproduce\n\n`target/release/nanofleet-bench --only profile` (after `cargo build \
         --release -p notes -p nanofleet-bench`), or by hand: see the `profile` module docs \
         in `bench/src/profile.rs` and `bench/README.md`."
    );
    out
}

/// Keeps a symbol readable in a Markdown table.
fn escape(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('`', "'");
    if s.chars().count() > 140 {
        let cut: String = s.chars().take(137).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotate_lines_parse() {
        let text = "\
--------------------------------------------------------------------------------
853,218 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                file:function
--------------------------------------------------------------------------------
128,579 (15.07%)  ./elf/../sysdeps/x86_64/dl-machine.h:_dl_relocate_object [/lib/ld.so]
 22,614 ( 2.65%)  ???:serde_json::ser::format_escaped_str [/x/target/release/notes]
 17,496 ( 2.05%)  ???:<alloc::vec::Vec<u8> as core::clone::Clone>::clone
";
        let a = parse_annotate(text).expect("parses");
        assert_eq!(a.total, 853_218);
        assert_eq!(a.functions.len(), 3);
        assert_eq!(
            a.functions[1].function,
            "serde_json::ser::format_escaped_str"
        );
        assert_eq!(a.functions[2].object, "/x/target/release/notes");
        assert_eq!(crate_of(&a.functions[1].function, ""), "serde_json");
        assert_eq!(crate_of(&a.functions[2].function, ""), "alloc");
        assert_eq!(
            crate_of("core::ptr::drop_in_place<rmcp::model::Request>", ""),
            "rmcp"
        );
        assert_eq!(crate_of("sqlite3VdbeExec", "/x/notes"), "sqlite (C)");
        assert_eq!(crate_of("_int_malloc", "/lib/libc.so.6"), "glibc malloc");
    }
}
