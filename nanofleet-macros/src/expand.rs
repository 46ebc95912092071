//! Turns a checked declaration into calls to the SDK's builder API, naming nothing but
//! `::nanofleet_sdk::__private::*` (and `core`/`std`), so a plugin crate needs no other
//! dependency.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{
    Ident, ImplItem, ItemImpl, LitStr, Type,
    ext::IdentExt,
    spanned::Spanned,
    visit_mut::{self, VisitMut},
};

use crate::{
    attr::Errors,
    parse::{self, ArgDefault, Output, ParamKind, Receiver},
    validate::{self, GENERATED_METHODS},
};

/// `#[plugin(...)]`: the impl block, cleaned, plus `manifest`, `plugin` and `run`; or, when
/// the declaration has errors, the errors plus enough of the item that they are the only ones.
pub(crate) fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(input) {
        Ok(syn::Item::Impl(item)) => item,
        Ok(other) => {
            let error = syn::Error::new_spanned(
                item_keyword(&other),
                "`#[plugin(...)]` goes on an impl block: `#[plugin(...)] impl MyPlugin { ... }`, \
                 with the tools as `#[tool]` methods",
            );
            return quote!(#other)
                .into_iter()
                .chain(error.into_compile_error())
                .collect();
        }
        Err(error) => return error.into_compile_error(),
    };

    let errors = Errors::default();
    let parsed = parse::plugin(args, item, &errors);
    let checked = validate::plugin(&parsed, &errors);
    match (errors.finish(), checked) {
        (Ok(()), Some(plugin)) => expand(&plugin),
        (Err(error), _) => fallback(&parsed.item, &error),
        // `validate` gives no plugin only when it reported why.
        (Ok(()), None) => fallback(
            &parsed.item,
            &syn::Error::new(Span::call_site(), "invalid `#[plugin(...)]` declaration"),
        ),
    }
}

/// `#[tool]`, `#[resource]` or `#[prompt]` (`marker`) that was not removed by an enclosing
/// `#[plugin(...)]`.
pub(crate) fn free_marker(marker: &str, input: TokenStream) -> TokenStream {
    let example = match marker {
        "resource" => {
            "#[resource(uri = \"notes://all\")] async fn all_notes(&self) -> String { ... }"
        }
        "prompt" => "#[prompt] fn summarise(&self, topic: String) -> String { ... }",
        _ => "#[tool] async fn my_tool(&self) -> String { ... }",
    };
    let error = syn::Error::new(
        Span::call_site(),
        format!(
            "`#[{marker}]` goes on a method inside an impl block marked `#[plugin(...)]`\n= help: \
             `#[plugin(name = \"...\", image = \"...\", mcp_port = 8080)] impl MyPlugin {{ \
             {example} }}`"
        ),
    );
    // Re-emit the function without the parameter attributes only this macro family
    // understands, so that the error above is the only one.
    let item = match syn::parse2::<syn::ImplItemFn>(input.clone()) {
        Ok(mut method) => {
            for input in &mut method.sig.inputs {
                if let syn::FnArg::Typed(typed) = input {
                    typed
                        .attrs
                        .retain(|a| !a.path().is_ident("doc") && !crate::attr::is(a, "arg"));
                }
            }
            method.into_token_stream()
        }
        Err(_) => input,
    };
    let mut tokens = error.into_compile_error();
    tokens.extend(item);
    tokens
}

/// The token to report "not an impl block" (or "not a struct or enum") at: the item's keyword.
pub(crate) fn item_keyword(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Fn(f) => f.sig.fn_token.into_token_stream(),
        syn::Item::Struct(s) => s.struct_token.into_token_stream(),
        syn::Item::Enum(e) => e.enum_token.into_token_stream(),
        syn::Item::Mod(m) => m.mod_token.into_token_stream(),
        syn::Item::Trait(t) => t.trait_token.into_token_stream(),
        other => other.into_token_stream(),
    }
}

/// On errors: the cleaned impl block and stand-ins for the generated methods, so that the
/// errors are reported without "no function `run`" and the like in their wake.
fn fallback(item: &ItemImpl, error: &syn::Error) -> TokenStream {
    let mut tokens = error.to_compile_error();
    item.to_tokens(&mut tokens);
    if item.trait_.is_some() {
        return tokens;
    }
    let user_defined = |name: &str| {
        item.items
            .iter()
            .any(|i| matches!(i, ImplItem::Fn(f) if f.sig.ident == name))
    };
    let mut stubs = TokenStream::new();
    for name in GENERATED_METHODS
        .into_iter()
        .filter(|name| !user_defined(name))
    {
        stubs.extend(match name {
            "manifest" => quote! {
                #[allow(missing_docs)]
                pub fn manifest() -> ::nanofleet_sdk::__private::Manifest { ::core::unreachable!() }
            },
            "plugin" => quote! {
                #[allow(missing_docs)]
                pub fn plugin(self) -> ::core::result::Result<
                    ::nanofleet_sdk::__private::Plugin,
                    ::nanofleet_sdk::__private::Error,
                > { ::core::unreachable!() }
            },
            "plugin_builder" => quote! {
                #[allow(missing_docs)]
                pub fn plugin_builder(self) -> ::nanofleet_sdk::__private::PluginBuilder {
                    ::core::unreachable!()
                }
            },
            _ => quote! {
                #[allow(missing_docs)]
                pub fn run(self) -> ::std::process::ExitCode { ::core::unreachable!() }
            },
        });
    }
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    tokens.extend(quote! {
        impl #impl_generics #self_ty #where_clause {
            #stubs
        }
    });
    tokens
}

fn expand(plugin: &validate::Plugin) -> TokenStream {
    let item = plugin.item;
    let self_ty = &item.self_ty;
    let manifest = manifest(&plugin.manifest);
    let tools = plugin.tools.iter().map(|t| {
        let cfgs = &t.def.cfgs;
        let tool = tool(t, self_ty);
        quote! {
            #(#cfgs)*
            let builder = builder.tool(#tool);
        }
    });
    let resources = plugin.resources.iter().map(|r| {
        let cfgs = &r.def.method.cfgs;
        let (method, resource) = resource(r, self_ty);
        quote! {
            #(#cfgs)*
            let builder = builder.#method(#resource);
        }
    });
    let prompts = plugin.prompts.iter().map(|p| {
        let cfgs = &p.def.cfgs;
        let prompt = prompt(p, self_ty);
        quote! {
            #(#cfgs)*
            let builder = builder.prompt(#prompt);
        }
    });
    // The UI function borrows the state, so it runs before the state moves into the builder.
    let (ui_before, ui_after) = match plugin.ui {
        Some(path) => (
            quote!(let __nanofleet_ui = #path(&self);),
            quote!(.ui(__nanofleet_ui)),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };

    quote! {
        #item

        impl #self_ty {
            /// The plugin's manifest, as declared in `#[plugin(...)]`.
            pub fn manifest() -> ::nanofleet_sdk::__private::Manifest {
                #manifest
            }

            /// The plugin: its manifest, its `#[tool]` methods, and `self` as the state they
            /// share. Fails when the manifest or a tool is invalid.
            pub fn plugin(self) -> ::core::result::Result<
                ::nanofleet_sdk::__private::Plugin,
                ::nanofleet_sdk::__private::Error,
            > {
                self.plugin_builder().build()
            }

            /// What [`plugin`](Self::plugin) builds, not yet built: add resources, prompts or
            /// tools declared without macros, then call `build()`.
            pub fn plugin_builder(self) -> ::nanofleet_sdk::__private::PluginBuilder {
                #ui_before
                let builder = ::nanofleet_sdk::__private::Plugin::builder(Self::manifest())
                    #ui_after
                    .state(self);
                #(#tools)*
                #(#resources)*
                #(#prompts)*
                builder
            }

            /// Runs the plugin binary: `serve` (the default), `manifest`, `tools` or `--help`.
            /// `fn main() -> std::process::ExitCode { MyPlugin::default().run() }`
            pub fn run(self) -> ::std::process::ExitCode {
                ::nanofleet_sdk::__private::run(|| self.plugin())
            }
        }
    }
}

fn manifest(m: &validate::Manifest) -> TokenStream {
    let name = &m.name;
    let image = match (&m.image, &m.version) {
        (validate::Image::AsWritten(image), _) => quote!(#image),
        (validate::Image::Untagged(image), Some(version)) => {
            let tagged = format!("{image}:{version}");
            quote!(#tagged)
        }
        (validate::Image::Untagged(image), None) => {
            let prefix = format!("{image}:");
            quote!(::core::concat!(#prefix, ::core::env!("CARGO_PKG_VERSION")))
        }
    };
    let mcp_port = m.mcp_port;
    let version = match &m.version {
        Some(version) => quote!(#version),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let description = match &m.description {
        Some(text) => quote!(#text),
        None => quote!(::core::env!("CARGO_PKG_DESCRIPTION")),
    };
    let author = match &m.author {
        Some(author) => quote!(::std::string::String::from(#author)),
        // Cargo separates authors with `:`.
        None => quote!(::core::env!("CARGO_PKG_AUTHORS").replace(':', ", ")),
    };
    let ui_port = m
        .ui_port
        .map(|port| quote!(manifest.ui_port = ::core::option::Option::Some(#port);));
    let sidebar = m
        .sidebar
        .as_ref()
        .map(|validate::Sidebar { icon, label, route }| {
            quote! {
                manifest.sidebar = ::core::option::Option::Some(
                    ::nanofleet_sdk::__private::Sidebar::new(#icon, #label, #route),
                );
            }
        });
    let vars = &m.required_env_vars;
    let required_env_vars = (!vars.is_empty()).then(|| {
        quote! {
            manifest.required_env_vars = ::std::vec![#(::std::string::String::from(#vars)),*];
        }
    });
    quote! {
        let mut manifest =
            ::nanofleet_sdk::__private::Manifest::new(#name, #version, #image, #mcp_port);
        manifest.description = ::std::string::String::from(#description);
        manifest.author = #author;
        #ui_port
        #sidebar
        #required_env_vars
        manifest
    }
}

/// One `Tool::new(..)...handler(..)` expression, preceded by its argument struct.
fn tool(tool: &validate::Tool, self_ty: &Type) -> TokenStream {
    let def = tool.def;
    let name = &tool.name;
    let description = &tool.description;

    let title = def.title.as_ref().map(|title| quote!(.title(#title)));
    let annotations = [
        ("read_only", def.read_only),
        ("destructive", def.destructive),
        ("idempotent", def.idempotent),
        ("open_world", def.open_world),
        ("task", def.task),
    ]
    .into_iter()
    .filter_map(|(hint, value)| {
        let hint = Ident::new(hint, Span::call_site());
        value.map(|value| quote!(.#hint(#value)))
    });
    let output = output_type(&def.output).map(|ty| quote_spanned!(ty.span()=> .output::<#ty>()));

    let title_name = format!("{}Arguments", tool.name);
    let args_struct = args_struct(def, self_ty, &title_name, true);
    let (extractions, call) = invocation(def);
    let requirements = requirements(def);
    let result = wrap(call, &def.output);
    let handler = handler_ident(def);

    quote! {
        {
            #args_struct
            ::nanofleet_sdk::__private::Tool::new(#name, #description)
                #title
                #(#annotations)*
                #output
                #(#requirements)*
                .#handler(|__args: __Args, __call: ::nanofleet_sdk::__private::ToolCall| async move {
                    #(#extractions)*
                    ::core::result::Result::Ok::<_, ::nanofleet_sdk::__private::ToolError>(#result)
                })
        }
    }
}

/// The values passed to the method, in order: the state, then each parameter from the call
/// (injected, with `?` on `__call`) or from the decoded `__args`. Returns the extraction
/// statements and the (awaited) call.
fn invocation(def: &parse::Method) -> (Vec<TokenStream>, TokenStream) {
    let method = &def.ident;
    let mut extractions = Vec::new();
    let mut call_args = Vec::new();
    if let Receiver::Shared = def.receiver {
        extractions.push(quote! {
            let __state: ::nanofleet_sdk::__private::State<Self> = __call.extract()?;
        });
        call_args.push(quote!(&*__state));
    }
    for (index, param) in def.params.iter().enumerate() {
        match param.kind {
            ParamKind::Injected(_) => {
                let ty = &param.ty;
                let var = format_ident!("__param{}", index);
                extractions.push(quote_spanned! {ty.span()=>
                    let #var: #ty = __call.extract()?;
                });
                call_args.push(quote!(#var));
            }
            ParamKind::Argument => {
                let field = field_ident(param, index);
                call_args.push(quote!(__args.#field));
            }
        }
    }
    let mut call = quote!(Self::#method(#(#call_args),*));
    if def.is_async {
        call = quote!(#call.await);
    }
    (extractions, call)
}

/// `handler`, spanned so that errors about the result (an error type without `Display`, a
/// future that is not `Send`) point at the return type, or at the method's name without one.
fn handler_ident(def: &parse::Method) -> TokenStream {
    let span = def
        .output_ty
        .as_ref()
        .map_or(def.ident.span(), Spanned::span);
    quote_spanned!(span=> handler)
}

/// `.requires::<T>()` for each injected parameter: the type declares what it needs from the
/// plugin (`FromToolCall::requirements`), checked when the plugin starts.
fn requirements(def: &parse::Method) -> Vec<TokenStream> {
    def.params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Injected(_)))
        .map(|p| {
            let ty = &p.ty;
            quote_spanned!(ty.span()=> .requires::<#ty>())
        })
        .collect()
}

/// `.complete("name", path)` for each argument with `#[arg(complete = path)]`.
fn completers(def: &parse::Method) -> Vec<TokenStream> {
    def.params
        .iter()
        .enumerate()
        .filter_map(|(index, param)| {
            let complete = param.complete.as_ref()?;
            let name = match &param.rename {
                Some(lit) => lit.value(),
                None => field_ident(param, index).unraw().to_string(),
            };
            Some(quote_spanned!(complete.span()=> .complete(#name, #complete)))
        })
        .collect()
}

/// One `Resource::new(..)` (or `ResourceTemplate::new(..)`) expression, and the builder
/// method that adds it.
fn resource(resource: &validate::Resource, self_ty: &Type) -> (Ident, TokenStream) {
    let def = &resource.def.method;
    let name = &resource.name;
    let title = def.title.as_ref().map(|t| quote!(.title(#t)));
    let description = def
        .description
        .as_ref()
        .map(LitStr::value)
        .or_else(|| def.doc.clone())
        .map(|d| quote!(.description(#d)));
    let mime_type = resource
        .def
        .mime_type
        .as_ref()
        .map(|m| quote!(.mime_type(#m)));
    let requirements = requirements(def);
    let (extractions, call) = invocation(def);
    let handler = handler_ident(def);
    let body = quote! {
        async move {
            #(#extractions)*
            ::core::result::Result::Ok::<_, ::nanofleet_sdk::__private::ToolError>(#call)
        }
    };
    match &resource.location {
        validate::Location::Uri(uri) => (
            format_ident!("resource"),
            quote! {
                ::nanofleet_sdk::__private::Resource::new(#uri, #name)
                    #title #description #mime_type #(#requirements)*
                    .#handler(|__call: ::nanofleet_sdk::__private::ToolCall| #body)
            },
        ),
        validate::Location::Template(template) => {
            let vars = args_struct(def, self_ty, "", false);
            let completers = completers(def);
            (
                format_ident!("resource_template"),
                quote! {
                    {
                        #vars
                        ::nanofleet_sdk::__private::ResourceTemplate::new(#template, #name)
                            #title #description #mime_type #(#requirements)*
                            .#handler(|__args: __Args, __call: ::nanofleet_sdk::__private::ToolCall| #body)
                            #(#completers)*
                    }
                },
            )
        }
    }
}

/// One `Prompt::new(..)` expression, preceded by its argument struct.
fn prompt(prompt: &validate::Prompt, self_ty: &Type) -> TokenStream {
    let def = prompt.def;
    let (name, description) = (&prompt.name, &prompt.description);
    let title = def.title.as_ref().map(|t| quote!(.title(#t)));
    let args = args_struct(def, self_ty, &format!("{name}Arguments"), true);
    let (extractions, call) = invocation(def);
    let completers = completers(def);
    let requirements = requirements(def);
    // The arguments in the order the parameters are declared (a schema's properties have none).
    let order = def
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, ParamKind::Argument))
        .map(|(index, p)| match &p.rename {
            Some(lit) => lit.value(),
            None => field_ident(p, index).unraw().to_string(),
        })
        .collect::<Vec<_>>();
    let order = (!order.is_empty()).then(|| quote!(.argument_order([#(#order),*])));
    let handler = handler_ident(def);
    quote! {
        {
            #args
            ::nanofleet_sdk::__private::Prompt::new(#name, #description)
                #title
                #order
                #(#requirements)*
                .#handler(|__args: __Args, __call: ::nanofleet_sdk::__private::ToolCall| async move {
                    #(#extractions)*
                    ::core::result::Result::Ok::<_, ::nanofleet_sdk::__private::ToolError>(#call)
                })
                #(#completers)*
        }
    }
}

/// The struct the call's JSON arguments (or a URI's variables) are decoded into, `__Args`;
/// with `schema`, its JSON Schema (titled `title`) is the input schema, with the parameters'
/// doc comments as descriptions.
fn args_struct(def: &parse::Method, self_ty: &Type, title: &str, schema: bool) -> TokenStream {
    let mut fields = Vec::new();
    let mut default_fns = Vec::new();
    for (index, param) in def.params.iter().enumerate() {
        if let ParamKind::Injected(_) = param.kind {
            continue;
        }
        let field = field_ident(param, index);
        let mut ty = (*param.ty).clone();
        ReplaceSelf(self_ty).visit_type_mut(&mut ty);
        let docs = &param.docs;
        let rename = param
            .rename
            .as_ref()
            .map(|name| quote!(#[serde(rename = #name)]));
        let default = match &param.default {
            None => None,
            Some(ArgDefault::Trait) => Some(quote!(#[serde(default)])),
            Some(ArgDefault::Expr(expr)) => {
                let mut expr = (**expr).clone();
                ReplaceSelf(self_ty).visit_expr_mut(&mut expr);
                let default_fn = format_ident!("__default_{}", field.unraw());
                let path = LitStr::new(&default_fn.to_string(), Span::call_site());
                default_fns.push(quote_spanned! {expr.span()=>
                    fn #default_fn() -> #ty {
                        #expr
                    }
                });
                Some(quote!(#[serde(default = #path)]))
            }
        };
        fields.push(quote! {
            #(#docs)*
            #rename
            #default
            #field: #ty,
        });
    }
    // The schema's title, as the MCP reference SDK names its argument models.
    let schema = schema.then(|| {
        quote! {
            #[derive(::nanofleet_sdk::__private::schemars::JsonSchema)]
            #[schemars(crate = "::nanofleet_sdk::__private::schemars", rename = #title)]
        }
    });
    quote! {
        #[derive(::nanofleet_sdk::__private::serde::Deserialize)]
        #schema
        #[serde(crate = "::nanofleet_sdk::__private::serde")]
        struct __Args {
            #(#fields)*
        }
        #(#default_fns)*
    }
}

/// The argument's field: the parameter's own name (validation guarantees there is one).
fn field_ident(param: &parse::Param, index: usize) -> Ident {
    match &*param.pat {
        syn::Pat::Ident(pat) => pat.ident.clone(),
        _ => format_ident!("__arg{}", index),
    }
}

/// The type whose schema is the tool's output schema, if the result is structured.
fn output_type(output: &Output) -> Option<&Type> {
    match output {
        Output::Json(ty) | Output::Structured(ty) => Some(ty),
        Output::Result(ok) => output_type(ok),
        Output::Unit | Output::Text | Output::Raw | Output::Opaque(_) => None,
    }
}

/// Wraps a value the method returned so that it implements `IntoToolResult`: structured
/// values in `Json`, also inside `Ok`.
fn wrap(value: TokenStream, output: &Output) -> TokenStream {
    match output {
        Output::Structured(ty) => {
            quote_spanned!(ty.span()=> ::nanofleet_sdk::__private::Json(#value))
        }
        Output::Result(ok) if needs_wrap(ok) => {
            let wrap_ok = wrapper(ok);
            quote!(::core::result::Result::map(#value, #wrap_ok))
        }
        _ => value,
    }
}

/// [`wrap`] as a function, for `Result::map`: `Json` itself where it can be.
fn wrapper(output: &Output) -> TokenStream {
    match output {
        Output::Structured(ty) => quote_spanned!(ty.span()=> ::nanofleet_sdk::__private::Json),
        _ => {
            let body = wrap(quote!(__ok), output);
            quote!(|__ok| #body)
        }
    }
}

fn needs_wrap(output: &Output) -> bool {
    match output {
        Output::Structured(_) => true,
        Output::Result(ok) => needs_wrap(ok),
        _ => false,
    }
}

/// Replaces `Self` with the plugin type in argument types and default values, which are
/// moved out of the impl block into a struct where `Self` would mean something else.
struct ReplaceSelf<'a>(&'a Type);

impl ReplaceSelf<'_> {
    /// `Self::Assoc` becomes `<Plugin>::Assoc`.
    fn qualify(&self, qself: &mut Option<syn::QSelf>, path: &mut syn::Path) {
        let starts_with_self = qself.is_none()
            && path.leading_colon.is_none()
            && path.segments.len() > 1
            && path.segments.first().is_some_and(|s| s.ident == "Self");
        if !starts_with_self {
            return;
        }
        let rest: Vec<syn::PathSegment> = path.segments.iter().skip(1).cloned().collect();
        *qself = Some(syn::QSelf {
            lt_token: syn::token::Lt::default(),
            ty: Box::new(self.0.clone()),
            position: 0,
            as_token: None,
            gt_token: syn::token::Gt::default(),
        });
        path.leading_colon = Some(syn::token::PathSep::default());
        path.segments = rest.into_iter().collect();
    }
}

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(p) = ty
            && p.qself.is_none()
            && p.path.is_ident("Self")
        {
            *ty = self.0.clone();
            return;
        }
        visit_mut::visit_type_mut(self, ty);
    }

    fn visit_type_path_mut(&mut self, ty: &mut syn::TypePath) {
        self.qualify(&mut ty.qself, &mut ty.path);
        visit_mut::visit_type_path_mut(self, ty);
    }

    fn visit_expr_path_mut(&mut self, expr: &mut syn::ExprPath) {
        self.qualify(&mut expr.qself, &mut expr.path);
        visit_mut::visit_expr_path_mut(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn self_is_replaced_in_types_and_paths() {
        let plugin: Type = parse_quote!(Notes);
        let mut ty: Type = parse_quote!(Vec<Self>);
        ReplaceSelf(&plugin).visit_type_mut(&mut ty);
        assert_eq!(quote!(#ty).to_string(), quote!(Vec<Notes>).to_string());

        let mut expr: syn::Expr = parse_quote!(Self::DEFAULT_LIMIT * 2);
        ReplaceSelf(&plugin).visit_expr_mut(&mut expr);
        assert_eq!(
            quote!(#expr).to_string(),
            quote!(<Notes>::DEFAULT_LIMIT * 2).to_string()
        );
    }

    #[test]
    fn structured_results_are_wrapped_in_json() {
        let vec: Type = parse_quote!(Vec<u8>);
        let ok = wrap(
            quote!(v),
            &Output::Result(Box::new(Output::Structured(Box::new(vec.clone())))),
        );
        let expected =
            ":: core :: result :: Result :: map (v , :: nanofleet_sdk :: __private :: Json)";
        assert_eq!(ok.to_string(), expected);
        let nested = Output::Result(Box::new(Output::Result(Box::new(Output::Structured(
            Box::new(vec.clone()),
        )))));
        let nested = wrap(quote!(v), &nested).to_string();
        assert!(nested.contains("map (v , | __ok | :: core :: result :: Result :: map (__ok , :: nanofleet_sdk :: __private :: Json))"), "{nested}");
        let json_in_result = Output::Result(Box::new(Output::Result(Box::new(Output::Json(
            Box::new(vec.clone()),
        )))));
        assert_eq!(wrap(quote!(v), &json_in_result).to_string(), "v");
        let text = wrap(quote!(v), &Output::Result(Box::new(Output::Text)));
        assert_eq!(text.to_string(), "v");
        let json = wrap(quote!(v), &Output::Json(Box::new(vec)));
        assert_eq!(json.to_string(), "v");
    }

    #[test]
    fn free_tool_is_an_error_and_keeps_the_function() {
        let out = free_marker(
            "tool",
            quote!(
                fn f(
                    /// Doc.
                    #[arg(default = 1)]
                    x: u8,
                ) {
                }
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn f (x : u8 ,)"), "{out}");
    }

    #[test]
    fn plugin_on_a_struct_is_an_error_and_keeps_the_struct() {
        let out = plugin(
            quote!(name = "n"),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("goes on an impl block"), "{out}");
        assert!(out.contains("struct S ;"), "{out}");
    }

    #[test]
    fn the_expansion_names_only_the_sdk_private_module() {
        let out = plugin(
            quote!(name = "notes", image = "n/notes:1", mcp_port = 8080),
            quote! {
                impl Notes {
                    /// Adds.
                    #[tool]
                    async fn add(&self, store: AgentStore, /** Text. */ text: String) -> Result<Vec<u64>, ToolError> { todo!() }
                }
            },
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains(". requires :: < AgentStore > ()"), "{out}");
        assert!(out.contains(". output :: < Vec < u64 > > ()"), "{out}");
        assert!(!out.contains("# [tool]"), "{out}");
    }
}
