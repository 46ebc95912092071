//! Manifests on disk: one file, or every manifest under a directory.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use nanofleet_sdk::manifest::Diagnostics;

use super::{Candidate, Found, MAX_DEPTH, MAX_FILES, MAX_MANIFEST_BYTES, parse_text};

/// The file name of a manifest.
const MANIFEST_FILE: &str = "manifest.json";

/// The suffix of additional manifests, e.g. `kanban.nanofleet.json`.
const MANIFEST_SUFFIX: &str = ".nanofleet.json";

/// Directories never entered: build output and dependencies hold copies of manifests, not
/// the user's own.
const SKIPPED_DIRS: [&str; 2] = ["target", "node_modules"];

/// The candidates at `path`: the file itself, or every manifest under the directory.
pub(super) fn from_path(path: &Path) -> Vec<Found> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => walk(path),
        Ok(metadata) if metadata.is_file() => vec![read_file(path)],
        Ok(_) => vec![Found::problem(
            path.display().to_string(),
            "not a file or directory",
            "pass a manifest file or a directory to search",
        )],
        Err(err) if err.kind() == io::ErrorKind::NotFound => vec![Found::problem(
            path.display().to_string(),
            "no such file or directory",
            "check the path; URLs must start with http:// and images with image:",
        )],
        Err(err) => vec![Found::problem(
            path.display().to_string(),
            format!("cannot read: {err}"),
            "check the permissions",
        )],
    }
}

/// Whether `name` is a manifest's file name.
fn is_manifest_name(name: &str) -> bool {
    name == MANIFEST_FILE || (name.len() > MANIFEST_SUFFIX.len() && name.ends_with(MANIFEST_SUFFIX))
}

/// A directory walk in progress.
struct Walk {
    found: Vec<Found>,
    /// Directories entered, by device and inode: a symbolic link back up the tree is
    /// entered once, not forever.
    visited: HashSet<(u64, u64)>,
    entries_seen: usize,
    stopped_at_file_cap: bool,
    too_deep: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, io::Error)>,
}

fn walk(root: &Path) -> Vec<Found> {
    let mut walk = Walk {
        found: Vec::new(),
        visited: HashSet::new(),
        entries_seen: 0,
        stopped_at_file_cap: false,
        too_deep: Vec::new(),
        unreadable: Vec::new(),
    };
    walk.dir(root, 0);

    let mut summary = Diagnostics::new();
    if walk.stopped_at_file_cap {
        summary.warning(
            "",
            format!(
                "stopped after {MAX_FILES} directory entries; later manifests were not checked"
            ),
            Some("pass a narrower directory, or the manifest files themselves".into()),
        );
    }
    if let Some(first) = walk.too_deep.first() {
        summary.warning(
            "",
            format!(
                "{} director{} deeper than {MAX_DEPTH} levels not searched, e.g. {}",
                walk.too_deep.len(),
                if walk.too_deep.len() == 1 { "y" } else { "ies" },
                first.display()
            ),
            Some("pass the deeper directory itself".into()),
        );
    }
    for (dir, err) in &walk.unreadable {
        summary.warning(
            "",
            format!("cannot read directory {}: {err}", dir.display()),
            Some("check its permissions".into()),
        );
    }
    let nothing_found = walk.found.is_empty();
    if nothing_found {
        // A check that checked nothing must not pass silently, e.g. in CI after a rename.
        summary.error(
            "",
            format!("no {MANIFEST_FILE} or *{MANIFEST_SUFFIX} found"),
            Some(format!(
                "directories named {} or starting with `.` are skipped",
                SKIPPED_DIRS.join(", ")
            )),
        );
    }
    if !summary.is_empty() {
        walk.found.push(Found {
            candidate: Candidate {
                source: root.display().to_string(),
                manifest: None,
                diagnostics: summary,
            },
            file: None,
        });
    }
    walk.found
}

impl Walk {
    fn dir(&mut self, dir: &Path, depth: usize) {
        let Ok(metadata) = fs::metadata(dir) else {
            return;
        };
        if !self.visited.insert((metadata.dev(), metadata.ino())) {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.unreadable.push((dir.to_owned(), err));
                return;
            }
        };
        // Sorted, so that the report is the same on every run and every file system.
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());

        for entry in entries {
            self.entries_seen += 1;
            if self.entries_seen > MAX_FILES {
                self.stopped_at_file_cap = true;
                return;
            }
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Follows symbolic links; a dangling link has no metadata.
            let metadata = match fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(err) => {
                    if is_manifest_name(&name) {
                        self.found.push(Found::problem(
                            path.display().to_string(),
                            format!("cannot read: {err}"),
                            "a symbolic link pointing nowhere? fix or remove it",
                        ));
                    }
                    continue;
                }
            };
            if metadata.is_dir() {
                if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref()) {
                    continue;
                }
                if depth + 1 > MAX_DEPTH {
                    self.too_deep.push(path);
                    continue;
                }
                self.dir(&path, depth + 1);
                if self.stopped_at_file_cap {
                    return;
                }
            } else if is_manifest_name(&name) {
                self.found.push(read_file(&path));
            }
        }
    }
}

/// Reads and parses one manifest file; every failure is a diagnostic on its candidate.
pub(super) fn read_file(path: &Path) -> Found {
    let source = path.display().to_string();
    let file_key = fs::canonicalize(path).ok();
    let problem = |message: String, hint: &str| Found {
        file: file_key.clone(),
        ..Found::problem(source.clone(), message, hint)
    };
    // Checked before opening: opening a FIFO for reading would block until a writer came.
    match fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => {
            return problem("not a regular file".into(), "pass a manifest file");
        }
        Ok(metadata) if metadata.len() > MAX_MANIFEST_BYTES => {
            return problem(
                format!(
                    "the file is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                    metadata.len()
                ),
                "a manifest is a few hundred bytes; is this the right file?",
            );
        }
        _ => {}
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) => return problem(format!("cannot read: {err}"), "check its permissions"),
    };
    let mut bytes = Vec::new();
    // The size was checked, but the file may be growing: never read more than the limit.
    if let Err(err) = file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes) {
        return problem(format!("cannot read: {err}"), "check its permissions");
    }
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return problem(
            format!("the file is over the {MAX_MANIFEST_BYTES}-byte limit"),
            "a manifest is a few hundred bytes; is this the right file?",
        );
    }
    Found {
        candidate: parse_text(source, bytes),
        file: file_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names() {
        for name in ["manifest.json", "kanban.nanofleet.json", "a.nanofleet.json"] {
            assert!(is_manifest_name(name), "{name}");
        }
        for name in [
            ".nanofleet.json",
            "manifest.json.bak",
            "package.json",
            "Manifest.json",
        ] {
            assert!(!is_manifest_name(name), "{name}");
        }
    }
}
