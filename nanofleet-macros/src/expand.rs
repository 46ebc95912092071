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
    parse::{self, ArgDefault, Output, Receiver},
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
    let config = plugin
        .config
        .map(|ty| quote_spanned!(ty.span()=> .config::<#ty>()));
    // Also in `manifest()`, so that the manifest alone carries the settings; a type that
    // cannot declare them is reported when the plugin is built.
    let manifest_config = plugin.config.map(|ty| {
        quote_spanned! {ty.span()=>
            let mut manifest = manifest;
            manifest.config =
                ::nanofleet_sdk::config::schema_of::<#ty>().unwrap_or_default();
        }
    });

    quote! {
        #item

        impl #self_ty {
            /// The plugin's manifest, as declared in `#[plugin(...)]`.
            pub fn manifest() -> ::nanofleet_sdk::__private::Manifest {
                let manifest = { #manifest };
                #manifest_config
                manifest
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
                    #config
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
    // Checked by `validate` with the manifest's own rules; the JSON is what serde wrote, so it
    // reads back. Were it ever not to, the plugin would declare the narrowest permissions.
    let permissions = m.permissions.as_ref().map(|json| {
        quote! {
            manifest.permissions =
                ::nanofleet_sdk::__private::serde_json::from_str(#json).unwrap_or_default();
        }
    });
    let min_host_version = m.min_host_version.as_ref().map(|requirement| {
        quote!(manifest.min_host_version = ::core::option::Option::Some(::std::string::String::from(#requirement));)
    });
    let icon = m.icon.as_ref().map(|icon| {
        quote!(manifest.icon = ::core::option::Option::Some(::std::string::String::from(#icon));)
    });
    quote! {
        let mut manifest =
            ::nanofleet_sdk::__private::Manifest::new(#name, #version, #image, #mcp_port);
        manifest.description = ::std::string::String::from(#description);
        manifest.author = #author;
        #ui_port
        #sidebar
        #required_env_vars
        #permissions
        #min_host_version
        #icon
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
    let app = def.app.as_ref().map(|uri| quote!(.app(#uri)));
    let icon = def.icon.as_ref().map(|src| quote!(.icon(#src)));

    let title_name = format!("{}Arguments", tool.name);
    let args_struct = probed_args(def, self_ty, &title_name);
    let sources = vec![Source::ByType; def.params.len()];
    let (extractions, call) = invocation(def, &sources);
    let requirements = requirements(def, &sources);
    let result = wrap(call, &def.output);
    let handler = handler_ident(def);

    quote! {
        {
            #args_struct
            ::nanofleet_sdk::__private::Tool::new(#name, #description)
                #title
                #(#annotations)*
                #output
                #app
                #icon
                #(#requirements)*
                .#handler(|__args: __Args, __call: ::nanofleet_sdk::__private::ToolCall| async move {
                    #(#extractions)*
                    ::core::result::Result::Ok::<_, ::nanofleet_sdk::__private::ToolError>(#result)
                })
        }
    }
}

/// Where a parameter's value comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Decided by its type (tools and prompts): supplied by the SDK when it implements
    /// `FromToolCall`, else an argument; see the SDK's `param` module.
    ByType,
    /// A resource template's variable (named after it): a field of the derived `__Args`.
    Variable,
    /// Supplied by the SDK (`FromToolCall`): every other parameter of a resource.
    Injected,
}

/// The values passed to the method, in order: the state, then each parameter from its
/// [`Source`]. Returns the extraction statements and the (awaited) call.
fn invocation(def: &parse::Method, sources: &[Source]) -> (Vec<TokenStream>, TokenStream) {
    let method = &def.ident;
    let mut extractions = Vec::new();
    let mut call_args = Vec::new();
    if let Receiver::Shared = def.receiver {
        extractions.push(quote! {
            let __state: ::nanofleet_sdk::__private::State<Self> = __call.extract()?;
        });
        call_args.push(quote!(&*__state));
    }
    if sources.contains(&Source::ByType) {
        extractions.push(quote! {
            #[allow(unused_imports)]
            use ::nanofleet_sdk::__private::{ArgumentParam as _, InjectedParam as _};
        });
    }
    for (index, (param, source)) in def.params.iter().zip(sources).enumerate() {
        let ty = &param.ty;
        let var = format_ident!("__param{}", index);
        match source {
            Source::Injected => {
                extractions.push(quote_spanned! {ty.span()=>
                    let #var: #ty = __call.extract()?;
                });
                call_args.push(quote!(#var));
            }
            Source::ByType => {
                let slot = slot_ident(index);
                let take = probe_call(ty, "take", quote!(__args.#slot, &__call));
                extractions.push(quote_spanned! {ty.span()=>
                    let #var: #ty = #take?;
                });
                call_args.push(quote!(#var));
            }
            Source::Variable => {
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

/// What the parameters supplied by the SDK need from the plugin (`FromToolCall::requirements`),
/// checked when the plugin starts: `.requires::<T>()` for a parameter known to be supplied,
/// one `.requirements(..)` asking the types of the others.
fn requirements(def: &parse::Method, sources: &[Source]) -> Vec<TokenStream> {
    let mut calls = Vec::new();
    let mut probed = Vec::new();
    for (param, source) in def.params.iter().zip(sources) {
        let ty = &param.ty;
        match source {
            Source::Injected => calls.push(quote_spanned!(ty.span()=> .requires::<#ty>())),
            Source::ByType => {
                let call = probe_call(ty, "requirements", quote!(__needs));
                probed.push(quote!(#call;));
            }
            Source::Variable => {}
        }
    }
    if !probed.is_empty() {
        calls.push(quote! {
            .requirements(|__needs: &mut ::nanofleet_sdk::__private::Requirements| {
                #[allow(unused_imports)]
                use ::nanofleet_sdk::__private::{ArgumentParam as _, InjectedParam as _};
                #(#probed)*
            })
        });
    }
    calls
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
    let variables: &[String] = match &resource.location {
        validate::Location::Uri(_) => &[],
        validate::Location::Template(_, variables) => variables,
    };
    let sources: Vec<Source> = def
        .params
        .iter()
        .map(|param| match validate::param_name(param) {
            Some(name) if variables.contains(&name) => Source::Variable,
            _ => Source::Injected,
        })
        .collect();
    let requirements = requirements(def, &sources);
    let (extractions, call) = invocation(def, &sources);
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
        validate::Location::Template(template, _) => {
            let vars = variables_struct(def, &sources, self_ty);
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
    let args = probed_args(def, self_ty, &format!("{name}Arguments"));
    let sources = vec![Source::ByType; def.params.len()];
    let (extractions, call) = invocation(def, &sources);
    let completers = completers(def);
    let requirements = requirements(def, &sources);
    // The arguments in the order the parameters are declared (a schema's properties have none).
    // Names of parameters the SDK supplies are listed too; they match no argument.
    let order = def
        .params
        .iter()
        .filter_map(validate::param_name)
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

/// The struct a URI's variables are decoded into, `__Args`: a field per [`Source::Variable`].
fn variables_struct(def: &parse::Method, sources: &[Source], self_ty: &Type) -> TokenStream {
    let fields = def
        .params
        .iter()
        .zip(sources)
        .enumerate()
        .filter(|(_, (_, source))| **source == Source::Variable)
        .map(|(index, (param, _))| {
            let field = field_ident(param, index);
            let mut ty = (*param.ty).clone();
            ReplaceSelf(self_ty).visit_type_mut(&mut ty);
            let rename = param
                .rename
                .as_ref()
                .map(|name| quote!(#[serde(rename = #name)]));
            quote!(#rename #field: #ty,)
        });
    quote! {
        #[derive(::nanofleet_sdk::__private::serde::Deserialize)]
        #[serde(crate = "::nanofleet_sdk::__private::serde")]
        struct __Args {
            #(#fields)*
        }
    }
}

/// The arguments of a tool or prompt, `__Args`: a slot per parameter, filled from the request
/// for the arguments and left empty for what the SDK supplies, as the types decide (the SDK's
/// `param` module). Its `Deserialize` does what `#[derive(Deserialize)]` would for the
/// arguments alone, its `JsonSchema` (titled `title`) what `#[derive(JsonSchema)]` would, with
/// the parameters' doc comments as titles and descriptions.
fn probed_args(def: &parse::Method, self_ty: &Type, title: &str) -> TokenStream {
    let p = quote!(::nanofleet_sdk::__private);
    let mut slots = Vec::new();
    let mut specs = Vec::new();
    let mut arms = Vec::new();
    let mut finishes = Vec::new();
    let mut describes = Vec::new();
    let mut checks = Vec::new();
    let mut jsons = Vec::new();
    for (index, param) in def.params.iter().enumerate() {
        let slot = slot_ident(index);
        let spec = format_ident!("__spec{}", index);
        let mut ty = (*param.ty).clone();
        ReplaceSelf(self_ty).visit_type_mut(&mut ty);
        let name = validate::param_name(param);
        let (doc_title, description) = crate::attr::schema_doc(&param.docs);
        let (default, default_json) = match &param.default {
            None => (quote!(None), quote!(None)),
            Some(ArgDefault::Trait) => {
                let trait_default = probe_call(&ty, "trait_default", quote!());
                (
                    trait_default.clone(),
                    quote!(#trait_default.and_then(|__default| {
                        #[allow(unused_imports)]
                        use #p::NotSerialize as _;
                        #p::MaybeSerialize(__default()).to_json()
                    })),
                )
            }
            Some(ArgDefault::Expr(expr)) => {
                let mut expr = (**expr).clone();
                ReplaceSelf(self_ty).visit_expr_mut(&mut expr);
                let value = quote_spanned!(expr.span()=> { let __default: #ty = #expr; __default });
                (
                    quote!(Some(|| #value)),
                    quote!({
                        #[allow(unused_imports)]
                        use #p::NotSerialize as _;
                        #p::MaybeSerialize(#value).to_json()
                    }),
                )
            }
        };
        let name_lit = name.clone().unwrap_or_default();
        specs.push(quote! {
            #[allow(unused_imports)]
            fn #spec() -> #p::Spec<#ty> {
                use #p::{ArgumentParam as _, InjectedParam as _};
                #p::Spec {
                    name: #name_lit,
                    title: #doc_title,
                    description: #description,
                    default: #default,
                }
            }
        });
        jsons.push(quote!(#default_json));
        slots.push(quote!(#slot: ::core::option::Option<#ty>,));
        if let Some(name) = &name {
            let next_value = probe_call(&ty, "next_value", quote!(&mut __map));
            arms.push(quote!(#name => #slot = #next_value?,));
        } else {
            // A pattern has no name to be an argument by: the SDK must supply it.
            let pattern = respan(probe_call(&ty, "pattern", quote!()), param.pat.span());
            checks.push(quote!(#pattern;));
        }
        if let Some(arg_attr) = &param.arg_attr {
            let check = respan(probe_call(&ty, "arg_attribute", quote!()), arg_attr.span());
            checks.push(quote!(#check;));
        }
        let finish = probe_call(&ty, "finish", quote!(#slot, &#spec()));
        finishes.push(quote!(#slot: #finish?,));
        let default_json = jsons.pop();
        let describe = probe_call(
            &ty,
            "describe",
            quote!(&mut __schema, __generator, &#spec(), #default_json),
        );
        describes.push(quote!(#describe;));
    }
    let slot_names = (0..def.params.len()).map(slot_ident);
    let checks = (!checks.is_empty()).then(|| {
        quote! {
            #[allow(dead_code)]
            fn __check_parameters() {
                use #p::{ArgumentParam as _, InjectedParam as _};
                #(#checks)*
            }
        }
    });
    quote! {
        struct __Args {
            #(#slots)*
        }
        #(#specs)*
        #checks
        impl<'de> #p::serde::Deserialize<'de> for __Args {
            fn deserialize<__D: #p::serde::Deserializer<'de>>(
                __deserializer: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                struct __Visitor;
                impl<'de> #p::serde::de::Visitor<'de> for __Visitor {
                    type Value = __Args;
                    fn expecting(
                        &self,
                        __formatter: &mut ::core::fmt::Formatter<'_>,
                    ) -> ::core::fmt::Result {
                        #p::expecting(__formatter)
                    }
                    #[allow(unused_mut)]
                    fn visit_map<__A: #p::serde::de::MapAccess<'de>>(
                        self,
                        mut __map: __A,
                    ) -> ::core::result::Result<__Args, __A::Error> {
                        #[allow(unused_imports)]
                        use #p::{ArgumentParam as _, InjectedParam as _};
                        #(let mut #slot_names = ::core::option::Option::None;)*
                        while let ::core::option::Option::Some(__key) =
                            __map.next_key::<#p::Cow<'de, str>>()?
                        {
                            match &*__key {
                                #(#arms)*
                                _ => {
                                    __map.next_value::<#p::serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        ::core::result::Result::Ok(__Args { #(#finishes)* })
                    }
                }
                __deserializer.deserialize_map(__Visitor)
            }
        }
        impl #p::schemars::JsonSchema for __Args {
            fn schema_name() -> #p::Cow<'static, str> {
                #p::Cow::Borrowed(#title)
            }
            fn json_schema(
                __generator: &mut #p::schemars::SchemaGenerator,
            ) -> #p::schemars::Schema {
                #[allow(unused_imports)]
                use #p::{ArgumentParam as _, InjectedParam as _};
                let mut __schema = #p::object_schema();
                #(#describes)*
                __schema
            }
        }
    }
}

/// `(&&Param::<ty>::new()).method(args)` with every token spanned at the type: a type that is
/// neither an argument nor supplied by the SDK is then one error at the parameter, however many
/// calls ask (the compiler reports an unmet bound once per place).
fn probe_call(ty: &Type, method: &str, args: TokenStream) -> TokenStream {
    let span = ty.span();
    let method = Ident::new(method, span);
    respan(
        quote!((&&::nanofleet_sdk::__private::Param::<#ty>::new()).#method(#args)),
        span,
    )
}

/// `tokens` with every span (inside groups too) set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

fn slot_ident(index: usize) -> Ident {
    format_ident!("__p{}", index)
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
        // What each parameter is, the compiler decides from its type.
        assert!(out.contains("Param :: < AgentStore > :: new ()"), "{out}");
        assert!(out.contains("Param :: < String > :: new ()"), "{out}");
        assert!(out.contains(". requirements (| __needs"), "{out}");
        assert!(out.contains(". output :: < Vec < u64 > > ()"), "{out}");
        assert!(!out.contains("# [tool]"), "{out}");
    }
}
