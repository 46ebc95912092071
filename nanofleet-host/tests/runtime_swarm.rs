//! The Swarm runtime against a real single-node swarm on the machine's engine. Nothing here is
//! skipped: without a reachable engine these tests fail with the runtime's own error.
//!
//! The swarm is set up and torn down around the tests by [`on_swarm`], which leaves the
//! engine as it found it. Every test removes the services, secrets, volumes and node labels
//! it made, even when it fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use nanofleet_host::names::{self, Instance};
use nanofleet_host::runtime::swarm::data_label;
use nanofleet_host::runtime::{
    ContainerSpec, DockerRuntime, EventAction, LogOptions, Runtime, RuntimeError, Upgrade,
};
use nanofleet_sdk::manifest::Filesystem;

use nanofleet_test_support::swarm::{
    Agent, docker, fetch_eventually, on_swarm, secrets_of, swarm_runtime,
};
use nanofleet_test_support::*;

const TOKEN: &str = "swarm-test-token-0123456789abcdefghijklmnopq";

fn spec(plugin: &str, image: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(plugin, image, "0.1.0", 8080);
    spec.env = BTreeMap::from([
        ("NANO_PLUGIN_ID".to_owned(), plugin.to_owned()),
        ("NANO_INTERNAL_TOKEN".to_owned(), TOKEN.to_owned()),
        // The plugin refuses to start without the token: a running task read it from its file.
        (
            "NANOFLEET_REQUIRE_AGENT_SIGNATURE".to_owned(),
            "1".to_owned(),
        ),
    ]);
    spec.secrets = BTreeSet::from(["NANO_INTERNAL_TOKEN".to_owned()]);
    spec
}

/// The labels of the swarm's only node.
async fn node_labels() -> HashMap<String, String> {
    let nodes = docker().list_nodes(None).await.expect("nodes");
    nodes
        .into_iter()
        .next()
        .and_then(|n| n.spec)
        .and_then(|s| s.labels)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_runs_as_a_hardened_service_reachable_on_the_overlay() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = swarm_runtime();
        rt.ping().await.expect("a swarm manager");
        let image = notes_image().await;
        let spec = spec(&plugin, &image);
        let name = names::container_name(&plugin);

        let started = Instant::now();
        let state = rt.create_and_start(&spec).await.expect("created");
        eprintln!("[swarm] create → task running: {:.1?}", started.elapsed());
        assert!(state.running, "{state:?}");
        assert_eq!(
            (state.name.as_str(), state.plugin.as_str()),
            (name.as_str(), plugin.as_str())
        );
        assert_eq!(state.config_hash, Some(spec.config_hash()));
        // This process is not on the overlay: the name does not resolve here.
        assert_eq!(state.ip, None, "{state:?}");

        // The token is a secret file, never in the service's definition.
        let service = docker()
            .inspect_service(&name, None)
            .await
            .expect("the service");
        let definition = serde_json::to_string(&service.spec).expect("json");
        assert!(!definition.contains(TOKEN), "{definition}");
        let task = service
            .spec
            .as_ref()
            .and_then(|s| s.task_template.clone())
            .expect("a task template");
        let container = task.container_spec.clone().expect("a container spec");
        let secrets = container.secrets.clone().unwrap_or_default();
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        let file = secrets[0].file.clone().expect("a file");
        assert_eq!(file.name.as_deref(), Some("NANO_INTERNAL_TOKEN"));
        assert_eq!(file.mode, Some(0o400));
        assert_eq!(file.uid.as_deref(), Some("65532"));
        assert_eq!(secrets_of(&plugin).await.len(), 1);
        assert!(
            !container
                .env
                .unwrap_or_default()
                .iter()
                .any(|e| e.starts_with("NANO_INTERNAL_TOKEN")),
        );

        // Hardening that every engine keeps, and what this one dropped, said.
        assert_eq!(container.read_only, Some(true));
        assert_eq!(container.user.as_deref(), Some("65532:65532"));
        assert_eq!(container.capability_drop, Some(vec!["ALL".to_owned()]));
        let limits = task.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(limits.pids, Some(256));
        assert_eq!(limits.memory_bytes, Some(256 * 1024 * 1024));
        let hardening = rt
            .hardening(&spec)
            .await
            .expect("read back")
            .expect("the service");
        assert!(hardening.base, "{hardening:?}");
        eprintln!(
            "[swarm] settings this engine dropped: {:?}",
            hardening.missing()
        );

        // State stays where its volume is.
        let label = data_label(&Instance::default(), &plugin);
        let constraints = task
            .placement
            .and_then(|p| p.constraints)
            .unwrap_or_default();
        assert_eq!(constraints, vec![format!("node.labels.{label}==true")]);
        assert_eq!(
            node_labels().await.get(&label).map(String::as_str),
            Some("true")
        );

        // Rolling updates start the new task first and roll back on failure.
        let update = service
            .spec
            .as_ref()
            .and_then(|s| s.update_config.clone())
            .expect("an update config");
        assert_eq!(
            update.order.map(|o| o.to_string()).as_deref(),
            Some("start-first")
        );
        assert_eq!(
            update.failure_action.map(|a| a.to_string()).as_deref(),
            Some("rollback")
        );

        // The single-engine backend does not take the service's task for one of its own.
        let docker_rt = DockerRuntime::connect().expect("docker");
        let own = docker_rt.list_managed().await.expect("list");
        assert!(own.iter().all(|c| c.plugin != plugin), "{own:?}");

        // Logs come through the service.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = rt.logs(&name, LogOptions::tail(50)).await.expect("logs");
            if lines.iter().any(|l| l.contains("serving")) {
                break;
            }
            assert!(Instant::now() < deadline, "no `serving` line: {lines:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // An agent attached to the overlay reaches it by its name, as `.mcp.json` says.
        let agent = Agent::start(&plugin).await;
        let url = format!("http://{name}:8080/healthz");
        let answer = fetch_eventually(&agent, &url).await;
        assert!(answer.starts_with("200"), "{answer}");

        // Stop scales to zero; start brings a task back.
        rt.stop(&name).await.expect("stop");
        let stopped = rt.inspect(&name).await.expect("inspect").expect("exists");
        assert!(!stopped.running, "{stopped:?}");
        assert_eq!(stopped.status, "exited");
        rt.stop(&name).await.expect("stopping twice is fine");
        rt.start(&name).await.expect("start");
        assert!(
            rt.inspect(&name)
                .await
                .expect("inspect")
                .expect("exists")
                .running
        );
        let answer = fetch_eventually(&agent, &url).await;
        assert!(answer.starts_with("200"), "{answer}");
        agent.remove().await;

        // Removing leaves nothing: no service, no secret; then the data and its label go.
        rt.remove(&name).await.expect("remove");
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
        assert!(secrets_of(&plugin).await.is_empty());
        rt.remove(&name).await.expect("removing twice is fine");
        rt.remove_volume(&Instance::default(), &plugin)
            .await
            .expect("remove the data");
        let volume = Instance::default().volume_name(&plugin);
        assert!(
            docker().inspect_volume(&volume).await.is_err(),
            "{volume} is gone"
        );
        assert!(!node_labels().await.contains_key(&label));
    })
    .await;
}

/// What runs under `name` now: (running, version).
async fn running_version(rt: &impl Runtime, name: &str) -> (bool, Option<String>) {
    let state = rt.inspect(name).await.expect("inspect").expect("exists");
    (state.running, state.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_replaces_the_service_in_place_and_rolls_back() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = swarm_runtime();
        assert_eq!(rt.upgrade_strategy(), Upgrade::InPlace);
        let name = names::container_name(&plugin);
        let v1 = spec(&plugin, &hello_image().await);
        let id = rt.create_and_start(&v1).await.expect("v1").id;
        let agent = Agent::start(&plugin).await;
        let healthz = format!("http://{name}:8080/healthz");
        fetch_eventually(&agent, &healthz).await;

        // A new version with a rotated token: started before the old one stops, same service.
        let mut v2 = v1.clone();
        v2.version = "0.2.0".into();
        v2.env.insert(
            "NANO_INTERNAL_TOKEN".into(),
            "swarm-test-token-rotated-0123456789abcdefghij".into(),
        );
        // Calls by name all through the update: how many the switch-over costs.
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let watcher = {
            let (agent, url) = (agent.addr, healthz.clone());
            tokio::spawn(async move {
                let agent = Agent::at(agent);
                let (mut ok, mut failed) = (0u32, 0u32);
                while !*stopped.borrow_and_update() {
                    match agent.fetch(&url).await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            })
        };
        let started = Instant::now();
        rt.replace(&v2).await.expect("updated");
        let took = started.elapsed();
        stop.send(true).expect("watcher");
        let (ok, failed) = watcher.await.expect("watcher");
        eprintln!(
            "[swarm] update start-first → completed: {took:.1?}; calls by name meanwhile: \
             {ok} answered, {failed} failed"
        );
        assert_eq!(
            running_version(&rt, &name).await,
            (true, Some("0.2.0".into()))
        );
        let state = rt.inspect(&name).await.expect("inspect").expect("exists");
        assert_eq!(state.id, id, "the same service, updated in place");
        assert_eq!(state.config_hash, Some(v2.config_hash()));
        assert_eq!(
            secrets_of(&plugin).await.len(),
            2,
            "the previous definition's token stays while the engine can roll back to it"
        );
        fetch_eventually(&agent, &healthz).await;

        // A version that exits at once: the engine rolls back by itself, the error says so.
        let mut crashing = v2.clone();
        crashing.version = "0.3.0".into();
        crashing
            .env
            .insert("NANO_API_URL".into(), "not a url".into());
        let err = rt.replace(&crashing).await.expect_err("rolled back");
        assert!(err.to_string().contains("previous one runs again"), "{err}");
        assert_eq!(
            running_version(&rt, &name).await,
            (true, Some("0.2.0".into()))
        );
        assert_eq!(
            secrets_of(&plugin).await.len(),
            1,
            "two definitions back, the first token is gone"
        );

        // A version that runs but that the host finds not ready: rolled back on request.
        let mut unready = v2.clone();
        unready.version = "0.4.0".into();
        rt.replace(&unready).await.expect("runs");
        assert_eq!(
            running_version(&rt, &name).await,
            (true, Some("0.4.0".into()))
        );
        rt.roll_back(&name).await.expect("rolled back");
        assert_eq!(
            running_version(&rt, &name).await,
            (true, Some("0.2.0".into()))
        );
        fetch_eventually(&agent, &healthz).await;
        agent.remove().await;

        // Replacing what is not there is refused with why.
        let mut absent = v2.clone();
        absent.plugin = format!("{plugin}-absent");
        let err = rt.replace(&absent).await.expect_err("nothing to replace");
        assert!(matches!(err, RuntimeError::NotFound(_)), "{err:?}");

        rt.remove(&name).await.expect("remove");
        assert!(secrets_of(&plugin).await.is_empty());
    })
    .await;
}

/// How many tasks of the service of `name` run now.
async fn running_tasks(name: &str) -> usize {
    let filters = HashMap::from([("service".to_owned(), vec![name.to_owned()])]);
    docker()
        .list_tasks(Some(bollard::query_parameters::ListTasksOptions {
            filters: Some(filters),
        }))
        .await
        .expect("tasks")
        .iter()
        .filter(|t| {
            t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
        })
        .count()
}

async fn wait_tasks(name: &str, wanted: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = running_tasks(name).await;
        if running == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{running} tasks run, not {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_without_data_runs_several_replicas_behind_one_name() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = swarm_runtime();
        assert!(rt.max_replicas() > 1);
        let name = names::container_name(&plugin);
        let mut copies = spec(&plugin, &hello_image().await);
        copies.data = Filesystem::None;
        copies.replicas = 3;
        rt.create_and_start(&copies).await.expect("created");
        wait_tasks(&name, 3).await;
        // Agents reach them by the one name.
        let agent = Agent::start(&plugin).await;
        fetch_eventually(&agent, &format!("http://{name}:8080/healthz")).await;
        agent.remove().await;

        // Stopped and started again: as many as before.
        rt.stop(&name).await.expect("stop");
        assert_eq!(running_tasks(&name).await, 0);
        rt.start(&name).await.expect("start");
        wait_tasks(&name, 3).await;

        // An upgrade keeps the count it is given.
        let mut two = copies.clone();
        two.version = "0.2.0".into();
        two.replicas = 2;
        rt.replace(&two).await.expect("updated");
        wait_tasks(&name, 2).await;

        // A plugin with a data volume is refused several, before anything is made.
        let mut stateful = spec(&format!("{plugin}-data"), &hello_image().await);
        stateful.replicas = 2;
        let err = rt.create_and_start(&stateful).await.expect_err("refused");
        assert!(err.to_string().contains("no local state"), "{err}");

        rt.remove(&name).await.expect("remove");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_refused_starts_leave_no_service_and_no_secret() {
    let crashing = unique_plugin();
    let missing = unique_plugin();
    on_swarm(&[&crashing, &missing], async {
        let rt = swarm_runtime();
        // An API URL the plugin refuses: it exits at once, every time. Like a container, the
        // service counts as started once its task ran; what follows is reported as it is.
        let mut spec = spec(&crashing, &hello_image().await);
        spec.data = Filesystem::None;
        spec.env.insert("NANO_API_URL".into(), "not a url".into());
        let name = names::container_name(&crashing);
        if let Err(err) = rt.create_and_start(&spec).await {
            assert!(matches!(err, RuntimeError::Engine { .. }), "{err:?}");
        } else {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let state = rt.inspect(&name).await.expect("inspect").expect("exists");
                if !state.running && state.exit_code.is_some_and(|c| c != 0) {
                    break;
                }
                assert!(Instant::now() < deadline, "never seen crashed: {state:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            rt.remove(&name).await.expect("remove");
        }
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
        assert!(secrets_of(&crashing).await.is_empty());

        let spec = spec_without_image(&missing);
        let err = rt.create_and_start(&spec).await.expect_err("no image");
        assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err:?}");
        assert_eq!(
            rt.inspect(&names::container_name(&missing))
                .await
                .expect("inspect"),
            None
        );
        assert!(secrets_of(&missing).await.is_empty());

        // Loopback publishing is a single-engine feature, refused with why.
        let mut published = spec_without_image(&missing);
        published.publish_loopback = true;
        let err = rt.create_and_start(&published).await.expect_err("refused");
        assert!(err.to_string().contains("overlay"), "{err}");
    })
    .await;
}

fn spec_without_image(plugin: &str) -> ContainerSpec {
    spec(plugin, "nanofleet-test/absent:never")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_removed_by_hand_is_reported() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = swarm_runtime();
        let mut spec = spec(&plugin, &hello_image().await);
        spec.data = Filesystem::None;
        let name = names::container_name(&plugin);
        rt.create_and_start(&spec).await.expect("created");
        let listed = rt.list_managed().await.expect("list");
        let mine = listed.iter().find(|s| s.plugin == plugin).expect("listed");
        assert!(mine.running && mine.name == name, "{mine:?}");

        let mut events = rt.events().await.expect("events");
        docker()
            .delete_service(&name)
            .await
            .expect("removed by hand");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let event = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("an event within 30 s")
                .expect("the stream goes on")
                .expect("an event");
            if event.plugin == plugin && event.action == EventAction::Destroy {
                assert_eq!(event.container, name);
                break;
            }
        }
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_the_host_did_not_create_is_left_alone() {
    let plugin = unique_plugin();
    on_swarm(&[], async {
        let rt = swarm_runtime();
        let name = names::container_name(&plugin);
        let image = hello_image().await;
        let foreign = bollard::models::ServiceSpec {
            name: Some(name.clone()),
            task_template: Some(bollard::models::TaskSpec {
                container_spec: Some(bollard::models::TaskSpecContainerSpec {
                    image: Some(image),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mode: Some(bollard::models::ServiceSpecMode {
                replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(0) }),
                ..Default::default()
            }),
            ..Default::default()
        };
        docker()
            .create_service(foreign, None)
            .await
            .expect("a foreign service");
        let result = async {
            for outcome in [rt.stop(&name).await, rt.remove(&name).await] {
                assert!(
                    matches!(outcome, Err(RuntimeError::Conflict(_))),
                    "{outcome:?}"
                );
            }
            assert!(matches!(
                rt.inspect(&name).await,
                Err(RuntimeError::Conflict(_))
            ));
            let listed = rt.list_managed().await.expect("list");
            assert!(listed.iter().all(|s| s.name != name), "{listed:?}");
        };
        let outcome = AssertUnwindSafe(result).catch_unwind().await;
        docker().delete_service(&name).await.expect("cleanup");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}
