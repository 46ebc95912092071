//! Asking the client during a tool call: the user, through a form ([`Context::elicit`],
//! [`Context::elicit_with`]), or the client's model ([`Context::sample`]).
//!
//! # How a request travels back to the client
//!
//! Both are requests from the server *to* the client, sent while the tool call is in flight.
//! Over Streamable HTTP the client answers them with a separate `POST`, which the server must
//! match to the waiting call: that needs a session, and the plugin's hot path has none (every
//! request stands alone and is answered in JSON; see [`crate::server`]).
//!
//! So a client gets a session only when it can be asked something: when its `initialize`
//! declares the `sampling` or `elicitation` capability, rmcp's session service takes the
//! client (replies stream as SSE, the client's answers are routed to the call that asked).
//! Every other client (NanoFleet's install probe, agents that declare nothing) stays on the
//! stateless JSON path, untouched. Over stdio there is one client and the connection is the
//! session.
//!
//! A client that did not declare the capability is never sent the request: the call gets
//! [`AskError::NotSupported`], which a tool can answer with a default or an error the model
//! reads.
//!
//! # Protocol 2026-07-28: `input_required`
//!
//! That revision has no requests from server to client and no sessions. A tool asks the same
//! way, and the SDK turns the question into the call's answer: `tools/call` returns
//! `{"resultType": "input_required", "inputRequests": {...}}`, the client asks its user (or
//! model) and retries the call with `inputResponses`, and the tool runs again from the start,
//! this time getting the answer where it asked. Questions are keyed by the order they are
//! asked in, so a tool must ask the same questions in the same order on every run (do
//! nothing irreversible before its last question). The client's capabilities come from the
//! request's `_meta`. Inside a task, a question makes the task `input_required` until the
//! client answers with `tasks/update`.
//!
//! # Checking the answer
//!
//! A client's answer is input from outside: [`Context::elicit`] decodes it into the type
//! that produced the schema, and [`Context::elicit_with`] checks it against the schema it
//! sent (required fields, types, enum members); an answer that does not fit is
//! [`AskError::InvalidAnswer`] naming the field, never a panic or a half-filled value.

// Sampling is deprecated from protocol 2026-07-28 on (SEP-2577), with requests from server to
// client; every earlier client still offers it, and it is what this module is for.
#![allow(deprecated)]

use std::{
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use rmcp::{
    model::{
        CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, InputRequest,
        InputRequests, InputResponses, JsonObject, SamplingMessage,
    },
    service::ServiceError,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::tool::{Context, ToolError};

/// What the user did with a form: filled it in, declined it, or dismissed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicitation<T> {
    /// The user submitted the form; its content, checked.
    Accepted(T),
    /// The user explicitly refused to answer.
    Declined,
    /// The user dismissed the form without choosing.
    Cancelled,
}

impl<T> Elicitation<T> {
    /// The answer, when the user gave one.
    pub fn accepted(self) -> Option<T> {
        match self {
            Self::Accepted(value) => Some(value),
            Self::Declined | Self::Cancelled => None,
        }
    }

    /// `accept`, `decline` or `cancel`, as MCP names the actions.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accept",
            Self::Declined => "decline",
            Self::Cancelled => "cancel",
        }
    }
}

/// Why asking the client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AskError {
    /// The client cannot be asked this: it did not declare the capability at `initialize`,
    /// or the protocol it speaks has no requests from server to client.
    #[error(
        "the client cannot be asked for {0}: it did not declare the capability, or its protocol has no requests from server to client"
    )]
    NotSupported(&'static str),
    /// The schema cannot be sent: elicitation forms hold flat, primitive fields only.
    #[error("invalid elicitation schema: {0}")]
    InvalidSchema(String),
    /// The client's answer does not match what was asked.
    #[error("the client's answer does not match the schema: {0}")]
    InvalidAnswer(String),
    /// The client accepted a form but sent no content.
    #[error("the client accepted the form but sent no content")]
    NoContent,
    /// The request failed on the way: the client went away, answered with an error, or the
    /// call was cancelled.
    #[error("asking the client failed: {0}")]
    Failed(String),
    /// On protocol 2026-07-28 the question goes back as the call's `input_required` result;
    /// the tool runs again when the client retries with the answer. Whatever the tool returns
    /// after this is not sent.
    #[error(
        "the client is asked first: the call is answered with the question and retried with the answer"
    )]
    InputRequired,
}

impl From<AskError> for ToolError {
    fn from(e: AskError) -> Self {
        ToolError::new(e.to_string())
    }
}

fn failed(e: ServiceError) -> AskError {
    AskError::Failed(e.to_string())
}

/// The elicitation schema of `T`, generated the way rmcp does (draft-07, nullable fields).
pub fn schema_of<T: JsonSchema>() -> Result<ElicitationSchema, AskError> {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.transforms = vec![Box::new(schemars::transform::AddNullable::default())];
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let Ok(Value::Object(object)) = serde_json::to_value(schema) else {
        return Err(AskError::InvalidSchema(format!(
            "`{}` does not describe an object",
            std::any::type_name::<T>()
        )));
    };
    ElicitationSchema::from_json_schema(object).map_err(|e| {
        AskError::InvalidSchema(format!(
            "`{}`: {e} (a form holds strings, numbers, integers, booleans and enums)",
            std::any::type_name::<T>()
        ))
    })
}

impl Context {
    /// Whether the client declared it can show the user a form.
    pub fn can_elicit(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(|c| c.elicitation.is_some())
    }

    /// Whether the client declared it can run its model for the server.
    pub fn can_sample(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.sampling.is_some())
    }

    /// Sends `request` to the client and returns its answer: in a task, through the task
    /// (`input_required` until `tasks/update`); on protocol 2026-07-28, through the call's
    /// `input_required` result and its retry; otherwise as a request of the server's.
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        request: InputRequest,
        push: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, AskError> {
        if let Some(task) = &self.task {
            let key = self
                .round
                .as_ref()
                .map_or_else(|| "ask-1".to_owned(), |r| r.next_key());
            let answer = task
                .request_input(key.clone(), request)
                .await
                .map_err(|e| AskError::Failed(format!("{e:?}")))?;
            return decode_answer(&key, answer);
        }
        if self.input_required {
            let Some(round) = &self.round else {
                // Only a tool call can be answered with `input_required`.
                return Err(AskError::NotSupported("questions outside a tool call"));
            };
            let key = round.next_key();
            return match round.answer(&key) {
                Some(answer) => decode_answer(&key, answer),
                None => {
                    round.ask(key, request);
                    Err(AskError::InputRequired)
                }
            };
        }
        push.await.map_err(|e| match e {
            ServiceError::McpError(ref data)
                if data.code == rmcp::model::ErrorCode::INVALID_REQUEST =>
            {
                AskError::NotSupported("requests from the server")
            }
            other => failed(other),
        })
    }

    /// Asks the user to fill in a form generated from `T` (its doc comments are the fields'
    /// descriptions, `#[schemars(default)]`s their defaults), and decodes the answer into `T`.
    pub async fn elicit<T: JsonSchema + DeserializeOwned>(
        &self,
        message: impl Into<String>,
    ) -> Result<Elicitation<T>, AskError> {
        let schema = schema_of::<T>()?;
        match self.elicit_with(message, schema).await? {
            Elicitation::Accepted(content) => {
                serde_path_to_error::deserialize(Value::Object(content))
                    .map(Elicitation::Accepted)
                    .map_err(|e| AskError::InvalidAnswer(describe_path_error(e)))
            }
            Elicitation::Declined => Ok(Elicitation::Declined),
            Elicitation::Cancelled => Ok(Elicitation::Cancelled),
        }
    }

    /// Asks the user to fill in the form `schema` describes, and checks the answer against it.
    pub async fn elicit_with(
        &self,
        message: impl Into<String>,
        schema: ElicitationSchema,
    ) -> Result<Elicitation<JsonObject>, AskError> {
        if !self.can_elicit() {
            return Err(AskError::NotSupported("elicitation"));
        }
        let wire =
            serde_json::to_value(&schema).map_err(|e| AskError::InvalidSchema(e.to_string()))?;
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.into(),
            requested_schema: schema,
        };
        let result: ElicitResult = self
            .ask(
                InputRequest::Elicitation(ElicitRequest::new(params.clone())),
                self.peer.create_elicitation(params),
            )
            .await?;
        match result.action {
            ElicitationAction::Accept => {
                let content = match result.content {
                    Some(Value::Object(content)) => content,
                    Some(other) => {
                        return Err(AskError::InvalidAnswer(format!(
                            "the content must be an object, not {}",
                            kind_of(&other)
                        )));
                    }
                    None => return Err(AskError::NoContent),
                };
                check_answer(&wire, &content).map_err(AskError::InvalidAnswer)?;
                Ok(Elicitation::Accepted(content))
            }
            ElicitationAction::Decline => Ok(Elicitation::Declined),
            // `Cancel`, and any action a later revision adds: nothing was accepted.
            _ => Ok(Elicitation::Cancelled),
        }
    }

    /// Asks the client's model to answer `request` (`sampling/createMessage`). The client may
    /// show the request to the user first, change it or refuse it.
    pub async fn sample(
        &self,
        request: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, AskError> {
        if !self.can_sample() {
            return Err(AskError::NotSupported("sampling"));
        }
        self.ask(
            InputRequest::CreateMessage(CreateMessageRequest::new(request.clone())),
            self.peer.create_message(request),
        )
        .await
    }

    /// Asks the client's model one question and returns the text of its answer.
    pub async fn sample_text(
        &self,
        prompt: impl Into<String>,
        max_tokens: u32,
    ) -> Result<String, AskError> {
        let request =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], max_tokens);
        let result = self.sample(request).await?;
        let text: Vec<&str> = result
            .message
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
            .collect();
        if text.is_empty() {
            return Err(AskError::InvalidAnswer(
                "the model's answer holds no text".into(),
            ));
        }
        Ok(text.join("\n"))
    }
}

/// The questions one run of a tool asked through `input_required` (protocol 2026-07-28), and
/// the answers the client's retry carries to the previous run's.
#[derive(Debug, Default)]
pub(crate) struct InputRound {
    answers: Option<InputResponses>,
    asked: Mutex<InputRequests>,
    next: AtomicUsize,
}

impl InputRound {
    pub(crate) fn new(answers: Option<InputResponses>) -> Self {
        Self {
            answers,
            ..Self::default()
        }
    }

    /// The key of the next question: questions are told apart by the order they are asked in.
    fn next_key(&self) -> String {
        format!("ask-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn answer(&self, key: &str) -> Option<serde_json::Value> {
        self.answers.as_ref()?.get(key).cloned()
    }

    fn ask(&self, key: String, request: InputRequest) {
        self.lock().insert(key, request);
    }

    /// The questions asked this run, if any.
    pub(crate) fn questions(&self) -> Option<InputRequests> {
        let asked = std::mem::take(&mut *self.lock());
        (!asked.is_empty()).then_some(asked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InputRequests> {
        self.asked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A client's answer (from `inputResponses` or `tasks/update`), decoded: input from outside.
fn decode_answer<T: serde::de::DeserializeOwned>(
    key: &str,
    answer: serde_json::Value,
) -> Result<T, AskError> {
    serde_json::from_value(answer)
        .map_err(|e| AskError::InvalidAnswer(format!("the answer to `{key}`: {e}")))
}

fn describe_path_error(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        inner.to_string()
    } else {
        format!("`{path}`: {inner}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a form answer against the schema that was sent (its wire form): every required
/// field present, every field of the schema's type, single choices among the allowed
/// values, multiple choices each among them. Fields the schema does not name are refused:
/// a form cannot produce them.
fn check_answer(schema: &Value, content: &JsonObject) -> Result<(), String> {
    let empty = JsonObject::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !content.contains_key(name) {
                return Err(format!("the required field `{name}` is missing"));
            }
        }
    }
    for (name, value) in content {
        let Some(field) = properties.get(name) else {
            return Err(format!("`{name}` is not a field of the form"));
        };
        check_field(field, value).map_err(|why| format!("`{name}`: {why}"))?;
    }
    Ok(())
}

fn check_field(field: &Value, value: &Value) -> Result<(), String> {
    let ty = field.get("type").and_then(Value::as_str).unwrap_or("");
    let fits = match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        // A schema without a type constrains nothing more here.
        _ => true,
    };
    if !fits {
        return Err(format!("expected {ty}, got {}", kind_of(value)));
    }
    if let Some(allowed) = choices(field)
        && !allowed.contains(value)
    {
        return Err(format!("{value} is not one of {}", Value::Array(allowed)));
    }
    if let (Some(items), Some(values)) = (field.get("items"), value.as_array())
        && let Some(allowed) = choices(items)
    {
        for item in values {
            if !allowed.contains(item) {
                return Err(format!("{item} is not one of {}", Value::Array(allowed)));
            }
        }
    }
    Ok(())
}

/// The values a field allows: `enum`, or the `const`s of `oneOf`/`anyOf` (titled choices).
fn choices(field: &Value) -> Option<Vec<Value>> {
    if let Some(values) = field.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    ["oneOf", "anyOf"].iter().find_map(|key| {
        field.get(*key).and_then(Value::as_array).map(|options| {
            options
                .iter()
                .filter_map(|o| o.get("const").cloned())
                .collect()
        })
    })
}

impl fmt::Display for Elicitation<JsonObject> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted(content) => write!(
                f,
                "action: accept, content: {}",
                Value::Object(content.clone())
            ),
            Self::Declined | Self::Cancelled => write!(f, "action: {}", self.action()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn answers_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "status": {"type": "string", "enum": ["active", "inactive"]},
                "titled": {"type": "string", "oneOf": [{"const": "v1", "title": "One"}]},
                "tags": {"type": "array", "items": {"type": "string", "anyOf": [{"const": "a", "title": "A"}]}}
            },
            "required": ["name"]
        });
        let ok = object(
            json!({"name": "x", "age": 3, "status": "active", "titled": "v1", "tags": ["a"]}),
        );
        assert_eq!(check_answer(&schema, &ok), Ok(()));
        let cases = [
            (json!({"age": 3}), "the required field `name` is missing"),
            (json!({"name": 1}), "`name`: expected string, got a number"),
            (json!({"name": "x", "age": 1.5}), "`age`: expected integer"),
            (
                json!({"name": "x", "status": "gone"}),
                "`status`: \"gone\" is not one of",
            ),
            (
                json!({"name": "x", "titled": "v2"}),
                "`titled`: \"v2\" is not one of",
            ),
            (
                json!({"name": "x", "tags": ["b"]}),
                "`tags`: \"b\" is not one of",
            ),
            (
                json!({"name": "x", "extra": true}),
                "`extra` is not a field of the form",
            ),
        ];
        for (answer, expected) in cases {
            let err = check_answer(&schema, &object(answer.clone())).expect_err("is refused");
            assert!(err.starts_with(expected), "{answer}: {err}");
        }
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Form {
        /// Your name.
        name: String,
        age: Option<u32>,
    }

    #[test]
    fn a_struct_becomes_a_form_and_a_nested_one_is_refused() {
        let schema =
            serde_json::to_value(schema_of::<Form>().expect("succeeds")).expect("succeeds");
        assert_eq!(schema["properties"]["name"]["type"], "string");
        assert_eq!(schema["properties"]["name"]["description"], "Your name.");
        assert_eq!(schema["required"], json!(["name"]));

        #[derive(JsonSchema)]
        #[allow(dead_code)]
        struct Nested {
            inner: Form,
        }
        assert!(matches!(
            schema_of::<Nested>(),
            Err(AskError::InvalidSchema(_))
        ));
    }
}
