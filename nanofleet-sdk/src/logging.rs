//! Log messages to the client (`notifications/message`) and `logging/setLevel`.
//!
//! The server keeps no sessions (every request stands alone: see [`crate::server`]), yet
//! `logging/setLevel` asks it to remember a level for later requests. The level is kept per
//! client: per `Mcp-Session-Id` when the client sends one back (every client that completed
//! `initialize` with this server does), and per agent for clients that do not. A client that
//! never set a level gets every message, as MCP leaves the default to the server. At most
//! [`MAX_CLIENTS`] levels are kept, the oldest forgotten first, since clients need not end their
//! session; `DELETE /mcp` forgets the session's level.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

#[allow(deprecated)] // logging: see `Context::log`
use rmcp::model::LoggingLevel;

/// The most clients whose level is remembered at once.
pub const MAX_CLIENTS: usize = 4096;

/// The severity of a [`Context::log`](crate::Context::log) message (the syslog levels MCP
/// uses), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something unexpected, handled.
    Warning,
    /// An operation failed.
    Error,
    /// A component failed.
    Critical,
    /// Action is needed now.
    Alert,
    /// The system is unusable.
    Emergency,
}

#[allow(deprecated)] // logging: see `Context::log`
impl From<LogLevel> for LoggingLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Notice => Self::Notice,
            LogLevel::Warning => Self::Warning,
            LogLevel::Error => Self::Error,
            LogLevel::Critical => Self::Critical,
            LogLevel::Alert => Self::Alert,
            LogLevel::Emergency => Self::Emergency,
        }
    }
}

#[allow(deprecated)]
impl From<LoggingLevel> for LogLevel {
    fn from(level: LoggingLevel) -> Self {
        match level {
            LoggingLevel::Debug => Self::Debug,
            LoggingLevel::Info => Self::Info,
            LoggingLevel::Notice => Self::Notice,
            LoggingLevel::Warning => Self::Warning,
            LoggingLevel::Error => Self::Error,
            LoggingLevel::Critical => Self::Critical,
            LoggingLevel::Alert => Self::Alert,
            LoggingLevel::Emergency => Self::Emergency,
        }
    }
}

/// Who set a level: the session the client holds, or, without one, the agent it calls as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    Session(String),
    Agent(String),
}

impl Client {
    /// The client a request comes from: its `Mcp-Session-Id`, else its agent, else nobody
    /// (an anonymous stateless request, whose level cannot be told apart from anyone's).
    pub(crate) fn of(
        parts: Option<&http::request::Parts>,
        agent: Option<&crate::AgentId>,
    ) -> Option<Self> {
        if let Some(id) = parts
            .and_then(|p| p.headers.get(crate::server::SESSION_HEADER))
            .and_then(|v| v.to_str().ok())
        {
            return Some(Self::Session(id.to_owned()));
        }
        agent.map(|agent| Self::Agent(agent.as_str().to_owned()))
    }
}

/// The level each client asked for, bounded.
#[derive(Debug, Default)]
pub(crate) struct LogLevels(Mutex<Levels>);

#[derive(Debug, Default)]
struct Levels {
    by_client: HashMap<Client, LogLevel>,
    /// Clients in the order they first set a level, for forgetting the oldest.
    order: VecDeque<Client>,
}

impl LogLevels {
    pub(crate) fn set(&self, client: Client, level: LogLevel) {
        let mut levels = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if levels.by_client.insert(client.clone(), level).is_none() {
            levels.order.push_back(client);
            while levels.order.len() > MAX_CLIENTS {
                if let Some(oldest) = levels.order.pop_front() {
                    levels.by_client.remove(&oldest);
                }
            }
        }
    }

    /// The lowest level `client` wants; `None`: everything.
    pub(crate) fn get(&self, client: &Client) -> Option<LogLevel> {
        let levels = self.0.lock().unwrap_or_else(|e| e.into_inner());
        levels.by_client.get(client).copied()
    }

    pub(crate) fn forget(&self, client: &Client) {
        let mut levels = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if levels.by_client.remove(client).is_some() {
            levels.order.retain(|c| c != client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: usize) -> Client {
        Client::Session(format!("s{n}"))
    }

    #[test]
    fn levels_are_ordered_by_severity() {
        assert!(LogLevel::Debug < LogLevel::Info && LogLevel::Alert < LogLevel::Emergency);
        #[allow(deprecated)]
        for level in [LogLevel::Debug, LogLevel::Warning, LogLevel::Emergency] {
            assert_eq!(LogLevel::from(LoggingLevel::from(level)), level);
        }
    }

    #[test]
    fn a_level_is_kept_per_client_and_can_be_changed_and_forgotten() {
        let levels = LogLevels::default();
        levels.set(session(1), LogLevel::Warning);
        levels.set(Client::Agent("ada".into()), LogLevel::Error);
        assert_eq!(levels.get(&session(1)), Some(LogLevel::Warning));
        assert_eq!(levels.get(&session(2)), None);
        assert_eq!(
            levels.get(&Client::Agent("ada".into())),
            Some(LogLevel::Error)
        );
        levels.set(session(1), LogLevel::Debug);
        assert_eq!(levels.get(&session(1)), Some(LogLevel::Debug));
        levels.forget(&session(1));
        assert_eq!(levels.get(&session(1)), None);
    }

    #[test]
    fn the_oldest_clients_are_forgotten_beyond_the_bound() {
        let levels = LogLevels::default();
        for n in 0..MAX_CLIENTS + 10 {
            levels.set(session(n), LogLevel::Info);
        }
        assert_eq!(levels.get(&session(0)), None);
        assert_eq!(levels.get(&session(9)), None);
        assert_eq!(levels.get(&session(10)), Some(LogLevel::Info));
        assert_eq!(levels.get(&session(MAX_CLIENTS + 9)), Some(LogLevel::Info));
        let inner = levels.0.lock().expect("lock");
        assert_eq!(inner.by_client.len(), MAX_CLIENTS);
        assert_eq!(inner.order.len(), MAX_CLIENTS);
    }
}
