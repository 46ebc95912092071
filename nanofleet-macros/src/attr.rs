//! The pieces every attribute parser shares: an error accumulator, a slot per key that reports
//! duplicates, "did you mean" for unknown keys, and value parsers that report a wrong value
//! and carry on, so one expansion reports every mistake it can find.

use std::{cell::RefCell, fmt::Display};

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Attribute, Expr, ExprLit, Lit, LitBool, LitInt, LitStr, Token, meta::ParseNestedMeta};

use crate::rules;

/// Every error found so far, combined into one `syn::Error` (which renders as one
/// `compile_error!` per message, each at its own span). Shared by reference, like
/// `serde_derive`'s `Ctxt`, so parsers can report while holding other borrows.
#[derive(Default)]
pub(crate) struct Errors {
    combined: RefCell<Option<syn::Error>>,
}

impl Errors {
    pub fn push(&self, error: syn::Error) {
        let mut combined = self.combined.borrow_mut();
        match &mut *combined {
            Some(combined) => combined.combine(error),
            None => *combined = Some(error),
        }
    }

    /// An error at `tokens`' span (the first to the last token, on nightly; the first on stable).
    pub fn at(&self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at a single span.
    pub fn at_span(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn is_empty(&self) -> bool {
        self.combined.borrow().is_none()
    }

    pub fn finish(self) -> syn::Result<()> {
        match self.combined.into_inner() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// An error message for a broken rule, with its hint on a `help:` line of its own.
pub(crate) fn violation(violation: &rules::RuleViolation) -> String {
    let mut message = violation.message.clone();
    if let Some(hint) = &violation.hint {
        message.push_str("\n= help: ");
        message.push_str(hint);
    }
    message
}

/// The keys one attribute accepts, for "unknown" and "duplicate" messages.
pub(crate) struct Keys {
    /// How the attribute is written in messages, e.g. `#[plugin(...)]`.
    pub attribute: &'static str,
    pub known: &'static [&'static str],
}

impl Keys {
    /// Reports an unknown key, suggesting the nearest known one, and skips its value so that
    /// the keys after it are still checked. Returns the suggestion: that key is not missing,
    /// only misspelt.
    pub fn unknown(
        &self,
        errors: &Errors,
        meta: &ParseNestedMeta,
    ) -> syn::Result<Option<&'static str>> {
        let key = path_to_string(&meta.path);
        let near = rules::closest(&key, self.known);
        let expected = match near {
            Some(near) => format!("did you mean `{near}`?"),
            None => {
                let known: Vec<String> = self.known.iter().map(|k| format!("`{k}`")).collect();
                format!("expected one of {}", known.join(", "))
            }
        };
        errors.at(
            &meta.path,
            format!(
                "unknown attribute `{key}` in `{}`; {expected}",
                self.attribute
            ),
        );
        skip_value(meta)?;
        Ok(near)
    }
}

/// One key's value, set at most once.
pub(crate) struct Slot<T> {
    keys: &'static Keys,
    key: &'static str,
    /// Whether the key was written, even with a wrong value (already reported).
    given: bool,
    value: Option<T>,
}

impl<T> Slot<T> {
    pub fn new(keys: &'static Keys, key: &'static str) -> Self {
        Self {
            keys,
            key,
            given: false,
            value: None,
        }
    }

    /// Stores `value` (`None` for a wrong value, already reported); a second `key` is
    /// reported at its own path and ignored.
    pub fn set(&mut self, errors: &Errors, path: &syn::Path, value: Option<T>) {
        if self.given {
            errors.at(
                path,
                format!(
                    "duplicate attribute `{}` in `{}`",
                    self.key, self.keys.attribute
                ),
            );
        } else {
            self.given = true;
            self.value = value;
        }
    }

    /// Reports the key as missing, at `span` (the attribute), with an example; unless it is
    /// among `misspelt`, the keys that unknown keys were already reported as typos of.
    pub fn require(&self, errors: &Errors, span: Span, example: &str, misspelt: &[&str]) {
        if !self.given && !misspelt.contains(&self.key) {
            errors.at_span(
                span,
                format!(
                    "missing `{}` in `{}`: add `{example}`",
                    self.key, self.keys.attribute
                ),
            );
        }
    }

    pub fn get(self) -> Option<T> {
        self.value
    }
}

/// `a::b::c` as written, without spaces.
pub(crate) fn path_to_string(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Consumes whatever follows a key: `= expr`, `(...)` or nothing.
pub(crate) fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// The expression after `key =`. A missing `=` is a syntax error and ends parsing.
fn value_expr(meta: &ParseNestedMeta, example: &str) -> syn::Result<Expr> {
    if !meta.input.peek(Token![=]) {
        let key = path_to_string(&meta.path);
        return Err(meta.error(format!("expected a value: `{key} = {example}`")));
    }
    meta.value()?.parse()
}

/// Looks through the invisible groups `macro_rules!` wraps interpolated expressions in.
pub(crate) fn ungroup(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungroup(&group.expr),
        Expr::Paren(paren) => ungroup(&paren.expr),
        other => other,
    }
}

/// `key = "text"`. A value of another kind is reported and gives `None`.
pub(crate) fn lit_str(
    errors: &Errors,
    meta: &ParseNestedMeta,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let expr = value_expr(meta, example)?;
    match ungroup(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit.clone())),
        other => {
            let key = path_to_string(&meta.path);
            errors.at(
                other,
                format!("expected a string literal: `{key} = {example}`"),
            );
            Ok(None)
        }
    }
}

/// `key = 8080`: an integer literal, kept as written so that out-of-range values can be
/// reported as such.
pub(crate) fn lit_int(
    errors: &Errors,
    meta: &ParseNestedMeta,
    example: &str,
) -> syn::Result<Option<LitInt>> {
    let expr = value_expr(meta, example)?;
    match ungroup(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => Ok(Some(lit.clone())),
        other => {
            let key = path_to_string(&meta.path);
            errors.at(
                other,
                format!("expected an integer literal: `{key} = {example}`"),
            );
            Ok(None)
        }
    }
}

/// `key = ["A", "B"]`.
pub(crate) fn lit_str_array(
    errors: &Errors,
    meta: &ParseNestedMeta,
    example: &str,
) -> syn::Result<Option<Vec<LitStr>>> {
    let expr = value_expr(meta, example)?;
    let key = path_to_string(&meta.path);
    let Expr::Array(array) = ungroup(&expr) else {
        errors.at(
            &expr,
            format!("expected an array of string literals: `{key} = {example}`"),
        );
        return Ok(None);
    };
    let mut items = Vec::with_capacity(array.elems.len());
    for elem in &array.elems {
        match ungroup(elem) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => items.push(lit.clone()),
            other => errors.at(other, format!("expected a string literal in `{key}`")),
        }
    }
    Ok(Some(items))
}

/// A flag: `key` alone means `true`; `key = true` and `key = false` say it explicitly.
pub(crate) fn flag(errors: &Errors, meta: &ParseNestedMeta) -> syn::Result<Option<bool>> {
    if !meta.input.peek(Token![=]) {
        if meta.input.peek(syn::token::Paren) {
            let key = path_to_string(&meta.path);
            errors.at(
                &meta.path,
                format!("expected `{key}` or `{key} = true|false`"),
            );
            skip_value(meta)?;
            return Ok(None);
        }
        return Ok(Some(true));
    }
    let expr: Expr = meta.value()?.parse()?;
    match ungroup(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, .. }),
            ..
        }) => Ok(Some(*value)),
        other => {
            let key = path_to_string(&meta.path);
            errors.at(other, format!("expected `true` or `false`: `{key} = true`"));
            Ok(None)
        }
    }
}

/// Whether `attr` is `#[name]` / `#[name(...)]`, also written with a path such as
/// `#[nanofleet_sdk::name]`.
pub(crate) fn is(attr: &Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// The text of the `///` comments among `attrs`, unindented as rustdoc does, with leading and
/// trailing blank lines removed; `None` when there is none. `#[doc = include_str!(..)]` and
/// other computed docs are skipped: they cannot be read by a macro.
/// A parameter's doc comment as `#[derive(JsonSchema)]` reads a field's: the lines joined
/// (each without the one space after `///`), trimmed; a first line that is a `# heading`
/// becomes the title, the rest the description. Returns `(title, description)`.
pub(crate) fn schema_doc(attrs: &[Attribute]) -> (String, String) {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) => Some(lit.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect();
    let doc = lines.join("\n");
    let doc = doc.trim_ascii();
    match doc.strip_prefix('#') {
        Some(_) => {
            let (first, rest) = doc.split_once('\n').unwrap_or((doc, ""));
            (
                first.trim_start_matches('#').trim_ascii().to_owned(),
                rest.trim_ascii().to_owned(),
            )
        }
        None => (String::new(), doc.to_owned()),
    }
}

pub(crate) fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) = &nv.value
        else {
            continue;
        };
        let text = lit.value();
        // Not `lines()`: a blank `///` is an empty string, and it is a paragraph break.
        lines.extend(text.split('\n').map(|line| line.trim_end().to_owned()));
    }
    let indent = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let text = lines
        .iter()
        .map(|line| line.get(indent..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.trim_matches('\n');
    (!text.trim().is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn doc_text_unindents_and_joins_lines() {
        let item: syn::ItemFn = parse_quote! {
            /// Saves a note.
            ///
            ///   Indented.
            fn f() {}
        };
        assert_eq!(
            doc_text(&item.attrs).as_deref(),
            Some("Saves a note.\n\n  Indented.")
        );
    }

    #[test]
    fn doc_text_of_block_comment_and_blank_docs() {
        let item: syn::ItemFn = parse_quote! {
            #[doc = "\n   Line one.\n     Line two.\n"]
            fn f() {}
        };
        assert_eq!(
            doc_text(&item.attrs).as_deref(),
            Some("Line one.\n  Line two.")
        );
        let item: syn::ItemFn = parse_quote! {
            ///
            #[inline]
            fn f() {}
        };
        assert_eq!(doc_text(&item.attrs), None);
    }

    #[test]
    fn errors_combine_in_order() {
        let errors = Errors::default();
        assert!(errors.is_empty());
        errors.at_span(Span::call_site(), "first");
        errors.at_span(Span::call_site(), "second");
        let messages: Vec<String> = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn attribute_names_match_by_last_segment() {
        let attr: Attribute = parse_quote!(#[nanofleet_sdk::tool(read_only)]);
        assert!(is(&attr, "tool"));
        assert!(!is(&attr, "plugin"));
    }
}
