//! Whether a signed agent is still linked to this plugin.
//!
//! An agent signature never expires: it only proves that the host once handed this agent id
//! out. So that unlinking an agent (or moving it to another workspace) really ends its access,
//! the host writes the id of the link into the URL as well (`agent_link`, see
//! [`nanofleet_contracts::names::AGENT_LINK_PARAM`]), and a plugin asks the host which link is
//! current (`GET /internal/agents/{id}`; a 404 means none). A signed request is served only
//! when its link is the current one.
//!
//! The answers are kept per agent for [`LINK_CACHE_TTL`], so the host is asked about an agent
//! at most once in that time while its requests succeed, and an unlinked agent's old URL stops
//! working at most that long after the unlink. A refusal is checked with the host again
//! ([`RECHECK_AFTER`] at the soonest), so a link made a moment ago works at once. Lookups of
//! one agent are made one at a time; concurrent requests wait for the one in flight.
//!
//! When the host cannot be asked (no `NANO_API_URL`, the host down or slow), the last answer
//! stands for another [`LINK_CACHE_TTL`], and an agent the plugin has never heard about is
//! served on its signature alone: the fleet keeps working while the host restarts, and
//! revocation resumes when it is back. Without the `host-api` feature there is no client to
//! ask with, and only signatures are checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nanofleet_contracts::callback::LINK_CACHE_TTL;
use subtle::ConstantTimeEq as _;

/// The soonest a refused agent is looked up again.
const RECHECK_AFTER: Duration = Duration::from_millis(250);

/// How many agents are remembered; past this, answers no request is waiting on are dropped.
const MAX_ENTRIES: usize = 4096;

/// What the host said about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Linked; with the id of the link when the host issues them.
    Linked(Option<String>),
    /// Not linked to this plugin (or unknown to the host).
    NotLinked,
    /// The host could not be asked and nothing was known before.
    Unknown,
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The host links the agent to this plugin no more.
    NotLinked,
    /// The agent is linked, by another link than the URL's (it was unlinked and linked again,
    /// or moved to another workspace): the URL is an old one.
    Replaced,
}

impl Refusal {
    /// A stable code for the HTTP refusal.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NotLinked => "agent_not_linked",
            Self::Replaced => "agent_link_replaced",
        }
    }

    /// The sentence for the caller.
    pub(crate) fn message(self, agent: &str) -> String {
        match self {
            Self::NotLinked => format!(
                "agent `{agent}` is not linked to this plugin (any more): ask the host's \
                 operator to link it"
            ),
            Self::Replaced => format!(
                "this URL was written for an earlier link of agent `{agent}` to this plugin: \
                 use the URL in the agent's current .mcp.json"
            ),
        }
    }
}

fn judge(state: &LinkState, link: Option<&str>) -> Result<(), Refusal> {
    match (state, link) {
        (LinkState::Unknown | LinkState::Linked(None), _) => Ok(()),
        (LinkState::NotLinked, _) => Err(Refusal::NotLinked),
        (LinkState::Linked(Some(current)), Some(link))
            if bool::from(current.as_bytes().ct_eq(link.as_bytes())) =>
        {
            Ok(())
        }
        (LinkState::Linked(Some(_)), _) => Err(Refusal::Replaced),
    }
}

struct Entry {
    state: LinkState,
    /// Until when `state` is used without asking the host.
    fresh_until: Instant,
    /// When a refusal may be looked up again.
    recheck_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// The answers about agents' links, per agent.
#[derive(Default)]
pub(crate) struct LinkCache {
    entries: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for LinkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkCache").finish_non_exhaustive()
    }
}

impl LinkCache {
    /// Whether `agent`, whose signature was verified, may be served with the URL's `link`.
    /// `lookup` asks the host (`Err` when it cannot be asked).
    pub(crate) async fn check<F, Fut>(
        &self,
        agent: &str,
        link: Option<&str>,
        lookup: F,
    ) -> Result<(), Refusal>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<LinkState, String>>,
    {
        let slot = self.slot(agent);
        let mut entry = slot.lock().await;
        let now = Instant::now();
        if let Some(known) = entry.as_ref() {
            let verdict = judge(&known.state, link);
            if now < known.fresh_until && (verdict.is_ok() || now < known.recheck_at) {
                return verdict;
            }
        }
        let state = match lookup().await {
            Ok(state) => state,
            Err(why) => {
                let last = entry.as_ref().map(|e| e.state.clone());
                tracing::warn!(
                    agent,
                    error = %why,
                    "cannot ask the host whether the agent is still linked; going by {}",
                    if last.is_some() { "its last answer" } else { "the signature alone" }
                );
                let state = last.unwrap_or(LinkState::Unknown);
                // Not asked again before the usual time: a host that is down or slow is not
                // waited for on every request.
                *entry = Some(Entry {
                    state: state.clone(),
                    fresh_until: now + LINK_CACHE_TTL,
                    recheck_at: now + LINK_CACHE_TTL,
                });
                return judge(&state, link);
            }
        };
        let verdict = judge(&state, link);
        *entry = Some(Entry {
            state,
            fresh_until: now + LINK_CACHE_TTL,
            recheck_at: now + RECHECK_AFTER,
        });
        verdict
    }

    fn slot(&self, agent: &str) -> Slot {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = entries.get(agent) {
            return Arc::clone(slot);
        }
        if entries.len() >= MAX_ENTRIES {
            // Only slots no request holds; an answer dropped is asked for again.
            entries.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        Arc::clone(entries.entry(agent.to_owned()).or_default())
    }
}

/// Asks the host about `agent` through its callback API.
#[cfg(feature = "host-api")]
pub(crate) async fn ask_host(api: &crate::NanoApi, agent: &str) -> Result<LinkState, String> {
    match api.get_agent(agent).await {
        Ok(info) => Ok(LinkState::Linked(info.link)),
        Err(crate::api::NanoApiError::NotFound { .. }) => Ok(LinkState::NotLinked),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(link: &str) -> LinkState {
        LinkState::Linked(Some(link.to_owned()))
    }

    #[test]
    fn the_verdicts() {
        assert_eq!(judge(&linked("a1"), Some("a1")), Ok(()));
        assert_eq!(judge(&linked("a1"), Some("a2")), Err(Refusal::Replaced));
        assert_eq!(judge(&linked("a1"), None), Err(Refusal::Replaced));
        assert_eq!(judge(&LinkState::Linked(None), None), Ok(()));
        assert_eq!(
            judge(&LinkState::NotLinked, Some("a1")),
            Err(Refusal::NotLinked)
        );
        assert_eq!(judge(&LinkState::Unknown, None), Ok(()));
    }

    #[tokio::test]
    async fn answers_are_kept_refusals_are_rechecked_and_an_outage_keeps_the_last_answer() {
        let cache = LinkCache::default();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let ask = |answer: Result<LinkState, String>| {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { answer }
        };
        assert_eq!(
            cache
                .check("ada", Some("l1"), || ask(Ok(linked("l1"))))
                .await,
            Ok(())
        );
        // Kept: the host is not asked again while the answer is fresh.
        assert_eq!(
            cache
                .check("ada", Some("l1"), || ask(Ok(LinkState::NotLinked)))
                .await,
            Ok(())
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another link than the known one is a refusal, not rechecked at once...
        assert_eq!(
            cache
                .check("ada", Some("l2"), || ask(Ok(linked("l2"))))
                .await,
            Err(Refusal::Replaced)
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        // ...but soon: a link made a moment ago works.
        tokio::time::sleep(RECHECK_AFTER).await;
        assert_eq!(
            cache
                .check("ada", Some("l2"), || ask(Ok(linked("l2"))))
                .await,
            Ok(())
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);

        // A host that cannot be asked: an unknown agent goes by its signature, and is not
        // looked up again on every request.
        assert_eq!(
            cache.check("bob", None, || ask(Err("down".into()))).await,
            Ok(())
        );
        assert_eq!(
            cache
                .check("bob", None, || ask(Ok(LinkState::NotLinked)))
                .await,
            Ok(())
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let cache = LinkCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            let agent = format!("agent-{i}");
            let _ = cache
                .check(&agent, None, || async { Ok(LinkState::NotLinked) })
                .await;
        }
        let len = cache.entries.lock().expect("lock").len();
        assert!(len <= MAX_ENTRIES, "{len}");
    }
}
