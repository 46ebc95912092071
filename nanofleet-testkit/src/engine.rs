//! What the harness asks of the engine beyond testcontainers: the network and volume of a
//! plugin, published ports, state, logs, and removal (also from `Drop`).

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use futures::StreamExt as _;
use nanofleet_contracts::labels;
use testcontainers::{
    ContainerAsync, GenericImage,
    bollard::{
        Docker,
        errors::Error as BollardError,
        models::{NetworkCreateRequest, VolumeCreateRequest},
        query_parameters::{
            InspectContainerOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
            RemoveVolumeOptionsBuilder,
        },
    },
};

use crate::{Error, MANAGED_BY_VALUE, error::describe};

/// Where testcontainers looks for the engine when `DOCKER_HOST` is not set.
const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How often a volume still in use (its container just removed) is tried again.
const VOLUME_REMOVE_ATTEMPTS: u32 = 5;

/// The client testcontainers uses (its configuration: `DOCKER_HOST`,
/// `~/.testcontainers.properties`), checked with a ping.
pub(crate) async fn connect() -> Result<Docker, Error> {
    let unreachable = |message: String| Error::DockerUnreachable {
        endpoint: std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned()),
        message,
    };
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| unreachable(describe(&e)))?;
    docker.ping().await.map_err(|e| unreachable(describe(&e)))?;
    Ok(docker)
}

/// The HTTP status of an engine error, if it is one.
pub(crate) fn status(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The names and labels of what one plugin container consists of.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    pub(crate) plugin: String,
    pub(crate) instance: String,
    pub(crate) container: String,
    pub(crate) volume: String,
    pub(crate) network: String,
}

impl Objects {
    /// Fresh names for `plugin`: `nanofleet-test-<plugin>-<64 random bits>` and its `-data`
    /// volume and `-net` network, so parallel tests never collide.
    pub(crate) fn new(plugin: &str) -> Self {
        let id = format!("{:016x}", rand::random::<u64>());
        let container = format!("nanofleet-test-{plugin}-{id}");
        Self {
            plugin: plugin.to_owned(),
            instance: format!("testkit-{id}"),
            volume: format!("{container}-data"),
            network: format!("{container}-net"),
            container,
        }
    }

    /// The labels of the volume and the network.
    fn object_labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (labels::MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
            (labels::PLUGIN.to_owned(), self.plugin.clone()),
            (labels::INSTANCE.to_owned(), self.instance.clone()),
        ])
    }

    /// The labels of the container.
    pub(crate) fn labels(&self, version: &str) -> HashMap<String, String> {
        let mut labels = self.object_labels();
        labels.insert(labels::VERSION.to_owned(), version.to_owned());
        labels
    }
}

/// The plugin's network: a bridge of its own without traffic between containers and, unless
/// `egress`, without IP masquerading, so the plugin has no usable route out (the host's
/// development network). Ports of a container on an `internal` network cannot be published.
pub(crate) async fn create_network(
    docker: &Docker,
    objects: &Objects,
    egress: bool,
) -> Result<(), Error> {
    let masquerade = if egress { "true" } else { "false" };
    let request = NetworkCreateRequest {
        name: objects.network.clone(),
        driver: Some("bridge".into()),
        internal: Some(false),
        options: Some(HashMap::from([
            (
                "com.docker.network.bridge.enable_ip_masquerade".to_owned(),
                masquerade.to_owned(),
            ),
            (
                "com.docker.network.bridge.enable_icc".to_owned(),
                "false".to_owned(),
            ),
        ])),
        labels: Some(objects.object_labels()),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map(drop)
        .map_err(|e| Error::docker(format!("create network {}", objects.network), &e))
}

/// The plugin's data volume: named, so Docker copies the image's `/data` (owned by the plugin
/// user) into it on first mount, and labelled, so leftovers can be found.
pub(crate) async fn create_volume(docker: &Docker, objects: &Objects) -> Result<(), Error> {
    let request = VolumeCreateRequest {
        name: Some(objects.volume.clone()),
        driver: Some("local".into()),
        labels: Some(objects.object_labels()),
        ..Default::default()
    };
    docker
        .create_volume(request)
        .await
        .map(drop)
        .map_err(|e| Error::docker(format!("create volume {}", objects.volume), &e))
}

/// Container port → loopback address, for the ports published on `127.0.0.1`.
pub(crate) async fn published_ports(
    docker: &Docker,
    container: &str,
) -> Result<HashMap<u16, SocketAddr>, Error> {
    let inspected = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .map_err(|e| Error::docker(format!("inspect container {container}"), &e))?;
    let mut published = HashMap::new();
    let ports = inspected
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    for (key, bindings) in ports {
        let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for binding in bindings.into_iter().flatten() {
            let ip = binding.host_ip.and_then(|ip| ip.parse::<IpAddr>().ok());
            let host_port = binding.host_port.and_then(|p| p.parse::<u16>().ok());
            if let (Some(ip), Some(host_port)) = (ip, host_port)
                && ip.is_loopback()
            {
                published.insert(port, SocketAddr::new(ip, host_port));
            }
        }
    }
    Ok(published)
}

/// `Some(exit code)` once the container's process has ended, `None` while it runs.
pub(crate) async fn exited(docker: &Docker, container: &str) -> Result<Option<Option<i64>>, Error> {
    let state = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .map_err(|e| Error::docker(format!("inspect container {container}"), &e))?
        .state
        .unwrap_or_default();
    Ok((state.running != Some(true)).then_some(state.exit_code))
}

/// The container's output, stdout and stderr as written; the last `tail` lines only, if given.
pub(crate) async fn logs(
    docker: &Docker,
    container: &str,
    tail: Option<usize>,
) -> Result<String, Error> {
    let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&tail)
        .build();
    let mut stream = docker.logs(container, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Error::docker(format!("read the logs of {container}"), &e))?;
        bytes.extend_from_slice(&chunk.into_bytes());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Removes the container (by name), its volume and its network, ignoring what is already gone
/// and reporting nothing: for paths that already have an error to return.
pub(crate) async fn remove(docker: &Docker, objects: &Objects) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    drop(
        docker
            .remove_container(&objects.container, Some(options))
            .await,
    );
    drop(remove_volume_and_network(docker, objects).await);
}

/// Removes the volume, then the network, once the container is gone. Returns what could not
/// be removed; what is already gone is fine.
pub(crate) async fn remove_volume_and_network(docker: &Docker, objects: &Objects) -> Vec<String> {
    let mut problems = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let options = RemoveVolumeOptionsBuilder::new().force(false).build();
        match docker.remove_volume(&objects.volume, Some(options)).await {
            Ok(()) => break,
            Err(e) if status(&e) == Some(404) => break,
            // Still in use for a moment after the container's removal.
            Err(e) if status(&e) == Some(409) && attempt < VOLUME_REMOVE_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                problems.push(format!("volume {}: {}", objects.volume, describe(&e)));
                break;
            }
        }
    }
    match docker.remove_network(&objects.network).await {
        Ok(()) => {}
        Err(e) if status(&e) == Some(404) => {}
        Err(e) => problems.push(format!("network {}: {}", objects.network, describe(&e))),
    }
    problems
}

/// The objects of a plugin whose start is under way: removed if the start fails, and from
/// `Drop` if the future starting it is dropped before the container handle exists.
pub(crate) struct Pending {
    docker: Docker,
    objects: Objects,
    armed: bool,
}

impl Pending {
    pub(crate) fn new(docker: Docker, objects: Objects) -> Self {
        Self {
            docker,
            objects,
            armed: true,
        }
    }

    /// Removes whatever of the objects exists.
    pub(crate) async fn remove(mut self) {
        self.armed = false;
        remove(&self.docker, &self.objects).await;
    }

    /// The objects now belong to a container handle.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            let (docker, objects) = (self.docker.clone(), self.objects.clone());
            block_on(async move { remove(&docker, &objects).await });
        }
    }
}

/// Removes everything from `Drop`, blocking the dropping thread until it is done.
///
/// Inside a tokio runtime, testcontainers' own drop of the container handle removes the
/// container; outside one it would panic, so the container is removed here instead.
pub(crate) fn remove_on_drop(
    container: ContainerAsync<GenericImage>,
    docker: Docker,
    objects: Objects,
) {
    if tokio::runtime::Handle::try_current().is_ok() {
        drop(container);
        block_on(async move {
            drop(remove_volume_and_network(&docker, &objects).await);
        });
    } else {
        // Its drop needs a runtime; everything it would do is done below.
        std::mem::forget(container);
        block_on(async move { remove(&docker, &objects).await });
    }
}

/// Runs `fut` to completion from synchronous code: in place on a multi-threaded runtime, on a
/// thread of its own otherwise (a current-thread runtime cannot be blocked on from inside).
/// The engine client keeps no connection between requests, so it works from any runtime.
fn block_on(fut: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(move || handle.block_on(fut));
        }
        _ => {
            let worker = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(fut);
                }
            });
            drop(worker.join());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fresh_and_labelled() {
        let a = Objects::new("notes");
        let b = Objects::new("notes");
        assert_ne!(a.container, b.container);
        assert!(a.container.starts_with("nanofleet-test-notes-"));
        assert_eq!(a.volume, format!("{}-data", a.container));
        assert_eq!(a.network, format!("{}-net", a.container));
        let labels = a.labels("0.1.0");
        assert_eq!(labels[labels::MANAGED_BY], MANAGED_BY_VALUE);
        assert_eq!(labels[labels::PLUGIN], "notes");
        assert_eq!(labels[labels::INSTANCE], a.instance);
        assert_eq!(labels[labels::VERSION], "0.1.0");
    }
}
