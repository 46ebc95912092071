//! `nanofleet new`: a plugin crate from a template that builds, and whose tests pass, as
//! generated.

use std::path::{Path, PathBuf};

use nanofleet_contracts::{ImageRef, manifest::rules};

use crate::{
    cli::NewArgs,
    error::CliError,
    output::{clean, note},
};

/// The SDK release the generated crate depends on: this command's own.
const VERSION: &str = env!("CARGO_PKG_VERSION");

const CARGO_TOML: &str = include_str!("../../templates/plugin/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/plugin/lib.rs.tmpl");
const MAIN_RS: &str = include_str!("../../templates/plugin/main.rs.tmpl");
const TOOLS_RS: &str = include_str!("../../templates/plugin/tools.rs.tmpl");
const E2E_RS: &str = include_str!("../../templates/plugin/e2e.rs.tmpl");
const README_MD: &str = include_str!("../../templates/plugin/README.md.tmpl");
const CI_YML: &str = include_str!("../../templates/plugin/ci.yml.tmpl");
const GITIGNORE: &str = include_str!("../../templates/plugin/gitignore.tmpl");
const UI_INDEX: &str = include_str!("../../templates/plugin/ui_index.html.tmpl");

const UI_DEPENDENCIES: &str = "axum = { version = \"0.8\", default-features = false }\n";
const UI_IMPORTS: &str = "use axum::{Router, response::Html, routing::get};
use nanofleet_sdk::ui::Ui;

/// The web UI's page, compiled into the binary.
const INDEX: &str = include_str!(\"../ui/index.html\");
";
const UI_ATTRIBUTES: &str = "    ui_port = 8081,
    sidebar(icon = \"sparkles\", label = \"{{title}}\"),
    ui = Self::ui,
";
const UI_METHOD: &str = "
    /// The web UI on `uiPort`, which the dashboard shows in its sidebar.
    fn ui(&self) -> Ui {
        Ui::router(Router::new().route(\"/\", get(|| async { Html(INDEX) })))
    }
";

/// One file of the generated crate.
struct File {
    path: &'static str,
    text: String,
}

/// What the template's placeholders become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The plugin and package name, `my-plugin`.
    pub name: String,
    /// The library crate's name, `my_plugin`.
    pub krate: String,
    /// The plugin type, `MyPlugin`.
    pub type_name: String,
    /// The sidebar label, `My Plugin`.
    pub title: String,
    /// The image repository, without tag.
    pub image: String,
}

impl Names {
    /// The names for plugin `name`, with the image repository `image` (default: `name`).
    ///
    /// # Errors
    ///
    /// A usage error when `name` is not a valid plugin name or `image` not a repository.
    pub fn new(name: &str, image: Option<&str>) -> Result<Self, CliError> {
        if let Err(v) = rules::check_plugin_name(name) {
            return Err(CliError::usage(format!("`{}`: {v}", clean(name))));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(CliError::usage(format!(
                "`{}` must start with a letter: it is also the crate's name",
                clean(name)
            )));
        }
        let image = image.unwrap_or(name).to_owned();
        match ImageRef::parse(&image) {
            Ok(reference) if reference.tag.is_none() && reference.digest.is_none() => {}
            Ok(_) => {
                return Err(CliError::usage(format!(
                    "--image `{}` must be a repository without tag or digest: the tag is the \
                     plugin's version",
                    clean(&image)
                )));
            }
            Err(v) => return Err(CliError::usage(format!("--image: {v}"))),
        }
        let words: Vec<String> = name
            .split('-')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Ok(Self {
            name: name.to_owned(),
            krate: name.replace('-', "_"),
            type_name: words.concat(),
            title: words.join(" "),
            image,
        })
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{crate}}", &self.krate)
            .replace("{{type}}", &self.type_name)
            .replace("{{title}}", &self.title)
            .replace("{{image}}", &self.image)
            .replace("{{version}}", VERSION)
    }
}

fn files(names: &Names, ui: bool) -> Vec<File> {
    let (dependencies, imports, attributes, method) = if ui {
        (UI_DEPENDENCIES, UI_IMPORTS, UI_ATTRIBUTES, UI_METHOD)
    } else {
        ("", "", "", "")
    };
    let lib = LIB_RS
        .replace("{{ui_imports}}", imports)
        .replace("{{ui_attributes}}", attributes)
        .replace("{{ui_method}}", method);
    let cargo = CARGO_TOML.replace("{{ui_dependencies}}", dependencies);
    let mut files = vec![
        File {
            path: "Cargo.toml",
            text: names.fill(&cargo),
        },
        File {
            path: "src/lib.rs",
            text: names.fill(&lib),
        },
        File {
            path: "src/main.rs",
            text: names.fill(MAIN_RS),
        },
        File {
            path: "tests/tools.rs",
            text: names.fill(TOOLS_RS),
        },
        File {
            path: "tests/e2e.rs",
            text: names.fill(E2E_RS),
        },
        File {
            path: "README.md",
            text: names.fill(README_MD),
        },
        File {
            path: ".github/workflows/ci.yml",
            text: names.fill(CI_YML),
        },
        File {
            path: ".gitignore",
            text: names.fill(GITIGNORE),
        },
    ];
    if ui {
        files.push(File {
            path: "ui/index.html",
            text: names.fill(UI_INDEX),
        });
    }
    files
}

/// Writes the crate into `dir`, which must not exist or be empty; on failure, nothing is left
/// half-written: the files go to a sibling temporary directory renamed into place at the end.
fn write_crate(dir: &Path, files: &[File]) -> Result<(), CliError> {
    let occupied = dir
        .read_dir()
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied || dir.is_file() {
        return Err(CliError::new(format!(
            "{} already exists and is not empty: choose another name or --path",
            clean(&dir.display().to_string())
        )));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        CliError::new(format!(
            "cannot create {}: {e}",
            clean(&parent.display().to_string())
        ))
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".nanofleet-new-")
        .tempdir_in(&parent)
        .map_err(|e| {
            CliError::new(format!(
                "cannot write in {}: {e}",
                clean(&parent.display().to_string())
            ))
        })?;
    for file in files {
        let path = staging.path().join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, &file.text)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    // An empty directory of that name is replaced; a non-empty one was refused above.
    if dir.is_dir() {
        let _ = std::fs::remove_dir(dir);
    }
    let kept = staging.keep();
    std::fs::rename(&kept, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        CliError::new(format!(
            "cannot create {}: {e}",
            clean(&dir.display().to_string())
        ))
    })
}

/// Creates the crate and says what to do next.
pub fn run(args: &NewArgs) -> Result<u8, CliError> {
    let names = Names::new(&args.name, args.image.as_deref())?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&names.name));
    let files = files(&names, args.ui);
    write_crate(&dir, &files)?;
    let shown = clean(&dir.display().to_string());
    note(format!(
        "created plugin `{}` in {shown}{}",
        names.name,
        if args.ui { " (with a web UI)" } else { "" }
    ));
    note(format!(
        "next:\n  cd {shown}\n  cargo test                   # the tools, in process\n  \
         nanofleet dev                # run it in Docker, linked to a development agent\n  \
         nanofleet build              # the image {}:0.1.0\n  \
         cargo test --features e2e    # the image, as the host runs it",
        names.image
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_plugin_name() {
        let names = Names::new("my-plugin", None).expect("valid");
        assert_eq!(names.krate, "my_plugin");
        assert_eq!(names.type_name, "MyPlugin");
        assert_eq!(names.title, "My Plugin");
        assert_eq!(names.image, "my-plugin");
        let names = Names::new("notes", Some("ghcr.io/acme/notes")).expect("valid");
        assert_eq!(names.image, "ghcr.io/acme/notes");
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for bad in ["My Plugin", "", "-x", "9lives", "a_b"] {
            assert!(Names::new(bad, None).is_err_and(|e| e.code == 2), "{bad}");
        }
        assert!(Names::new("x", Some("acme/x:1")).is_err_and(|e| e.code == 2));
        assert!(Names::new("x", Some("Acme/x")).is_err_and(|e| e.code == 2));
    }

    #[test]
    fn every_placeholder_is_filled() {
        for ui in [false, true] {
            let names = Names::new("my-plugin", None).expect("valid");
            for file in files(&names, ui) {
                assert!(
                    !file.text.contains("{{"),
                    "{} ({ui}): {}",
                    file.path,
                    file.text
                );
            }
        }
    }

    #[test]
    fn an_occupied_directory_is_refused_and_left_alone() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("x");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("keep"), "mine").expect("write");
        let names = Names::new("x", None).expect("valid");
        assert!(write_crate(&dir, &files(&names, false)).is_err());
        assert_eq!(
            std::fs::read_to_string(dir.join("keep")).expect("kept"),
            "mine"
        );
        let other = root.path().join("y");
        write_crate(&other, &files(&names, false)).expect("written");
        assert!(other.join("src/lib.rs").is_file() && other.join("tests/e2e.rs").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(root.path())
            .expect("read")
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".nanofleet-new-")
            })
            .collect();
        assert!(leftovers.is_empty());
    }
}
