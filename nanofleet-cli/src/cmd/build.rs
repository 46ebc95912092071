//! `nanofleet build`: a plugin crate into a `FROM scratch` image.

use std::path::PathBuf;
use std::time::Instant;

use std::sync::Mutex;

use nanofleet_build::{
    BuildStage, CargoBuild, CargoOutput, PluginBuild, PluginImage, build_plugin_with,
};
use nanofleet_host::runtime::{DockerRuntime, Runtime as _};
use serde_json::json;

use crate::{
    cli::{BuildArgs, CrateArgs},
    error::CliError,
    output::{self, clean, note},
    progress::Step,
};

/// The cargo build `args` describe.
pub fn cargo_build(args: &CrateArgs) -> CargoBuild {
    let mut build = CargoBuild::new(args.path.clone().unwrap_or_else(|| PathBuf::from(".")))
        .output(CargoOutput::Inherit);
    build.package.clone_from(&args.package);
    build.bin.clone_from(&args.bin);
    build
}

/// The engine, checked: one sentence saying what to start when it does not answer.
pub async fn engine() -> Result<DockerRuntime, CliError> {
    let docker = DockerRuntime::connect()?;
    docker.ping().await?;
    Ok(docker)
}

/// Builds the image and prints its tag, size and whether it was rebuilt.
pub async fn run(args: &BuildArgs) -> Result<u8, CliError> {
    let docker = engine().await?;
    let mut build = PluginBuild::new(cargo_build(&args.krate));
    build.extra_tags.clone_from(&args.tag);
    let started = Instant::now();
    let image = build_with_progress(&docker, &build).await?;
    report(&image, started);
    if args.json {
        output::json(&summary(&image))?;
    }
    Ok(0)
}

/// Builds the plugin with a spinner on the image step (cargo shows its own progress before).
pub async fn build_with_progress(
    docker: &DockerRuntime,
    build: &PluginBuild,
) -> Result<PluginImage, CliError> {
    let step: Mutex<Option<Step>> = Mutex::new(None);
    let progress = |stage: BuildStage<'_>| {
        if let BuildStage::BuildingImage { tag } = stage
            && let Ok(mut step) = step.lock()
        {
            *step = Some(Step::start(format!("building image {}", clean(tag))));
        }
    };
    let image = build_plugin_with(docker, build, &progress).await;
    // The spinner goes before anything is said of the result.
    drop(step);
    Ok(image?)
}

/// Prints what was built, and the warnings, on stderr.
pub fn report(image: &PluginImage, started: Instant) {
    for warning in &image.warnings {
        note(format!("warning: {}", clean(warning)));
    }
    note(format!(
        "{} {} ({}) {:.1} MiB, {} in {:.1?}",
        if image.rebuilt {
            "built"
        } else {
            "up to date:"
        },
        clean(&image.tag),
        clean(&image.tags[1..].join(", ")),
        image.size_bytes as f64 / (1024.0 * 1024.0),
        output::plural(image.tools.len(), "tool", "tools"),
        started.elapsed()
    ));
}

/// The JSON `--json` prints.
pub fn summary(image: &PluginImage) -> serde_json::Value {
    json!({
        "image": image.tag,
        "tags": image.tags,
        "id": image.id.as_str(),
        "sizeBytes": image.size_bytes,
        "rebuilt": image.rebuilt,
        "manifest": image.manifest,
        "tools": image.tools.iter().map(|t| t.name.as_ref()).collect::<Vec<&str>>(),
        "warnings": image.warnings,
    })
}
