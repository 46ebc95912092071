//! The example plugin images (`nanofleet/{hello,notes,kanban}:0.1.0`), built or found up to
//! date by [`build_plugin`] (static binaries, `FROM scratch`, the image profile of
//! `nanofleet build`), and their sizes as the engine reports them.

use anyhow::{Result, anyhow};
use nanofleet_build::{CargoBuild, CargoOutput, PluginBuild, PluginImage, build_plugin};

use crate::engine::Engine;

/// The example plugins (package = binary name).
pub const EXAMPLES: [&str; 3] = ["hello", "notes", "kanban"];

/// One image's size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageRow {
    /// The plugin package.
    pub package: String,
    /// The image reference.
    pub tag: String,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Whether this run built it (`false`: its binary had not changed).
    pub rebuilt: bool,
}

/// Builds (or finds up to date) every example image.
pub async fn build_all(engine: &Engine) -> Result<Vec<(String, PluginImage)>> {
    let mut images = Vec::new();
    for package in EXAMPLES {
        let started = std::time::Instant::now();
        let build = PluginBuild::new(
            CargoBuild::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .package(package)
                .bin(package)
                .output(CargoOutput::Capture),
        );
        let image = build_plugin(&engine.rt, &build)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!(
            "  {package:<8} {:<24} {:>5.2} MiB  {} in {:.1?}",
            image.tag,
            mib(image.size_bytes),
            if image.rebuilt { "built" } else { "up to date" },
            started.elapsed()
        );
        images.push((package.to_owned(), image));
    }
    Ok(images)
}

/// The rows of the size table.
pub fn rows(images: &[(String, PluginImage)]) -> Vec<ImageRow> {
    images
        .iter()
        .map(|(package, image)| ImageRow {
            package: package.clone(),
            tag: image.tag.clone(),
            size_bytes: image.size_bytes,
            rebuilt: image.rebuilt,
        })
        .collect()
}

/// Bytes → MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
