//! What the values a handler takes need from the plugin, declared by their types: an
//! [`AgentStore`](crate::AgentStore) needs the store, a [`NanoApi`](crate::NanoApi) the host's
//! callback settings, a [`State<T>`](crate::tool::State) a state value of type `T`.
//!
//! Each type says so in [`FromToolCall::requirements`]; a tool (resource, prompt) lists the
//! types it takes with `.requires::<T>()` (the macros do it for every injected parameter), and
//! the plugin checks them once, when it starts, rather than failing the first call that needs
//! what is missing: the store is opened, the host settings are read, and a state type nobody
//! supplied is an error naming the handler and the type.

use std::any::{TypeId, type_name};

use crate::tool::FromToolCall;

/// What one handler needs from the plugin.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Requirements {
    pub(crate) store: bool,
    pub(crate) host_api: bool,
    pub(crate) states: Vec<StateType>,
    /// The configuration types taken as `Config<T>`.
    pub(crate) configs: Vec<StateType>,
}

/// A state type a handler takes, by id, with its name for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateType {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl Requirements {
    /// What a value of type `T` needs.
    pub fn of<T: FromToolCall>() -> Self {
        let mut needs = Self::default();
        T::requirements(&mut needs);
        needs
    }

    /// The plugin's store (opened at start-up; a data directory that cannot hold it stops the
    /// plugin before it serves).
    pub fn store(&mut self) {
        self.store = true;
    }

    /// The host's callback API (`NANO_API_URL` and `NANO_INTERNAL_TOKEN` read at start-up).
    pub fn host_api(&mut self) {
        self.host_api = true;
    }

    /// A state value of type `T`, given to the plugin builder (or the test client).
    pub fn state<T: Send + Sync + 'static>(&mut self) {
        let id = TypeId::of::<T>();
        if !self.states.iter().any(|s| s.id == id) {
            self.states.push(StateType {
                id,
                name: type_name::<T>(),
            });
        }
    }

    /// The plugin's configuration of type `T` (`#[plugin(config = T)]` or
    /// [`PluginBuilder::config`](crate::plugin::PluginBuilder::config)).
    pub fn config<T: Send + Sync + 'static>(&mut self) {
        let id = TypeId::of::<T>();
        if !self.configs.iter().any(|s| s.id == id) {
            self.configs.push(StateType {
                id,
                name: type_name::<T>(),
            });
        }
    }

    /// Adds what `other` needs.
    pub(crate) fn extend(&mut self, other: &Requirements) {
        self.store |= other.store;
        self.host_api |= other.host_api;
        for state in &other.states {
            if !self.states.iter().any(|s| s.id == state.id) {
                self.states.push(state.clone());
            }
        }
        for config in &other.configs {
            if !self.configs.iter().any(|s| s.id == config.id) {
                self.configs.push(config.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::State;

    #[test]
    fn types_declare_what_they_need() {
        assert_eq!(
            Requirements::of::<crate::AgentId>(),
            Requirements::default()
        );
        let state = Requirements::of::<State<u32>>();
        assert_eq!(state.states.len(), 1);
        assert!(state.states[0].name.contains("u32"));
        #[cfg(feature = "store")]
        assert!(Requirements::of::<crate::AgentStore>().store);
        #[cfg(feature = "host-api")]
        assert!(Requirements::of::<crate::NanoApi>().host_api);
        #[cfg(feature = "host-api")]
        assert!(!Requirements::of::<Option<crate::NanoApi>>().host_api);
    }
}
