//! Resource subscriptions: `resources/subscribe` and `resources/unsubscribe`, and
//! [`ResourceUpdates`], which a tool takes to say that a resource changed
//! (`notifications/resources/updated` to the clients subscribed to it).
//!
//! A notification is sent outside any request, so only a client that keeps a channel open can
//! receive one: a client with a session (see [`crate::ask`]: one that declared `sampling` or
//! `elicitation`) or the one client of a stdio process. A stateless client that subscribes is
//! told so, with an error, rather than accepted and never notified.
//!
//! Subscriptions belong to the agent that made them. A URI such as `notes://3` can name a
//! different note for every agent, so [`ResourceUpdates::changed`] reaches the subscribers
//! among the calling agent's clients only; [`ResourceUpdates::changed_for_everyone`] is for a
//! resource every agent sees alike. Subscribing to a URI the agent cannot read is refused the
//! way reading it is, so a subscription reveals nothing of another agent's resources.

use std::{collections::HashMap, sync::Arc};

use rmcp::{RoleServer, model::ResourceUpdatedNotificationParam, service::Peer};

use crate::{
    agent::AgentId,
    plugin::Running,
    tool::{FromToolCall, ToolCall, ToolError},
};

/// The most subscriptions one client may hold; a client past it is refused more.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 1024;

/// The client a subscription belongs to: its session id (or the stdio connection).
pub(crate) type ClientKey = String;

struct Subscriber {
    client: ClientKey,
    agent: Option<AgentId>,
    peer: Peer<RoleServer>,
}

/// Who is subscribed to what, for one running plugin.
#[derive(Default)]
pub(crate) struct Subscriptions {
    by_uri: std::sync::Mutex<HashMap<String, Vec<Subscriber>>>,
}

impl Subscriptions {
    /// Subscribes `client` (acting for `agent`) to `uri`; subscribing twice is one
    /// subscription.
    pub(crate) fn subscribe(
        &self,
        uri: &str,
        client: ClientKey,
        agent: Option<AgentId>,
        peer: Peer<RoleServer>,
    ) -> Result<(), String> {
        let mut by_uri = self.lock();
        let held: usize = by_uri
            .values()
            .map(|subs| subs.iter().filter(|s| s.client == client).count())
            .sum();
        let subs = by_uri.entry(uri.to_owned()).or_default();
        if let Some(existing) = subs.iter_mut().find(|s| s.client == client) {
            // The latest peer is the live one (a client may reconnect its stream).
            existing.peer = peer;
            existing.agent = agent;
            return Ok(());
        }
        if held >= MAX_SUBSCRIPTIONS_PER_CLIENT {
            return Err(format!(
                "this client already holds {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions; \
                 unsubscribe from some first"
            ));
        }
        subs.push(Subscriber {
            client,
            agent,
            peer,
        });
        Ok(())
    }

    /// Ends `client`'s subscription to `uri`, if it had one.
    pub(crate) fn unsubscribe(&self, uri: &str, client: &str) {
        let mut by_uri = self.lock();
        if let Some(subs) = by_uri.get_mut(uri) {
            subs.retain(|s| s.client != client);
            if subs.is_empty() {
                by_uri.remove(uri);
            }
        }
    }

    /// Ends every subscription of a client that went away.
    pub(crate) fn forget(&self, client: &str) {
        self.lock().retain(|_, subs| {
            subs.retain(|s| s.client != client);
            !subs.is_empty()
        });
    }

    /// Tells the subscribers of `uri` it changed: those acting for `agent`, or all of them
    /// when `agent` is `None`. Returns how many were told; one whose channel is gone is
    /// dropped.
    pub(crate) async fn notify(&self, uri: &str, agent: Option<Option<&AgentId>>) -> usize {
        let targets: Vec<(ClientKey, Peer<RoleServer>)> = self
            .lock()
            .get(uri)
            .map(|subs| {
                subs.iter()
                    .filter(|s| agent.is_none_or(|a| s.agent.as_ref() == a))
                    .map(|s| (s.client.clone(), s.peer.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut told = 0;
        for (client, peer) in targets {
            let param = ResourceUpdatedNotificationParam::new(uri);
            match peer.notify_resource_updated(param).await {
                Ok(()) => told += 1,
                Err(e) => {
                    tracing::debug!(error = %e, "a subscriber went away; dropping its subscriptions");
                    self.forget(&client);
                }
            }
        }
        told
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        // A panic while holding the lock leaves the map consistent (every edit is one call).
        self.by_uri.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Tells subscribed clients that a resource changed. Take it as a tool argument:
///
/// ```
/// use nanofleet_sdk::{AgentStore, ToolError, subscription::ResourceUpdates};
///
/// async fn edit_note(
///     store: AgentStore,
///     updates: ResourceUpdates,
///     id: u64,
///     text: String,
/// ) -> Result<(), ToolError> {
///     store.collection::<String>("notes").update(id, &text).await?;
///     updates.changed(&format!("notes://{id}")).await;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct ResourceUpdates {
    running: Arc<Running>,
    agent: Option<AgentId>,
}

impl std::fmt::Debug for ResourceUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceUpdates")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl ResourceUpdates {
    /// The resource at `uri`, as the calling agent sees it, changed: its subscribers among
    /// the agent's clients are told. Returns how many clients were told.
    pub async fn changed(&self, uri: &str) -> usize {
        self.running
            .subscriptions()
            .notify(uri, Some(self.agent.as_ref()))
            .await
    }

    /// The resource at `uri`, the same for every agent, changed: every subscriber is told.
    pub async fn changed_for_everyone(&self, uri: &str) -> usize {
        self.running.subscriptions().notify(uri, None).await
    }
}

impl FromToolCall for ResourceUpdates {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        Ok(Self {
            running: Arc::clone(&call.plugin),
            agent: call.agent.clone().ok(),
        })
    }
}
