//! Reads `#[plugin(...)] impl T { ... }` into plain structs, removing the attributes that only
//! the macro understands (`#[tool]`, `#[arg]`, parameter doc comments) from the impl block it
//! hands back. Syntax problems are collected, not returned at the first one; rules about the
//! values (names, ports, ...) are checked afterwards by `validate`.

use proc_macro2::{Span, TokenStream};
use syn::{
    Attribute, Expr, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, LitInt, LitStr,
    Pat, PatType, PathArguments, PathSegment, ReturnType, Type, meta::ParseNestedMeta,
    parse::Parser, spanned::Spanned,
};

use crate::attr::{self, Errors, Keys, Slot};

/// The impl block under `#[plugin(...)]`.
pub(crate) struct Plugin {
    pub attrs: PluginAttrs,
    /// The doc comment on the impl block: the plugin's description unless one is given.
    pub doc: Option<String>,
    /// The impl block as it is re-emitted: without `#[tool]`, `#[resource]`, `#[prompt]`,
    /// `#[arg]` and parameter docs.
    pub item: ItemImpl,
    /// The `#[tool]` methods.
    pub tools: Vec<Method>,
    /// The `#[resource(...)]` methods.
    pub resources: Vec<Resource>,
    /// The `#[prompt]` methods.
    pub prompts: Vec<Method>,
}

/// A method marked `#[resource(...)]`: the method, and where its resource lives.
pub(crate) struct Resource {
    /// The `#[resource(...)]` attribute, for what is missing from it.
    pub marker: Attribute,
    pub uri: Option<LitStr>,
    pub uri_template: Option<LitStr>,
    pub mime_type: Option<LitStr>,
    pub method: Method,
}

/// The arguments of `#[plugin(...)]`, as written.
pub(crate) struct PluginAttrs {
    pub name: Option<LitStr>,
    pub version: Option<LitStr>,
    pub description: Option<LitStr>,
    pub author: Option<LitStr>,
    pub image: Option<LitStr>,
    pub mcp_port: Option<LitInt>,
    pub ui_port: Option<LitInt>,
    pub sidebar: Option<SidebarAttrs>,
    pub required_env_vars: Option<Vec<LitStr>>,
    /// `ui = Self::ui`: a function `fn(&Self) -> Ui` giving the web UI served on `ui_port`.
    pub ui: Option<syn::ExprPath>,
    pub permissions: Option<PermissionsAttrs>,
    pub min_host_version: Option<LitStr>,
    pub icon: Option<LitStr>,
    /// `config = MyConfig`: the type whose fields are the plugin's settings.
    pub config: Option<syn::Type>,
}

/// `permissions(network = ..., filesystem = "...", spawn, memory = "...", cpus = 0.5,
/// pids = 64)`, as written.
pub(crate) struct PermissionsAttrs {
    pub network: Option<NetworkAttr>,
    pub filesystem: Option<LitStr>,
    pub spawn: Option<bool>,
    pub memory: Option<LitStr>,
    /// A float or an integer literal.
    pub cpus: Option<syn::Lit>,
    pub pids: Option<LitInt>,
}

/// `network = false`, `network = true` or `network = ["host:port", ...]`.
pub(crate) enum NetworkAttr {
    Flag(bool),
    Allow(Vec<LitStr>),
}

/// `sidebar(icon = "...", label = "...", route = "...")`.
pub(crate) struct SidebarAttrs {
    /// The `sidebar` key, for what is missing from it.
    pub key: syn::Path,
    pub icon: Option<LitStr>,
    pub label: Option<LitStr>,
    pub route: Option<LitStr>,
}

/// A method marked `#[tool]`, `#[resource(...)]` or `#[prompt]`: its signature, and the keys
/// those attributes share (`name`, `title`, `description`; the annotations are the tool's).
pub(crate) struct Method {
    /// The method's name.
    pub ident: Ident,
    pub name: Option<LitStr>,
    pub title: Option<LitStr>,
    pub description: Option<LitStr>,
    /// The method's doc comment.
    pub doc: Option<String>,
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
    /// `#[tool(task)]`: calls may run as tasks.
    pub task: Option<bool>,
    /// `#[tool(app = "ui://...")]`: the page clients supporting MCP Apps render for it.
    pub app: Option<LitStr>,
    /// `#[tool(icon = "https://...")]`: an icon clients show beside the tool.
    pub icon: Option<LitStr>,
    /// The method's `#[cfg(...)]` attributes (which it keeps): the tool exists only where
    /// the method does.
    pub cfgs: Vec<Attribute>,
    pub is_async: bool,
    /// `unsafe fn`, which a tool cannot be.
    pub unsafety: Option<syn::token::Unsafe>,
    /// The method's generics, which a tool cannot have.
    pub generics: syn::Generics,
    pub receiver: Receiver,
    pub params: Vec<Param>,
    pub output: Output,
    /// The return type as written, for errors about it; `None` for `()` left implicit.
    pub output_ty: Option<Box<Type>>,
}

/// How a tool method takes `self`.
pub(crate) enum Receiver {
    /// An associated function: no plugin state.
    None,
    /// `&self` (or `self: &Self`): the state, shared by every call.
    Shared,
    /// Anything else (`&mut self`, `self`, `self: Arc<Self>`), which a tool cannot take.
    Unsupported(Box<syn::Receiver>),
}

/// A parameter other than `self`.
pub(crate) struct Param {
    pub pat: Box<Pat>,
    pub ty: Box<Type>,
    /// The parameter's `///` comments, which become the argument's description.
    pub docs: Vec<Attribute>,
    /// The first `#[arg(...)]` attribute, if any: only arguments may have one (the expansion
    /// checks the type).
    pub arg_attr: Option<Attribute>,
    pub default: Option<ArgDefault>,
    pub rename: Option<LitStr>,
    /// `#[arg(complete = path)]`: the function completing a prompt argument or a template
    /// variable.
    pub complete: Option<Box<Expr>>,
}

/// `#[arg(default)]` or `#[arg(default = expr)]`.
pub(crate) enum ArgDefault {
    /// `Default::default()`.
    Trait,
    Expr(Box<Expr>),
}

/// What a tool method returns, and so how its value becomes a tool result.
#[derive(Debug)]
pub(crate) enum Output {
    /// `()`: an empty success.
    Unit,
    /// `String` / `&'static str`: one text block.
    Text,
    /// `CallToolResult`: as is.
    Raw,
    /// `Json<T>`: already structured.
    Json(Box<Type>),
    /// Any other `T`: structured, with `T`'s schema as the output schema.
    Structured(Box<Type>),
    /// `Result<T, E>` (also `io::Result<T>`, `anyhow::Result<T>`): `T` as above, `Err` as an
    /// `isError` result.
    Result(Box<Output>),
    /// `impl Trait`, which has no schema.
    Opaque(Box<Type>),
}

static PLUGIN: Keys = Keys {
    attribute: "#[plugin(...)]",
    known: &[
        "name",
        "version",
        "description",
        "author",
        "image",
        "mcp_port",
        "ui_port",
        "sidebar",
        "required_env_vars",
        "ui",
        "permissions",
        "min_host_version",
        "icon",
        "config",
    ],
};

static PERMISSIONS: Keys = Keys {
    attribute: "permissions(...)",
    known: &["network", "filesystem", "spawn", "memory", "cpus", "pids"],
};

static SIDEBAR: Keys = Keys {
    attribute: "sidebar(...)",
    known: &["icon", "label", "route"],
};

static TOOL: Keys = Keys {
    attribute: "#[tool(...)]",
    known: &[
        "name",
        "title",
        "description",
        "read_only",
        "destructive",
        "idempotent",
        "open_world",
        "task",
        "app",
        "icon",
    ],
};

static ARG: Keys = Keys {
    attribute: "#[arg(...)]",
    known: &["default", "rename", "complete"],
};

static RESOURCE: Keys = Keys {
    attribute: "#[resource(...)]",
    known: &[
        "uri",
        "uri_template",
        "name",
        "title",
        "description",
        "mime_type",
    ],
};

static PROMPT: Keys = Keys {
    attribute: "#[prompt(...)]",
    known: &["name", "title", "description"],
};

/// The attributes that make a method part of the plugin.
const MARKERS: [&str; 3] = ["tool", "resource", "prompt"];

/// Reads the attribute's arguments and the impl block.
pub(crate) fn plugin(args: TokenStream, mut item: ItemImpl, errors: &Errors) -> Plugin {
    let attrs = plugin_attrs(args, errors);
    let doc = attr::doc_text(&item.attrs);
    let (mut tools, mut resources, mut prompts) = (Vec::new(), Vec::new(), Vec::new());
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            let mut markers = MARKERS
                .iter()
                .flat_map(|name| take_attrs(&mut method.attrs, name))
                .collect::<Vec<_>>()
                .into_iter();
            let Some(marker) = markers.next() else {
                reject_arg_attrs(method, errors);
                continue;
            };
            for extra in markers {
                let message = if attr::is(&extra, marker_name(&marker)) {
                    format!("duplicate `#[{}]` on this method", marker_name(&marker))
                } else {
                    format!(
                        "this method is already a {}: a method is one tool, resource or prompt",
                        marker_name(&marker)
                    )
                };
                errors.at(extra, message);
            }
            match marker_name(&marker) {
                "tool" => tools.push(tool(&marker, method, errors)),
                "resource" => resources.push(resource(marker, method, errors)),
                _ => prompts.push(prompt(&marker, method, errors)),
            }
        } else if let Some(attrs) = impl_item_attrs(impl_item) {
            for name in MARKERS {
                for marker in take_attrs(attrs, name) {
                    errors.at(
                        marker,
                        format!("`#[{name}]` goes on a method (`fn`), not on this item"),
                    );
                }
            }
        }
    }
    Plugin {
        attrs,
        doc,
        item,
        tools,
        resources,
        prompts,
    }
}

/// `tool`, `resource` or `prompt`: which of [`MARKERS`] `marker` is.
fn marker_name(marker: &Attribute) -> &'static str {
    MARKERS
        .into_iter()
        .find(|name| attr::is(marker, name))
        .unwrap_or("tool")
}

fn plugin_attrs(args: TokenStream, errors: &Errors) -> PluginAttrs {
    let mut name = Slot::new(&PLUGIN, "name");
    let mut version = Slot::new(&PLUGIN, "version");
    let mut description = Slot::new(&PLUGIN, "description");
    let mut author = Slot::new(&PLUGIN, "author");
    let mut image = Slot::new(&PLUGIN, "image");
    let mut mcp_port = Slot::new(&PLUGIN, "mcp_port");
    let mut ui_port = Slot::new(&PLUGIN, "ui_port");
    let mut sidebar = Slot::new(&PLUGIN, "sidebar");
    let mut required_env_vars = Slot::new(&PLUGIN, "required_env_vars");
    let mut ui = Slot::new(&PLUGIN, "ui");
    let mut permissions = Slot::new(&PLUGIN, "permissions");
    let mut min_host_version = Slot::new(&PLUGIN, "min_host_version");
    let mut icon = Slot::new(&PLUGIN, "icon");
    let mut config = Slot::new(&PLUGIN, "config");

    let mut misspelt = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let path = &meta.path;
        if path.is_ident("name") {
            name.set(errors, path, attr::lit_str(errors, &meta, "\"my-plugin\"")?);
        } else if path.is_ident("version") {
            version.set(errors, path, attr::lit_str(errors, &meta, "\"0.1.0\"")?);
        } else if path.is_ident("description") {
            description.set(errors, path, attr::lit_str(errors, &meta, "\"...\"")?);
        } else if path.is_ident("author") {
            author.set(errors, path, attr::lit_str(errors, &meta, "\"...\"")?);
        } else if path.is_ident("image") {
            image.set(
                errors,
                path,
                attr::lit_str(errors, &meta, "\"acme/my-plugin\"")?,
            );
        } else if path.is_ident("mcp_port") {
            mcp_port.set(errors, path, attr::lit_int(errors, &meta, "8080")?);
        } else if path.is_ident("ui_port") {
            ui_port.set(errors, path, attr::lit_int(errors, &meta, "8081")?);
        } else if path.is_ident("sidebar") {
            let value = sidebar_attrs(errors, &meta)?;
            sidebar.set(errors, path, value);
        } else if path.is_ident("ui") {
            let value: syn::ExprPath = meta.value()?.parse()?;
            ui.set(errors, path, Some(value));
        } else if path.is_ident("required_env_vars") {
            let value = attr::lit_str_array(errors, &meta, "[\"API_KEY\"]")?;
            required_env_vars.set(errors, path, value);
        } else if path.is_ident("permissions") {
            let value = permissions_attrs(errors, &meta)?;
            permissions.set(errors, path, value);
        } else if path.is_ident("min_host_version") {
            let value = attr::lit_str(errors, &meta, "\">=0.1\"")?;
            min_host_version.set(errors, path, value);
        } else if path.is_ident("icon") {
            let value = attr::lit_str(errors, &meta, "\"https://example.com/icon.svg\"")?;
            icon.set(errors, path, value);
        } else if path.is_ident("config") {
            let value = config_type(errors, &meta)?;
            config.set(errors, path, value);
        } else {
            misspelt.extend(PLUGIN.unknown(errors, &meta)?);
        }
        Ok(())
    });
    match parser.parse2(args) {
        Ok(()) => {
            // Only when every key was read: after a syntax error, the keys that follow it
            // are unknown, not missing.
            let at = Span::call_site();
            name.require(errors, at, "name = \"my-plugin\"", &misspelt);
            image.require(errors, at, "image = \"acme/my-plugin\"", &misspelt);
            mcp_port.require(errors, at, "mcp_port = 8080", &misspelt);
        }
        Err(error) => errors.push(error),
    }

    PluginAttrs {
        name: name.get(),
        version: version.get(),
        description: description.get(),
        author: author.get(),
        image: image.get(),
        mcp_port: mcp_port.get(),
        ui_port: ui_port.get(),
        sidebar: sidebar.get(),
        required_env_vars: required_env_vars.get(),
        ui: ui.get(),
        permissions: permissions.get(),
        min_host_version: min_host_version.get(),
        icon: icon.get(),
        config: config.get(),
    }
}

/// `config = MyConfig`: a type, not a string naming one.
fn config_type(errors: &Errors, meta: &ParseNestedMeta) -> syn::Result<Option<syn::Type>> {
    let value = meta.value()?;
    if value.peek(syn::Lit) {
        let lit: syn::Lit = value.parse()?;
        errors.at(
            &lit,
            "expected a type, e.g. `config = MyConfig`: the struct whose fields are the \
             plugin's settings",
        );
        return Ok(None);
    }
    Ok(Some(value.parse()?))
}

fn permissions_attrs(
    errors: &Errors,
    meta: &ParseNestedMeta,
) -> syn::Result<Option<PermissionsAttrs>> {
    if !meta.input.peek(syn::token::Paren) {
        errors.at(
            &meta.path,
            "expected `permissions(...)` with any of `network`, `filesystem`, `spawn`, \
             `memory`, `cpus`, `pids`",
        );
        attr::skip_value(meta)?;
        return Ok(None);
    }
    let mut network = Slot::new(&PERMISSIONS, "network");
    let mut filesystem = Slot::new(&PERMISSIONS, "filesystem");
    let mut spawn = Slot::new(&PERMISSIONS, "spawn");
    let mut memory = Slot::new(&PERMISSIONS, "memory");
    let mut cpus = Slot::new(&PERMISSIONS, "cpus");
    let mut pids = Slot::new(&PERMISSIONS, "pids");
    meta.parse_nested_meta(|inner| {
        let path = &inner.path;
        if path.is_ident("network") {
            network.set(errors, path, network_attr(errors, &inner)?);
        } else if path.is_ident("filesystem") {
            let value = attr::lit_str(errors, &inner, "\"read-only\"")?;
            filesystem.set(errors, path, value);
        } else if path.is_ident("spawn") {
            spawn.set(errors, path, attr::flag(errors, &inner)?);
        } else if path.is_ident("memory") {
            memory.set(errors, path, attr::lit_str(errors, &inner, "\"128MiB\"")?);
        } else if path.is_ident("cpus") {
            cpus.set(errors, path, number(errors, &inner, "0.5")?);
        } else if path.is_ident("pids") {
            pids.set(errors, path, attr::lit_int(errors, &inner, "64")?);
        } else {
            PERMISSIONS.unknown(errors, &inner)?;
        }
        Ok(())
    })?;
    Ok(Some(PermissionsAttrs {
        network: network.get(),
        filesystem: filesystem.get(),
        spawn: spawn.get(),
        memory: memory.get(),
        cpus: cpus.get(),
        pids: pids.get(),
    }))
}

/// `network = false | true | ["host:port", ...]`.
fn network_attr(errors: &Errors, meta: &ParseNestedMeta) -> syn::Result<Option<NetworkAttr>> {
    let example = "[\"api.example.com:443\"]";
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("expected a value: `network = {example}`")));
    }
    let expr: Expr = meta.value()?.parse()?;
    match attr::ungroup(&expr) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(flag),
            ..
        }) => Ok(Some(NetworkAttr::Flag(flag.value))),
        Expr::Array(array) => {
            let mut items = Vec::with_capacity(array.elems.len());
            for elem in &array.elems {
                match attr::ungroup(elem) {
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(lit),
                        ..
                    }) => items.push(lit.clone()),
                    other => errors.at(
                        other,
                        "expected a string literal \"host:port\" in `network`",
                    ),
                }
            }
            Ok(Some(NetworkAttr::Allow(items)))
        }
        other => {
            errors.at(
                other,
                format!(
                    "expected `false`, `true` or a list of destinations: `network = {example}`"
                ),
            );
            Ok(None)
        }
    }
}

/// `key = 0.5` or `key = 2`: a number literal.
fn number(errors: &Errors, meta: &ParseNestedMeta, example: &str) -> syn::Result<Option<syn::Lit>> {
    let key = attr::path_to_string(&meta.path);
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("expected a value: `{key} = {example}`")));
    }
    let expr: Expr = meta.value()?.parse()?;
    match attr::ungroup(&expr) {
        Expr::Lit(syn::ExprLit {
            lit: lit @ (syn::Lit::Float(_) | syn::Lit::Int(_)),
            ..
        }) => Ok(Some(lit.clone())),
        other => {
            errors.at(other, format!("expected a number: `{key} = {example}`"));
            Ok(None)
        }
    }
}

fn sidebar_attrs(errors: &Errors, meta: &ParseNestedMeta) -> syn::Result<Option<SidebarAttrs>> {
    if !meta.input.peek(syn::token::Paren) {
        errors.at(
            &meta.path,
            "expected `sidebar(icon = \"...\", label = \"...\")`, optionally with `route = \"...\"`",
        );
        attr::skip_value(meta)?;
        return Ok(None);
    }
    let mut icon = Slot::new(&SIDEBAR, "icon");
    let mut label = Slot::new(&SIDEBAR, "label");
    let mut route = Slot::new(&SIDEBAR, "route");
    let mut misspelt = Vec::new();
    meta.parse_nested_meta(|inner| {
        let path = &inner.path;
        if path.is_ident("icon") {
            icon.set(
                errors,
                path,
                attr::lit_str(errors, &inner, "\"list-checks\"")?,
            );
        } else if path.is_ident("label") {
            label.set(errors, path, attr::lit_str(errors, &inner, "\"Notes\"")?);
        } else if path.is_ident("route") {
            route.set(
                errors,
                path,
                attr::lit_str(errors, &inner, "\"/plugins/my-plugin/ui\"")?,
            );
        } else {
            misspelt.extend(SIDEBAR.unknown(errors, &inner)?);
        }
        Ok(())
    })?;
    icon.require(errors, meta.path.span(), "icon = \"layout\"", &misspelt);
    label.require(errors, meta.path.span(), "label = \"Notes\"", &misspelt);
    Ok(Some(SidebarAttrs {
        key: meta.path.clone(),
        icon: icon.get(),
        label: label.get(),
        route: route.get(),
    }))
}

fn tool(marker: &Attribute, method: &mut ImplItemFn, errors: &Errors) -> Method {
    let mut name = Slot::new(&TOOL, "name");
    let mut title = Slot::new(&TOOL, "title");
    let mut description = Slot::new(&TOOL, "description");
    let mut read_only = Slot::new(&TOOL, "read_only");
    let mut destructive = Slot::new(&TOOL, "destructive");
    let mut idempotent = Slot::new(&TOOL, "idempotent");
    let mut open_world = Slot::new(&TOOL, "open_world");
    let mut task = Slot::new(&TOOL, "task");
    let mut app = Slot::new(&TOOL, "app");
    let mut icon = Slot::new(&TOOL, "icon");

    match &marker.meta {
        syn::Meta::Path(_) => {}
        syn::Meta::List(_) => {
            let parsed = marker.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("name") {
                    name.set(errors, path, attr::lit_str(errors, &meta, "\"add_note\"")?);
                } else if path.is_ident("title") {
                    title.set(
                        errors,
                        path,
                        attr::lit_str(errors, &meta, "\"Add a note\"")?,
                    );
                } else if path.is_ident("description") {
                    description.set(errors, path, attr::lit_str(errors, &meta, "\"...\"")?);
                } else if path.is_ident("read_only") {
                    read_only.set(errors, path, attr::flag(errors, &meta)?);
                } else if path.is_ident("destructive") {
                    destructive.set(errors, path, attr::flag(errors, &meta)?);
                } else if path.is_ident("idempotent") {
                    idempotent.set(errors, path, attr::flag(errors, &meta)?);
                } else if path.is_ident("open_world") {
                    open_world.set(errors, path, attr::flag(errors, &meta)?);
                } else if path.is_ident("task") {
                    task.set(errors, path, attr::flag(errors, &meta)?);
                } else if path.is_ident("app") {
                    app.set(
                        errors,
                        path,
                        attr::lit_str(errors, &meta, "\"ui://board/view\"")?,
                    );
                } else if path.is_ident("icon") {
                    icon.set(
                        errors,
                        path,
                        attr::lit_str(errors, &meta, "\"https://example.com/icon.svg\"")?,
                    );
                } else {
                    TOOL.unknown(errors, &meta)?;
                }
                Ok(())
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
        syn::Meta::NameValue(nv) => {
            errors.at(nv, "expected `#[tool]` or `#[tool(...)]`");
        }
    }

    Method {
        name: name.get(),
        title: title.get(),
        description: description.get(),
        read_only: read_only.get(),
        destructive: destructive.get(),
        idempotent: idempotent.get(),
        open_world: open_world.get(),
        task: task.get(),
        app: app.get(),
        icon: icon.get(),
        ..signature(method, errors)
    }
}

fn resource(marker: Attribute, method: &mut ImplItemFn, errors: &Errors) -> Resource {
    let mut uri = Slot::new(&RESOURCE, "uri");
    let mut uri_template = Slot::new(&RESOURCE, "uri_template");
    let mut name = Slot::new(&RESOURCE, "name");
    let mut title = Slot::new(&RESOURCE, "title");
    let mut description = Slot::new(&RESOURCE, "description");
    let mut mime_type = Slot::new(&RESOURCE, "mime_type");
    if let syn::Meta::List(_) = &marker.meta {
        let parsed = marker.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("uri") {
                uri.set(
                    errors,
                    path,
                    attr::lit_str(errors, &meta, "\"notes://all\"")?,
                );
            } else if path.is_ident("uri_template") {
                let value = attr::lit_str(errors, &meta, "\"notes://{id}\"")?;
                uri_template.set(errors, path, value);
            } else if path.is_ident("name") {
                name.set(errors, path, attr::lit_str(errors, &meta, "\"note\"")?);
            } else if path.is_ident("title") {
                title.set(errors, path, attr::lit_str(errors, &meta, "\"A note\"")?);
            } else if path.is_ident("description") {
                description.set(errors, path, attr::lit_str(errors, &meta, "\"...\"")?);
            } else if path.is_ident("mime_type") {
                let value = attr::lit_str(errors, &meta, "\"text/plain\"")?;
                mime_type.set(errors, path, value);
            } else {
                RESOURCE.unknown(errors, &meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    Resource {
        uri: uri.get(),
        uri_template: uri_template.get(),
        mime_type: mime_type.get(),
        method: Method {
            name: name.get(),
            title: title.get(),
            description: description.get(),
            ..signature(method, errors)
        },
        marker,
    }
}

fn prompt(marker: &Attribute, method: &mut ImplItemFn, errors: &Errors) -> Method {
    let mut name = Slot::new(&PROMPT, "name");
    let mut title = Slot::new(&PROMPT, "title");
    let mut description = Slot::new(&PROMPT, "description");
    match &marker.meta {
        syn::Meta::Path(_) => {}
        syn::Meta::List(_) => {
            let parsed = marker.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("name") {
                    name.set(errors, path, attr::lit_str(errors, &meta, "\"summarise\"")?);
                } else if path.is_ident("title") {
                    title.set(errors, path, attr::lit_str(errors, &meta, "\"Summarise\"")?);
                } else if path.is_ident("description") {
                    description.set(errors, path, attr::lit_str(errors, &meta, "\"...\"")?);
                } else {
                    PROMPT.unknown(errors, &meta)?;
                }
                Ok(())
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
        syn::Meta::NameValue(nv) => {
            errors.at(nv, "expected `#[prompt]` or `#[prompt(...)]`");
        }
    }
    Method {
        name: name.get(),
        title: title.get(),
        description: description.get(),
        ..signature(method, errors)
    }
}

/// The method's signature, with no attribute keys set yet.
fn signature(method: &mut ImplItemFn, errors: &Errors) -> Method {
    let mut receiver = Receiver::None;
    let mut params = Vec::new();
    for input in &mut method.sig.inputs {
        match input {
            FnArg::Receiver(r) => receiver = receiver_kind(r),
            FnArg::Typed(typed) => params.push(param(typed, errors)),
        }
    }

    Method {
        ident: method.sig.ident.clone(),
        name: None,
        title: None,
        description: None,
        doc: attr::doc_text(&method.attrs),
        read_only: None,
        destructive: None,
        idempotent: None,
        open_world: None,
        task: None,
        app: None,
        icon: None,
        cfgs: method
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .cloned()
            .collect(),
        is_async: method.sig.asyncness.is_some(),
        unsafety: method.sig.unsafety,
        generics: method.sig.generics.clone(),
        receiver,
        params,
        output: match &method.sig.output {
            ReturnType::Default => Output::Unit,
            ReturnType::Type(_, ty) => output(ty),
        },
        output_ty: match &method.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(ty.clone()),
        },
    }
}

fn receiver_kind(receiver: &syn::Receiver) -> Receiver {
    // `&self` and `self: &Self` both arrive with `ty` = `&Self`.
    let shared = match &*receiver.ty {
        Type::Reference(r) => r.mutability.is_none() && is_self(&r.elem),
        _ => false,
    };
    if shared {
        Receiver::Shared
    } else {
        Receiver::Unsupported(Box::new(receiver.clone()))
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ungroup(ty), Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// Reads one parameter and strips the macro's attributes and its docs from it.
fn param(typed: &mut PatType, errors: &Errors) -> Param {
    let docs = take_attrs(&mut typed.attrs, "doc");
    let arg_attrs = take_attrs(&mut typed.attrs, "arg");

    let mut default = Slot::new(&ARG, "default");
    let mut rename = Slot::new(&ARG, "rename");
    let mut complete = Slot::new(&ARG, "complete");
    for arg_attr in &arg_attrs {
        if !matches!(arg_attr.meta, syn::Meta::List(_)) {
            errors.at(
                arg_attr,
                "expected `#[arg(default = ...)]` or `#[arg(rename = \"...\")]`",
            );
            continue;
        }
        let parsed = arg_attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("default") {
                let value = if meta.input.peek(syn::Token![=]) {
                    ArgDefault::Expr(Box::new(meta.value()?.parse()?))
                } else {
                    ArgDefault::Trait
                };
                default.set(errors, path, Some(value));
            } else if path.is_ident("rename") {
                rename.set(errors, path, attr::lit_str(errors, &meta, "\"newName\"")?);
            } else if path.is_ident("complete") {
                complete.set(errors, path, Some(Box::new(meta.value()?.parse::<Expr>()?)));
            } else {
                ARG.unknown(errors, &meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }

    Param {
        pat: typed.pat.clone(),
        ty: typed.ty.clone(),
        docs,
        arg_attr: arg_attrs.into_iter().next(),
        default: default.get(),
        rename: rename.get(),
        complete: complete.get(),
    }
}

/// `#[arg]` on a method that is not a tool would reach the compiler as an unknown attribute.
fn reject_arg_attrs(method: &mut ImplItemFn, errors: &Errors) {
    for input in &mut method.sig.inputs {
        if let FnArg::Typed(typed) = input {
            for arg_attr in take_attrs(&mut typed.attrs, "arg") {
                errors.at(
                    arg_attr,
                    "`#[arg(...)]` applies to the parameters of `#[tool]`, `#[resource]` and \
                     `#[prompt]` methods",
                );
            }
        }
    }
}

/// Removes and returns the attributes named `name` (by their last path segment).
fn take_attrs(attrs: &mut Vec<Attribute>, name: &str) -> Vec<Attribute> {
    let (taken, kept) = std::mem::take(attrs)
        .into_iter()
        .partition(|a| attr::is(a, name));
    *attrs = kept;
    taken
}

fn impl_item_attrs(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Const(c) => Some(&mut c.attrs),
        ImplItem::Fn(f) => Some(&mut f.attrs),
        ImplItem::Type(t) => Some(&mut t.attrs),
        ImplItem::Macro(m) => Some(&mut m.attrs),
        _ => None,
    }
}

/// Looks through the invisible groups `macro_rules!` wraps interpolated types in.
pub(crate) fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        other => other,
    }
}

fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

/// The type arguments of `segment`: `T, E` of `Result<T, E>`.
fn type_args(segment: &PathSegment) -> impl Iterator<Item = &Type> {
    let args = match &segment.arguments {
        PathArguments::AngleBracketed(args) => Some(&args.args),
        _ => None,
    };
    args.into_iter().flatten().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn output(ty: &Type) -> Output {
    let boxed = || Box::new(ty.clone());
    match ungroup(ty) {
        Type::Tuple(tuple) if tuple.elems.is_empty() => return Output::Unit,
        Type::Reference(r) if last_segment(&r.elem).is_some_and(|s| s.ident == "str") => {
            return Output::Text;
        }
        Type::ImplTrait(_) => return Output::Opaque(boxed()),
        _ => {}
    }
    let Some(segment) = last_segment(ty) else {
        return Output::Structured(boxed());
    };
    let first_arg = type_args(segment).next();
    match (segment.ident.to_string().as_str(), first_arg) {
        ("String", _) => Output::Text,
        // Results that are content blocks already: sent as they are, with no output schema.
        ("CallToolResult" | "Content", _) => Output::Raw,
        ("Vec", Some(inner)) if last_segment(inner).is_some_and(|s| s.ident == "Content") => {
            Output::Raw
        }
        ("Json", Some(inner)) => Output::Json(Box::new(inner.clone())),
        ("Result", Some(ok)) => Output::Result(Box::new(output(ok))),
        _ => Output::Structured(boxed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    fn parse(args: TokenStream, item: ItemImpl) -> (Plugin, Vec<String>) {
        let errors = Errors::default();
        let plugin = plugin(args, item, &errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (plugin, messages)
    }

    #[test]
    fn reads_every_plugin_attribute() {
        let (plugin, errors) = parse(
            quote!(
                name = "notes",
                version = "1.0.0",
                description = "d",
                author = "a",
                image = "n/notes:1",
                mcp_port = 8080,
                ui_port = 8081,
                sidebar(icon = "i", label = "l", route = "/r"),
                required_env_vars = ["A", "B"]
            ),
            parse_quote!(impl Notes {}),
        );
        assert_eq!(errors, Vec::<String>::new());
        let a = &plugin.attrs;
        assert_eq!(a.name.as_ref().map(LitStr::value).as_deref(), Some("notes"));
        assert_eq!(
            a.mcp_port.as_ref().map(LitInt::to_string).as_deref(),
            Some("8080")
        );
        let sidebar = a.sidebar.as_ref().expect("sidebar");
        assert_eq!(
            sidebar.route.as_ref().map(LitStr::value).as_deref(),
            Some("/r")
        );
        let vars: Vec<String> = a
            .required_env_vars
            .iter()
            .flatten()
            .map(LitStr::value)
            .collect();
        assert_eq!(vars, ["A", "B"]);
    }

    #[test]
    fn reports_every_attribute_problem_at_once() {
        let (_, errors) = parse(
            quote!(
                name = "a",
                name = "b",
                mcp_prot = 8080,
                image = 5,
                version = v1,
                bogus(x)
            ),
            parse_quote!(impl Notes {}),
        );
        assert_eq!(
            errors,
            [
                "duplicate attribute `name` in `#[plugin(...)]`",
                "unknown attribute `mcp_prot` in `#[plugin(...)]`; did you mean `mcp_port`?",
                "expected a string literal: `image = \"acme/my-plugin\"`",
                "expected a string literal: `version = \"0.1.0\"`",
                "unknown attribute `bogus` in `#[plugin(...)]`; expected one of `name`, \
                 `version`, `description`, `author`, `image`, `mcp_port`, `ui_port`, \
                 `sidebar`, `required_env_vars`, `ui`, `permissions`, `min_host_version`, \
                 `icon`, `config`",
            ]
        );
    }

    #[test]
    fn strips_macro_attributes_and_classifies_parameters() {
        let (plugin, errors) = parse(
            quote!(name = "n", image = "n:1", mcp_port = 8080),
            parse_quote! {
                impl Notes {
                    /// Adds.
                    #[tool(read_only, destructive = false, name = "add")]
                    async fn add_note(
                        &self,
                        store: AgentStore,
                        agent: Option<nanofleet_sdk::AgentId>,
                        /// The text.
                        #[arg(rename = "body")]
                        text: String,
                        #[arg(default = 10)]
                        #[allow(unused)]
                        limit: u32,
                        state: State<Db>,
                        env: nanofleet_sdk::env::PluginEnv,
                    ) -> Result<u64, ToolError> { todo!() }

                    fn helper(&self) {}
                }
            },
        );
        assert_eq!(errors, Vec::<String>::new());
        let [tool] = plugin.tools.as_slice() else {
            panic!("one tool expected")
        };
        assert_eq!(
            tool.name.as_ref().map(LitStr::value).as_deref(),
            Some("add")
        );
        assert_eq!(
            (tool.read_only, tool.destructive, tool.idempotent),
            (Some(true), Some(false), None)
        );
        assert_eq!(tool.doc.as_deref(), Some("Adds."));
        assert!(matches!(tool.receiver, Receiver::Shared));
        assert_eq!(tool.params.len(), 6);
        assert_eq!(tool.params[2].docs.len(), 1);
        assert!(matches!(tool.params[3].default, Some(ArgDefault::Expr(_))));
        assert!(
            matches!(&tool.output, Output::Result(ok) if matches!(**ok, Output::Structured(_)))
        );

        // What the compiler sees: no `#[tool]`, `#[arg]` or parameter docs; other attributes stay.
        let emitted = quote::ToTokens::to_token_stream(&plugin.item).to_string();
        assert!(!emitted.contains("tool"), "{emitted}");
        assert!(!emitted.contains("arg"), "{emitted}");
        assert!(!emitted.contains("The text"), "{emitted}");
        assert!(emitted.contains("allow"), "{emitted}");
        assert!(emitted.contains("Adds"), "{emitted}");
    }

    #[test]
    fn classifies_return_types() {
        let cases: [(Type, &str); 9] = [
            (parse_quote!(()), "Unit"),
            (parse_quote!(String), "Text"),
            (parse_quote!(&'static str), "Text"),
            (parse_quote!(rmcp::model::CallToolResult), "Raw"),
            (parse_quote!(Json<Note>), "Json"),
            (parse_quote!(Vec<Note>), "Structured"),
            (parse_quote!(anyhow::Result<String>), "Result(Text)"),
            (parse_quote!(Result<(), E>), "Result(Unit)"),
            (parse_quote!(impl Serialize), "Opaque"),
        ];
        for (ty, expected) in cases {
            let got = match output(&ty) {
                Output::Result(ok) => format!("Result({})", variant(&ok)),
                other => variant(&other).to_owned(),
            };
            assert_eq!(got, expected, "{}", quote!(#ty));
        }

        fn variant(output: &Output) -> &'static str {
            match output {
                Output::Unit => "Unit",
                Output::Text => "Text",
                Output::Raw => "Raw",
                Output::Json(_) => "Json",
                Output::Structured(_) => "Structured",
                Output::Result(_) => "Result",
                Output::Opaque(_) => "Opaque",
            }
        }
    }

    #[test]
    fn receivers() {
        let kinds = |item: ItemImpl| -> Vec<&'static str> {
            let (plugin, _) = parse(TokenStream::new(), item);
            plugin
                .tools
                .iter()
                .map(|t| match t.receiver {
                    Receiver::None => "none",
                    Receiver::Shared => "shared",
                    Receiver::Unsupported(_) => "unsupported",
                })
                .collect()
        };
        assert_eq!(
            kinds(parse_quote! {
                impl P {
                    #[tool] fn a(&self) {}
                    #[tool] fn b(self: &Self) {}
                    #[tool] fn c() {}
                    #[tool] fn d(&mut self) {}
                    #[tool] fn e(self) {}
                    #[tool] fn f(self: Arc<Self>) {}
                }
            }),
            [
                "shared",
                "shared",
                "none",
                "unsupported",
                "unsupported",
                "unsupported"
            ]
        );
    }

    #[test]
    fn misplaced_macro_attributes_are_reported() {
        let (_, errors) = parse(
            quote!(name = "n", image = "n:1", mcp_port = 8080),
            parse_quote! {
                impl P {
                    #[tool] const X: u8 = 1;
                    fn helper(#[arg(default = 1)] x: u8) {}
                    #[tool] #[tool] fn twice() {}
                    #[tool = "x"] fn eq() {}
                    #[tool(read_only = 1, wat)] fn bad(#[arg(defualt = 1)] x: u8) {}
                }
            },
        );
        assert_eq!(
            errors,
            [
                "`#[tool]` goes on a method (`fn`), not on this item",
                "`#[arg(...)]` applies to the parameters of `#[tool]`, `#[resource]` and `#[prompt]` methods",
                "duplicate `#[tool]` on this method",
                "expected `#[tool]` or `#[tool(...)]`",
                "expected `true` or `false`: `read_only = true`",
                "unknown attribute `wat` in `#[tool(...)]`; expected one of `name`, `title`, \
                 `description`, `read_only`, `destructive`, `idempotent`, `open_world`, `task`, \
                 `app`, `icon`",
                "unknown attribute `defualt` in `#[arg(...)]`; did you mean `default`?",
            ]
        );
    }
}
