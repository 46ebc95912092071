//! `nanofleet serve --engine swarm` across three engines joined into one swarm on this machine
//! ([`Nodes`]: network namespaces, their own data roots and sockets, images loaded with
//! `docker save`/`load`). The host runs on the manager (node 1); a plugin whose data the
//! operator placed on node 2 and a plugin that keeps no local state both run on node 2; an
//! agent on node 3 calls both with the signed URLs of the client file the host wrote. Then
//! node 2 is killed: the stateless plugin is rescheduled and answers the same URL again, and
//! the test reports how long that took; the stateful one waits for its node.
//!
//! Not skipped anywhere: when the nodes cannot be made here, the test fails with why.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use nanofleet_host::names::{self, Instance};
use nanofleet_host::runtime::swarm::data_label;
use nanofleet_host::runtime::{Runtime as _, SwarmRuntime};
use nanofleet_sdk::Manifest;
use nanofleet_sdk::manifest::{Filesystem, Permissions};
use serde_json::json;

use nanofleet_test_support::nodes::Nodes;
use nanofleet_test_support::swarm::{Agent, HOST_IMAGE, HostContainer, host_image};
use nanofleet_test_support::*;

/// How long a rescheduled plugin may take to answer again after its node stopped.
const RESCHEDULE_BOUND: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_serve_agents_on_other_nodes_and_a_stateless_one_moves_off_a_stopped_node() {
    nanofleet_sdk::ensure_crypto_provider();
    let (host, hello, probe) = (host_image().await, hello_image().await, probe_image().await);
    assert!(!host.is_empty() && !hello.is_empty() && !probe.is_empty());
    let mut nodes = Nodes::start(&[HOST_IMAGE, HELLO_IMAGE, PROBE_IMAGE]).await;
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_TIMEOUT, scenario()))
        .catch_unwind()
        .await;
    tokio::task::spawn_blocking(move || nodes.teardown())
        .await
        .expect("teardown");
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Err(_)) => panic!("the test did not finish within {TEST_TIMEOUT:?}"),
        Ok(Ok(())) => {}
    }
}

async fn scenario() {
    let manager = SwarmRuntime::connect_to(&Nodes::socket_url(1)).expect("the manager");
    manager.ensure_network().await.expect("the overlay");
    let host = HostContainer::start(&Nodes::place(1), HOST_IMAGE).await;
    let outcome = AssertUnwindSafe(on_three_nodes(&host)).catch_unwind().await;
    if outcome.is_err() {
        eprintln!("the host's output:\n{}", host.logs().await);
    }
    host.remove().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The node the running task of `plugin`'s service is on, if one runs.
fn running_on(plugin: &str) -> Option<String> {
    let out = Nodes::cli(
        1,
        &format!(
            "service ps --filter desired-state=running --format '{{{{.Node}}}} {{{{.CurrentState}}}}' {}",
            names::container_name(plugin)
        ),
    )
    .ok()?;
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some("Running"))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
}

async fn install(host: &HostContainer, manifest: &Manifest) {
    let started = Instant::now();
    let (status, body) = host
        .call(
            reqwest::Method::POST,
            "/api/plugins",
            Some(json!({ "manifest": serde_json::to_value(manifest).expect("json") })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    eprintln!(
        "[nodes] install {} → ready (tools listed across nodes): {:.1?}",
        manifest.name,
        started.elapsed()
    );
}

/// The URL the host wrote for agent `a1` to reach `plugin`, signed.
async fn url_of(host: &HostContainer, plugin: &str) -> String {
    let url = host.client_url("a1", plugin).await;
    assert!(url.contains("agent_sig="), "signatures are on: {url}");
    url
}

/// Calls `greet` through `url` from the agent until it answers, within `bound`: the time it
/// took, and the answer.
async fn greet_within(agent: &Agent, url: &str, bound: Duration) -> (Duration, String) {
    let started = Instant::now();
    loop {
        // Short attempts: the address of a task on a stopped node takes a while to leave
        // the name's answers, and a request to it gets no answer at all.
        let attempt = agent.mcp_call_within(
            url,
            "greet",
            json!({"name": "node 3"}),
            Duration::from_secs(2),
        );
        match attempt.await {
            Ok(text) => return (started.elapsed(), text),
            Err(e) if started.elapsed() > bound => {
                panic!("{url} did not answer within {bound:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn on_three_nodes(host: &HostContainer) {
    let node2 = Nodes::hostname(2);
    let stateful = format!("nd-{:06x}", rand::random::<u32>() >> 8);
    let stateless = format!("{stateful}-x");

    // The operator places the stateful plugin's data on node 2 before installing it.
    let label = data_label(&Instance::default(), &stateful);
    Nodes::cli(1, &format!("node update --label-add {label}=true {node2}")).expect("label");
    install(
        host,
        &Manifest::new(&stateful, "0.1.0", HELLO_IMAGE, 8080).with_description("pinned"),
    )
    .await;
    assert_eq!(running_on(&stateful).as_deref(), Some(node2.as_str()));

    // A plugin that keeps no local state is not pinned; nodes 1 and 3 take no new tasks for
    // a moment, so that it starts on node 2 too.
    let permissions = Permissions {
        filesystem: Filesystem::None,
        ..Default::default()
    };
    for n in [1, 3] {
        Nodes::cli(
            1,
            &format!("node update --availability pause {}", Nodes::hostname(n)),
        )
        .expect("pause");
    }
    install(
        host,
        &Manifest::new(&stateless, "0.1.0", HELLO_IMAGE, 8080)
            .with_description("stateless")
            .with_permissions(permissions),
    )
    .await;
    for n in [1, 3] {
        Nodes::cli(
            1,
            &format!("node update --availability active {}", Nodes::hostname(n)),
        )
        .expect("active");
    }
    assert_eq!(running_on(&stateless).as_deref(), Some(node2.as_str()));

    // An agent linked to both, on node 3, calls them with its client file's URLs.
    let (status, body) = host
        .call(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"id": "a1", "name": "a1", "workspaceDir": "/data"})),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    for plugin in [&stateful, &stateless] {
        let (status, body) = host
            .call(
                reqwest::Method::PUT,
                &format!("/api/agents/a1/links/{plugin}"),
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    let (pinned_url, moving_url) = (
        url_of(host, &stateful).await,
        url_of(host, &stateless).await,
    );
    let agent = Agent::start_at(&Nodes::place(3), &stateful).await;
    for url in [&pinned_url, &moving_url] {
        let (_, text) = greet_within(&agent, url, Duration::from_secs(30)).await;
        assert!(text.contains("node 3"), "{text}");
    }
    let unsigned: String = moving_url
        .split('&')
        .filter(|part| !part.starts_with("agent_sig="))
        .collect::<Vec<_>>()
        .join("&");
    let refused = agent
        .mcp_call(&unsigned, "greet", json!({"name": "x"}))
        .await;
    assert!(refused.is_err(), "an unsigned call is refused: {refused:?}");

    // Node 2 goes away.
    tokio::task::spawn_blocking(|| Nodes::kill(2))
        .await
        .expect("node 2 killed");
    let stopped = Instant::now();
    let moved = {
        let stateless = stateless.clone();
        let node2 = node2.clone();
        tokio::task::spawn_blocking(move || {
            while stopped.elapsed() < RESCHEDULE_BOUND {
                if running_on(&stateless).is_some_and(|node| node != node2) {
                    return Some(stopped.elapsed());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            None
        })
    };
    let (answered, text) = greet_within(&agent, &moving_url, RESCHEDULE_BOUND).await;
    assert!(text.contains("node 3"), "{text}");
    let moved = moved
        .await
        .expect("the watch")
        .expect("a task running off node 2");
    let now_on = running_on(&stateless);
    eprintln!(
        "[nodes] node 2 killed: the stateless plugin runs on {now_on:?} after {moved:.1?}, and \
         answers the same URL from node 3 after {answered:.1?}"
    );
    assert!(
        now_on.is_some() && now_on.as_deref() != Some(node2.as_str()),
        "rescheduled off node 2: {now_on:?}"
    );
    // The stateful one stays with its data: no task of it runs elsewhere.
    let elsewhere = running_on(&stateful);
    assert!(
        elsewhere.is_none() || elsewhere.as_deref() == Some(node2.as_str()),
        "a pinned plugin must not move off its data's node: {elsewhere:?}"
    );
    eprintln!(
        "[nodes] the pinned plugin waits for its node ({:.1?} after the stop)",
        stopped.elapsed()
    );
    agent.remove().await;
}
