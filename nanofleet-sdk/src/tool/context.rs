//! [`Context`]: the MCP side of a call (progress, logs, cancellation; asking the client is
//! in [`crate::ask`]).

use std::{fmt, sync::Arc};

// MCP logging is deprecated from protocol 2026-07-28 on (SEP-2577), but every handshake-era
// client (2025-11-25 and before) still uses it, so `Context::log` keeps offering it.
#[allow(deprecated)]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::{
    RoleServer,
    model::{ClientCapabilities, ProgressNotificationParam, ProgressToken},
    service::Peer,
    task_manager::TaskContext,
};
use tokio_util::sync::CancellationToken;

use crate::{ask::InputRound, logging::LogLevel};

/// The MCP side of a call: progress notifications, log messages to the client, cancellation.
#[derive(Clone)]
pub struct Context {
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) progress_token: Option<ProgressToken>,
    pub(crate) ct: CancellationToken,
    /// The lowest level the client asked for with `logging/setLevel`; `None`: everything.
    pub(crate) min_level: Option<LogLevel>,
    /// The task the call runs as, if it does: progress becomes its status message.
    pub(crate) task: Option<TaskContext>,
    /// What the client declared it can do: at `initialize`, or in this request's `_meta`.
    pub(crate) client: Option<ClientCapabilities>,
    /// Whether the request speaks protocol 2026-07-28 or later, which asks the client through
    /// `input_required` results rather than requests of its own (see [`crate::ask`]).
    pub(crate) input_required: bool,
    /// The questions of this round and the answers the retry carries, on that protocol.
    pub(crate) round: Option<Arc<InputRound>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("progress_token", &self.progress_token)
            .field("cancelled", &self.ct.is_cancelled())
            .finish()
    }
}

impl Context {
    /// Reports progress, when the client asked for it (a `progressToken` in the request);
    /// otherwise does nothing. `progress` should grow with every call.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if let Some(task) = &self.task {
            // A task's client polls `tasks/get`: the report travels as its status message.
            let done = match total {
                Some(total) => format!("{progress}/{total}"),
                None => progress.to_string(),
            };
            task.set_status_message(match message {
                Some(message) => format!("{done}: {message}"),
                None => done,
            });
            return;
        }
        let Some(token) = self.progress_token.clone() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        param.total = total;
        param.message = message.map(str::to_owned);
        // A client that went away cannot be told; the tool's own result decides the outcome.
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }

    /// Sends a log message to the client (`notifications/message`), unless the client asked
    /// (`logging/setLevel`) for a higher level only. MCP deprecates logging from protocol
    /// 2026-07-28 on (SEP-2577); every earlier client still uses it.
    pub async fn log(&self, level: LogLevel, message: impl Into<String>) {
        if self.min_level.is_some_and(|min| level < min) {
            return;
        }
        #[allow(deprecated)]
        let param = LoggingMessageNotificationParam::new(
            level.into(),
            serde_json::Value::String(message.into()),
        );
        #[allow(deprecated)]
        let sent = self.peer.notify_logging_message(param).await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }

    /// Whether the client cancelled the call (or went away).
    pub fn is_cancelled(&self) -> bool {
        self.ct.is_cancelled()
    }

    /// Resolves when the call is cancelled; `select!` on it to stop long work early.
    pub async fn cancelled(&self) {
        self.ct.cancelled().await;
    }
}
