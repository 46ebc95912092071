//! `#[data]` on a struct or enum: serde's and schemars' derives, pointed at the copies the SDK
//! re-exports, so a plugin crate derives them without depending on serde or schemars itself.
//!
//! The derives emit paths such as `::serde::Serialize` unless told otherwise with
//! `#[serde(crate = "...")]` and `#[schemars(crate = "...")]`, which is all this adds. It follows
//! the layout of `#[plugin]`: the arguments are parsed, checked, then expanded.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Token, parse::Parser, punctuated::Punctuated};

use crate::{attr::Errors, rules};

/// A derive `#[data]` can add, in the order they are emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Derive {
    Serialize,
    Deserialize,
    JsonSchema,
}

impl Derive {
    const ALL: [Derive; 3] = [Derive::Serialize, Derive::Deserialize, Derive::JsonSchema];
    const NAMES: [&'static str; 3] = ["Serialize", "Deserialize", "JsonSchema"];

    fn name(self) -> &'static str {
        match self {
            Derive::Serialize => "Serialize",
            Derive::Deserialize => "Deserialize",
            Derive::JsonSchema => "JsonSchema",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    fn path(self) -> TokenStream {
        match self {
            Derive::Serialize => quote!(::nanofleet_sdk::__private::serde::Serialize),
            Derive::Deserialize => quote!(::nanofleet_sdk::__private::serde::Deserialize),
            Derive::JsonSchema => quote!(::nanofleet_sdk::__private::schemars::JsonSchema),
        }
    }
}

/// The arguments as written: `None` for `#[data]` (or `#[data()]`, which a macro cannot tell
/// apart), else the entries; empty after a syntax error, which is reported.
pub(crate) struct Args {
    list: Option<Vec<syn::Path>>,
}

/// `#[data]` / `#[data(...)]`: the item with the derives, or the errors and the item as is.
pub(crate) fn data(args: TokenStream, input: TokenStream) -> TokenStream {
    let errors = Errors::default();
    let args = parse(args, &errors);
    let item = match syn::parse2::<syn::Item>(input) {
        Ok(item) => item,
        Err(error) => {
            errors.push(error);
            return finish(errors, TokenStream::new());
        }
    };
    check_item(&item, &errors);
    let derives = validate(&args, &errors);
    if !errors.is_empty() {
        return finish(errors, item.into_token_stream());
    }
    expand(&derives, &item)
}

fn finish(errors: Errors, item: TokenStream) -> TokenStream {
    let mut tokens = match errors.finish() {
        Ok(()) => TokenStream::new(),
        Err(error) => error.into_compile_error(),
    };
    tokens.extend(item);
    tokens
}

fn parse(args: TokenStream, errors: &Errors) -> Args {
    if args.is_empty() {
        return Args { list: None };
    }
    match Punctuated::<syn::Path, Token![,]>::parse_terminated.parse2(args) {
        Ok(paths) => Args {
            list: Some(paths.into_iter().collect()),
        },
        Err(error) => {
            errors.push(error);
            Args {
                list: Some(Vec::new()),
            }
        }
    }
}

fn check_item(item: &syn::Item, errors: &Errors) {
    let at = match item {
        syn::Item::Struct(_) | syn::Item::Enum(_) => return,
        syn::Item::Union(u) => u.union_token.into_token_stream(),
        other => crate::expand::item_keyword(other),
    };
    errors.at(
        at,
        "`#[data]` goes on a struct or an enum: it derives `Serialize`, `Deserialize` and \
         `JsonSchema` for a type of the plugin's own",
    );
}

/// The derives to add, in their canonical order; every unknown or repeated entry is reported.
fn validate(args: &Args, errors: &Errors) -> Vec<Derive> {
    let Some(list) = &args.list else {
        return Derive::ALL.to_vec();
    };
    let mut chosen = Vec::new();
    for path in list {
        let name = path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        match Derive::from_name(&name) {
            Some(derive) if chosen.contains(&derive) => {
                errors.at(path, format!("`{name}` is listed twice in `#[data(...)]`"));
            }
            Some(derive) => chosen.push(derive),
            None => {
                let hint = match rules::closest(&name, &Derive::NAMES) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "`#[data]` adds `Serialize`, `Deserialize` and `JsonSchema`; put \
                             other derives in `#[derive(...)]`"
                        .to_owned(),
                };
                errors.at(
                    path,
                    format!("unknown derive `{name}` in `#[data(...)]`; {hint}"),
                );
            }
        }
    }
    Derive::ALL
        .into_iter()
        .filter(|d| chosen.contains(d))
        .collect()
}

fn expand(derives: &[Derive], item: &syn::Item) -> TokenStream {
    let paths = derives.iter().map(|d| d.path());
    let uses_serde = derives
        .iter()
        .any(|d| matches!(d, Derive::Serialize | Derive::Deserialize));
    let serde = uses_serde.then(|| quote!(#[serde(crate = "::nanofleet_sdk::__private::serde")]));
    let schemars = derives
        .contains(&Derive::JsonSchema)
        .then(|| quote!(#[schemars(crate = "::nanofleet_sdk::__private::schemars")]));
    quote! {
        #[derive(#(#paths),*)]
        #serde
        #schemars
        #item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(args: TokenStream, item: TokenStream) -> Vec<String> {
        let out = data(args, item).to_string();
        out.split("compile_error ! {")
            .skip(1)
            .filter_map(|rest| rest.split('"').nth(1).map(str::to_owned))
            .collect()
    }

    #[test]
    fn bare_data_derives_all_three_through_the_sdk() {
        let out = data(
            TokenStream::new(),
            quote!(
                struct Note {
                    text: String,
                }
            ),
        )
        .to_string();
        let expected = quote! {
            #[derive(
                ::nanofleet_sdk::__private::serde::Serialize,
                ::nanofleet_sdk::__private::serde::Deserialize,
                ::nanofleet_sdk::__private::schemars::JsonSchema
            )]
            #[serde(crate = "::nanofleet_sdk::__private::serde")]
            #[schemars(crate = "::nanofleet_sdk::__private::schemars")]
            struct Note { text: String, }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn a_list_picks_derives_in_canonical_order_and_only_the_attributes_they_need() {
        let out = data(
            quote!(JsonSchema, Deserialize),
            quote!(
                enum E {
                    A,
                }
            ),
        )
        .to_string();
        assert!(
            out.starts_with(
                "# [derive (:: nanofleet_sdk :: __private :: serde :: Deserialize , \
                 :: nanofleet_sdk :: __private :: schemars :: JsonSchema)]"
            ),
            "{out}"
        );
        let out = data(
            quote!(Serialize),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("serde (crate"), "{out}");
        assert!(!out.contains("schemars"), "{out}");
        let out = data(
            quote!(JsonSchema),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(!out.contains("serde"), "{out}");
        let out = data(
            quote!(serde::Serialize),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn every_problem_is_reported_and_the_item_kept() {
        let out = data(
            quote!(Serialise, Debug, Serialize, Serialize),
            quote!(
                fn f() {}
            ),
        );
        let text = out.to_string();
        assert!(text.contains("fn f ()"), "{text}");
        assert_eq!(
            messages(
                quote!(Serialise, Debug, Serialize, Serialize),
                quote!(
                    fn f() {}
                )
            ),
            [
                "`#[data]` goes on a struct or an enum: it derives `Serialize`, `Deserialize` \
                 and `JsonSchema` for a type of the plugin's own",
                "unknown derive `Serialise` in `#[data(...)]`; did you mean `Serialize`?",
                "unknown derive `Debug` in `#[data(...)]`; `#[data]` adds `Serialize`, \
                 `Deserialize` and `JsonSchema`; put other derives in `#[derive(...)]`",
                "`Serialize` is listed twice in `#[data(...)]`",
            ]
        );
    }

    #[test]
    fn unions_are_refused() {
        let errors = messages(TokenStream::new(), quote!(union U { a: u8 }));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`#[data]` goes on a struct or an enum"));
    }
}
