//! `kanban`: a task board the agents of one NanoFleet install share.
//!
//! The board spans agents, so it lives in the plugin's [`SharedStore`]; the calling
//! [`AgentId`] decides what each agent sees and may change. An agent lists and moves the tasks
//! assigned to it and hands tasks on with `assign_task`, which tells the new assignee through
//! the host's API ([`NanoApi::send_message`]). The web UI on `uiPort` shows the whole board to
//! the dashboard user, who may move any task; the same page is `list_tasks`'s MCP App
//! (`ui://kanban/board`), which clients that render MCP Apps show an agent's user with its
//! tasks.

mod ui;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use nanofleet_sdk::{
    AgentId, Error, NanoApi, Plugin, SharedStore, ToolError,
    agent::MAX_AGENT_ID_LEN,
    plugin,
    store::{Collection, StoreError},
    ui::Ui,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// The shared store's collection the tasks live in.
const TASKS: &str = "tasks";

/// The longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// A column of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Column {
    /// Not started.
    Todo,
    /// In progress.
    Doing,
    /// Finished.
    Done,
}

/// A task on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    /// The task's id, for `move_task` and `assign_task`.
    pub id: u64,
    /// What is to be done.
    pub title: String,
    /// Details; may be empty.
    pub description: String,
    /// Where the task stands.
    pub column: Column,
    /// The id of the agent the task is assigned to; `null` when it is nobody's.
    pub assignee: Option<String>,
    /// The id of the agent that created the task.
    pub created_by: String,
    /// When the task was created, in seconds since the Unix epoch.
    pub created_at: u64,
}

impl Task {
    /// Whether the task is assigned to `agent`.
    pub fn is_assigned_to(&self, agent: &AgentId) -> bool {
        self.assignee.as_deref() == Some(agent.as_str())
    }
}

/// What `list_tasks` returns.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskList {
    /// The tasks, oldest first.
    pub tasks: Vec<Task>,
}

/// What `assign_task` returns.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    /// The task, as now assigned.
    pub task: Task,
    /// Whether the new assignee was sent a message about the task. `false` without a
    /// `notification_error` when there was no news to tell: the task was already theirs, or
    /// you assigned it to yourself.
    pub notified: bool,
    /// Why the new assignee could not be told. The assignment stands all the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_error: Option<String>,
}

/// The plugin's state: the lock that keeps edits to the board whole.
#[derive(Debug, Default)]
pub struct Kanban {
    // The store has no transaction spanning a read and a write: without the lock, a move and a
    // reassignment of one task could both read it, and the second write would undo the first.
    edits: Arc<Mutex<()>>,
}

/// A task board the agents share: each agent sees and moves the tasks assigned to it, and can
/// hand tasks to other agents.
#[plugin(
    name = "kanban",
    image = "nanofleet/kanban:0.1.0",
    mcp_port = 8080,
    ui_port = 8081,
    sidebar(icon = "layout-kanban", label = "Kanban"),
    ui = Self::ui,
    // Nothing beyond the internal network, where the host's callback API is; the board is
    // kept in the data volume; no child processes. Said out loud, though it is the default.
    permissions(network = false, filesystem = "read-write", spawn = false),
    min_host_version = ">=0.1",
)]
impl Kanban {
    /// Creates a task in the `todo` column, assigned to you unless `assign_to_me` is false.
    #[tool(destructive = false)]
    async fn create_task(
        &self,
        agent: AgentId,
        board: SharedStore,
        /// What is to be done: one line, at most 200 characters.
        title: String,
        /// Details, at most 4000 characters.
        #[arg(default)]
        description: String,
        /// Whether the task is yours; if not, it is nobody's until you assign it.
        #[arg(default = true)]
        assign_to_me: bool,
    ) -> Result<Task, ToolError> {
        let title = title.trim();
        if title.is_empty() {
            return Err("`title` is empty: say what is to be done".into());
        }
        check_length("title", title, MAX_TITLE_CHARS)?;
        check_length("description", &description, MAX_DESCRIPTION_CHARS)?;
        let task = Task {
            id: 0, // `add` gives it the store's
            title: title.to_owned(),
            description,
            column: Column::Todo,
            assignee: assign_to_me.then(|| agent.to_string()),
            created_by: agent.to_string(),
            created_at: unix_now(),
        };
        Ok(self.board(&board).add(task).await?)
    }

    /// Lists the tasks assigned to you, oldest first. Clients that render MCP Apps show them
    /// as a board, whose buttons move them.
    #[tool(read_only, app = "ui://kanban/board")]
    async fn list_tasks(
        &self,
        agent: AgentId,
        board: SharedStore,
        /// Only the tasks in this column.
        column: Option<Column>,
    ) -> Result<TaskList, ToolError> {
        let tasks = self.board(&board).all().await?;
        Ok(TaskList {
            tasks: tasks
                .into_iter()
                .filter(|t| t.is_assigned_to(&agent) && column.is_none_or(|c| t.column == c))
                .collect(),
        })
    }

    /// Moves a task assigned to you to another column.
    #[tool(idempotent, destructive = false)]
    async fn move_task(
        &self,
        agent: AgentId,
        board: SharedStore,
        /// The task's id.
        id: u64,
        /// The column to move it to.
        column: Column,
    ) -> Result<Task, ToolError> {
        let moved = self
            .board(&board)
            .edit(id, |task| {
                let mine = task.is_assigned_to(&agent);
                if mine {
                    task.column = column;
                }
                mine
            })
            .await?;
        // The same answer for another agent's task as for none at all: ids do not leak.
        moved
            .ok_or_else(|| format!("no task {id} assigned to you; `list_tasks` shows yours").into())
    }

    /// Assigns a task you created or are assigned to an agent, and sends that agent a message
    /// about it.
    #[tool(idempotent, destructive = false)]
    async fn assign_task(
        &self,
        agent: AgentId,
        board: SharedStore,
        api: Option<NanoApi>,
        /// The task's id.
        id: u64,
        /// The id of the agent to give the task to.
        assignee: String,
    ) -> Result<Assignment, ToolError> {
        let assignee = AgentId::new(&assignee).map_err(|_| {
            format!(
                "`assignee` {assignee:?} is not an agent id: ids are 1 to {MAX_AGENT_ID_LEN} \
                 bytes, without control characters or surrounding white space"
            )
        })?;
        let mut previous = None;
        let task = self
            .board(&board)
            .edit(id, |task| {
                let allowed = task.created_by == agent.as_str() || task.is_assigned_to(&agent);
                if allowed {
                    previous = task.assignee.replace(assignee.to_string());
                }
                allowed
            })
            .await?
            .ok_or_else(|| format!("no task {id} created by or assigned to you"))?;

        // Tell the new assignee, unless the task was theirs already or they took it themselves.
        let is_news = previous.as_deref() != Some(assignee.as_str()) && assignee != agent;
        let sent = if is_news {
            let message = format!("{agent} assigned you task #{id}: {}", task.title);
            Some(notify(api, &assignee, &message).await)
        } else {
            None
        };
        Ok(Assignment {
            task,
            notified: matches!(sent, Some(Ok(()))),
            notification_error: sent.and_then(Result::err),
        })
    }

    /// The board as an MCP App: the web UI's page, which, framed by a client, shows the
    /// calling agent's tasks from `list_tasks` and moves them with `move_task`.
    #[resource(uri = "ui://kanban/board", title = "Kanban board")]
    fn board_page(&self) -> &'static str {
        ui::PAGE
    }

    /// The web UI: the whole board, for the dashboard user.
    fn ui(&self) -> Ui {
        let edits = Arc::clone(&self.edits);
        Ui::with_context(move |ctx| ui::router(ctx, Arc::clone(&edits)))
    }

    fn board(&self, store: &SharedStore) -> Board {
        Board::new(store, &self.edits)
    }
}

/// The plugin, for tests and embedding.
pub fn plugin() -> Result<Plugin, Error> {
    Kanban::default().plugin()
}

/// The tasks, and the lock every change to them takes.
struct Board {
    tasks: Collection<Task>,
    edits: Arc<Mutex<()>>,
}

impl Board {
    fn new(store: &SharedStore, edits: &Arc<Mutex<()>>) -> Self {
        Self {
            tasks: store.collection(TASKS),
            edits: Arc::clone(edits),
        }
    }

    /// Every task, oldest first.
    async fn all(&self) -> Result<Vec<Task>, StoreError> {
        let tasks = self.tasks.list().await?;
        // The collection's id is the task's, even before `add` has written it into the task.
        Ok(tasks
            .into_iter()
            .map(|(id, task)| Task { id, ..task })
            .collect())
    }

    /// Adds `task` and returns it with its new id.
    async fn add(&self, mut task: Task) -> Result<Task, StoreError> {
        let _edit = self.edits.lock().await;
        task.id = self.tasks.insert(&task).await?;
        self.tasks.update(task.id, &task).await?;
        Ok(task)
    }

    /// Applies `change` to task `id` and saves it, unless `change` refuses by returning
    /// `false`. `None` when there is no such task or `change` refused.
    async fn edit(
        &self,
        id: u64,
        change: impl FnOnce(&mut Task) -> bool,
    ) -> Result<Option<Task>, StoreError> {
        let _edit = self.edits.lock().await;
        let Some(mut task) = self.tasks.get(id).await? else {
            return Ok(None);
        };
        task.id = id;
        if !change(&mut task) {
            return Ok(None);
        }
        self.tasks.update(id, &task).await?;
        Ok(Some(task))
    }
}

/// Sends `message` to agent `to` through the host, or says why it could not.
async fn notify(api: Option<NanoApi>, to: &AgentId, message: &str) -> Result<(), String> {
    let api = api.ok_or_else(|| {
        format!(
            "{to} was not told: the NanoFleet host's API is not configured \
             (NANO_API_URL and NANO_INTERNAL_TOKEN)"
        )
    })?;
    api.send_message(to.as_str(), message)
        .await
        .map_err(|e| format!("{to} was not told: {e}"))
}

fn check_length(field: &str, text: &str, max: usize) -> Result<(), ToolError> {
    let len = text.chars().count();
    if len > max {
        return Err(format!("`{field}` is {len} characters long; the limit is {max}").into());
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
