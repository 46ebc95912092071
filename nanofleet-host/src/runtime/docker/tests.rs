//! Unit tests of the Docker backend's pure parts.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use bollard::models::{EventMessage, PortBinding, PortMap};

use crate::labels;
use crate::runtime::{ContainerSpec, EventAction, RuntimeError, RuntimeEvent};
use nanofleet_sdk::manifest::Filesystem;

use super::{DockerRuntime, MAX_LOG_LINE_BYTES};
use super::{containers::*, events::*, logs::*, state::*};

#[test]
fn lines_are_split_and_bounded() {
    let mut splitter = LineSplitter::default();
    let mut out = VecDeque::new();
    splitter.push(b"one\r\ntw", &mut out);
    splitter.push(b"o\n\nthree", &mut out);
    splitter.finish(&mut out);
    assert_eq!(out, ["one", "two", "", "three"]);

    out.clear();
    let long = vec![b'x'; MAX_LOG_LINE_BYTES * 2 + 5];
    splitter.push(&long, &mut out);
    splitter.push(b"\xff\n", &mut out);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|l| l.len() <= MAX_LOG_LINE_BYTES + 3));
    assert!(out[2].ends_with('\u{fffd}'));
}

#[test]
fn exit_codes_are_read_from_the_status_text() {
    assert_eq!(
        exit_code_from_status("Exited (137) 5 seconds ago"),
        Some(137)
    );
    assert_eq!(exit_code_from_status("Up 3 minutes"), None);
    assert_eq!(exit_code_from_status("Exited (x"), None);
}

#[test]
fn published_ports_are_parsed_leniently() {
    let ports = PortMap::from([
        (
            "8080/tcp".to_owned(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("32768".into()),
            }]),
        ),
        ("9090/tcp".to_owned(), None),
        ("53/udp".to_owned(), Some(vec![PortBinding::default()])),
        (
            "bogus".to_owned(),
            Some(vec![PortBinding {
                host_ip: Some("nonsense".into()),
                host_port: Some("99999".into()),
            }]),
        ),
    ]);
    let published = published_from_port_map(&ports);
    assert_eq!(
        published,
        BTreeMap::from([(8080, SocketAddr::from(([127, 0, 0, 1], 32768)))])
    );
}

#[test]
fn the_create_request_is_hardened() {
    let mut spec = ContainerSpec::new("notes", "nanofleet/notes:0.1.0", "0.1.0", 8080);
    spec.ui_port = Some(8081);
    let body = container_body(&spec).expect("valid");
    let host = body.host_config.expect("host config");
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.port_bindings.is_none());
    let security = host.security_opt.unwrap_or_default();
    assert_eq!(security[0], "no-new-privileges:true");
    assert!(
        security.iter().any(|o| o.starts_with("seccomp={")),
        "no spawning by default: {security:?}"
    );
    let mounts = host.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].read_only, Some(false));
    assert_eq!(body.user.as_deref(), Some(super::super::DEFAULT_USER));
    assert_eq!(
        body.exposed_ports,
        Some(vec!["8080/tcp".to_owned(), "8081/tcp".to_owned()])
    );

    let mut allowed = spec.clone();
    allowed.spawn = true;
    allowed.data = Filesystem::ReadOnly;
    let host = container_body(&allowed)
        .expect("valid")
        .host_config
        .expect("host config");
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges:true".to_owned()])
    );
    assert_eq!(host.mounts.unwrap_or_default()[0].read_only, Some(true));
    allowed.data = Filesystem::None;
    let host = container_body(&allowed).expect("valid").host_config;
    assert_eq!(host.and_then(|h| h.mounts), Some(vec![]));

    spec.publish_loopback = true;
    let host = container_body(&spec)
        .expect("valid")
        .host_config
        .expect("host config");
    let bindings = host.port_bindings.expect("published");
    assert_eq!(bindings.len(), 2);
    for binding in bindings.values().flatten().flatten() {
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
    }
}

#[test]
fn missing_sockets_are_unreachable_in_one_sentence() {
    let err =
        DockerRuntime::connect_to("unix:///nonexistent/docker.sock").expect_err("no socket there");
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("unix:///nonexistent/docker.sock"), "{text}");
    assert!(!text.contains('\n'), "{text}");

    let err = DockerRuntime::connect_to("ssh://somewhere").expect_err("unsupported");
    assert!(err.to_string().contains("tcp://host:port"), "{err}");
}

#[test]
fn events_of_other_containers_are_ignored() {
    let event = |attributes: &[(&str, &str)], action: &str| EventMessage {
        action: Some(action.into()),
        actor: Some(bollard::models::EventActor {
            id: Some("abc".into()),
            attributes: Some(
                attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
        }),
        ..Default::default()
    };
    let die = event(
        &[
            (labels::PLUGIN, "notes"),
            ("name", "nanofleet-plugin-notes"),
            ("exitCode", "137"),
        ],
        "die",
    );
    assert_eq!(
        event_from_message(die),
        Some(RuntimeEvent {
            plugin: "notes".into(),
            container: "nanofleet-plugin-notes".into(),
            action: EventAction::Die {
                exit_code: Some(137)
            },
        })
    );
    assert_eq!(event_from_message(event(&[("name", "x")], "die")), None);
    let health = event(&[(labels::PLUGIN, "notes")], "health_status: healthy");
    assert!(matches!(
        event_from_message(health).map(|e| e.action),
        Some(EventAction::Other(_))
    ));
}
