//! Declaring resources without macros: fixed [`Resource`]s, [`ResourceTemplate`]s whose URI
//! variables become a typed argument, and what a read may return ([`IntoContents`]).
//!
//! ```
//! use nanofleet_sdk::resource::{Contents, Resource, ResourceTemplate};
//! use nanofleet_sdk::tool::{ToolCall, ToolError};
//! use nanofleet_sdk::AgentStore;
//! use serde::Deserialize;
//!
//! let readme = Resource::new("notes://readme", "readme")
//!     .description("How the notes plugin works.")
//!     .mime_type("text/markdown")
//!     .handler(|_call: ToolCall| async { "# Notes\nOne list per agent." });
//!
//! #[derive(Deserialize)]
//! struct NoteUri {
//!     id: u64,
//! }
//!
//! // `notes://7` reads note 7 of the calling agent; `None` is "resource not found".
//! let note = ResourceTemplate::new("notes://{id}", "note")
//!     .description("One of the calling agent's notes.")
//!     .handler(|uri: NoteUri, call: ToolCall| async move {
//!         let store: AgentStore = call.extract()?;
//!         let text = store.collection::<String>("notes").get(uri.id).await?;
//!         Ok::<_, ToolError>(text.map(Contents::text))
//!     });
//! # let _ = (readme, note);
//! ```
//!
//! Handlers take the same injected values as tools, from the [`ToolCall`] (the calling agent,
//! its store, …), so an agent reads only its own resources.

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc};

use base64::Engine as _;
use rmcp::model::{JsonObject, ResourceContents};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    completion::{Completers, Completion, IntoCompletions},
    requirements::Requirements,
    tool::{FromToolCall, Json, ToolCall},
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a read produced no contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// Nothing at that URI (a template matched, the handler said `None`): MCP's
    /// "resource not found".
    NotFound,
    /// A template variable did not convert to the handler's type: invalid params.
    InvalidUri(String),
    /// The handler failed; the message is the caller's.
    Failed(String),
}

pub(crate) type ReadResult = Result<Vec<ResourceContents>, ReadFailure>;

/// A fixed resource's handler: the URI read, the request.
pub(crate) type ErasedRead = Arc<dyn Fn(String, ToolCall) -> BoxFuture<ReadResult> + Send + Sync>;

/// A template's handler: the URI read, its variables, the request.
pub(crate) type ErasedTemplateRead =
    Arc<dyn Fn(String, Vec<(String, String)>, ToolCall) -> BoxFuture<ReadResult> + Send + Sync>;

/// What a resource read returns: text or bytes, with a MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    body: Body,
    mime_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Text(String),
    Blob(Vec<u8>),
}

impl Contents {
    /// Text contents.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            body: Body::Text(text.into()),
            mime_type: None,
        }
    }

    /// Binary contents (sent base64-encoded).
    pub fn blob(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            body: Body::Blob(bytes.into()),
            mime_type: None,
        }
    }

    /// The MIME type, overriding the one the resource declares.
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }

    pub(crate) fn into_mcp(self, uri: &str, declared: Option<&str>) -> ResourceContents {
        let mime_type = self.mime_type.or_else(|| declared.map(str::to_owned));
        let contents = match self.body {
            Body::Text(text) => ResourceContents::TextResourceContents {
                uri: uri.to_owned(),
                mime_type: None,
                text,
                meta: None,
            },
            Body::Blob(bytes) => ResourceContents::BlobResourceContents {
                uri: uri.to_owned(),
                mime_type: None,
                blob: base64::engine::general_purpose::STANDARD.encode(bytes),
                meta: None,
            },
        };
        match mime_type {
            Some(mime_type) => contents.with_mime_type(mime_type),
            None => contents,
        }
    }
}

/// What a resource handler may return.
///
/// - `String`, `&'static str`, [`Contents`]: one item.
/// - `Vec<Contents>`: several (a directory, say).
/// - [`Json<T>`]: `T` as `application/json` text.
/// - `Option<T>`: `None` is "resource not found" (`-32002`).
/// - `Result<T, E>`: `Err` is an error response carrying `E`'s message.
pub trait IntoContents {
    /// The contents, or why there are none.
    #[doc(hidden)]
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind>;
}

/// Why a handler returned no contents (the message of a failure is shown to the caller).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailureKind {
    /// `None`.
    NotFound,
    /// `Err(message)`.
    Failed(String),
}

impl IntoContents for Contents {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        Ok(vec![self])
    }
}

impl IntoContents for Vec<Contents> {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        Ok(self)
    }
}

impl IntoContents for String {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        Ok(vec![Contents::text(self)])
    }
}

impl IntoContents for &'static str {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        Ok(vec![Contents::text(self)])
    }
}

impl<T: Serialize> IntoContents for Json<T> {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        serde_json::to_string(&self.0)
            .map(|text| vec![Contents::text(text).mime_type("application/json")])
            .map_err(|e| {
                ReadFailureKind::Failed(format!("the contents could not be serialised: {e}"))
            })
    }
}

impl<T: IntoContents> IntoContents for Option<T> {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        self.map_or(Err(ReadFailureKind::NotFound), IntoContents::into_contents)
    }
}

impl<T: IntoContents, E: fmt::Display> IntoContents for Result<T, E> {
    fn into_contents(self) -> Result<Vec<Contents>, ReadFailureKind> {
        self.map_err(|e| ReadFailureKind::Failed(e.to_string()))
            .and_then(IntoContents::into_contents)
    }
}

fn finish(uri: &str, declared: Option<&str>, out: impl IntoContents) -> ReadResult {
    match out.into_contents() {
        Ok(items) => Ok(items
            .into_iter()
            .map(|c| c.into_mcp(uri, declared))
            .collect()),
        Err(ReadFailureKind::NotFound) => Err(ReadFailure::NotFound),
        Err(ReadFailureKind::Failed(message)) => Err(ReadFailure::Failed(message)),
    }
}

/// Name, title, description and MIME type, shared by both kinds.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub(crate) name: Cow<'static, str>,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) mime_type: Option<String>,
}

impl Described {
    fn new(name: Cow<'static, str>) -> Self {
        Self {
            name,
            title: None,
            description: None,
            mime_type: None,
        }
    }
}

/// A resource at a fixed URI: listed by `resources/list`, read by `resources/read`.
#[derive(Clone)]
pub struct Resource {
    pub(crate) uri: Cow<'static, str>,
    pub(crate) about: Described,
    pub(crate) handler: Option<ErasedRead>,
    pub(crate) requirements: Requirements,
    /// `_meta` of its `resources/list` entry (an MCP App's `ui` settings, for one).
    pub(crate) meta: Option<JsonObject>,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("uri", &self.uri)
            .field("name", &self.about.name)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl Resource {
    /// Declares that the handler takes a `T` (extracted with [`ToolCall::extract`]); see
    /// [`Tool::requires`](crate::tool::Tool::requires).
    pub fn requires<T: FromToolCall>(mut self) -> Self {
        T::requirements(&mut self.requirements);
        self
    }

    /// A resource at `uri` (absolute: `scheme:…`), listed as `name`.
    ///
    /// A `ui://` resource is an MCP App's page (see [`crate::app`]): its MIME type is
    /// [`APP_MIME_TYPE`](crate::app::APP_MIME_TYPE) unless set otherwise, and the plugin
    /// refuses to start with another one.
    pub fn new(uri: impl Into<Cow<'static, str>>, name: impl Into<Cow<'static, str>>) -> Self {
        let uri = uri.into();
        let mut about = Described::new(name.into());
        if crate::app::is_app_uri(&uri) {
            about.mime_type = Some(crate::app::APP_MIME_TYPE.to_owned());
        }
        Self {
            uri,
            about,
            handler: None,
            requirements: Requirements::default(),
            meta: None,
        }
    }

    /// `_meta` of the resource's `resources/list` entry: for an MCP App's page, its `ui`
    /// settings (`{"ui": {"csp": {...}, "prefersBorder": true}}`).
    pub fn meta(mut self, meta: JsonObject) -> Self {
        self.meta = Some(meta);
        self
    }

    /// The resource's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.about.title = Some(title.into());
        self
    }

    /// What the resource holds, for the model.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.about.description = Some(description.into());
        self
    }

    /// The MIME type of its contents (a handler's [`Contents::mime_type`] overrides it).
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.about.mime_type = Some(mime_type.into());
        self
    }

    /// Sets the handler that produces the contents.
    pub fn handler<F, Fut, R>(mut self, handler: F) -> Self
    where
        F: Fn(ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoContents,
    {
        let handler = Arc::new(handler);
        let declared = self.about.mime_type.clone();
        self.handler = Some(Arc::new(move |uri: String, call: ToolCall| {
            let handler = Arc::clone(&handler);
            let declared = declared.clone();
            Box::pin(async move { finish(&uri, declared.as_deref(), handler(call).await) })
                as BoxFuture<ReadResult>
        }));
        self
    }

    pub(crate) fn to_mcp(&self) -> rmcp::model::Resource {
        let mut resource =
            rmcp::model::Resource::new(self.uri.to_string(), self.about.name.to_string());
        resource.title = self.about.title.clone();
        resource.description = self.about.description.clone();
        resource.mime_type = self.about.mime_type.clone();
        resource.meta = self.meta.clone().map(rmcp::model::MetaObject);
        resource
    }
}

/// Resources at URIs that match a template (RFC 6570 simple expansions, `notes://{id}`): listed
/// by `resources/templates/list`; a read of a matching URI calls the handler with the variables
/// decoded into its argument type.
#[derive(Clone)]
pub struct ResourceTemplate {
    pub(crate) template: UriTemplate,
    pub(crate) about: Described,
    pub(crate) handler: Option<ErasedTemplateRead>,
    pub(crate) requirements: Requirements,
    pub(crate) completers: Completers,
}

impl fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceTemplate")
            .field("uri_template", &self.template.source)
            .field("name", &self.about.name)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl ResourceTemplate {
    /// Declares that the handler takes a `T` (extracted with [`ToolCall::extract`]); see
    /// [`Tool::requires`](crate::tool::Tool::requires).
    pub fn requires<T: FromToolCall>(mut self) -> Self {
        T::requirements(&mut self.requirements);
        self
    }

    /// A template such as `notes://{id}`, listed as `name`. A template that does not parse is
    /// reported by [`PluginBuilder::build`](crate::plugin::PluginBuilder::build).
    pub fn new(
        uri_template: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            template: UriTemplate::parse(uri_template.into()),
            about: Described::new(name.into()),
            handler: None,
            requirements: Requirements::default(),
            completers: Completers::default(),
        }
    }

    /// The template as written.
    pub fn uri_template(&self) -> &str {
        &self.template.source
    }

    /// The names of its variables, in order.
    pub fn variables(&self) -> Vec<&str> {
        self.template.variables().collect()
    }

    /// A human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.about.title = Some(title.into());
        self
    }

    /// What the resources hold, for the model.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.about.description = Some(description.into());
        self
    }

    /// The MIME type of their contents.
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.about.mime_type = Some(mime_type.into());
        self
    }

    /// Sets the handler. Its first argument is decoded from the URI's variables, by name: a
    /// struct with a field per variable. A variable that does not convert (`notes://abc` for
    /// an `id: u64`) is an invalid-params error naming it, and the handler does not run.
    pub fn handler<A, F, Fut, R>(mut self, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoContents,
    {
        let handler = Arc::new(handler);
        let declared = self.about.mime_type.clone();
        self.handler = Some(Arc::new(
            move |uri: String, vars: Vec<(String, String)>, call: ToolCall| {
                let handler = Arc::clone(&handler);
                let declared = declared.clone();
                Box::pin(async move {
                    let args = decode_variables::<A>(&vars).map_err(ReadFailure::InvalidUri)?;
                    finish(&uri, declared.as_deref(), handler(args, call).await)
                }) as BoxFuture<ReadResult>
            },
        ));
        self
    }

    /// Completes the variable `variable` (`completion/complete` with a `ref/resource` naming
    /// this template) with `complete`; see [`crate::completion`].
    pub fn complete<F, Fut, R>(mut self, variable: impl Into<String>, complete: F) -> Self
    where
        F: Fn(Completion, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCompletions,
    {
        self.completers.add(variable.into(), complete);
        self
    }

    pub(crate) fn to_mcp(&self) -> rmcp::model::ResourceTemplate {
        let mut template = rmcp::model::ResourceTemplate::new(
            self.template.source.to_string(),
            self.about.name.to_string(),
        );
        template.title = self.about.title.clone();
        template.description = self.about.description.clone();
        template.mime_type = self.about.mime_type.clone();
        template
    }
}

/// Decodes URI variables into `A` (see [`decode_strings`]), with errors that name the URI.
fn decode_variables<A: DeserializeOwned>(vars: &[(String, String)]) -> Result<A, String> {
    let object = vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    decode_strings(object).map_err(|(name, value, why)| match name {
        Some(name) => format!("URI variable `{name}` = {value:?}: {why}"),
        None => format!("the URI does not fit the template: {why}"),
    })
}

/// Decodes string-valued arguments (URI variables, prompt arguments: MCP sends both as
/// strings) into `A`, the way a query string is decoded: a `String` field takes the text, a
/// number or boolean field parses it, an `Option` field may be absent. A non-string JSON value
/// is taken as its JSON text.
///
/// The error: the argument's name (if one is to blame), its value, and why.
pub(crate) fn decode_strings<A: DeserializeOwned>(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<A, (Option<String>, String, String)> {
    let pairs: Vec<(String, String)> = object
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner().to_string();
        let value = pairs
            .iter()
            .find(|(k, _)| *k == path)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let name = (path != "." && !path.is_empty() && path != "?").then_some(path);
        (name, value, why)
    })
}

/// An RFC 6570 template restricted to simple expansions (`{name}`): literal text and variables,
/// a variable matching one or more characters other than `/` (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    pub(crate) source: Cow<'static, str>,
    /// The parts, or why the template is invalid.
    pub(crate) parts: Result<Vec<Part>, String>,
}

use nanofleet_contracts::uri_template::{Part, parse as parse_template};

impl UriTemplate {
    pub(crate) fn parse(source: Cow<'static, str>) -> Self {
        let parts = parse_template(&source);
        Self { source, parts }
    }

    fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().flatten().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The variables of `uri` if it matches, in template order.
    pub(crate) fn matches(&self, uri: &str) -> Option<Vec<(String, String)>> {
        let parts = self.parts.as_ref().ok()?;
        let mut rest = uri;
        let mut vars = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Part::Variable(name) => {
                    // A variable ends at the next literal (or the end), and never spans a `/`.
                    let end = match parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    if raw.is_empty() || raw.contains('/') {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(raw)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    vars.push((name.clone(), value));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(vars)
    }
}

/// A plugin's resources, checked once at build time and served from here.
#[derive(Default)]
pub(crate) struct Resources {
    fixed: Vec<(Resource, ErasedRead)>,
    templates: Vec<(ResourceTemplate, ErasedTemplateRead)>,
    listed: Vec<rmcp::model::Resource>,
    listed_templates: Vec<rmcp::model::ResourceTemplate>,
}

impl Resources {
    /// Whether a fixed resource is declared at `uri`.
    pub(crate) fn has_fixed(&self, uri: &str) -> bool {
        self.fixed.iter().any(|(r, _)| r.uri == uri)
    }

    /// Checks every resource and template, adding what is wrong to `problems`.
    pub(crate) fn build(
        fixed: Vec<Resource>,
        templates: Vec<ResourceTemplate>,
        problems: &mut Vec<String>,
    ) -> Self {
        let mut out = Self::default();
        for resource in fixed {
            let uri = resource.uri.to_string();
            if !has_scheme(&uri) {
                problems.push(format!(
                    "resource `{uri}`: a resource URI is absolute, with a scheme (`notes://readme`)"
                ));
            }
            if resource.about.name.trim().is_empty() {
                problems.push(format!("resource `{uri}` has no name"));
            }
            if crate::app::is_app_uri(&uri)
                && resource.about.mime_type.as_deref() != Some(crate::app::APP_MIME_TYPE)
            {
                problems.push(format!(
                    "resource `{uri}`: a `ui://` resource is an MCP App's page, of MIME type \
                     `{}` (it is `{}`)",
                    crate::app::APP_MIME_TYPE,
                    resource.about.mime_type.as_deref().unwrap_or("unset"),
                ));
            }
            if out.fixed.iter().any(|(r, _)| r.uri == resource.uri) {
                problems.push(format!("resource `{uri}` is declared twice"));
                continue;
            }
            let Some(handler) = resource.handler.clone() else {
                problems.push(format!("resource `{uri}` has no handler"));
                continue;
            };
            out.listed.push(resource.to_mcp());
            out.fixed.push((resource, handler));
        }
        for template in templates {
            let source = template.template.source.to_string();
            if let Err(why) = &template.template.parts {
                problems.push(format!("resource template `{source}`: {why}"));
                continue;
            }
            if template.about.name.trim().is_empty() {
                problems.push(format!("resource template `{source}` has no name"));
            }
            if out
                .templates
                .iter()
                .any(|(t, _)| t.template.source == template.template.source)
            {
                problems.push(format!("resource template `{source}` is declared twice"));
                continue;
            }
            template.completers.check(
                &format!("resource template `{source}`"),
                &template.variables(),
                problems,
            );
            let Some(handler) = template.handler.clone() else {
                problems.push(format!("resource template `{source}` has no handler"));
                continue;
            };
            out.listed_templates.push(template.to_mcp());
            out.templates.push((template, handler));
        }
        out
    }

    /// Whether the plugin has any (and so advertises the `resources` capability).
    pub(crate) fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.templates.is_empty()
    }

    pub(crate) fn listed(&self) -> &[rmcp::model::Resource] {
        &self.listed
    }

    pub(crate) fn listed_templates(&self) -> &[rmcp::model::ResourceTemplate] {
        &self.listed_templates
    }

    /// The template written as `uri_template`.
    pub(crate) fn template(&self, uri_template: &str) -> Option<&ResourceTemplate> {
        self.templates
            .iter()
            .map(|(t, _)| t)
            .find(|t| t.template.source == uri_template)
    }

    /// Whether any template completes a variable.
    pub(crate) fn completes(&self) -> bool {
        self.templates.iter().any(|(t, _)| !t.completers.is_empty())
    }

    /// Reads `uri`: a fixed resource first, then the first template it matches.
    pub(crate) async fn read(&self, uri: &str, call: ToolCall) -> ReadResult {
        if let Some((_, handler)) = self.fixed.iter().find(|(r, _)| r.uri == uri) {
            return handler(uri.to_owned(), call).await;
        }
        for (template, handler) in &self.templates {
            if let Some(vars) = template.template.matches(uri) {
                return handler(uri.to_owned(), vars, call).await;
            }
        }
        Err(ReadFailure::NotFound)
    }
}

fn has_scheme(uri: &str) -> bool {
    uri.split_once(':').is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(source: &'static str) -> UriTemplate {
        UriTemplate::parse(Cow::Borrowed(source))
    }

    fn vars(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn variables_match_up_to_the_next_literal_and_never_across_a_slash() {
        let t = template("test://template/{id}/data");
        assert_eq!(
            t.matches("test://template/123/data"),
            vars(&[("id", "123")])
        );
        assert_eq!(t.matches("test://template/1/2/data"), None);
        assert_eq!(t.matches("test://template//data"), None);
        assert_eq!(t.matches("test://template/123/data/more"), None);
        assert_eq!(t.matches("other://template/123/data"), None);

        let t = template("notes://{agent}/{id}");
        assert_eq!(
            t.matches("notes://ada/7"),
            vars(&[("agent", "ada"), ("id", "7")])
        );
        assert_eq!(t.matches("notes://ada"), None);
    }

    #[test]
    fn values_are_percent_decoded() {
        let t = template("files://{name}");
        assert_eq!(t.matches("files://a%20b"), vars(&[("name", "a b")]));
        assert_eq!(t.matches("files://%FF"), None, "not UTF-8");
    }

    #[test]
    fn invalid_templates_say_what_is_wrong() {
        for (source, needle) in [
            ("notes://{id", "never closed"),
            ("notes://id}", "without"),
            ("notes://{+path}", "not a simple variable"),
            ("notes://{}", "not a simple variable"),
            ("notes://{a}{b}", "follows another variable"),
            ("notes://{a}/{a}", "appears twice"),
            ("{scheme}://x", "starts with its scheme"),
            ("no-scheme/{id}", "starts with its scheme"),
        ] {
            let err = template(source).parts.expect_err(source);
            assert!(err.contains(needle), "{source}: {err}");
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Typed {
        id: u64,
        name: String,
    }

    #[test]
    fn variables_decode_into_typed_fields() {
        let decoded: Typed =
            decode_variables(&[("id".into(), "42".into()), ("name".into(), "42".into())])
                .expect("decodes");
        assert_eq!(
            decoded,
            Typed {
                id: 42,
                name: "42".into()
            }
        );
        let err =
            decode_variables::<Typed>(&[("id".into(), "abc".into()), ("name".into(), "x".into())])
                .expect_err("not a number");
        assert!(err.contains("`id`") && err.contains("\"abc\""), "{err}");
    }

    #[test]
    fn contents_take_the_declared_mime_type_unless_they_name_one() {
        let text = Contents::text("hi").into_mcp("a://b", Some("text/markdown"));
        assert_eq!(
            serde_json::to_value(&text).expect("json"),
            serde_json::json!({"uri": "a://b", "mimeType": "text/markdown", "text": "hi"})
        );
        let blob = Contents::blob(vec![0u8, 255])
            .mime_type("image/png")
            .into_mcp("a://c", Some("text/plain"));
        assert_eq!(
            serde_json::to_value(&blob).expect("json"),
            serde_json::json!({"uri": "a://c", "mimeType": "image/png", "blob": "AP8="})
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let ok = |_: ToolCall| async { "x" };
        let mut problems = Vec::new();
        let resources = Resources::build(
            vec![
                Resource::new("no-scheme", "a").handler(ok),
                Resource::new("a://dup", "b").handler(ok),
                Resource::new("a://dup", "c").handler(ok),
                Resource::new("a://none", "d"),
                Resource::new("a://unnamed", " ").handler(ok),
            ],
            vec![
                ResourceTemplate::new("a://{id", "t"),
                ResourceTemplate::new("a://{id}", "u"),
            ],
            &mut problems,
        );
        let all = problems.join("\n");
        for needle in [
            "resource `no-scheme`: a resource URI is absolute",
            "resource `a://dup` is declared twice",
            "resource `a://none` has no handler",
            "resource `a://unnamed` has no name",
            "resource template `a://{id`: a `{` is never closed",
            "resource template `a://{id}` has no handler",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 6, "{all}");
        // Listed as far as they could be checked; the build fails on the problems anyway.
        assert_eq!(resources.listed().len(), 3);
    }

    #[test]
    fn none_is_not_found_and_err_is_a_failure() {
        assert_eq!(
            finish("a://b", None, None::<String>),
            Err(ReadFailure::NotFound)
        );
        assert_eq!(
            finish("a://b", None, Err::<String, _>("disk on fire")),
            Err(ReadFailure::Failed("disk on fire".into()))
        );
    }
}
