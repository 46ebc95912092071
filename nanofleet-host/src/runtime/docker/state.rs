//! The engine's answers (inspect, list) read into [`ContainerState`]s.

use crate::names;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use bollard::models::{ContainerInspectResponse, ContainerSummary, EndpointSettings, PortMap};

use crate::labels;
use crate::runtime::ContainerState;

pub(super) fn state_from_inspect(inspected: ContainerInspectResponse) -> ContainerState {
    let mut labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    let state = inspected.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let network = inspected.network_settings.unwrap_or_default();
    let published = network
        .ports
        .map(|ports| published_from_port_map(&ports))
        .unwrap_or_default();
    let ip = network.networks.as_ref().and_then(plugin_network_ip);
    ContainerState {
        plugin: labels.remove(labels::PLUGIN).unwrap_or_default(),
        id: inspected.id.unwrap_or_default(),
        name: inspected
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        running,
        version: labels.remove(labels::VERSION),
        config_hash: labels.remove(labels::CONFIG_HASH),
        instance: labels.remove(labels::INSTANCE),
        published,
        ip,
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        exit_code: if running { None } else { state.exit_code },
    }
}

pub(super) fn state_from_summary(summary: ContainerSummary) -> ContainerState {
    let mut labels = summary.labels.unwrap_or_default();
    let status = summary.state.map(|s| s.to_string()).unwrap_or_default();
    let running = status == "running";
    let mut published = BTreeMap::new();
    for port in summary.ports.unwrap_or_default() {
        let is_tcp = port.typ.is_none_or(|t| t.to_string() == "tcp");
        let ip = port.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok());
        if let (true, Some(ip), Some(public)) = (is_tcp, ip, port.public_port) {
            published
                .entry(port.private_port)
                .or_insert(SocketAddr::new(ip, public));
        }
    }
    let ip = summary
        .network_settings
        .and_then(|n| n.networks)
        .as_ref()
        .and_then(plugin_network_ip);
    ContainerState {
        plugin: labels.remove(labels::PLUGIN).unwrap_or_default(),
        id: summary.id.unwrap_or_default(),
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        running,
        version: labels.remove(labels::VERSION),
        config_hash: labels.remove(labels::CONFIG_HASH),
        instance: labels.remove(labels::INSTANCE),
        published,
        ip,
        exit_code: if running {
            None
        } else {
            summary.status.as_deref().and_then(exit_code_from_status)
        },
        status,
    }
}

/// The address on [`names::NETWORK`]; the engine reports `""` for a stopped container.
pub(super) fn plugin_network_ip(networks: &HashMap<String, EndpointSettings>) -> Option<IpAddr> {
    networks
        .get(names::NETWORK)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

/// `Exited (137) 5 seconds ago` → 137.
pub(super) fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.parse().ok()
}

pub(super) fn published_from_port_map(ports: &PortMap) -> BTreeMap<u16, SocketAddr> {
    let mut published = BTreeMap::new();
    for (key, bindings) in ports {
        let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for binding in bindings.iter().flatten() {
            let ip = binding.host_ip.as_deref().and_then(|ip| ip.parse().ok());
            let host_port = binding.host_port.as_deref().and_then(|p| p.parse().ok());
            if let (Some(ip), Some(host_port)) = (ip, host_port) {
                published
                    .entry(port)
                    .or_insert(SocketAddr::new(ip, host_port));
            }
        }
    }
    published
}
