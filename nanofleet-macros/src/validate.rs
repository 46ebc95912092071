//! The rules a plugin declaration must follow, checked at compile time. Rules about manifest
//! values come from the SDK's `manifest/rules.rs`, so the macro and the SDK cannot disagree;
//! the rest are about the shape of tool methods.
//!
//! Every problem is reported, each at the token it is about, and only a declaration without
//! any becomes a [`Plugin`] for `expand`.

use std::collections::{HashMap, HashSet};

use syn::{Ident, ImplItem, LitInt, LitStr, Pat, Type, ext::IdentExt};

use nanofleet_contracts::image::ImageRef;
use nanofleet_contracts::manifest::{Cpus, Destination, Filesystem, Memory, Network, Permissions};

use crate::{
    attr::{Errors, violation},
    parse::{self, Output, Receiver},
    rules,
};

/// The methods `#[plugin]` adds to the impl block.
pub(crate) const GENERATED_METHODS: [&str; 4] = ["manifest", "plugin", "plugin_builder", "run"];

/// A declaration that follows every rule.
pub(crate) struct Plugin<'a> {
    pub manifest: Manifest,
    /// The function giving the UI, checked to come with a `ui_port`.
    pub ui: Option<&'a syn::ExprPath>,
    /// The configuration type, whose fields are the plugin's settings.
    pub config: Option<&'a syn::Type>,
    pub tools: Vec<Tool<'a>>,
    pub resources: Vec<Resource<'a>>,
    pub prompts: Vec<Prompt<'a>>,
    pub item: &'a syn::ItemImpl,
}

/// The manifest's values; `None` means "from Cargo.toml".
pub(crate) struct Manifest {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub image: Image,
    pub mcp_port: u16,
    pub ui_port: Option<u16>,
    pub sidebar: Option<Sidebar>,
    pub required_env_vars: Vec<String>,
    /// The manifest's `permissions` as JSON, when any is declared.
    pub permissions: Option<String>,
    pub min_host_version: Option<String>,
    pub icon: Option<String>,
}

/// The image reference, and whether the macro tags it.
pub(crate) enum Image {
    /// With a tag or a digest: used as written.
    AsWritten(String),
    /// Neither tag nor digest: tagged with the plugin's version.
    Untagged(String),
}

pub(crate) struct Sidebar {
    pub icon: String,
    pub label: String,
    pub route: String,
}

/// A tool with its final name and description.
pub(crate) struct Tool<'a> {
    pub name: String,
    pub description: String,
    pub def: &'a parse::Method,
}

/// A resource (or a template of them) with its final name.
pub(crate) struct Resource<'a> {
    pub name: String,
    pub location: Location,
    pub def: &'a parse::Resource,
}

/// Where a resource lives.
pub(crate) enum Location {
    /// `uri = "..."`: one resource.
    Uri(String),
    /// `uri_template = "..."`: one per value of its variables, which are named.
    Template(String, Vec<String>),
}

/// A prompt with its final name and description.
pub(crate) struct Prompt<'a> {
    pub name: String,
    pub description: String,
    pub def: &'a parse::Method,
}

pub(crate) fn plugin<'a>(plugin: &'a parse::Plugin, errors: &Errors) -> Option<Plugin<'a>> {
    // Cargo sets it for the crate being compiled, which the macro runs for.
    let crate_version = std::env::var("CARGO_PKG_VERSION").ok();
    plugin_of_crate(plugin, errors, crate_version.as_deref())
}

/// [`plugin`], with the version of the crate being compiled given.
fn plugin_of_crate<'a>(
    plugin: &'a parse::Plugin,
    errors: &Errors,
    crate_version: Option<&str>,
) -> Option<Plugin<'a>> {
    impl_block(&plugin.item, errors);
    let manifest = manifest(plugin, errors, crate_version);
    let tools = tools(&plugin.tools, errors);
    let resources = resources(&plugin.resources, errors);
    apps(&tools, &resources, errors);
    let prompts = prompts(&plugin.prompts, errors);
    let ui = plugin.attrs.ui.as_ref();
    if let (Some(ui), None) = (ui, &plugin.attrs.ui_port) {
        errors.at(
            ui,
            "`ui` needs `ui_port`: the plugin serves its UI on a port of its own",
        );
    }
    Some(Plugin {
        ui,
        config: plugin.attrs.config.as_ref(),
        manifest: manifest?,
        tools,
        resources,
        prompts,
        item: &plugin.item,
    })
    .filter(|_| errors.is_empty())
}

fn impl_block(item: &syn::ItemImpl, errors: &Errors) {
    if let Some((_, trait_path, _)) = &item.trait_ {
        errors.at(
            trait_path,
            "`#[plugin(...)]` goes on an inherent impl block (`impl MyPlugin { ... }`), not on a \
             trait impl",
        );
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.at(
            &item.generics,
            "`#[plugin(...)]` does not support generic impl blocks: the plugin state needs one \
             concrete type",
        );
    }
    for impl_item in &item.items {
        if let ImplItem::Fn(method) = impl_item {
            let ident = &method.sig.ident;
            if GENERATED_METHODS.iter().any(|name| ident == name) {
                errors.at(
                    ident,
                    format!(
                        "`#[plugin(...)]` generates `{ident}`: rename this method (a tool keeps \
                         its name with `#[tool(name = \"{ident}\")]`)"
                    ),
                );
            }
        }
    }
}

fn manifest(
    plugin: &parse::Plugin,
    errors: &Errors,
    crate_version: Option<&str>,
) -> Option<Manifest> {
    let attrs = &plugin.attrs;
    // Missing keys were reported by `parse`.
    let (name, image, mcp_port) = (&attrs.name, &attrs.image, &attrs.mcp_port);

    if let Some(name) = name {
        for v in rules::plugin_name_violations(&name.value()) {
            errors.at(name, violation(&v));
        }
    }
    if let Some(version) = &attrs.version
        && let Err(v) = rules::check_version(&version.value())
    {
        errors.at(version, violation(&v));
    }
    // The version the manifest will carry, and where it comes from, for the image's tag.
    let plugin_version = match &attrs.version {
        Some(lit) => Some((
            lit.value(),
            format!("set with `version = {:?}`", lit.value()),
        )),
        None => {
            crate_version.map(|v| (v.to_owned(), "the package version in Cargo.toml".to_owned()))
        }
    };
    let image_value = image.as_ref().map(LitStr::value);
    let checked_image = match (image, &image_value) {
        (Some(lit), Some(value)) => match ImageRef::parse(value) {
            Err(v) => {
                errors.at(lit, violation(&v));
                None
            }
            Ok(reference) => {
                if let Some((version, source)) = &plugin_version {
                    check_image_tag(lit, &reference, version, source, errors);
                }
                Some(if reference.is_pinned() {
                    Image::AsWritten(value.clone())
                } else {
                    Image::Untagged(value.clone())
                })
            }
        },
        _ => None,
    };
    let mcp = mcp_port.as_ref().and_then(|lit| port(lit, errors));
    let ui = attrs.ui_port.as_ref().and_then(|lit| port(lit, errors));
    if let (Some(lit), Some(ui), Some(mcp)) = (&attrs.ui_port, ui, mcp)
        && ui == mcp
    {
        errors.at(
            lit,
            format!(
                "`ui_port` and `mcp_port` are both {ui}: the MCP server and the UI need a port \
                 each"
            ),
        );
    }

    let sidebar = attrs.sidebar.as_ref().and_then(|sidebar| {
        if attrs.ui_port.is_none() {
            errors.at(
                &sidebar.key,
                "`sidebar` needs `ui_port`: the host serves the sidebar's page from the \
                 plugin's UI port",
            );
        }
        let (icon, label) = (&sidebar.icon, &sidebar.label);
        for lit in [icon, label].into_iter().flatten() {
            if lit.value().trim().is_empty() {
                errors.at(lit, "this is empty: the dashboard shows it in the sidebar");
            }
        }
        let route = match (&sidebar.route, &name) {
            (Some(route), _) => route.value(),
            (None, Some(name)) => rules::default_sidebar_route(&name.value()),
            (None, None) => String::new(),
        };
        Some(Sidebar {
            icon: icon.as_ref()?.value(),
            label: label.as_ref()?.value(),
            route,
        })
    });

    let mut required_env_vars = Vec::new();
    let mut seen = HashSet::new();
    for var in attrs.required_env_vars.iter().flatten() {
        let value = var.value();
        if !seen.insert(value.clone()) {
            errors.at(
                var,
                format!("`{value}` is listed twice in `required_env_vars`"),
            );
            continue;
        }
        if let Err(v) = rules::check_env_var_name(&value) {
            errors.at(var, violation(&v));
        } else if let Err(v) = rules::check_env_var_not_reserved(&value) {
            errors.at(var, violation(&v));
        }
        required_env_vars.push(value);
    }

    let doc_or_attr = match &attrs.description {
        Some(lit) => Some(lit.value()),
        None => plugin.doc.clone(),
    };
    let permissions = attrs
        .permissions
        .as_ref()
        .map(|p| permissions(p, errors))
        .map(|p| serde_json::to_string(&p).unwrap_or_default());
    if let Some(lit) = &attrs.min_host_version
        && let Err(v) = rules::check_host_version_requirement(&lit.value())
    {
        errors.at(lit, violation(&v));
    }
    if let Some(lit) = &attrs.icon
        && let Err(v) = rules::check_icon(&lit.value())
    {
        errors.at(lit, violation(&v));
    }

    Some(Manifest {
        name: name.as_ref()?.value(),
        version: attrs.version.as_ref().map(LitStr::value),
        description: doc_or_attr,
        author: attrs.author.as_ref().map(LitStr::value),
        image: checked_image?,
        mcp_port: mcp?,
        ui_port: ui,
        sidebar,
        required_env_vars,
        permissions,
        min_host_version: attrs.min_host_version.as_ref().map(LitStr::value),
        icon: attrs.icon.as_ref().map(LitStr::value),
    })
}

/// The permissions as declared, each value checked by the manifest's own rules and reported
/// at its token; a wrong value is left at its default (the errors stop the build anyway).
fn permissions(attrs: &parse::PermissionsAttrs, errors: &Errors) -> Permissions {
    let mut permissions = Permissions::default();
    match &attrs.network {
        None | Some(parse::NetworkAttr::Flag(false)) => {}
        Some(parse::NetworkAttr::Flag(true)) => permissions.network = Network::Unrestricted,
        Some(parse::NetworkAttr::Allow(list)) => {
            let mut seen = HashSet::new();
            for lit in list {
                let value = lit.value();
                if let Err(v) = Destination::parse(&value) {
                    errors.at(lit, violation(&v));
                } else if !seen.insert(value.to_ascii_lowercase()) {
                    errors.at(lit, format!("`{value}` is listed twice in `network`"));
                }
            }
            permissions.network = Network::Allow(list.iter().map(LitStr::value).collect());
        }
    }
    if let Some(lit) = &attrs.filesystem {
        match Filesystem::parse(&lit.value()) {
            Some(filesystem) => permissions.filesystem = filesystem,
            None => errors.at(
                lit,
                format!(
                    "`{}` is not a filesystem permission: use \"read-write\", \"read-only\" or \"none\"",
                    lit.value()
                ),
            ),
        }
    }
    permissions.process.spawn = attrs.spawn.unwrap_or(false);
    if let Some(lit) = &attrs.memory {
        match Memory::parse(&lit.value()).and_then(|m| m.check().map(|()| m)) {
            Ok(memory) => permissions.resources.memory = Some(memory),
            Err(v) => errors.at(lit, violation(&v)),
        }
    }
    if let Some(lit) = &attrs.cpus {
        let value = match lit {
            syn::Lit::Float(f) => f.base10_parse::<f64>().ok(),
            syn::Lit::Int(i) => i.base10_parse::<u32>().ok().map(f64::from),
            _ => None,
        };
        match value.map(Cpus::from_cpus) {
            Some(Ok(cpus)) if cpus.check().is_ok() => permissions.resources.cpus = Some(cpus),
            Some(Err(v)) => errors.at(lit, violation(&v)),
            _ => errors.at(lit, "`cpus` is not a number of CPUs from 0.001 to 1024"),
        }
    }
    if let Some(lit) = &attrs.pids {
        match lit.base10_parse::<u32>() {
            Ok(0) | Err(_) => errors.at(
                lit,
                "`pids` must be a whole number from 1: the plugin could not even run its own \
                 process\n= help: ask for at least 16, or leave it out for the host's default",
            ),
            Ok(pids) => permissions.resources.pids = Some(pids),
        }
    }
    permissions
}

/// An image tag that is a version must be the plugin's, or a version bump would leave the image
/// behind; other tags (`latest`, `dev`) and digests are the author's business.
fn check_image_tag(
    lit: &LitStr,
    image: &ImageRef<'_>,
    version: &str,
    source: &str,
    errors: &Errors,
) {
    let Some(tag) = image.tag else {
        return;
    };
    let bare = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let (Ok(tagged), Ok(plugin)) = (
        semver::Version::parse(bare),
        semver::Version::parse(version),
    ) else {
        return;
    };
    if tagged == plugin {
        return;
    }
    let name = image.name();
    let retagged = image.with_tag(version);
    errors.at(
        lit,
        format!(
            "the image tag `{tag}` is not the plugin's version `{version}` ({source}): the \
             manifest would name an image built for another version\n= help: drop the tag, \
             `image = \"{name}\"`, and the image is tagged with the plugin's version; or write \
             `image = \"{retagged}\"`"
        ),
    );
}

/// A port literal, checked with the SDK's rule; literals too large for a `u32` are reported
/// as written.
fn port(lit: &LitInt, errors: &Errors) -> Option<u16> {
    let Ok(value) = lit.base10_parse::<u32>() else {
        errors.at(
            lit,
            format!(
                "port {} is outside {}–{}",
                lit.base10_digits(),
                rules::MIN_PORT,
                rules::MAX_PORT
            ),
        );
        return None;
    };
    if let Err(v) = rules::check_port(value) {
        errors.at(lit, violation(&v));
        return None;
    }
    u16::try_from(value).ok()
}

fn tools<'a>(defs: &'a [parse::Method], errors: &Errors) -> Vec<Tool<'a>> {
    let mut names: HashMap<String, Ident> = HashMap::new();
    let mut tools = Vec::with_capacity(defs.len());
    for def in defs {
        let (name, name_span) = match &def.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (def.ident.unraw().to_string(), def.ident.span()),
        };
        if let Err(v) = rules::check_tool_name(&name) {
            errors.at_span(name_span, violation(&v));
        }
        if let Some(first) = names.get(&name) {
            errors.at_span(
                name_span,
                format!("duplicate tool name `{name}`, first declared by `fn {first}`"),
            );
        } else {
            names.insert(name.clone(), def.ident.clone());
        }

        let description = match (&def.description, &def.doc) {
            (Some(lit), _) => {
                let text = lit.value();
                if text.trim().is_empty() {
                    errors.at(
                        lit,
                        "the tool's description is empty: the model chooses tools by it",
                    );
                }
                text
            }
            (None, Some(doc)) => doc.clone(),
            (None, None) => {
                errors.at(
                    &def.ident,
                    format!(
                        "the tool `{name}` has no description: add a `///` doc comment or \
                         `#[tool(description = \"...\")]`; the model chooses tools by it"
                    ),
                );
                String::new()
            }
        };

        signature(def, Kind::Tool, errors);
        tools.push(Tool {
            name,
            description,
            def,
        });
    }
    tools
}

/// `#[tool(app = "ui://...")]` names a page of this plugin: a `#[resource(uri = ...)]` of the
/// same impl block. (A page added with the builder API is checked when the plugin starts.)
fn apps(tools: &[Tool<'_>], resources: &[Resource<'_>], errors: &Errors) {
    // The manifest's icon rule, for each tool's icon too.
    for tool in tools {
        if let Some(icon) = &tool.def.icon
            && let Err(v) = rules::check_icon(&icon.value())
        {
            errors.at(icon, violation(&v));
        }
    }
    for tool in tools {
        let Some(app) = &tool.def.app else { continue };
        let uri = app.value();
        if !uri.starts_with("ui://") {
            errors.at(
                app,
                format!(
                    "an app is a `ui://` page (MCP Apps): `ui://{}/...`",
                    tool.name
                ),
            );
            continue;
        }
        let declared = resources
            .iter()
            .any(|r| matches!(&r.location, Location::Uri(u) if *u == uri));
        if !declared {
            errors.at(
                app,
                format!(
                    "`{uri}` is no resource of this plugin: add a method \
                     `#[resource(uri = \"{uri}\")]` returning the page's HTML"
                ),
            );
        }
    }
}

fn resources<'a>(defs: &'a [parse::Resource], errors: &Errors) -> Vec<Resource<'a>> {
    let mut seen: HashMap<String, Ident> = HashMap::new();
    let mut resources = Vec::with_capacity(defs.len());
    for def in defs {
        let method = &def.method;
        signature(method, Kind::Resource, errors);
        let name = match &method.name {
            Some(lit) => lit.value(),
            None => method.ident.unraw().to_string(),
        };
        let location = match (&def.uri, &def.uri_template) {
            (Some(_), Some(template)) => {
                errors.at(
                    template,
                    "a resource has `uri` (one resource) or `uri_template` (a family of them), \
                     not both",
                );
                continue;
            }
            (None, None) => {
                errors.at(
                    &def.marker,
                    "`#[resource(...)]` needs `uri = \"scheme://...\"` for one resource or \
                     `uri_template = \"scheme://{var}\"` for a family of them",
                );
                continue;
            }
            (Some(uri), None) => fixed_uri(uri, errors).map(Location::Uri),
            (None, Some(template)) => template_variables(template, method, errors)
                .map(|(uri, variables)| Location::Template(uri, variables)),
        };
        let Some(location) = location else { continue };
        let key = match &location {
            Location::Uri(uri) | Location::Template(uri, _) => uri.clone(),
        };
        if let Some(first) = seen.get(&key) {
            let at = def.uri.as_ref().or(def.uri_template.as_ref());
            if let Some(at) = at {
                errors.at(
                    at,
                    format!("duplicate resource `{key}`, first declared by `fn {first}`"),
                );
            }
            continue;
        }
        seen.insert(key, method.ident.clone());
        resources.push(Resource {
            name,
            location,
            def,
        });
    }
    resources
}

/// A fixed resource's URI. Its method takes no arguments (there is nothing in the URI to take
/// them from): every parameter is supplied by the SDK, which the expansion checks by type.
fn fixed_uri(uri: &LitStr, errors: &Errors) -> Option<String> {
    let value = uri.value();
    let mut ok = true;
    if value.contains('{') {
        errors.at(
            uri,
            "this URI has a variable: a family of resources is declared with \
             `uri_template = \"...\"`",
        );
        ok = false;
    } else if !value.contains(':') {
        errors.at(
            uri,
            "a resource URI starts with its scheme, e.g. `notes://all`",
        );
        ok = false;
    }
    ok.then_some(value)
}

/// A template whose every variable is a parameter, with the variables' names. The parameters
/// named after a variable are its values; the others are supplied by the SDK (the expansion
/// checks that their types implement `FromToolCall`).
fn template_variables(
    template: &LitStr,
    method: &parse::Method,
    errors: &Errors,
) -> Option<(String, Vec<String>)> {
    let value = template.value();
    let variables = match nanofleet_contracts::uri_template::variables(&value) {
        Ok(variables) => variables,
        Err(why) => {
            errors.at(template, format!("invalid URI template: {why}"));
            return None;
        }
    };
    let bound: HashSet<String> = method.params.iter().filter_map(param_name).collect();
    let mut ok = true;
    for variable in variables.iter().filter(|v| !bound.contains(*v)) {
        errors.at(
            template,
            format!(
                "the variable `{{{variable}}}` has no parameter: add `{variable}: String` (or any \
                 type its text parses into) to `fn {}`",
                method.ident
            ),
        );
        ok = false;
    }
    ok.then(|| (value, variables.into_iter().collect()))
}

/// The name a parameter has in a request: its `rename`, or the parameter's own name; none for
/// a pattern (which only a value the SDK supplies may be).
pub(crate) fn param_name(param: &parse::Param) -> Option<String> {
    match (&param.rename, &*param.pat) {
        (Some(lit), _) => Some(lit.value()),
        (None, Pat::Ident(pat)) if pat.subpat.is_none() => Some(pat.ident.unraw().to_string()),
        _ => None,
    }
}

fn prompts<'a>(defs: &'a [parse::Method], errors: &Errors) -> Vec<Prompt<'a>> {
    let mut names: HashMap<String, Ident> = HashMap::new();
    let mut prompts = Vec::with_capacity(defs.len());
    for def in defs {
        signature(def, Kind::Prompt, errors);
        let (name, name_span) = match &def.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (def.ident.unraw().to_string(), def.ident.span()),
        };
        if let Some(first) = names.get(&name) {
            errors.at_span(
                name_span,
                format!("duplicate prompt name `{name}`, first declared by `fn {first}`"),
            );
            continue;
        }
        names.insert(name.clone(), def.ident.clone());
        let description = match (&def.description, &def.doc) {
            (Some(lit), _) => lit.value(),
            (None, Some(doc)) => doc.clone(),
            (None, None) => {
                errors.at(
                    &def.ident,
                    format!(
                        "the prompt `{name}` has no description: add a `///` doc comment or \
                         `#[prompt(description = \"...\")]`; clients list prompts by it"
                    ),
                );
                continue;
            }
        };
        prompts.push(Prompt {
            name,
            description,
            def,
        });
    }
    prompts
}

/// What a method is, for the messages about its shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        }
    }
}

/// The shape of a tool, resource or prompt method: receiver, generics, parameters, return
/// type.
fn signature(def: &parse::Method, kind: Kind, errors: &Errors) {
    let what = kind.noun();
    if let Receiver::Unsupported(receiver) = &def.receiver {
        let why = if receiver.reference.is_some() {
            format!(
                "a {what} cannot take `&mut self`: calls run concurrently and share the plugin; \
                 take `&self` and keep mutable state behind a `Mutex` or in the `AgentStore`"
            )
        } else {
            format!(
                "a {what} takes `&self` or no `self` at all: the plugin is shared by every call"
            )
        };
        errors.at(receiver, why);
    }
    if !def.generics.params.is_empty() || def.generics.where_clause.is_some() {
        errors.at(
            &def.generics,
            format!("a {what} cannot be generic: its input and output schemas are derived from concrete types"),
        );
    }
    if let Some(unsafety) = def.unsafety {
        errors.at(
            unsafety,
            format!("a {what} cannot be an `unsafe fn`: nothing could uphold its contract"),
        );
    }

    let mut json_names = HashSet::new();
    for param in &def.params {
        if let Type::ImplTrait(_) = parse::ungroup(&param.ty) {
            errors.at(
                &param.ty,
                "a tool parameter cannot be `impl Trait`: it needs a concrete type to be decoded \
                 from the call's JSON arguments",
            );
            continue;
        }
        if let (Kind::Tool, Some(complete)) = (kind, &param.complete) {
            errors.at(
                complete,
                "`complete` is for prompt arguments and resource-template variables; MCP offers \
                 no completion for tool arguments",
            );
        }
        if let Type::Reference(_) = parse::ungroup(&param.ty) {
            errors.at(
                &param.ty,
                "a tool argument cannot be a reference: arguments are decoded from JSON into \
                 owned values (use `String`, not `&str`)",
            );
        }
        if param.rename.is_some() && !matches!(&*param.pat, Pat::Ident(_)) {
            errors.at(
                &param.pat,
                "a renamed argument needs a name, not a pattern: bind it to a name and \
                 destructure it in the body",
            );
            continue;
        }
        let Some(json_name) = param_name(param) else {
            continue; // a pattern: the expansion checks that the SDK supplies it
        };
        if !json_names.insert(json_name.clone()) {
            let at = match (&param.rename, &*param.pat) {
                (Some(lit), _) => lit.span(),
                (None, pat) => syn::spanned::Spanned::span(pat),
            };
            errors.at_span(
                at,
                format!("two arguments of this {what} are named `{json_name}`"),
            );
        }
    }

    if let (Kind::Tool, Some(ty)) = (kind, opaque(&def.output)) {
        errors.at(
            ty,
            "a tool cannot return `impl Trait`: its output schema is derived from the concrete \
             type",
        );
    }
}

fn opaque(output: &Output) -> Option<&Type> {
    match output {
        Output::Opaque(ty) => Some(ty),
        Output::Result(ok) => opaque(ok),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::parse_quote;

    use super::*;

    /// The messages for `#[plugin(args)] impl`.
    fn check(args: TokenStream, item: syn::ItemImpl) -> Vec<String> {
        let errors = Errors::default();
        let parsed = parse::plugin(args, item, &errors);
        let _ = plugin(&parsed, &errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// The messages for `#[plugin(args)] impl P {}` in a crate at `version`.
    fn errors_in_crate(args: TokenStream, version: &str) -> Vec<String> {
        let errors = Errors::default();
        let parsed = parse::plugin(args, parse_quote!(impl P {}), &errors);
        let _ = plugin_of_crate(&parsed, &errors, Some(version));
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// The image the manifest gets for `image`, in a crate at `version`.
    fn image_in_crate(args: TokenStream, version: &str) -> Option<String> {
        let errors = Errors::default();
        let parsed = parse::plugin(args, parse_quote!(impl P {}), &errors);
        let checked = plugin_of_crate(&parsed, &errors, Some(version))?;
        Some(match checked.manifest.image {
            Image::AsWritten(image) => format!("as written: {image}"),
            Image::Untagged(image) => format!("untagged: {image}"),
        })
    }

    #[test]
    fn a_version_tag_must_be_the_plugins_version() {
        let message = |tag_args: TokenStream, version: &str| errors_in_crate(tag_args, version);
        assert_eq!(
            message(
                quote!(name = "notes", image = "acme/notes:0.1.0", mcp_port = 8080),
                "0.2.0"
            ),
            [
                "the image tag `0.1.0` is not the plugin's version `0.2.0` (the package version \
                 in Cargo.toml): the manifest would name an image built for another version\n\
                 = help: drop the tag, `image = \"acme/notes\"`, and the image is tagged with \
                 the plugin's version; or write `image = \"acme/notes:0.2.0\"`"
            ]
        );
        // An explicit `version` is the plugin's version.
        let errors = message(
            quote!(
                name = "n",
                version = "1.0.0",
                image = "ghcr.io/a/n:v0.9.0",
                mcp_port = 8080
            ),
            "0.9.0",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "the image tag `v0.9.0` is not the plugin's version `1.0.0` (set with \
                 `version = \"1.0.0\"`)"
            ),
            "{errors:?}"
        );
        assert!(
            errors[0].contains("`image = \"ghcr.io/a/n:1.0.0\"`"),
            "{errors:?}"
        );
        for fine in [
            quote!(name = "n", image = "acme/n:0.2.0", mcp_port = 8080),
            quote!(name = "n", image = "acme/n:v0.2.0", mcp_port = 8080),
            quote!(name = "n", image = "acme/n:latest", mcp_port = 8080),
            quote!(name = "n", image = "acme/n:dev", mcp_port = 8080),
            quote!(name = "n", image = "acme/n:0.1", mcp_port = 8080),
            quote!(name = "n", image = "acme/n", mcp_port = 8080),
            quote!(
                name = "n",
                version = "0.2.0-rc.1",
                image = "acme/n:0.2.0-rc.1",
                mcp_port = 8080
            ),
        ] {
            assert_eq!(
                message(fine.clone(), "0.2.0"),
                Vec::<String>::new(),
                "{fine}"
            );
        }
    }

    #[test]
    fn an_untagged_image_is_left_for_the_expansion_to_tag() {
        let digest = format!("acme/n@sha256:{}", "a".repeat(64));
        for (image, expected) in [
            ("acme/n", "untagged: acme/n"),
            ("localhost:5000/acme/n", "untagged: localhost:5000/acme/n"),
            ("acme/n:latest", "as written: acme/n:latest"),
            (digest.as_str(), &*format!("as written: {digest}")),
        ] {
            let args = quote!(name = "n", image = #image, mcp_port = 8080);
            assert_eq!(image_in_crate(args, "0.2.0").as_deref(), Some(expected));
        }
    }

    fn plugin_errors(args: TokenStream) -> Vec<String> {
        check(args, parse_quote!(impl P {}))
    }

    const OK: &str = r#"name = "notes", image = "n/notes:1", mcp_port = 8080"#;

    fn ok_args(extra: TokenStream) -> TokenStream {
        let ok: TokenStream = OK.parse().unwrap_or_default();
        quote!(#ok, #extra)
    }

    #[test]
    fn a_valid_declaration_has_no_errors() {
        let errors = check(
            ok_args(quote!(
                ui_port = 8081,
                sidebar(icon = "i", label = "l"),
                required_env_vars = ["API_KEY"]
            )),
            parse_quote! {
                /// Notes.
                impl P {
                    /// Adds.
                    #[tool]
                    async fn add(&self, store: AgentStore, text: String) -> Result<u64, ToolError> { todo!() }
                    #[tool(description = "Lists.")]
                    fn list() -> Vec<String> { todo!() }
                }
            },
        );
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn missing_required_attributes() {
        assert_eq!(
            plugin_errors(quote!()),
            [
                "missing `name` in `#[plugin(...)]`: add `name = \"my-plugin\"`",
                "missing `image` in `#[plugin(...)]`: add `image = \"acme/my-plugin\"`",
                "missing `mcp_port` in `#[plugin(...)]`: add `mcp_port = 8080`",
            ]
        );
    }

    #[test]
    fn manifest_values_follow_the_sdk_rules() {
        let errors = plugin_errors(quote!(
            name = "My Notes",
            version = "v1.0",
            image = "N/x",
            mcp_port = 80,
            ui_port = 70000,
            required_env_vars = ["1X", "NANO_API_URL", "OK", "OK"]
        ));
        let firsts: Vec<&str> = errors
            .iter()
            .map(|e| e.lines().next().unwrap_or(""))
            .collect();
        assert_eq!(
            firsts,
            [
                "the plugin name `My Notes` contains `M`: only lowercase letters, digits and `-` are allowed",
                "`v1.0` is not a semantic version: unexpected character 'v' while parsing major version number",
                "`N/x` is not a valid image reference: its repository `N/x` contains uppercase letters",
                "port 80 is outside 1024–65535",
                "port 70000 is outside 1024–65535",
                "`1X` is not a valid environment variable name: use letters, digits and `_`, not starting with a digit",
                "`NANO_API_URL` is reserved: names starting with `NANO_` belong to the host",
                "`OK` is listed twice in `required_env_vars`",
            ]
        );
        assert!(
            errors[0].ends_with("= help: try `my-notes`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn huge_ports_are_reported_as_written() {
        let errors = plugin_errors(quote!(name = "n", image = "n:1", mcp_port = 99999999999));
        assert_eq!(errors, ["port 99999999999 is outside 1024–65535"]);
    }

    #[test]
    fn ui_port_rules() {
        assert_eq!(
            plugin_errors(ok_args(quote!(ui_port = 8080))),
            ["`ui_port` and `mcp_port` are both 8080: the MCP server and the UI need a port each"]
        );
        assert_eq!(
            plugin_errors(ok_args(quote!(sidebar(icon = "i", label = "l")))),
            [
                "`sidebar` needs `ui_port`: the host serves the sidebar's page from the plugin's UI port"
            ]
        );
        assert_eq!(
            plugin_errors(ok_args(quote!(ui_port = 8081, sidebar(label = "")))),
            [
                "missing `icon` in `sidebar(...)`: add `icon = \"layout\"`",
                "this is empty: the dashboard shows it in the sidebar"
            ]
        );
    }

    #[test]
    fn tool_rules() {
        let errors = check(
            OK.parse().unwrap_or_default(),
            parse_quote! {
                impl P {
                    /// D.
                    #[tool] fn addNote(&mut self) {}
                    /// D.
                    #[tool(name = "x")] fn a(self) {}
                    /// D.
                    #[tool(name = "x")] fn b<T>(_: String, (c, d): (u8, u8), e: impl Display) -> impl Serialize {}
                    #[tool] fn c(s: &str, #[arg(default)] store: AgentStore, #[arg(rename = "s")] t: u8) {}
                    fn run(&self) {}
                }
            },
        );
        assert_eq!(
            errors,
            [
                "`#[plugin(...)]` generates `run`: rename this method (a tool keeps its name with `#[tool(name = \"run\")]`)",
                "the tool name `addNote` must start with a lowercase letter and contain only lowercase letters, digits and `_`\n= help: try `add_note`",
                "a tool cannot take `&mut self`: calls run concurrently and share the plugin; take `&self` and keep mutable state behind a `Mutex` or in the `AgentStore`",
                "a tool takes `&self` or no `self` at all: the plugin is shared by every call",
                "duplicate tool name `x`, first declared by `fn a`",
                "a tool cannot be generic: its input and output schemas are derived from concrete types",
                "a tool parameter cannot be `impl Trait`: it needs a concrete type to be decoded from the call's JSON arguments",
                "a tool cannot return `impl Trait`: its output schema is derived from the concrete type",
                "the tool `c` has no description: add a `///` doc comment or `#[tool(description = \"...\")]`; the model chooses tools by it",
                "a tool argument cannot be a reference: arguments are decoded from JSON into owned values (use `String`, not `&str`)",
                "two arguments of this tool are named `s`",
            ]
        );
    }

    #[test]
    fn trait_and_generic_impls_are_rejected() {
        let errors = check(
            OK.parse().unwrap_or_default(),
            parse_quote!(
                impl<T> Tr for P<T> {}
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn raw_identifiers_name_tools_without_the_prefix() {
        let errors = check(
            OK.parse().unwrap_or_default(),
            parse_quote!(impl P { /// D.
                #[tool] fn r#match(r#type: String) {} }),
        );
        assert_eq!(errors, Vec::<String>::new());
    }
}
