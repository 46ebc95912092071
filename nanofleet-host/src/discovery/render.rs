//! The human-readable report `nanofleet validate` prints.

use std::fmt::Write as _;

use super::{Candidate, Report};

/// The report as text: one block per candidate, then the totals.
///
/// ```text
/// plugins/notes/manifest.json: ok (notes 0.1.0)
///
/// plugins/broken/manifest.json: 2 errors
///   error at name: the plugin name `Bad Name` contains `B`: only lowercase letters, …
///     hint: try `bad-name`
///   error at mcpPort: port 80 is outside 1024–65535
///     hint: ports below 1024 need root inside the container; use one such as 8080
///
/// 2 manifests checked: 2 errors, 0 warnings
/// ```
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for (i, candidate) in report.candidates.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        block(&mut out, candidate);
    }
    if !report.candidates.is_empty() {
        out.push('\n');
    }
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} checked: {}, {}",
        plural(report.candidates.len(), "manifest", "manifests"),
        plural(report.error_count(), "error", "errors"),
        plural(report.warning_count(), "warning", "warnings"),
    );
    out
}

fn block(out: &mut String, candidate: &Candidate) {
    let errors = candidate.diagnostics.errors().count();
    let warnings = candidate.diagnostics.warnings().count();
    let _ = write!(out, "{}: ", candidate.source);
    let mut summary = Vec::new();
    if errors > 0 {
        summary.push(plural(errors, "error", "errors"));
    }
    if warnings > 0 {
        summary.push(plural(warnings, "warning", "warnings"));
    }
    match (&candidate.manifest, errors) {
        (Some(manifest), 0) => {
            summary.insert(0, format!("ok ({} {})", manifest.name, manifest.version));
        }
        _ if summary.is_empty() => summary.push("unusable".into()),
        _ => {}
    }
    let _ = writeln!(out, "{}", summary.join(", "));
    for diagnostic in candidate.diagnostics.iter() {
        let _ = write!(out, "  {}", diagnostic.level);
        if !diagnostic.path.is_empty() {
            let _ = write!(out, " at {}", diagnostic.path);
        }
        let _ = writeln!(out, ": {}", diagnostic.message);
        if let Some(hint) = &diagnostic.hint {
            let _ = writeln!(out, "    hint: {hint}");
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
