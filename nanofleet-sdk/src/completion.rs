//! Argument completion (`completion/complete`) for prompt arguments and resource-template
//! variables: a function the author names per argument, given what the user has typed.
//!
//! ```
//! use nanofleet_sdk::completion::Completion;
//! use nanofleet_sdk::prompt::Prompt;
//! use nanofleet_sdk::tool::ToolCall;
//! # #[derive(serde::Deserialize, schemars::JsonSchema)]
//! # struct Args { language: String }
//!
//! const LANGUAGES: [&str; 4] = ["python", "rust", "ruby", "go"];
//!
//! let prompt = Prompt::new("review_code", "Asks for a code review.")
//!     .handler(|args: Args, _: ToolCall| async move { format!("Review this {}.", args.language) })
//!     .complete("language", |typed: Completion, _: ToolCall| async move {
//!         LANGUAGES
//!             .iter()
//!             .filter(|l| l.starts_with(typed.value()))
//!             .map(|l| l.to_string())
//!             .collect::<Vec<_>>()
//!     });
//! # let _ = prompt;
//! ```

use std::{collections::HashMap, fmt, future::Future, pin::Pin, sync::Arc};

use rmcp::model::{CompleteResult, CompletionInfo};

use crate::tool::ToolCall;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What is being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    argument: String,
    value: String,
    resolved: HashMap<String, String>,
}

impl Completion {
    pub(crate) fn new(
        argument: String,
        value: String,
        resolved: Option<HashMap<String, String>>,
    ) -> Self {
        Self {
            argument,
            value,
            resolved: resolved.unwrap_or_default(),
        }
    }

    /// The argument (or template variable) being completed.
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// What the user has typed so far.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value already chosen for another argument, when the client says (so a completion
    /// can depend on it: the repositories of the chosen owner, say).
    pub fn resolved(&self, argument: &str) -> Option<&str> {
        self.resolved.get(argument).map(String::as_str)
    }
}

/// What a completion function may return: the candidate values, best first, or a `Result`
/// of them whose `Err` is reported to the caller. Only the first
/// [`CompletionInfo::MAX_VALUES`] (100) are sent, with the total and `hasMore`.
pub trait IntoCompletions {
    /// The values, or the error's message.
    #[doc(hidden)]
    fn into_completions(self) -> Result<Vec<String>, String>;
}

impl IntoCompletions for Vec<String> {
    fn into_completions(self) -> Result<Vec<String>, String> {
        Ok(self)
    }
}

impl<E: fmt::Display> IntoCompletions for Result<Vec<String>, E> {
    fn into_completions(self) -> Result<Vec<String>, String> {
        self.map_err(|e| e.to_string())
    }
}

pub(crate) type ErasedCompleter =
    Arc<dyn Fn(Completion, ToolCall) -> BoxFuture<Result<Vec<String>, String>> + Send + Sync>;

/// The completion functions of one prompt or template, by argument name.
#[derive(Clone, Default)]
pub(crate) struct Completers(pub(crate) Vec<(String, ErasedCompleter)>);

impl fmt::Debug for Completers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Completers {
    pub(crate) fn add<F, Fut, R>(&mut self, argument: String, complete: F)
    where
        F: Fn(Completion, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCompletions,
    {
        let complete = Arc::new(complete);
        self.0.push((
            argument,
            Arc::new(move |completion, call| {
                let complete = Arc::clone(&complete);
                Box::pin(async move { complete(completion, call).await.into_completions() })
                    as BoxFuture<_>
            }),
        ));
    }

    pub(crate) fn get(&self, argument: &str) -> Option<&ErasedCompleter> {
        self.0
            .iter()
            .find(|(name, _)| name == argument)
            .map(|(_, f)| f)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a problem for every completer of an argument not in `arguments`, or declared
    /// twice.
    pub(crate) fn check(&self, what: &str, arguments: &[&str], problems: &mut Vec<String>) {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !arguments.contains(&name.as_str()) {
                problems.push(format!(
                    "{what}: completion for `{name}`, which is not one of its arguments ({})",
                    if arguments.is_empty() {
                        "it has none".to_owned()
                    } else {
                        arguments
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
            if self.0[..i].iter().any(|(earlier, _)| earlier == name) {
                problems.push(format!("{what}: completion for `{name}` is declared twice"));
            }
        }
    }
}

/// The result for `values`: at most 100 of them, with the total and whether there are more.
pub(crate) fn result(mut values: Vec<String>) -> CompleteResult {
    let total = values.len();
    values.truncate(CompletionInfo::MAX_VALUES);
    let has_more = total > values.len();
    let info = CompletionInfo::with_pagination(values, u32::try_from(total).ok(), has_more)
        .unwrap_or_default();
    CompleteResult::new(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_a_hundred_values_are_sent_with_the_total() {
        let many: Vec<String> = (0..250).map(|n| n.to_string()).collect();
        let r = result(many);
        assert_eq!(r.completion.values.len(), 100);
        assert_eq!(r.completion.values[0], "0");
        assert_eq!(r.completion.total, Some(250));
        assert_eq!(r.completion.has_more, Some(true));

        let r = result(vec!["a".into()]);
        assert_eq!(
            (r.completion.values.len(), r.completion.has_more),
            (1, Some(false))
        );
    }

    #[test]
    fn completers_for_unknown_or_repeated_arguments_are_problems() {
        let mut completers = Completers::default();
        let none = |_: Completion, _: ToolCall| async { Vec::<String>::new() };
        completers.add("lang".into(), none);
        completers.add("nope".into(), none);
        completers.add("lang".into(), none);
        let mut problems = Vec::new();
        completers.check("prompt `p`", &["lang", "level"], &mut problems);
        assert_eq!(
            problems,
            [
                "prompt `p`: completion for `nope`, which is not one of its arguments (`lang`, `level`)",
                "prompt `p`: completion for `lang` is declared twice",
            ]
        );
    }
}
