//! Discovery: find plugin manifests and report everything wrong with them.
//!
//! [`discover`] takes [`Source`]s (files, directory trees, `http://` URLs, container images)
//! and returns a [`Report`] with one [`Candidate`] per manifest found (or per source that
//! could not be read), each carrying its [`Diagnostics`]. Nothing aborts the run: an
//! unreadable file, a bad URL or a broken manifest is a diagnostic on its own candidate, and
//! the others are still checked. Checks across candidates follow: two manifests with the
//! same plugin name, or the same sidebar route, are errors on the later one.
//!
//! # `nanofleet validate`
//!
//! The command prints [`render_text`] (or, with `--json`,
//! `serde_json::to_string_pretty(&report)`) and exits with:
//!
//! | code | constant | meaning |
//! |---|---|---|
//! | 0 | [`EXIT_OK`] | no errors (warnings allowed) |
//! | 1 | [`EXIT_ERRORS`] | errors found in at least one candidate ([`Report::exit_code`]) |
//! | 2 | [`EXIT_USAGE`] | usage or I/O problem with the command itself (bad arguments, cannot write output) |
//!
//! A source that cannot be read (a missing file, a URL that answers 404) is reported as an
//! error on its candidate, so it exits with 1, not 2: the command itself worked.

mod fetch;
mod render;
mod walk;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use nanofleet_sdk::manifest::{Diagnostics, Manifest};
use serde::Serialize;
use serde::ser::SerializeStruct as _;

use crate::labels;
use crate::runtime::Runtime;
pub use render::render_text;

/// The largest manifest read from a file, a URL or an image label.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// How deep below a directory source the search goes.
pub const MAX_DEPTH: usize = 8;

/// How many directory entries one directory source may visit before the search stops.
pub const MAX_FILES: usize = 10_000;

/// How long fetching one URL may take, body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Exit code of `nanofleet validate` when no candidate has errors.
pub const EXIT_OK: i32 = 0;
/// Exit code of `nanofleet validate` when a candidate has errors.
pub const EXIT_ERRORS: i32 = 1;
/// Exit code of `nanofleet validate` for a usage or I/O problem of the command itself.
pub const EXIT_USAGE: i32 = 2;

/// The prefix marking an image source.
const IMAGE_PREFIX: &str = "image:";

/// Where to look for manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A manifest file, or a directory searched for `manifest.json` and `*.nanofleet.json`.
    Path(PathBuf),
    /// A URL serving a manifest. `http://` is fetched, and `https://` with the `tls` feature;
    /// any other scheme is reported.
    Url(String),
    /// A container image whose `com.nanofleet.manifest` label holds the manifest.
    Image(String),
}

impl Source {
    /// Reads a command-line argument:
    ///
    /// * `image:<reference>`, e.g. `image:ghcr.io/acme/kanban:1.2.3`, is an image (one
    ///   prefix, no `docker-image://` variant: a reference already contains `:` and `/`);
    /// * anything starting with `<scheme>://` is a URL, so that `https://` and `ftp://` get
    ///   a clear diagnostic instead of "no such file";
    /// * an image reference with its tag or digest, as docker users type it
    ///   (`nanofleet/notes:0.1.0`, `ghcr.io/acme/kanban@sha256:…`), is an image when nothing
    ///   of that name exists on the file system (so this reads the file system);
    /// * anything else is a path (write `./image:x` for a file really named so).
    pub fn parse(text: &str) -> Self {
        if let Some(image) = text.strip_prefix(IMAGE_PREFIX) {
            return Self::Image(image.to_owned());
        }
        if has_scheme(text) {
            return Self::Url(text.to_owned());
        }
        if is_bare_image_ref(text) && std::fs::symlink_metadata(text).is_err() {
            return Self::Image(text.to_owned());
        }
        Self::Path(PathBuf::from(text))
    }
}

/// Whether `text` reads as an image reference pinned by tag or digest and not as a path: a
/// bare `notes` or `plugins/kanban` stays a path (a typo in a directory's name should say
/// "no such file", not "no such image"), and so does anything starting like a path or
/// naming a JSON file.
fn is_bare_image_ref(text: &str) -> bool {
    let path_like = text.starts_with(['.', '/', '~'])
        || text.ends_with(".json")
        || text.contains(std::path::MAIN_SEPARATOR) && std::path::MAIN_SEPARATOR != '/';
    !path_like && nanofleet_contracts::ImageRef::parse(text).is_ok_and(|r| r.is_pinned())
}

/// Whether `text` starts with `scheme://`, a scheme being `[A-Za-z][A-Za-z0-9+.-]*`.
fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// The source as [`Source::parse`] reads it back.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
            Self::Image(image) => write!(f, "{IMAGE_PREFIX}{image}"),
        }
    }
}

/// One manifest found, or one source that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Where it came from: a file path, a URL, or `image:<reference>`; every diagnostic of
    /// this candidate is about this source.
    pub source: String,
    /// The manifest, when it could be read with every field of the right type. It may
    /// still break rules: see `diagnostics`.
    pub manifest: Option<Manifest>,
    /// Every problem found, each with its field path, level and hint.
    pub diagnostics: Diagnostics,
}

/// Everything [`discover`] found.
///
/// Serialized (for `--json`) as `{"candidates": [...], "errors": n, "warnings": n}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The candidates, in the order of the sources, files of a directory sorted by path.
    pub candidates: Vec<Candidate>,
}

impl Report {
    /// Whether any candidate has an error.
    pub fn has_errors(&self) -> bool {
        self.candidates.iter().any(|c| c.diagnostics.has_errors())
    }

    /// How many errors there are, over all candidates.
    pub fn error_count(&self) -> usize {
        self.candidates
            .iter()
            .map(|c| c.diagnostics.errors().count())
            .sum()
    }

    /// How many warnings there are, over all candidates.
    pub fn warning_count(&self) -> usize {
        self.candidates
            .iter()
            .map(|c| c.diagnostics.warnings().count())
            .sum()
    }

    /// [`EXIT_ERRORS`] when there are errors, else [`EXIT_OK`].
    pub fn exit_code(&self) -> i32 {
        if self.has_errors() {
            EXIT_ERRORS
        } else {
            EXIT_OK
        }
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut report = serializer.serialize_struct("Report", 3)?;
        report.serialize_field("candidates", &self.candidates)?;
        report.serialize_field("errors", &self.error_count())?;
        report.serialize_field("warnings", &self.warning_count())?;
        report.end()
    }
}

/// Reads the manifest label of container images; the container runtime implements it.
///
/// A boxed future keeps the trait object-safe without an `async_trait` dependency.
pub trait ImageManifests: Send + Sync {
    /// The value of the image's [`labels::IMAGE_MANIFEST`] label: `Ok(None)` when the image
    /// has no such label, `Err` with a message a person can act on when the image cannot be
    /// inspected (not present locally, engine unreachable).
    fn manifest_label<'a>(
        &'a self,
        image: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;
}

/// Every container runtime reads image labels: the engine, and
/// [`Offline`](crate::runtime::Offline), the one stand-in for a missing engine, whose every
/// image source says why it cannot be read.
impl<R: Runtime + ?Sized> ImageManifests for R {
    fn manifest_label<'a>(
        &'a self,
        image: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>> {
        Box::pin(async move {
            self.image_label(image, labels::IMAGE_MANIFEST)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Finds the manifests in `sources`, checks each, then checks them against each other.
///
/// Never fails: every problem is a diagnostic on the candidate it concerns. Sources are
/// read concurrently; the report keeps their order. A file reached twice (listed twice, or
/// through a symbolic link) is reported once.
pub async fn discover<I: ImageManifests + ?Sized>(sources: &[Source], images: &I) -> Report {
    // One client (one connection pool) for every URL; none built when there is no URL.
    let client = if sources.iter().any(|s| matches!(s, Source::Url(_))) {
        fetch::client()
    } else {
        Err("no URL sources".to_owned())
    };
    let client = &client;
    let per_source = sources.iter().map(|source| async move {
        match source {
            Source::Path(path) => {
                let path = path.clone();
                let shown = path.display().to_string();
                // Directory walks and file reads block: keep them off the async workers.
                tokio::task::spawn_blocking(move || walk::from_path(&path))
                    .await
                    .unwrap_or_else(|err| {
                        vec![Found::problem(
                            shown,
                            format!("reading failed: {err}"),
                            "this is a bug in nanofleet-host; please report it",
                        )]
                    })
            }
            Source::Url(url) => vec![Found::from(fetch::fetch(client, url).await)],
            Source::Image(image) => vec![Found::from(from_image(images, image).await)],
        }
    });
    let found = futures::future::join_all(per_source).await;

    let mut seen_files = HashSet::new();
    let mut candidates: Vec<Candidate> = found
        .into_iter()
        .flatten()
        .filter(|found| match &found.file {
            Some(file) => seen_files.insert(file.clone()),
            None => true,
        })
        .map(|found| found.candidate)
        .collect();
    cross_check(&mut candidates);
    Report { candidates }
}

/// A candidate and, for a file, its canonical path (to report each file once).
struct Found {
    candidate: Candidate,
    file: Option<PathBuf>,
}

impl Found {
    fn problem(source: String, message: impl Into<String>, hint: &str) -> Self {
        Self::from(problem(source, message, hint))
    }
}

impl From<Candidate> for Found {
    fn from(candidate: Candidate) -> Self {
        Self {
            candidate,
            file: None,
        }
    }
}

/// A candidate for a source that yielded no manifest: one error on the whole document.
fn problem(source: String, message: impl Into<String>, hint: &str) -> Candidate {
    let mut diagnostics = Diagnostics::new();
    let hint = (!hint.is_empty()).then(|| hint.to_owned());
    diagnostics.error("", message, hint);
    Candidate {
        source,
        manifest: None,
        diagnostics,
    }
}

/// Parses a manifest read as bytes from `source`.
fn parse_text(source: String, bytes: Vec<u8>) -> Candidate {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let parsed = Manifest::parse_json(&text);
            Candidate {
                source,
                manifest: parsed.manifest,
                diagnostics: parsed.diagnostics,
            }
        }
        Err(err) => problem(
            source,
            format!(
                "not valid UTF-8 (invalid byte at offset {})",
                err.utf8_error().valid_up_to()
            ),
            "save the manifest as UTF-8",
        ),
    }
}

async fn from_image<I: ImageManifests + ?Sized>(images: &I, image: &str) -> Candidate {
    let source = format!("{IMAGE_PREFIX}{image}");
    if image.trim().is_empty() {
        return problem(
            source,
            "the image reference is empty",
            "write image:<reference>, e.g. image:ghcr.io/acme/kanban:1.2.3",
        );
    }
    match images.manifest_label(image).await {
        Ok(Some(text)) if text.len() as u64 > MAX_MANIFEST_BYTES => problem(
            source,
            format!(
                "the {} label is over the {MAX_MANIFEST_BYTES}-byte limit",
                labels::IMAGE_MANIFEST
            ),
            "is this really a NanoFleet plugin image?",
        ),
        Ok(Some(text)) => parse_text(source, text.into_bytes()),
        Ok(None) => problem(
            source,
            format!("image has no {} label", labels::IMAGE_MANIFEST),
            "build the image with `cargo xtask image`, or add the manifest as that label in \
             its Dockerfile (LABEL com.nanofleet.manifest='{...}')",
        ),
        Err(err) => problem(
            source,
            format!("cannot inspect the image: {err}"),
            "check that the image exists locally (pull it first) and the container engine \
             is reachable",
        ),
    }
}

/// Errors for what no single manifest shows: a plugin name or a sidebar route used twice.
/// The error goes on the later candidate and names the earlier one's source.
fn cross_check(candidates: &mut [Candidate]) {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut routes: HashMap<String, usize> = HashMap::new();
    for index in 0..candidates.len() {
        let Some(manifest) = candidates[index].manifest.clone() else {
            continue;
        };
        if let Some(&first) = names.get(&manifest.name) {
            let message = format!(
                "plugin name `{}` is also used by {}",
                manifest.name, candidates[first].source
            );
            candidates[index].diagnostics.error(
                "name",
                message,
                Some("every plugin needs its own name: rename one of them".into()),
            );
        } else {
            names.insert(manifest.name.clone(), index);
        }
        let Some(sidebar) = &manifest.sidebar else {
            continue;
        };
        match routes.get(&sidebar.route) {
            // Same name, same default route: already reported as a duplicate name.
            Some(&first)
                if candidates[first]
                    .manifest
                    .as_ref()
                    .is_some_and(|m| m.name == manifest.name) => {}
            Some(&first) => {
                let message = format!(
                    "sidebar route `{}` is also used by {}",
                    sidebar.route, candidates[first].source
                );
                candidates[index].diagnostics.error(
                    "sidebar.route",
                    message,
                    Some(format!(
                        "use the plugin's own route, {}",
                        Manifest::default_sidebar_route(&manifest.name)
                    )),
                );
            }
            None => {
                routes.insert(sidebar.route.clone(), index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            Source::parse("image:ghcr.io/acme/kanban:1.2.3"),
            Source::Image("ghcr.io/acme/kanban:1.2.3".into())
        );
        for url in [
            "http://h/m.json",
            "HTTPS://h/m.json",
            "ftp://h/m",
            "file:///m.json",
        ] {
            assert_eq!(Source::parse(url), Source::Url(url.into()));
        }
        for path in [
            "manifest.json",
            "./image:x",
            "/abs/dir",
            "1http://x",
            "dir/x://y",
        ] {
            assert_eq!(Source::parse(path), Source::Path(path.into()), "{path}");
        }
        // As docker users type them, when no such file exists.
        for image in [
            "nanofleet/notes:0.1.0",
            "notes:1",
            "ghcr.io/acme/kanban:1.2.3",
            "localhost:5000/acme/kanban@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(Source::parse(image), Source::Image(image.into()), "{image}");
        }
        // Unpinned names, and what looks like a path, stay paths.
        for path in [
            "notes",
            "plugins/kanban",
            "./notes:1",
            "/x/notes:1",
            "m:1.json",
        ] {
            assert_eq!(Source::parse(path), Source::Path(path.into()), "{path}");
        }
    }

    #[test]
    fn sources_display_as_they_parse() {
        for text in [
            "image:nanofleet/x:1",
            "http://h/m.json",
            "plugins/manifest.json",
        ] {
            assert_eq!(Source::parse(text).to_string(), text);
        }
    }

    #[tokio::test]
    async fn no_images_says_why() {
        let report = discover(
            &[Source::parse("image:x:1")],
            &crate::runtime::Offline::not_configured(),
        )
        .await;
        let message = report.candidates[0]
            .diagnostics
            .iter()
            .next()
            .map(|d| d.message.clone())
            .unwrap_or_default();
        assert!(
            message.contains("no container engine configured"),
            "{message}"
        );
    }
}
