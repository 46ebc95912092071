//! Building a plugin crate, wherever it is, into a static binary that runs `FROM scratch`.
//!
//! The crate is found with `cargo metadata`, so a workspace member and a crate of its own are
//! the same to us. The build is glibc with `+crt-static` for the machine's own architecture,
//! passed for the explicit `--target` only: with no `--target` the flag would reach
//! proc-macros too, which cannot be static. The profiles are given on cargo's command line
//! (`--config profile.…`), so a plugin crate needs no profile of its own in its `Cargo.toml`.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::BuildError;

/// How to optimise the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// For images to ship: release, fat LTO, one codegen unit, `panic = "abort"`, stripped.
    /// Smallest and fastest, slowest to build.
    #[default]
    Image,
    /// For `nanofleet dev`: release without LTO, incremental, many codegen units, stripped.
    /// Rebuilds after an edit in seconds rather than a minute.
    Dev,
    /// Cargo's own `dev` profile (unoptimised, as the crate configures it): the quickest
    /// build, the largest binary; for tests.
    Debug,
}

impl Profile {
    /// The profile's name on cargo's command line (and its output directory).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "nanofleet-image",
            Self::Dev => "nanofleet-dev",
            Self::Debug => "dev",
        }
    }

    /// `--config` values defining the profile.
    fn config(self) -> Vec<String> {
        let name = self.name();
        let settings: &[(&str, &str)] = match self {
            Self::Image => &[
                ("inherits", "\"release\""),
                ("lto", "\"fat\""),
                ("codegen-units", "1"),
                ("panic", "\"abort\""),
                ("strip", "true"),
                ("opt-level", "3"),
                ("debug", "false"),
            ],
            Self::Debug => &[],
            Self::Dev => &[
                ("inherits", "\"release\""),
                ("lto", "false"),
                ("codegen-units", "16"),
                ("incremental", "true"),
                ("strip", "true"),
                ("opt-level", "1"),
                ("debug", "false"),
            ],
        };
        settings
            .iter()
            .map(|(key, value)| format!("profile.{name}.{key}={value}"))
            .collect()
    }
}

/// Where cargo's own output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CargoOutput {
    /// Cargo writes its progress and diagnostics to this process's stderr, as a terminal user
    /// expects.
    #[default]
    Inherit,
    /// Cargo's stderr is collected and its tail quoted in the error when the build fails
    /// (for tests and tools that keep their own output clean).
    Capture,
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoBuild {
    /// The crate's directory or its `Cargo.toml`; a workspace root works with
    /// [`package`](Self::package).
    pub path: PathBuf,
    /// The package, when `path` holds several (a workspace). Default: the package at `path`.
    pub package: Option<String>,
    /// The binary target. Default: the package's only binary, or the one named like it.
    pub bin: Option<String>,
    /// How to optimise.
    pub profile: Profile,
    /// Where cargo's output goes.
    pub output: CargoOutput,
}

impl CargoBuild {
    /// The crate at `path`, with the [`Profile::Image`] profile and cargo's output shown.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            package: None,
            bin: None,
            profile: Profile::Image,
            output: CargoOutput::Inherit,
        }
    }

    /// Sets the package to build (in a workspace).
    #[must_use]
    pub fn package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    /// Sets the binary target to build.
    #[must_use]
    pub fn bin(mut self, bin: impl Into<String>) -> Self {
        self.bin = Some(bin.into());
        self
    }

    /// Sets the profile.
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Sets where cargo's output goes.
    #[must_use]
    pub fn output(mut self, output: CargoOutput) -> Self {
        self.output = output;
        self
    }
}

/// A crate's package as found by `cargo metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCrate {
    /// The package name.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The binary target that is the plugin.
    pub bin: String,
    /// The package's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The source files cargo builds it from: the package directory (for `nanofleet dev`,
    /// which rebuilds when they change).
    pub package_dir: PathBuf,
    /// The target directory cargo builds into.
    pub target_directory: PathBuf,
}

/// A static binary cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBinary {
    /// The crate it was built from.
    pub krate: PluginCrate,
    /// The executable.
    pub path: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The `Cargo.toml` for `path`: the file itself, or the one in the directory.
fn manifest_of(path: &Path) -> Result<PathBuf, BuildError> {
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path.to_owned()
    };
    if !manifest.is_file() {
        return Err(BuildError::Cargo(format!(
            "{} is not a Rust crate: there is no {} (create a plugin with `nanofleet new NAME`)",
            path.display(),
            manifest.display()
        )));
    }
    manifest
        .canonicalize()
        .map_err(|e| BuildError::Cargo(format!("cannot read {}: {e}", manifest.display())))
}

/// Finds the plugin crate `build` names, with `cargo metadata`.
///
/// # Errors
///
/// [`BuildError::Cargo`] when there is no crate there, the package or binary is ambiguous
/// or missing, or cargo fails.
pub fn locate(build: &CargoBuild) -> Result<PluginCrate, BuildError> {
    let manifest = manifest_of(&build.path)?;
    let output = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Cargo(format!("cannot run cargo: {e}; is Rust installed?")))?;
    if !output.status.success() {
        return Err(BuildError::Cargo(format!(
            "`cargo metadata` failed for {}:\n{}",
            manifest.display(),
            tail(&String::from_utf8_lossy(&output.stderr), 20)
        )));
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout)
        .map_err(|e| BuildError::Cargo(format!("cannot read `cargo metadata` output: {e}")))?;
    let package = choose_package(&metadata.packages, &manifest, build.package.as_deref())?;
    let bin = choose_bin(package, build.bin.as_deref())?;
    Ok(PluginCrate {
        package: package.name.clone(),
        version: package.version.clone(),
        bin,
        package_dir: package
            .manifest_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
        manifest_path: package.manifest_path.clone(),
        target_directory: metadata.target_directory,
    })
}

fn choose_package<'a>(
    packages: &'a [MetaPackage],
    manifest: &Path,
    wanted: Option<&str>,
) -> Result<&'a MetaPackage, BuildError> {
    let names = || {
        packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = wanted {
        return packages.iter().find(|p| p.name == wanted).ok_or_else(|| {
            BuildError::Cargo(format!(
                "there is no package `{wanted}` at {}; packages there: {}",
                manifest.display(),
                names()
            ))
        });
    }
    if let Some(at_path) = packages.iter().find(|p| p.manifest_path == manifest) {
        return Ok(at_path);
    }
    match packages {
        [only] => Ok(only),
        _ => Err(BuildError::Cargo(format!(
            "{} is a workspace of several packages ({}): name the plugin's with --package, or \
             pass its directory",
            manifest.display(),
            names()
        ))),
    }
}

fn choose_bin(package: &MetaPackage, wanted: Option<&str>) -> Result<String, BuildError> {
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k == "bin"))
        .map(|t| t.name.as_str())
        .collect();
    let chosen = match wanted {
        Some(wanted) => bins.iter().find(|b| **b == wanted).copied(),
        None if bins.len() == 1 => bins.first().copied(),
        None => bins.iter().find(|b| **b == package.name).copied(),
    };
    chosen.map(str::to_owned).ok_or_else(|| {
        let listed = if bins.is_empty() {
            "it has none: a plugin is a binary crate whose `main` calls `YourPlugin.run()`"
                .to_owned()
        } else {
            format!("it has: {}", bins.join(", "))
        };
        BuildError::Cargo(match wanted {
            Some(wanted) => format!(
                "package `{}` has no binary `{wanted}`; {listed}",
                package.name
            ),
            None => format!(
                "cannot tell which binary of package `{}` is the plugin; {listed} (pass --bin)",
                package.name
            ),
        })
    })
}

/// The target triple static plugin binaries are built for: this machine's architecture.
pub fn static_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Builds the plugin crate statically and returns the binary. Blocks for as long as cargo
/// runs: from async code, call it in `tokio::task::spawn_blocking`. Cargo itself decides
/// what is stale, so an unchanged crate costs one quick `cargo build`.
///
/// # Errors
///
/// [`BuildError::Cargo`] when the crate cannot be found or does not build.
pub fn build_static(build: &CargoBuild) -> Result<BuiltBinary, BuildError> {
    let krate = locate(build)?;
    let target = static_target();
    let flags_var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.to_ascii_uppercase().replace('-', "_")
    );
    let mut command = Command::new(cargo());
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&krate.manifest_path)
        .args(["-p", &krate.package, "--bin", &krate.bin])
        .args(["--profile", build.profile.name(), "--target", &target])
        .arg("--message-format=json-render-diagnostics");
    for config in build.profile.config() {
        command.arg("--config").arg(config);
    }
    command
        .env(&flags_var, "-C target-feature=+crt-static")
        // Either would override the per-target flags and reach proc-macros.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(match build.output {
            CargoOutput::Inherit => Stdio::inherit(),
            CargoOutput::Capture => Stdio::piped(),
        });
    let described = format!(
        "`cargo build -p {} --bin {} --profile {} --target {target}` (with {flags_var}=\"-C \
         target-feature=+crt-static\")",
        krate.package,
        krate.bin,
        build.profile.name()
    );
    let mut child = command
        .spawn()
        .map_err(|e| BuildError::Cargo(format!("cannot run cargo: {e}; is Rust installed?")))?;
    // Read stderr on its own thread so that neither pipe fills up and stalls cargo.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let mut executable = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(path) = artifact_executable(&line, &krate.bin) {
                executable = Some(path);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| BuildError::Cargo(format!("waiting for cargo failed: {e}")))?;
    let stderr = stderr
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    if !status.success() {
        let why = if stderr.is_empty() {
            "see cargo's output above".to_owned()
        } else {
            tail(&stderr, 30)
        };
        return Err(BuildError::Cargo(format!(
            "{described} failed ({status}):\n{why}"
        )));
    }
    let path = executable.ok_or_else(|| {
        BuildError::Cargo(format!(
            "cargo built {} but reported no executable named `{}`",
            krate.package, krate.bin
        ))
    })?;
    Ok(BuiltBinary { krate, path })
}

/// The executable of a `compiler-artifact` message for the binary `bin`.
fn artifact_executable(line: &str, bin: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    let is_bin = message["reason"] == "compiler-artifact"
        && message["target"]["name"] == bin
        && message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
    is_bin
        .then(|| message["executable"].as_str().map(PathBuf::from))
        .flatten()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, bins: &[&str]) -> MetaPackage {
        MetaPackage {
            name: name.into(),
            version: "0.1.0".into(),
            manifest_path: PathBuf::from(format!("/w/{name}/Cargo.toml")),
            targets: bins
                .iter()
                .map(|b| MetaTarget {
                    name: (*b).into(),
                    kind: vec!["bin".into()],
                })
                .chain(std::iter::once(MetaTarget {
                    name: name.into(),
                    kind: vec!["lib".into()],
                }))
                .collect(),
        }
    }

    #[test]
    fn packages_are_chosen_by_name_path_or_being_alone() {
        let packages = vec![package("a", &["a"]), package("b", &["b"])];
        let root = Path::new("/w/Cargo.toml");
        let name = |found: Result<&MetaPackage, BuildError>| found.map(|p| p.name.clone()).ok();
        assert_eq!(
            name(choose_package(&packages, root, Some("b"))).as_deref(),
            Some("b")
        );
        assert_eq!(
            name(choose_package(
                &packages,
                Path::new("/w/a/Cargo.toml"),
                None
            ))
            .as_deref(),
            Some("a")
        );
        let err = choose_package(&packages, root, None)
            .err()
            .expect("ambiguous");
        assert!(err.to_string().contains("--package") && err.to_string().contains("a, b"));
        let err = choose_package(&packages, root, Some("c"))
            .err()
            .expect("missing");
        assert!(err.to_string().contains("no package `c`"), "{err}");
        let alone = vec![package("a", &["a"])];
        assert!(choose_package(&alone, root, None).is_ok());
    }

    #[test]
    fn binaries_are_chosen_or_listed() {
        assert_eq!(
            choose_bin(&package("p", &["p"]), None).ok().as_deref(),
            Some("p")
        );
        assert_eq!(
            choose_bin(&package("p", &["x"]), None).ok().as_deref(),
            Some("x")
        );
        assert_eq!(
            choose_bin(&package("p", &["x", "p"]), None).ok().as_deref(),
            Some("p")
        );
        let err = choose_bin(&package("p", &["x", "y"]), None).expect_err("ambiguous");
        assert!(err.to_string().contains("x, y") && err.to_string().contains("--bin"));
        let err = choose_bin(&package("p", &[]), None).expect_err("none");
        assert!(err.to_string().contains("has none"), "{err}");
        let err = choose_bin(&package("p", &["x"]), Some("z")).expect_err("missing");
        assert!(err.to_string().contains("no binary `z`"), "{err}");
    }

    #[test]
    fn profiles_are_complete_cargo_config() {
        let image = Profile::Image.config();
        assert!(image.contains(&"profile.nanofleet-image.inherits=\"release\"".to_owned()));
        assert!(image.contains(&"profile.nanofleet-image.panic=\"abort\"".to_owned()));
        assert!(
            Profile::Dev
                .config()
                .iter()
                .all(|c| c.starts_with("profile.nanofleet-dev."))
        );
    }

    #[test]
    fn missing_crates_are_explained() {
        let dir = std::env::temp_dir().join("nanofleet-build-no-crate-here");
        let err = locate(&CargoBuild::new(&dir)).expect_err("no crate");
        assert!(err.to_string().contains("nanofleet new"), "{err}");
    }

    #[test]
    fn artifacts_are_read_from_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"notes","kind":["bin"]},"executable":"/t/notes"}"#;
        assert_eq!(
            artifact_executable(line, "notes"),
            Some(PathBuf::from("/t/notes"))
        );
        assert_eq!(artifact_executable(line, "other"), None);
        assert_eq!(artifact_executable("not json", "notes"), None);
    }
}
