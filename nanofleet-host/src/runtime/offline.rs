//! A [`Runtime`] standing in for an engine that cannot be reached: commands which need the
//! engine only sometimes (the `nanofleet` command's linking in development mode) work without
//! one and fail with the engine's own message only when they do need it, and the host can be
//! driven (its API fuzzed, say) on a machine without an engine.

use super::{
    BoxFut, BoxStream, ContainerSpec, ContainerState, Runtime, RuntimeError, RuntimeEvent,
};

/// Every operation fails with the error met when connecting.
#[derive(Debug)]
pub struct Offline {
    error: Unreachable,
}

/// The parts of the connection error, to build it again for each call.
#[derive(Debug)]
enum Unreachable {
    Engine {
        engine: &'static str,
        endpoint: String,
        hint: String,
    },
    Other(String),
}

impl Offline {
    /// An engine that failed to connect with `error`.
    pub fn new(error: RuntimeError) -> Self {
        let error = match error {
            RuntimeError::Unreachable {
                engine,
                endpoint,
                hint,
            } => Unreachable::Engine {
                engine,
                endpoint,
                hint,
            },
            other => Unreachable::Other(other.to_string()),
        };
        Self { error }
    }

    /// No engine at all (a host that serves without one, a command that needs none): every
    /// operation says no container engine is configured.
    pub fn not_configured() -> Self {
        Self {
            error: Unreachable::Other("no container engine configured".to_owned()),
        }
    }

    fn error(&self) -> RuntimeError {
        match &self.error {
            Unreachable::Engine {
                engine,
                endpoint,
                hint,
            } => RuntimeError::Unreachable {
                engine,
                endpoint: endpoint.clone(),
                hint: hint.clone(),
            },
            Unreachable::Other(message) => RuntimeError::Engine {
                operation: "connect to the container engine".into(),
                message: message.clone(),
            },
        }
    }

    fn fail<'a, T: Send + 'a>(&self) -> BoxFut<'a, Result<T, RuntimeError>> {
        let error = self.error();
        Box::pin(async move { Err(error) })
    }
}

impl Runtime for Offline {
    fn ping(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        self.fail()
    }

    fn ensure_network(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        self.fail()
    }

    fn create_and_start<'a>(
        &'a self,
        _spec: &'a ContainerSpec,
    ) -> BoxFut<'a, Result<ContainerState, RuntimeError>> {
        self.fail()
    }

    fn start<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn stop<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn remove<'a>(&'a self, _name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn rename<'a>(&'a self, _from: &'a str, _to: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn list_managed(&self) -> BoxFut<'_, Result<Vec<ContainerState>, RuntimeError>> {
        self.fail()
    }

    fn inspect<'a>(
        &'a self,
        _name: &'a str,
    ) -> BoxFut<'a, Result<Option<ContainerState>, RuntimeError>> {
        self.fail()
    }

    fn logs<'a>(
        &'a self,
        _name: &'a str,
        _options: super::LogOptions,
    ) -> BoxFut<'a, Result<Vec<String>, RuntimeError>> {
        self.fail()
    }

    fn follow_logs<'a>(
        &'a self,
        _name: &'a str,
        _options: super::LogOptions,
    ) -> BoxFut<'a, Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError>> {
        self.fail()
    }

    fn remove_volume<'a>(
        &'a self,
        _instance: &'a crate::names::Instance,
        _plugin: &'a str,
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn image_exists<'a>(&'a self, _image: &'a str) -> BoxFut<'a, Result<bool, RuntimeError>> {
        self.fail()
    }

    fn image_label<'a>(
        &'a self,
        _image: &'a str,
        _key: &'a str,
    ) -> BoxFut<'a, Result<Option<String>, RuntimeError>> {
        self.fail()
    }

    fn pull<'a>(
        &'a self,
        _image: &'a str,
        _progress: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.fail()
    }

    fn events(
        &self,
    ) -> BoxFut<'_, Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>>
    {
        self.fail()
    }

    fn remove_network_if_unused(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        self.fail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_repeats_the_connection_error() {
        let offline = Offline::new(RuntimeError::Unreachable {
            engine: "the Docker engine",
            endpoint: "unix:///nowhere.sock".into(),
            hint: "is dockerd running?".into(),
        });
        for _ in 0..2 {
            let err = offline.inspect("x").await.err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("cannot reach the Docker engine at unix:///nowhere.sock: is dockerd running?")
            );
        }
    }
}
