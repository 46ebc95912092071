//! Problems found in a manifest, all reported at once with where they are and how to fix them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The manifest works, but probably not as intended.
    Warning,
    /// The manifest is unusable: the host would reject it or the plugin would not run.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Diagnostic {
    /// How serious the problem is.
    pub level: Level,
    /// Where the problem is, in JSON field names: `sidebar.route`, `requiredEnvVars[2]`, or
    /// empty for the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when that can be said.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Error, path, message)
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Warning, path, message)
    }

    /// A diagnostic of any level.
    pub fn new(level: Level, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            level,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Attaches a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error rather than a warning.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

/// `error at sidebar.route: <message> (hint: <hint>)`; without ` at …` for the whole document.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.level)?;
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in a manifest, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No problems.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Adds an error at `path`.
    pub fn error(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Diagnostic {
            hint,
            ..Diagnostic::error(path, message)
        });
    }

    /// Adds a warning at `path`.
    pub fn warning(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Diagnostic {
            hint,
            ..Diagnostic::warning(path, message)
        });
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.level == Level::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.level == Level::Warning)
    }

    /// Every problem, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no problems at all, warnings included.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as a vector.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

/// One diagnostic per line.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

// Lets `Result<_, Diagnostics>` travel through `?` into `Box<dyn Error>` and `anyhow`.
impl std::error::Error for Diagnostics {}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        Self(diagnostics)
    }
}

impl From<Diagnostics> for Vec<Diagnostic> {
    fn from(diagnostics: Diagnostics) -> Self {
        diagnostics.0
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostics {
        let mut diagnostics = Diagnostics::new();
        diagnostics.error("sidebar.route", "bad route", Some("use `/x`".into()));
        diagnostics.warning("", "whole document", None);
        diagnostics
    }

    #[test]
    fn display_includes_level_path_and_hint() {
        let text = sample().to_string();
        assert_eq!(
            text,
            "error at sidebar.route: bad route (hint: use `/x`)\nwarning: whole document"
        );
    }

    #[test]
    fn filters_and_counts() {
        let diagnostics = sample();
        assert!(diagnostics.has_errors());
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(diagnostics.errors().count(), 1);
        assert_eq!(diagnostics.warnings().count(), 1);
        assert_eq!(diagnostics.iter().count(), 2);
        assert!(!Diagnostics::new().has_errors());
        assert!(Diagnostics::new().is_empty());

        let warnings_only: Diagnostics =
            diagnostics.into_iter().filter(|d| !d.is_error()).collect();
        assert!(!warnings_only.has_errors());
        assert!(!warnings_only.is_empty());
    }

    #[test]
    fn serializes_as_a_plain_array_with_lowercase_levels() {
        let json = serde_json::to_value(sample()).ok();
        assert_eq!(
            json,
            Some(serde_json::json!([
                {"level": "error", "path": "sidebar.route", "message": "bad route", "hint": "use `/x`"},
                {"level": "warning", "path": "", "message": "whole document"},
            ]))
        );
    }

    #[test]
    fn levels_order_warning_below_error() {
        assert!(Level::Warning < Level::Error);
    }
}
