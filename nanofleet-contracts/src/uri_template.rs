//! Resource URI templates (`notes://{id}`), as plugins declare them: the one parser the SDK
//! (which matches URIs against them) and the `#[resource]` macro (which checks, at compile
//! time, that every variable has a parameter) share.
//!
//! A template is literal text and simple variables (`{name}`: letters, digits and `_`),
//! starting with its scheme; two variables are separated by literal text so that a URI can
//! be split. RFC 6570 operators (`{+path}`, `{#frag}`) are not supported.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text a URI must contain as is.
    Literal(String),
    /// `{name}`: a value taken from the URI.
    Variable(String),
}

/// The template's pieces, or why it is not a valid template.
pub fn parse(source: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = source;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                parts.push(Part::Literal(rest.to_owned()));
                break;
            }
            Some(i) if rest.as_bytes()[i] == b'}' => {
                return Err(format!(
                    "`}}` without `{{` at byte {}",
                    source.len() - rest.len() + i
                ));
            }
            Some(i) => {
                if i > 0 {
                    parts.push(Part::Literal(rest[..i].to_owned()));
                }
                let after = &rest[i + 1..];
                let close = after
                    .find('}')
                    .ok_or_else(|| "a `{` is never closed".to_owned())?;
                let name = &after[..close];
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "`{{{name}}}` is not a simple variable: use letters, digits and `_` \
                         (operators such as `+`, `#`, `/` are not supported)"
                    ));
                }
                if matches!(parts.last(), Some(Part::Variable(_))) {
                    return Err(format!(
                        "`{{{name}}}` follows another variable directly: put literal text \
                         between them so a URI can be split"
                    ));
                }
                if parts
                    .iter()
                    .any(|p| matches!(p, Part::Variable(v) if v == name))
                {
                    return Err(format!("variable `{name}` appears twice"));
                }
                parts.push(Part::Variable(name.to_owned()));
                rest = &after[close + 1..];
            }
        }
    }
    match parts.first() {
        Some(Part::Literal(first)) if first.contains(':') => Ok(parts),
        _ => Err("a resource URI template starts with its scheme, e.g. `notes://{id}`".into()),
    }
}

/// The variables of a valid template, in order; `Err` as [`parse`].
pub fn variables(source: &str) -> Result<Vec<String>, String> {
    Ok(parse(source)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Variable(name) => Some(name),
            Part::Literal(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_and_bad_templates_explained() {
        assert_eq!(variables("notes://{id}").expect("valid"), ["id"]);
        assert_eq!(
            variables("test://template/{id}/data/{part}").expect("valid"),
            ["id", "part"]
        );
        for (bad, why) in [
            ("notes://{+id}", "not a simple variable"),
            ("notes://{a}{b}", "follows another variable"),
            ("notes://{a}/{a}", "appears twice"),
            ("{id}", "starts with its scheme"),
            ("notes://{id", "never closed"),
        ] {
            let err = parse(bad).expect_err("invalid");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
