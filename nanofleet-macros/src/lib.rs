//! `#[plugin]` and `#[tool]`: NanoFleet plugins from annotated Rust methods.
//!
//! Use them through `nanofleet-sdk`, which re-exports both (`use nanofleet_sdk::plugin;`); a
//! plugin crate needs no other dependency for the code they generate. They are sugar over the
//! SDK's builder API ([`Plugin::builder`], [`Tool::new`]) in the way `serde_derive` is sugar over
//! `serde`: everything they generate can be written by hand, and what follows shows exactly
//! what that is.
//!
//! ```no_run
//! use nanofleet_sdk::{plugin, AgentStore, ToolError};
//!
//! #[derive(Default)]
//! struct Notes;
//!
//! /// Per-agent notes.
//! #[plugin(name = "notes", image = "nanofleet/notes", mcp_port = 8080)]
//! impl Notes {
//!     /// Saves a note for the calling agent.
//!     #[tool(destructive = false)]
//!     async fn add_note(
//!         &self,
//!         store: AgentStore,
//!         /// The note's text.
//!         text: String,
//!     ) -> Result<u64, ToolError> {
//!         Ok(store.collection::<String>("notes").insert(&text).await?)
//!     }
//!
//!     /// Lists the calling agent's notes.
//!     #[tool(read_only)]
//!     async fn list_notes(&self, store: AgentStore) -> Result<Vec<String>, ToolError> {
//!         let notes = store.collection::<String>("notes").list().await?;
//!         Ok(notes.into_iter().map(|(_, text)| text).collect())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Notes::default().run()
//! }
//! ```
//!
//! # What it expands to
//!
//! For the plugin above, with only `add_note` (formatted, and with `::nanofleet_sdk::__private`
//! written as `sdk`; the real expansion names nothing else but `core` and `std`):
//!
//! ```ignore
//! // The impl block, without `#[tool]`, `#[arg]` and the parameters' doc comments.
//! /// Per-agent notes.
//! impl Notes {
//!     /// Saves a note for the calling agent.
//!     async fn add_note(&self, store: AgentStore, text: String) -> Result<u64, ToolError> {
//!         Ok(store.collection::<String>("notes").insert(&text).await?)
//!     }
//! }
//!
//! impl Notes {
//!     /// The plugin's manifest, as declared in `#[plugin(...)]`.
//!     pub fn manifest() -> sdk::Manifest {
//!         let mut manifest = sdk::Manifest::new(
//!             "notes",
//!             env!("CARGO_PKG_VERSION"),
//!             // An image without a tag is tagged with the plugin's version.
//!             concat!("nanofleet/notes:", env!("CARGO_PKG_VERSION")),
//!             8080u16,
//!         );
//!         manifest.description = String::from("Per-agent notes.");
//!         manifest.author = env!("CARGO_PKG_AUTHORS").replace(':', ", ");
//!         manifest
//!     }
//!
//!     pub fn plugin(self) -> Result<sdk::Plugin, sdk::Error> {
//!         self.plugin_builder().build()
//!     }
//!
//!     pub fn plugin_builder(self) -> sdk::PluginBuilder {
//!         let builder = sdk::Plugin::builder(Self::manifest()).state(self);
//!         // One statement per tool, carrying the method's `#[cfg(...)]` attributes if any.
//!         let builder = builder.tool({
//!             // A slot per parameter. Which parameters are arguments the compiler decides from
//!             // their types: `AgentStore` implements `FromToolCall`, so it is supplied by the
//!             // SDK; `String` does not, so it is an argument (it must be `Deserialize` and
//!             // `JsonSchema`). The macro only names the types, in calls on a probe
//!             // (`Param::<T>`) whose methods differ by kind.
//!             struct __Args {
//!                 __p0: Option<AgentStore>,
//!                 __p1: Option<String>,
//!             }
//!             fn __spec1() -> sdk::Spec<String> {
//!                 sdk::Spec { name: "text", title: "", description: "The note's text.", default: None }
//!             }
//!             // `Deserialize`: each key to its slot (`probe.next_value`), then each slot
//!             // completed (`probe.finish`: a default, `None` for an `Option`, or
//!             // "missing field `text`"). Keys of supplied parameters are ignored.
//!             impl<'de> sdk::serde::Deserialize<'de> for __Args { /* ... */ }
//!             // `JsonSchema` titled `add_noteArguments`: a property per argument
//!             // (`probe.describe`), with its doc comment and default.
//!             impl sdk::schemars::JsonSchema for __Args { /* ... */ }
//!             sdk::Tool::new("add_note", "Saves a note for the calling agent.")
//!                 .destructive(false)
//!                 .output::<u64>() // wrapped as {"result": ...}: not an object
//!                 // What each supplied type needs (here: the store), checked at start-up.
//!                 .requirements(|needs| {
//!                     (&&sdk::Param::<AgentStore>::new()).requirements(needs);
//!                     (&&sdk::Param::<String>::new()).requirements(needs); // nothing
//!                 })
//!                 .handler(|__args: __Args, __call: sdk::ToolCall| async move {
//!                     // `&self` and the supplied parameters come from the call, the arguments
//!                     // from their slots.
//!                     let __state: sdk::State<Self> = __call.extract()?;
//!                     let __param0: AgentStore =
//!                         (&&sdk::Param::<AgentStore>::new()).take(__args.__p0, &__call)?;
//!                     let __param1: String =
//!                         (&&sdk::Param::<String>::new()).take(__args.__p1, &__call)?;
//!                     Ok::<_, sdk::ToolError>(Result::map(
//!                         Self::add_note(&*__state, __param0, __param1).await,
//!                         sdk::Json,
//!                     ))
//!                 })
//!         });
//!         builder
//!     }
//!
//!     pub fn run(self) -> std::process::ExitCode {
//!         sdk::run(|| self.plugin())
//!     }
//! }
//! ```
//!
//! A failed extraction (no agent in the request, say) and an `Err` from the method both become
//! an `isError: true` result whose text is the error's `Display`.
//!
//! When the declaration has errors, the expansion is the errors, every one at the token it is
//! about, plus the impl block and stand-ins for `manifest`, `plugin`, `plugin_builder` and
//! `run`, so that the
//! errors are not buried under "no function named `run`".
//!
//! [`Plugin::builder`]: https://docs.rs/nanofleet-sdk/latest/nanofleet_sdk/plugin/struct.Plugin.html#method.builder
//! [`Tool::new`]: https://docs.rs/nanofleet-sdk/latest/nanofleet_sdk/tool/struct.Tool.html#method.new

mod attr;
mod data;
mod expand;
mod parse;
mod validate;

/// The manifest rules the host applies at install time, applied here at compile time.
use nanofleet_contracts::manifest::rules;

use proc_macro::TokenStream;

/// Declares a NanoFleet plugin: its manifest, and its tools as the `#[tool]` methods of the
/// impl block it is put on.
///
/// ```no_run
/// use std::sync::Mutex;
///
/// use nanofleet_sdk::{plugin, AgentId, AgentStore, Context, ToolError};
///
/// #[derive(Default)]
/// struct Tasks {
///     /// State shared by every call and every agent: tools take `&self`.
///     created: Mutex<u64>,
/// }
///
/// /// A task list per agent.
/// #[plugin(
///     name = "tasks",
///     image = "ghcr.io/acme/tasks",
///     mcp_port = 8080,
///     ui_port = 8081,
///     sidebar(icon = "list-checks", label = "Tasks"),
///     required_env_vars = ["TASKS_API_KEY"],
/// )]
/// impl Tasks {
///     /// Adds a task for the calling agent and returns its id.
///     #[tool(title = "Add a task", destructive = false)]
///     async fn add_task(
///         &self,
///         store: AgentStore,
///         /// What has to be done.
///         title: String,
///         /// 1 (highest) to 5.
///         #[arg(default = 3)]
///         priority: u8,
///         /// When it is due, as `YYYY-MM-DD`.
///         due: Option<String>,
///     ) -> Result<u64, ToolError> {
///         let line = format!("{priority} {title} {}", due.unwrap_or_default());
///         let id = store.collection::<String>("tasks").insert(&line).await?;
///         *self.created.lock().map_err(|_| "poisoned")? += 1;
///         Ok(id)
///     }
///
///     /// Lists the calling agent's tasks.
///     #[tool(read_only)]
///     async fn list_tasks(store: AgentStore, ctx: Context) -> Result<Vec<String>, ToolError> {
///         if ctx.is_cancelled() {
///             return Err("cancelled".into());
///         }
///         let tasks = store.collection::<String>("tasks").list().await?;
///         Ok(tasks.into_iter().map(|(_, line)| line).collect())
///     }
///
///     /// Says which agent is calling.
///     #[tool(name = "whoami", read_only, idempotent)]
///     fn who_am_i(agent: AgentId) -> String {
///         agent.to_string()
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     Tasks::default().run()
/// }
/// ```
///
/// It adds four methods to the type:
///
/// - `fn manifest() -> Manifest`;
/// - `fn plugin(self) -> Result<Plugin, nanofleet_sdk::Error>`: the plugin, with `self` as the
///   state every `&self` tool sees (so the type must be `Send + Sync + 'static`);
/// - `fn plugin_builder(self) -> PluginBuilder`: the same, not yet built, to add resources,
///   prompts or tools declared with the programmatic API before calling `build()`;
/// - `fn run(self) -> std::process::ExitCode`: the whole binary (`serve`, `manifest`, `tools`,
///   `--help`), for `main`.
///
/// # Attributes
///
/// | Key | | Manifest field |
/// |---|---|---|
/// | `name = "..."` | required | `name`: lowercase letters, digits and `-` |
/// | `image = "..."` | required; without a tag or digest, tagged with `version` | `image`: a Docker image reference; a tag that is a semantic version must be `version` (other tags, such as `latest`, and digests are kept) |
/// | `mcp_port = 8080` | required | `mcpPort`: 1024–65535 |
/// | `version = "..."` | default: `CARGO_PKG_VERSION` | `version`: a semantic version |
/// | `description = "..."` | default: the impl block's doc comment, else `CARGO_PKG_DESCRIPTION` | `description` |
/// | `author = "..."` | default: `CARGO_PKG_AUTHORS` | `author` |
/// | `ui_port = 8081` | | `uiPort`: not `mcp_port` |
/// | `sidebar(icon = "...", label = "...", route = "...")` | needs `ui_port`; `route` defaults to `/plugins/{name}/ui` | `sidebar` |
/// | `required_env_vars = ["A", "B"]` | the binary's `serve` refuses to start while one is unset, and `--help` lists them | `requiredEnvVars`: valid names, none starting with `NANO_` |
/// | `ui = Self::ui` | | a method `fn(&self) -> nanofleet_sdk::ui::Ui` giving the web UI served on `ui_port` (needs `ui_port`) |
/// | `permissions(network = false \| true \| ["host:port", ...], filesystem = "read-write" \| "read-only" \| "none", spawn, memory = "128MiB", cpus = 0.5, pids = 64)` | each key optional; absent means the narrowest (no network, no child processes, the host's default resources), except the data volume, read-write | `permissions`, enforced by the host's runtime |
/// | `min_host_version = ">=0.2"` | a semver requirement | `minHostVersion`: older hosts refuse to install |
/// | `config = MyConfig` | a type implementing `Deserialize` and `JsonSchema`, whose fields are settings | `config`: typed settings, read by tools as `Config<MyConfig>` (see `nanofleet_sdk::config`) |
/// | `icon = "https://..."` | an `https://` URL or a `data:image/...` URI | `icon`, shown in listings |
///
/// The values are checked when the plugin compiles, with the same rules the SDK applies at run
/// time (one definition, `nanofleet_sdk::manifest::rules`), and every problem is reported at
/// once, at the value that breaks the rule.
///
/// # Tools
///
/// Each method marked [`#[tool]`](macro@tool) becomes a tool named after the method, described
/// by its doc comment. The method may be `async` or not, and take `&self` or no `self` at all
/// (`&mut self` and `self` are refused: calls run concurrently and share the one plugin value;
/// use interior mutability or the `AgentStore`).
///
/// **Parameters** are of two kinds, told apart by the traits their types implement (not by
/// their names, so a type of your own works, and a re-export or alias changes nothing):
///
/// - A type implementing `FromToolCall` is supplied by the SDK from the call and never appears
///   in the input schema: `AgentId`, `Option<AgentId>`, `AgentStore`, `SharedStore`,
///   `Context`, `NanoApi`, `Option<NanoApi>`, `PluginEnv` (whose `var` reads the variables
///   listed in `required_env_vars`), `ResourceUpdates`, `State<T>`, and any type of yours that
///   implements it. Such a parameter may be bound by any pattern (`State(db): State<Db>`). What
///   the type needs (`FromToolCall::requirements`) is checked when the plugin starts: a tool
///   taking `AgentStore` makes the plugin open its store, one taking `NanoApi` makes
///   `NANO_API_URL` and `NANO_INTERNAL_TOKEN` start-up requirements, a `State<T>` nobody
///   supplied stops the plugin with the tool's and the type's names.
/// - Every other parameter is an argument: a property of the input schema named after the
///   parameter, decoded with serde (so its type must implement `Deserialize` and
///   `JsonSchema`; a type that is neither kind fails to compile, saying so at the parameter),
///   described by the parameter's `///` comment. `Option<T>` arguments are optional. An
///   argument must be a plain name (not `_` or a pattern), owned (not `&str`), and concrete
///   (not `impl Trait`). `#[arg(...)]` adjusts one (and only an argument):
///   - `#[arg(default = expr)]`: optional, `expr` when missing (and `default` in the schema);
///   - `#[arg(default)]`: optional, `Default::default()` when missing;
///   - `#[arg(rename = "name")]`: the property's name in the schema.
///
/// **Return types** decide the result:
///
/// | Returns | Result |
/// |---|---|
/// | `String`, `&'static str` | one text block |
/// | `()` | an empty success |
/// | `CallToolResult` | as is |
/// | any other `T` (`Json<T>` too) | structured content, with `T`'s schema as `outputSchema` (wrapped as `{"result": ...}` unless it is an object) |
/// | `Result<T, E>` (also `io::Result<T>`, `anyhow::Result<T>`) | `Ok` as above; `Err` as an `isError: true` result with `E`'s `Display` text |
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::plugin(args.into(), input.into()).into()
}

/// Marks a method of a [`#[plugin(...)]`](macro@plugin) impl block as a tool.
///
/// ```no_run
/// # use nanofleet_sdk::plugin;
/// # struct Dice;
/// #[plugin(name = "dice", image = "acme/dice", mcp_port = 8080)]
/// impl Dice {
///     /// Rolls a die with the given number of sides.
///     #[tool(title = "Roll a die", read_only = false, idempotent = false, open_world = false)]
///     fn roll(
///         /// How many sides the die has.
///         #[arg(default = 6)]
///         sides: u32,
///     ) -> Result<u32, String> {
///         if sides == 0 {
///             return Err("a die needs at least one side".into());
///         }
///         Ok(1 + std::process::id() % sides)
///     }
/// }
/// # fn main() {}
/// ```
///
/// | Key | |
/// |---|---|
/// | `name = "..."` | the tool's name (default: the method's): `^[a-z][a-z0-9_]*$`, at most 64 characters, unique in the plugin |
/// | `description = "..."` | what the model reads to choose the tool (default: the doc comment; one of the two is required) |
/// | `title = "..."` | a human-readable title |
/// | `read_only`, `destructive`, `idempotent`, `open_world` | the MCP annotations; `read_only` alone means `read_only = true` |
/// | `task` | calls may run as tasks (MCP's tasks extension): a client that declares it gets a task to poll at once; see `nanofleet_sdk::task` |
/// | `app = "ui://..."` | the tool's page (MCP Apps): clients supporting the extension render that `#[resource(uri = "ui://...")]` with the result; see `nanofleet_sdk::app` |
/// | `icon = "https://..."` | an icon clients show beside the tool (`icons` in `tools/list`): an `https://` URL or a `data:image/...` URI; the host's listings carry it |
///
/// `#[tool]` only means something inside a `#[plugin(...)]` impl block, which reads and removes
/// it. Anywhere else it is an error, since a free function has no plugin to belong to:
///
/// ```compile_fail
/// use nanofleet_sdk::tool;
///
/// /// Adds two numbers.
/// #[tool] // error: `#[tool]` goes on a method inside an impl block marked `#[plugin(...)]`
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn tool(_args: TokenStream, input: TokenStream) -> TokenStream {
    expand::free_marker("tool", input.into()).into()
}

/// Marks a method of a [`#[plugin(...)]`](macro@plugin) impl block as a resource
/// (`uri = "..."`) or a family of them (`uri_template = "scheme://{var}"`).
///
/// ```no_run
/// use nanofleet_sdk::{plugin, AgentStore, ToolError};
///
/// struct Notes;
///
/// #[plugin(name = "notes", image = "acme/notes", mcp_port = 8080)]
/// impl Notes {
///     /// How many notes the calling agent has.
///     #[resource(uri = "notes://count", mime_type = "text/plain")]
///     async fn count(store: AgentStore) -> Result<String, ToolError> {
///         Ok(store.collection::<String>("notes").len().await?.to_string())
///     }
///
///     /// One of the calling agent's notes.
///     #[resource(uri_template = "notes://{id}", name = "note", mime_type = "text/plain")]
///     async fn note(
///         store: AgentStore,
///         /// The note's id.
///         id: u64,
///     ) -> Result<Option<String>, ToolError> {
///         Ok(store.collection::<String>("notes").get(id).await?)
///     }
/// }
/// # fn main() {}
/// ```
///
/// | Key | |
/// |---|---|
/// | `uri = "..."` | one resource, at this URI (starting with its scheme) |
/// | `uri_template = "..."` | a resource per value of the template's `{variables}`; one of `uri` and `uri_template` is required |
/// | `name = "..."` | the name clients list it under (default: the method's) |
/// | `title = "..."`, `description = "..."` | for people and models (default description: the doc comment) |
/// | `mime_type = "..."` | the MIME type of its contents |
///
/// A template's variables are the parameters named after them (or `#[arg(rename = "...")]`),
/// decoded from the URI into their types: `notes://abc` for an `id: u64` is an invalid-params
/// error naming `id`, and the method does not run. Every variable needs a parameter.
/// `#[arg(complete = f)]` on one names the function completing it (see
/// [`PluginBuilder`'s `complete`]). Every other parameter (and every parameter of a fixed `uri`)
/// is supplied by the SDK, as in tools (`AgentStore`, `AgentId`, ...: its type must implement
/// `FromToolCall`), so an agent reads only its own resources.
///
/// The method returns text (`String`, `&'static str`), `Contents` (text or binary),
/// `Vec<Contents>`, `Json<T>`, `Option<_>` of those (`None` is "resource not found") or a
/// `Result` of them (`Err` is an internal error with its text). It expands to
/// `builder.resource(Resource::new(uri, name).handler(...))` (or `resource_template`).
///
/// [`PluginBuilder`'s `complete`]: https://docs.rs/nanofleet-sdk/latest/nanofleet_sdk/resource/struct.ResourceTemplate.html#method.complete
#[proc_macro_attribute]
pub fn resource(_args: TokenStream, input: TokenStream) -> TokenStream {
    expand::free_marker("resource", input.into()).into()
}

/// Marks a method of a [`#[plugin(...)]`](macro@plugin) impl block as a prompt: a message
/// template clients offer their users.
///
/// ```no_run
/// use nanofleet_sdk::{plugin, prompt::Message, completion::Completion, ToolCall};
///
/// struct Notes;
///
/// async fn topics(typed: Completion, _: ToolCall) -> Vec<String> {
///     ["work", "home"].into_iter().filter(|t| t.starts_with(typed.value())).map(String::from).collect()
/// }
///
/// #[plugin(name = "notes", image = "acme/notes", mcp_port = 8080)]
/// impl Notes {
///     /// Asks the model to summarise the notes on a topic.
///     #[prompt(title = "Summarise my notes")]
///     fn summarise(
///         /// The topic to summarise.
///         #[arg(complete = topics)]
///         topic: String,
///         /// At most this many sentences.
///         sentences: Option<u32>,
///     ) -> Vec<Message> {
///         let n = sentences.unwrap_or(3);
///         vec![Message::user(format!("Summarise my notes about {topic} in {n} sentences."))]
///     }
/// }
/// # fn main() {}
/// ```
///
/// | Key | |
/// |---|---|
/// | `name = "..."` | the prompt's name (default: the method's) |
/// | `title = "..."` | a human-readable title |
/// | `description = "..."` | what it is for (default: the doc comment; one of the two is required) |
///
/// Arguments are typed and documented like a tool's (`Option<T>` optional, `#[arg(default)]`,
/// `#[arg(rename)]`); MCP passes them as strings, which are decoded into the parameter types,
/// and a missing required argument is an invalid-params error naming it. `#[arg(complete = f)]`
/// names the function completing an argument. The method returns a `String` or `&'static str`
/// (one user message), a `Message`, a `Vec<Message>` (text, images, embedded resources), or a
/// `Result` of those.
#[proc_macro_attribute]
pub fn prompt(_args: TokenStream, input: TokenStream) -> TokenStream {
    expand::free_marker("prompt", input.into()).into()
}

/// Derives `Serialize`, `Deserialize` and `JsonSchema` for a struct or enum of the plugin's
/// own, through the serde and schemars the SDK re-exports: a plugin crate that depends on
/// `nanofleet-sdk` alone can take and return its own types.
///
/// ```no_run
/// use nanofleet_sdk::{data, plugin};
///
/// /// A note.
/// #[data]
/// #[derive(Debug, Clone)]
/// #[serde(rename_all = "camelCase")]
/// struct Note {
///     /// The note's text.
///     text: String,
///     /// When it was written, in seconds since 1970.
///     created_at: u64,
/// }
///
/// /// Only read, never returned: `Deserialize` and `JsonSchema` are enough.
/// #[data(Deserialize, JsonSchema)]
/// enum Order {
///     Oldest,
///     Newest,
/// }
///
/// struct Notes;
///
/// #[plugin(name = "notes", image = "acme/notes", mcp_port = 8080)]
/// impl Notes {
///     /// Returns the note it is given, stamped.
///     #[tool]
///     fn stamp(note: Note, order: Option<Order>) -> Note {
///         let _ = order;
///         Note { created_at: 1, ..note }
///     }
/// }
/// # fn main() {}
/// ```
///
/// `#[data]` alone adds all three derives; `#[data(...)]` adds those listed, among
/// `Serialize`, `Deserialize` and `JsonSchema`. It expands to those derives (with the SDK's
/// paths) followed by `#[serde(crate = "...")]` and `#[schemars(crate = "...")]` naming the
/// SDK's copies, so the usual `#[serde(...)]` and `#[schemars(...)]` attributes work after it.
/// Put it before `#[derive(...)]` and those attributes. Other derives (`Debug`, `Clone`) go in
/// an ordinary `#[derive(...)]`.
#[proc_macro_attribute]
pub fn data(args: TokenStream, input: TokenStream) -> TokenStream {
    data::data(args.into(), input.into()).into()
}
