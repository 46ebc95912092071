//! Reading the one manifest `install` and `upgrade` are given, through discovery, so that a
//! broken manifest is reported exactly as `validate` reports it.

use nanofleet_host::{
    discovery::{self, ImageManifests, Source},
    manifest::{Manifest, rules},
};

use crate::{
    error::CliError,
    output::{clean, note, plural},
};

/// The manifest at `text` (a path, a URL or `image:REF`, whose label is read from `images`:
/// the engine, or [`Offline`](nanofleet_host::runtime::Offline) where there is none).
/// Its warnings are printed on stderr; errors, or anything but exactly one manifest, fail
/// with every diagnostic.
pub async fn load_manifest<I: ImageManifests + ?Sized>(
    text: &str,
    images: &I,
) -> Result<Manifest, CliError> {
    let source = Source::parse(text);
    let report = discovery::discover(std::slice::from_ref(&source), images).await;
    let shown = clean(text);
    if report.has_errors() {
        let details = discovery::render_text(&report)
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("  {l}")
                }
            })
            .collect::<Vec<_>>();
        return Err(CliError::new(format!(
            "{shown} has {}; nothing was changed:",
            plural(report.error_count(), "error", "errors")
        ))
        .with_details(details));
    }
    for candidate in &report.candidates {
        for warning in candidate.diagnostics.warnings() {
            note(format!("warning: {}: {warning}", clean(&candidate.source)));
        }
    }
    let mut found: Vec<_> = report
        .candidates
        .into_iter()
        .filter_map(|c| c.manifest.map(|m| (c.source, m)))
        .collect();
    let (_, mut manifest) = match found.len() {
        1 => found.remove(0),
        0 => {
            return Err(CliError::new(format!(
                "found no manifest at {shown}: give a manifest file, or a directory holding a \
                 manifest.json or a *.nanofleet.json"
            )));
        }
        n => {
            let sources: Vec<String> = found
                .iter()
                .map(|(s, _)| format!("  {}", clean(s)))
                .collect();
            return Err(CliError::new(format!(
                "{shown} holds {n} manifests; pass the path of the one to use:"
            ))
            .with_details(sources));
        }
    };
    // The manifest of an image describes that image: run the image it was read from, even
    // when the label names it by another tag.
    if let Source::Image(reference) = &source
        && *reference != manifest.image
        && rules::check_image_ref(reference).is_ok()
    {
        note(format!(
            "note: the manifest names image {}; using {}, which it was read from",
            clean(&manifest.image),
            clean(reference)
        ));
        manifest.image.clone_from(reference);
    }
    Ok(manifest)
}
