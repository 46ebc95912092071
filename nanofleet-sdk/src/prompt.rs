//! Declaring prompts without macros: [`Prompt`], its typed arguments, and the [`Message`]s it
//! returns.
//!
//! ```
//! use nanofleet_sdk::prompt::{Message, Prompt};
//! use nanofleet_sdk::tool::ToolCall;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Review {
//!     /// The language of the code.
//!     language: String,
//!     /// How strict to be, 1 to 5.
//!     strictness: Option<u8>,
//! }
//!
//! let review = Prompt::new("review_code", "Asks for a code review.")
//!     .handler(|args: Review, _call: ToolCall| async move {
//!         let strict = args.strictness.unwrap_or(3);
//!         vec![Message::user(format!(
//!             "Review this {} code with strictness {strict}/5.",
//!             args.language
//!         ))]
//!     });
//! assert_eq!(review.arguments()[0].name, "language");
//! ```
//!
//! The arguments come from the handler's argument type: each field is one argument, described
//! by its doc comment, required unless it is an `Option`. MCP sends them as strings; a number
//! or boolean field takes a string that parses as one.

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc};

use rmcp::model::{PromptArgument, PromptMessage, Role};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{
    completion::{Completers, Completion, IntoCompletions},
    content::Content,
    requirements::Requirements,
    resource::decode_strings,
    tool::{FromToolCall, ToolCall},
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a prompt produced no messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PromptFailure {
    /// Arguments missing or of the wrong type: invalid params.
    InvalidArguments(String),
    /// The handler failed.
    Failed(String),
}

pub(crate) type ErasedPrompt = Arc<
    dyn Fn(
            serde_json::Map<String, serde_json::Value>,
            ToolCall,
        ) -> BoxFuture<Result<Vec<PromptMessage>, PromptFailure>>
        + Send
        + Sync,
>;

/// One message of a prompt: a role and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    role: Role,
    content: Content,
}

impl Message {
    /// A message from the user.
    pub fn user(content: impl Into<Content>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// A message from the assistant (to prime the conversation).
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }

    fn into_mcp(self) -> PromptMessage {
        PromptMessage::new(self.role, self.content.into_mcp())
    }
}

/// What a prompt handler may return: a `String` (one user message), a [`Message`], a
/// `Vec<Message>`, or a `Result` of one of these whose `Err` is reported to the caller.
pub trait IntoMessages {
    /// The messages, or the error's message.
    #[doc(hidden)]
    fn into_messages(self) -> Result<Vec<Message>, String>;
}

impl IntoMessages for String {
    fn into_messages(self) -> Result<Vec<Message>, String> {
        Ok(vec![Message::user(self)])
    }
}

impl IntoMessages for &'static str {
    fn into_messages(self) -> Result<Vec<Message>, String> {
        Ok(vec![Message::user(self)])
    }
}

impl IntoMessages for Message {
    fn into_messages(self) -> Result<Vec<Message>, String> {
        Ok(vec![self])
    }
}

impl IntoMessages for Vec<Message> {
    fn into_messages(self) -> Result<Vec<Message>, String> {
        Ok(self)
    }
}

impl<T: IntoMessages, E: fmt::Display> IntoMessages for Result<T, E> {
    fn into_messages(self) -> Result<Vec<Message>, String> {
        self.map_err(|e| e.to_string())
            .and_then(IntoMessages::into_messages)
    }
}

/// A prompt: listed by `prompts/list`, expanded by `prompts/get`.
#[derive(Clone)]
pub struct Prompt {
    pub(crate) name: Cow<'static, str>,
    pub(crate) title: Option<String>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) arguments: Vec<PromptArgument>,
    pub(crate) handler: Option<ErasedPrompt>,
    pub(crate) requirements: Requirements,
    pub(crate) completers: Completers,
    /// The order arguments are listed in, by name (see [`Prompt::argument_order`]).
    order: Vec<String>,
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .field("arguments", &self.arguments.len())
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl Prompt {
    /// Declares that the handler takes a `T` (extracted with [`ToolCall::extract`]); see
    /// [`Tool::requires`](crate::tool::Tool::requires).
    pub fn requires<T: FromToolCall>(mut self) -> Self {
        T::requirements(&mut self.requirements);
        self
    }

    /// Adds to what the handler needs from the plugin, for needs that are not one type's:
    /// `add` is given the handler's [`Requirements`] (see
    /// [`Prompt::requires`] for the usual way).
    pub fn requirements(
        mut self,
        add: impl FnOnce(&mut crate::requirements::Requirements),
    ) -> Self {
        add(&mut self.requirements);
        self
    }

    /// A prompt named `name` (checked like a tool name by
    /// [`PluginBuilder::build`](crate::plugin::PluginBuilder::build)), described as
    /// `description`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: description.into(),
            arguments: Vec::new(),
            handler: None,
            requirements: Requirements::default(),
            order: Vec::new(),
            completers: Completers::default(),
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its arguments, as `prompts/list` shows them.
    pub fn arguments(&self) -> &[PromptArgument] {
        &self.arguments
    }

    /// A human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Lists the arguments in this order (names not given come after, alphabetically). A JSON
    /// Schema's properties have no order, so without it they are listed alphabetically; the
    /// macros give the parameters' order.
    pub fn argument_order<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.order = names.into_iter().map(Into::into).collect();
        self.sort_arguments();
        self
    }

    fn sort_arguments(&mut self) {
        let order = &self.order;
        let rank = |name: &str| order.iter().position(|n| n == name).unwrap_or(order.len());
        self.arguments.sort_by(|a, b| {
            rank(&a.name)
                .cmp(&rank(&b.name))
                .then_with(|| a.name.cmp(&b.name))
        });
    }

    /// Sets the handler. Its first argument is decoded from the request's arguments (use
    /// [`NoArgs`](crate::tool::NoArgs) for a prompt without any); its fields become the
    /// prompt's arguments. A missing required argument, or one that does not convert, is an
    /// invalid-params error naming it, and the handler does not run.
    pub fn handler<A, F, Fut, R>(mut self, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoMessages,
    {
        self.arguments = arguments_of::<A>();
        self.sort_arguments();
        let required: Arc<[String]> = self
            .arguments
            .iter()
            .filter(|a| a.required == Some(true))
            .map(|a| a.name.clone())
            .collect();
        let handler = Arc::new(handler);
        self.handler = Some(Arc::new(
            move |args: serde_json::Map<String, serde_json::Value>, call: ToolCall| {
                let handler = Arc::clone(&handler);
                let required = Arc::clone(&required);
                Box::pin(async move {
                    let missing: Vec<&str> = required
                        .iter()
                        .filter(|name| !args.contains_key(name.as_str()))
                        .map(String::as_str)
                        .collect();
                    if !missing.is_empty() {
                        return Err(PromptFailure::InvalidArguments(format!(
                            "missing required argument{} {}",
                            if missing.len() == 1 { "" } else { "s" },
                            missing
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    let args: A = decode_strings(args).map_err(|(name, value, why)| {
                        PromptFailure::InvalidArguments(match name {
                            Some(name) => format!("argument `{name}` = {value:?}: {why}"),
                            None => format!("invalid arguments: {why}"),
                        })
                    })?;
                    handler(args, call)
                        .await
                        .into_messages()
                        .map(|messages| messages.into_iter().map(Message::into_mcp).collect())
                        .map_err(PromptFailure::Failed)
                }) as BoxFuture<_>
            },
        ));
        self
    }

    /// Completes `argument` (`completion/complete`) with `complete`, given what the user has
    /// typed; see [`crate::completion`].
    pub fn complete<F, Fut, R>(mut self, argument: impl Into<String>, complete: F) -> Self
    where
        F: Fn(Completion, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCompletions,
    {
        self.completers.add(argument.into(), complete);
        self
    }

    pub(crate) fn to_mcp(&self) -> rmcp::model::Prompt {
        let arguments = (!self.arguments.is_empty()).then(|| self.arguments.clone());
        let mut prompt = rmcp::model::Prompt::new(
            self.name.to_string(),
            Some(self.description.to_string()),
            arguments,
        );
        prompt.title = self.title.clone();
        prompt
    }
}

/// The prompt arguments `A`'s JSON Schema describes: its properties, in order, with their
/// descriptions; required as the schema says.
fn arguments_of<A: JsonSchema>() -> Vec<PromptArgument> {
    let schema = serde_json::to_value(schemars::schema_for!(A)).unwrap_or_default();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut argument =
                PromptArgument::new(name.clone()).with_required(required.contains(&name.as_str()));
            if let Some(description) = property["description"].as_str() {
                argument = argument.with_description(description);
            }
            if let Some(title) = property["title"].as_str() {
                argument = argument.with_title(title);
            }
            argument
        })
        .collect()
}

/// A plugin's prompts, checked once at build time.
#[derive(Default)]
pub(crate) struct Prompts {
    by_name: Vec<(Prompt, ErasedPrompt)>,
    listed: Vec<rmcp::model::Prompt>,
}

impl Prompts {
    pub(crate) fn build(prompts: Vec<Prompt>, problems: &mut Vec<String>) -> Self {
        let mut out = Self::default();
        for prompt in prompts {
            let name = prompt.name.to_string();
            if let Err(v) = nanofleet_contracts::manifest::rules::check_tool_name(&name) {
                problems.push(format!("prompt `{name}`: {}", v.message));
            }
            if prompt.description.trim().is_empty() {
                problems.push(format!(
                    "prompt `{name}` has no description: clients show it to choose prompts"
                ));
            }
            if out.by_name.iter().any(|(p, _)| p.name == prompt.name) {
                problems.push(format!("prompt `{name}` is declared twice"));
                continue;
            }
            let arguments: Vec<&str> = prompt.arguments.iter().map(|a| a.name.as_str()).collect();
            prompt
                .completers
                .check(&format!("prompt `{name}`"), &arguments, problems);
            let Some(handler) = prompt.handler.clone() else {
                problems.push(format!("prompt `{name}` has no handler"));
                continue;
            };
            out.listed.push(prompt.to_mcp());
            out.by_name.push((prompt, handler));
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub(crate) fn listed(&self) -> &[rmcp::model::Prompt] {
        &self.listed
    }

    pub(crate) fn find(&self, name: &str) -> Option<(&Prompt, &ErasedPrompt)> {
        self.by_name
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(p, h)| (p, h))
    }

    /// Whether any prompt completes an argument.
    pub(crate) fn completes(&self) -> bool {
        self.by_name.iter().any(|(p, _)| !p.completers.is_empty())
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        self.by_name.iter().map(|(p, _)| p.name.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments of a test prompt.
    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// First argument.
        arg1: String,
        /// Second argument.
        arg2: Option<u32>,
    }

    #[test]
    fn arguments_come_from_the_type_with_descriptions_and_required() {
        let prompt = Prompt::new("p", "A prompt.").handler(|_: Args, _| async { "x" });
        let args: Vec<(String, Option<String>, Option<bool>)> = prompt
            .arguments()
            .iter()
            .map(|a| (a.name.clone(), a.description.clone(), a.required))
            .collect();
        assert_eq!(
            args,
            [
                ("arg1".into(), Some("First argument.".into()), Some(true)),
                ("arg2".into(), Some("Second argument.".into()), Some(false)),
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let ok = |_: crate::tool::NoArgs, _: ToolCall| async { "x" };
        let mut problems = Vec::new();
        let prompts = Prompts::build(
            vec![
                Prompt::new("Bad Name", "d").handler(ok),
                Prompt::new("quiet", " ").handler(ok),
                Prompt::new("twice", "d").handler(ok),
                Prompt::new("twice", "d").handler(ok),
                Prompt::new("unhandled", "d"),
            ],
            &mut problems,
        );
        let all = problems.join("\n");
        for needle in [
            "prompt `Bad Name`",
            "prompt `quiet` has no description",
            "prompt `twice` is declared twice",
            "prompt `unhandled` has no handler",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert_eq!(prompts.names(), ["Bad Name", "quiet", "twice"]);
    }
}
