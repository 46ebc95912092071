//! `cargo xtask image`: the example plugins' images, built by the same library code as
//! `nanofleet build` (`nanofleet_build`). No registry is touched.

use anyhow::{Result, bail};
use nanofleet_build::{CargoBuild, CargoOutput, PluginBuild, PluginImage, build_plugin};
use nanofleet_host::runtime::{DockerRuntime, Runtime};

/// The example plugins, in the order `--all` builds them.
pub(crate) const EXAMPLES: &[&str] = &["hello", "notes", "kanban"];

/// How an example package is built into its image: the workspace's package of that name.
pub(crate) fn example_build(package: &str, output: CargoOutput) -> PluginBuild {
    PluginBuild::new(
        CargoBuild::new(crate::root())
            .package(package)
            .bin(package)
            .output(output),
    )
}

/// Builds the images of `packages` (each a plugin binary of the same name), or of every
/// example with `all`, and prints each image's size.
pub(crate) fn run(packages: &[String], all: bool) -> Result<Vec<PluginImage>> {
    let packages: Vec<String> = if all {
        EXAMPLES.iter().map(|p| (*p).to_owned()).collect()
    } else if packages.is_empty() {
        bail!("name the packages to build (`cargo xtask image notes`) or pass --all");
    } else {
        packages.to_vec()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let docker = connect().await?;
        let mut built = Vec::new();
        for package in &packages {
            let started = std::time::Instant::now();
            let image = build_plugin(&docker, &example_build(package, CargoOutput::Inherit))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{package:<8} {:<28} {:>5.1} MiB  {} ({:.1?})",
                image.tag,
                image.size_bytes as f64 / (1024.0 * 1024.0),
                if image.rebuilt { "built" } else { "up to date" },
                started.elapsed()
            );
            built.push(image);
        }
        Ok(built)
    })
}

/// The engine, or one plain sentence saying what to start.
pub(crate) async fn connect() -> Result<DockerRuntime> {
    let docker = DockerRuntime::connect().map_err(|e| anyhow::anyhow!("{e}"))?;
    docker.ping().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(docker)
}
