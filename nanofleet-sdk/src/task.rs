//! Long-running tools as tasks: MCP's tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663,
//! as rmcp 3.11 implements it).
//!
//! A tool declared with [`Tool::task`](crate::tool::Tool::task) (`#[tool(task)]`) runs as a task
//! when the client declares the extension in the request's capabilities: `tools/call` answers
//! at once with `{"resultType": "task", "taskId": ..., "status": "working"}`, the tool runs on,
//! and the client polls `tasks/get` until the task is `completed` (the tool's result inlined),
//! `failed` or `cancelled`. `tasks/cancel` cancels it: the tool's [`Context`] reports it
//! (`is_cancelled`, `cancelled()`), and a tool that ignores it is left to finish with its result
//! discarded. [`Context::progress`] sets the task's status message, which `tasks/get` shows.
//! A client that does not declare the extension gets the result inline, as from any tool.
//!
//! Tasks belong to the agent that started them: `tasks/get`, `tasks/update` and `tasks/cancel`
//! for another agent's task answer exactly as for an id that does not exist. Tasks live in the
//! plugin's memory (rmcp's `TaskManager`): a result is kept five minutes after the task ends,
//! and a restart forgets them.
//!
//! [`Context`]: crate::Context
//! [`Context::progress`]: crate::Context::progress

use std::{collections::HashMap, sync::Mutex};

use rmcp::{
    ErrorData,
    model::{CallToolResult, Task},
    task_manager::{TaskContext, TaskExit, TaskFuture, TaskManager, TaskOptions},
};
use tokio_util::sync::CancellationToken;

use crate::agent::AgentId;

/// The most tasks kept at once (running, or finished and not yet expired); past it a task
/// tool's calls run inline.
pub const MAX_TASKS: usize = 1024;

/// The tasks of one running plugin, and whom each belongs to.
#[derive(Default)]
pub(crate) struct Tasks {
    manager: TaskManager,
    owners: Mutex<HashMap<String, Option<AgentId>>>,
}

impl Tasks {
    /// Whether another task may start (fewer than [`MAX_TASKS`] are kept).
    pub(crate) fn has_room(&self) -> bool {
        let mut owners = self.lock();
        // Forget the owners of tasks the manager has evicted.
        owners.retain(|id, _| self.manager.get_task(id).is_ok());
        let room = owners.len() < MAX_TASKS;
        if !room {
            tracing::warn!(
                max = MAX_TASKS,
                "task limit reached: running the call inline"
            );
        }
        room
    }

    /// Starts `run` as a task of `agent`'s. `run` gets the task's context and a cancellation
    /// token that `tasks/cancel` cancels.
    pub(crate) fn spawn<F, Fut>(&self, agent: Option<AgentId>, run: F) -> Task
    where
        F: FnOnce(TaskContext, CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = CallToolResult> + Send + 'static,
    {
        let task = self.manager.spawn(TaskOptions::new(), move |ctx| {
            let cancel = CancellationToken::new();
            let work = run(ctx.clone(), cancel.clone());
            Box::pin(async move {
                tokio::select! {
                    result = work => Ok(result),
                    () = ctx.cancelled() => {
                        cancel.cancel();
                        Err(TaskExit::Cancelled)
                    }
                }
            }) as TaskFuture
        });
        self.lock().insert(task.task_id.clone(), agent);
        task
    }

    /// The task manager, once `agent` is known to own `task_id`; an unknown id and another
    /// agent's task get the same error.
    pub(crate) fn owned_by(
        &self,
        task_id: &str,
        agent: Option<&AgentId>,
    ) -> Result<&TaskManager, ErrorData> {
        match self.lock().get(task_id) {
            Some(owner) if owner.as_ref() == agent => Ok(&self.manager),
            _ => Err(ErrorData::invalid_params(
                format!("no task `{task_id}`"),
                Some(serde_json::json!({ "taskId": task_id })),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<AgentId>>> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }
}
