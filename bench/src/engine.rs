//! The container engine for the image, cold-start and host sections, and the cleanup that
//! runs whatever happened.
//!
//! Every container the bench makes (directly or through a [`nanofleet_host::Host`]) carries
//! this run's own instance label (`nanofleet-bench-<nonce>`), and every plugin name it uses is
//! recorded, so [`Engine::cleanup`] removes exactly what this run made: its containers, their
//! data volumes, and the plugin network when nothing else uses it.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Result, anyhow};
use nanofleet_host::names::Instance;
use nanofleet_host::runtime::{DockerRuntime, Runtime};

/// The engine, with this run's instance label and the names to clean up.
pub struct Engine {
    /// The Docker backend.
    pub rt: Arc<DockerRuntime>,
    /// This run's instance label (`com.nanofleet.instance`).
    pub instance: Instance,
    nonce: String,
    plugins: Mutex<Vec<String>>,
}

impl Engine {
    /// Connects to the engine (`DOCKER_HOST` or the default socket) and checks it answers.
    pub async fn connect(nonce: &str) -> Result<Self> {
        let rt = DockerRuntime::connect().map_err(|e| anyhow!("{e}"))?;
        rt.ping().await.map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            rt: Arc::new(rt),
            instance: Instance::new(format!("nanofleet-bench-{nonce}"))
                .map_err(|e| anyhow!("{e}"))?,
            nonce: nonce.to_owned(),
            plugins: Mutex::new(Vec::new()),
        })
    }

    /// A plugin name unique to this run (`nfb-<nonce>-<what>`), recorded for cleanup.
    pub fn plugin_name(&self, what: &str) -> String {
        let name = format!("nfb-{}-{what}", self.nonce);
        self.plugins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        name
    }

    /// The runtime as the host takes it.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::clone(&self.rt) as Arc<dyn Runtime>
    }

    /// Removes every container labelled with this run's instance, the volume of every plugin
    /// name handed out, and the network if unused. Returns the problems (it never stops half-way).
    pub async fn cleanup(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.rt.list_managed().await {
            Ok(all) => {
                for c in all
                    .into_iter()
                    .filter(|c| c.instance.as_deref() == Some(self.instance.name()))
                {
                    if let Err(e) = self.rt.remove(&c.name).await {
                        problems.push(format!("cannot remove container {}: {e}", c.name));
                    }
                }
            }
            Err(e) => problems.push(format!("cannot list containers: {e}")),
        }
        let plugins =
            std::mem::take(&mut *self.plugins.lock().unwrap_or_else(PoisonError::into_inner));
        for plugin in plugins {
            if let Err(e) = self.rt.remove_volume(&self.instance, &plugin).await {
                problems.push(format!("cannot remove the volume of {plugin}: {e}"));
            }
        }
        if let Err(e) = self.rt.remove_network_if_unused().await {
            problems.push(format!("cannot remove the plugin network: {e}"));
        }
        problems
    }
}
