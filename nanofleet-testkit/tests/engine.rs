//! The harness on the real engine: the `notes` example image (built here, as the e2e test
//! builds it), started hardened, called as two agents and as impostors, inspected, stopped and
//! dropped; and the ways a start must fail before anything is created.
//!
//! One binary, five short container starts: the main one, a second one dropped on a
//! current-thread runtime, and three that never get ready (one that listens elsewhere, one that
//! exits, one abandoned by its caller).

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::FutureExt as _;
use nanofleet_build::{
    CargoBuild, CargoOutput, ImageBuild, PluginBuild, Profile, build_image, build_plugin,
    build_static,
};
use nanofleet_host::runtime::{DockerRuntime, Runtime};
use nanofleet_sdk::{
    Manifest,
    contracts::{labels, names},
};
use nanofleet_testkit::{
    Error, Limits, MANAGED_BY_VALUE, PLUGIN_USER, PluginContainer, TMPFS_OPTIONS,
    testcontainers::bollard::{
        Docker,
        query_parameters::{
            InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
            ListVolumesOptionsBuilder, RemoveImageOptionsBuilder, TopOptions,
        },
    },
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OnceCell;

/// The `notes` example as `cargo xtask image` and the e2e test build it (same profile, so
/// the builds share their output).
fn notes_build() -> CargoBuild {
    CargoBuild::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .package("notes")
        .bin("notes")
        .profile(Profile::Image)
        .output(CargoOutput::Capture)
}

/// Images built by the failure test, removed at its end.
const KEYS_IMAGE: &str = "nanofleet-testkit-test/notes-keys:0.1.0";
const BARE_IMAGE: &str = "nanofleet-testkit-test/bare:0.1.0";
const BROKEN_IMAGE: &str = "nanofleet-testkit-test/broken:0.1.0";

async fn engine() -> Arc<DockerRuntime> {
    let rt = DockerRuntime::connect().unwrap_or_else(|e| panic!("{e}"));
    rt.ping().await.unwrap_or_else(|e| panic!("{e}"));
    Arc::new(rt)
}

/// The `notes` image, built once for the whole binary (cached by binary digest).
async fn notes_image() -> &'static str {
    static TAG: OnceCell<String> = OnceCell::const_new();
    TAG.get_or_init(|| async {
        let started = Instant::now();
        let image = build_plugin(&*engine().await, &PluginBuild::new(notes_build()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "[testkit] image {} ready after {:.1?}",
            image.tag,
            started.elapsed()
        );
        image.tag
    })
    .await
}

/// Names of the containers, volumes and networks that carry our label and `label`.
async fn leftovers(docker: &Docker, label: &str) -> Vec<String> {
    let ours = format!("{}={MANAGED_BY_VALUE}", labels::MANAGED_BY);
    let filters = HashMap::from([("label", vec![ours.as_str(), label])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .expect("list containers");
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .expect("list volumes")
        .volumes
        .unwrap_or_default();
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .expect("list networks");
    let mut left: Vec<String> = containers
        .into_iter()
        .map(|c| format!("container {:?}", c.names.unwrap_or_default()))
        .collect();
    left.extend(volumes.into_iter().map(|v| format!("volume {}", v.name)));
    left.extend(
        networks
            .into_iter()
            .map(|n| format!("network {}", n.name.unwrap_or_default())),
    );
    left
}

/// What `add_note` returns.
#[derive(Debug, Deserialize)]
struct Added {
    id: u64,
    count: u64,
}

/// What `list_notes` returns.
#[derive(Debug, Deserialize)]
struct NoteList {
    notes: Vec<Note>,
}

#[derive(Debug, Deserialize)]
struct Note {
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_runs_as_the_host_runs_it_and_leaves_nothing_behind() {
    let image = notes_image().await;
    let started = Instant::now();
    let plugin = PluginContainer::builder(image)
        .env("RUST_LOG", "info")
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("[testkit] notes ready in {:.1?}", started.elapsed());
    assert_eq!(plugin.plugin_id(), "notes");
    assert_eq!(plugin.manifest().mcp_port, 8080);

    // Two agents, each with its own notes.
    let alice = plugin.client_as("alice").await.expect("alice connects");
    let bob = plugin.client_as("bob").await.expect("bob connects");
    let tools: Vec<String> = alice
        .list_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    for tool in ["add_note", "list_notes", "delete_note"] {
        assert!(tools.iter().any(|t| t == tool), "{tool} in {tools:?}");
    }
    let added: Added = alice
        .call_as("add_note", json!({"text": "alice's secret"}))
        .await
        .expect("alice adds");
    assert_eq!(added.count, 1);
    // Ids are per agent: bob, who has no note yet, cannot reach alice's by its id.
    let deleted = bob
        .call_json("delete_note", json!({"id": added.id}))
        .await
        .expect("bob deletes");
    assert_eq!(deleted["deleted"], false, "bob cannot delete alice's note");
    let out = bob
        .call_json("add_note", json!({"text": "bob's note"}))
        .await
        .expect("bob adds");
    assert_eq!(out["count"], 1, "bob's count ignores alice's note: {out}");
    let listed: NoteList = alice
        .call_as("list_notes", json!({}))
        .await
        .expect("alice lists");
    let texts: Vec<&str> = listed.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["alice's secret"]);
    let bob_text = bob
        .call_text("list_notes", json!({}))
        .await
        .expect("bob lists");
    assert!(
        bob_text.contains("bob's note") && !bob_text.contains("alice's secret"),
        "{bob_text}"
    );

    // Failures come back as errors that say what happened.
    let err = alice
        .call_json("add_note", json!({"text": "x".repeat(70 * 1024)}))
        .await
        .expect_err("a note over 64 KiB is a tool error");
    assert!(
        matches!(&err, Error::ToolFailed { tool, message } if tool == "add_note" && message.contains("at most")),
        "{err}"
    );
    let err = alice
        .call_as::<Vec<String>>("list_notes", json!({}))
        .await
        .expect_err("an object is not a list");
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    let err = alice
        .call("no_such_tool", json!({}))
        .await
        .expect_err("unknown tool");
    assert!(
        matches!(err, Error::Request { .. }) && err.to_string().contains("no_such_tool"),
        "{err}"
    );
    // Each note is a resource of its agent's; one the agent does not have is an MCP error.
    let note = alice
        .read_resource("notes://1")
        .await
        .expect("alice's note 1");
    assert_eq!(
        serde_json::to_value(&note.contents[0]).expect("json")["text"],
        "alice's secret"
    );
    let err = alice
        .read_resource("notes://999")
        .await
        .expect_err("alice has no note 999");
    assert!(matches!(err, Error::Request { .. }), "{err}");
    let err = alice
        .call("list_notes", json!(["not", "an", "object"]))
        .await
        .expect_err("arguments are an object");
    assert!(matches!(err, Error::InvalidOption(_)), "{err}");

    // Impostors are refused before any tool runs; an anonymous client can list but not write.
    let err = plugin
        .client_unsigned("alice")
        .await
        .expect_err("an unsigned agent id is refused");
    assert!(
        err.is_refused() && err.to_string().contains("agent_signature_required"),
        "{err}"
    );
    let err = plugin
        .client_forged("alice")
        .await
        .expect_err("a forged signature is refused");
    assert!(
        err.is_refused() && err.to_string().contains("agent_signature_invalid"),
        "{err}"
    );
    let anonymous = plugin.client_anonymous().await.expect("anonymous connects");
    assert!(!anonymous.list_tools().await.expect("tools/list").is_empty());
    let err = anonymous
        .call_json("add_note", json!({"text": "whose?"}))
        .await
        .expect_err("no agent, no store");
    assert!(!err.is_refused(), "{err}");

    let url = plugin.mcp_url("alice");
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:{}/mcp?agent_id=alice&agent_sig=v1.",
            plugin.mcp_addr().port()
        )),
        "{url}"
    );
    let logs = plugin.logs().await.expect("logs");
    assert!(logs.contains("serving"), "{logs}");

    // The container is what the host would run.
    let docker = plugin.docker();
    let id = plugin.container_id().expect("running");
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let config = info.config.expect("config");
    assert_eq!(config.user.as_deref(), Some(PLUGIN_USER));
    let env: HashMap<String, String> = config
        .env
        .unwrap_or_default()
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    assert_eq!(env["NANO_PLUGIN_ID"], "notes");
    assert_eq!(env["NANO_API_URL"], "http://nanofleet-api:3000");
    assert_eq!(env["NANOFLEET_REQUIRE_AGENT_SIGNATURE"], "1");
    assert_eq!(env["RUST_LOG"], "info");
    let token = &env["NANO_INTERNAL_TOKEN"];
    assert_eq!(token, plugin.internal_token().expose_secret());
    assert!(token.len() >= 43, "256 bits of base64url");
    let container_labels = config.labels.unwrap_or_default();
    assert_eq!(container_labels[labels::MANAGED_BY], MANAGED_BY_VALUE);
    assert_eq!(container_labels[labels::INSTANCE], plugin.instance());
    assert_eq!(container_labels[labels::PLUGIN], "notes");

    let host = info.host_config.expect("host config");
    let limits = Limits::default();
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.cap_add.unwrap_or_default().is_empty());
    assert_eq!(host.privileged, Some(false));
    assert!(
        host.security_opt
            .unwrap_or_default()
            .iter()
            .any(|o| o == "no-new-privileges:true")
    );
    let memory = i64::try_from(limits.memory_bytes).expect("fits");
    assert_eq!(host.memory, Some(memory));
    assert_eq!(host.memory_swap, Some(memory));
    assert_eq!(
        host.nano_cpus,
        Some(i64::try_from(limits.nano_cpus).expect("fits"))
    );
    assert_eq!(
        host.pids_limit,
        Some(i64::try_from(limits.pids).expect("fits"))
    );
    assert_eq!(
        host.tmpfs,
        Some(HashMap::from([(
            "/tmp".to_owned(),
            TMPFS_OPTIONS.to_owned()
        )]))
    );
    let bindings: Vec<_> = host
        .port_bindings
        .unwrap_or_default()
        .into_values()
        .flatten()
        .flatten()
        .collect();
    assert!(!bindings.is_empty());
    assert!(
        bindings
            .iter()
            .all(|b| b.host_ip.as_deref() == Some("127.0.0.1")),
        "published on loopback only: {bindings:?}"
    );
    let data = info
        .mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some(names::DATA_DIR))
        .expect("a mount at /data");
    assert_eq!(data.name.as_deref(), Some(plugin.volume_name()));
    assert_eq!(data.rw, Some(true));
    let networks: Vec<String> = info
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(networks, [plugin.network_name().to_owned()]);
    let network = docker
        .inspect_network(plugin.network_name(), None)
        .await
        .expect("inspect network");
    let options = network.options.unwrap_or_default();
    assert_eq!(
        options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .map(String::as_str),
        Some("false"),
        "no route out"
    );
    let volume = docker
        .inspect_volume(plugin.volume_name())
        .await
        .expect("inspect volume");
    assert_eq!(volume.labels[labels::INSTANCE], plugin.instance());
    // The process itself runs as the plugin user, not root.
    let top = docker
        .top_processes(
            id,
            Some(TopOptions {
                ps_args: "-o pid,uid".into(),
            }),
        )
        .await
        .expect("top");
    let titles = top.titles.unwrap_or_default();
    let uid = titles
        .iter()
        .position(|t| t == "UID")
        .expect("a UID column");
    let processes = top.processes.unwrap_or_default();
    assert!(!processes.is_empty());
    let uid_of_plugin = PLUGIN_USER.split(':').next().expect("uid");
    for process in &processes {
        assert_eq!(process[uid], uid_of_plugin, "{titles:?} {processes:?}");
    }

    // A second container of the same image has its own volume; dropped on a current-thread
    // runtime (what `#[tokio::test]` gives), it takes its objects with it.
    let image_name = image.to_owned();
    let (second, second_volume) = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let other = PluginContainer::start(image_name)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let alice = other.client_as("alice").await.expect("alice connects");
            let notes = alice
                .call_json("list_notes", json!({}))
                .await
                .expect("alice lists");
            assert_eq!(notes["notes"], json!([]), "a fresh volume");
            let names = (other.instance().to_owned(), other.volume_name().to_owned());
            drop(alice);
            drop(other);
            names
        })
    })
    .await
    .expect("the second container's thread");
    assert_ne!(second_volume, plugin.volume_name());
    let second_label = format!("{}={second}", labels::INSTANCE);
    assert_eq!(
        leftovers(docker, &second_label).await,
        Vec::<String>::new(),
        "dropped"
    );

    // Stopped: nothing of it remains.
    let docker = docker.clone();
    let label = format!("{}={}", labels::INSTANCE, plugin.instance());
    assert_eq!(
        leftovers(&docker, &label).await.len(),
        3,
        "container, volume, network"
    );
    drop((alice, bob, anonymous));
    plugin.stop().await.expect("stop");
    assert_eq!(
        leftovers(&docker, &label).await,
        Vec::<String>::new(),
        "stopped"
    );
    eprintln!("[testkit] scenario done in {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_images_and_missing_env_fail_before_anything_is_created() {
    let err = PluginContainer::start("nanofleet-testkit-test/absent:0.0.0")
        .await
        .expect_err("no such image");
    assert!(
        matches!(err, Error::ImageMissing { .. }) && err.to_string().contains("nanofleet build"),
        "{err}"
    );

    // Images of the notes binary under other labels: a manifest needing two env vars (and
    // naming a port the binary does not listen on), no manifest, a broken manifest.
    notes_image().await;
    let binary = tokio::task::spawn_blocking(|| build_static(&notes_build()))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{e}"))
        .path;
    let rt = engine().await;
    let keys = Manifest::new("notes-keys", "0.1.0", KEYS_IMAGE, 9999)
        .with_required_env_vars(["NOTES_API_KEY", "NOTES_REGION"]);
    let ours = (labels::MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned());
    for (tag, manifest) in [
        (KEYS_IMAGE, Some(keys.to_json_pretty())),
        (BARE_IMAGE, None),
        (
            BROKEN_IMAGE,
            Some(r#"{"name": "Not A Name", "mcpPort": 80}"#.to_owned()),
        ),
    ] {
        let mut build = ImageBuild::new(tag, &binary);
        build.labels.insert(ours.0.clone(), ours.1.clone());
        if let Some(manifest) = manifest {
            build
                .labels
                .insert(labels::IMAGE_MANIFEST.to_owned(), manifest);
        }
        build_image(&rt, &build)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let outcome = AssertUnwindSafe(async {
        let err = PluginContainer::start(BARE_IMAGE)
            .await
            .expect_err("no manifest");
        assert!(matches!(err, Error::NoManifest { .. }), "{err}");
        let err = PluginContainer::start(BROKEN_IMAGE)
            .await
            .expect_err("broken manifest");
        assert!(
            matches!(err, Error::InvalidManifest { .. }) && err.to_string().contains("name"),
            "{err}"
        );

        let err = PluginContainer::start(KEYS_IMAGE)
            .await
            .expect_err("two variables missing");
        assert!(
            matches!(&err, Error::MissingEnv { plugin, missing }
                if plugin == "notes-keys" && *missing == ["NOTES_API_KEY", "NOTES_REGION"]),
            "{err}"
        );
        let err = PluginContainer::builder(KEYS_IMAGE)
            .env("NOTES_API_KEY", "k")
            .start()
            .await
            .expect_err("one variable missing");
        assert!(
            matches!(&err, Error::MissingEnv { missing, .. } if *missing == ["NOTES_REGION"]),
            "{err}"
        );
        let keys_label = format!("{}=notes-keys", labels::PLUGIN);
        assert_eq!(
            leftovers(rt.docker(), &keys_label).await,
            Vec::<String>::new(),
            "nothing is created before the env check"
        );

        // With everything given it starts, but the published port 9999 leads nowhere: the port
        // accepts connections, tools/list never answers, and the error quotes the logs.
        let started = Instant::now();
        let err = PluginContainer::builder(KEYS_IMAGE)
            .env("NOTES_API_KEY", "k")
            .env("NOTES_REGION", "eu")
            .startup_timeout(Duration::from_secs(3))
            .start()
            .await
            .expect_err("never ready");
        assert!(started.elapsed() >= Duration::from_secs(3));
        assert!(
            matches!(&err, Error::NotReady { logs, .. } if logs.contains("serving")),
            "{err}"
        );
        assert_eq!(
            leftovers(rt.docker(), &keys_label).await,
            Vec::<String>::new(),
            "a failed start removes what it created"
        );

        // A plugin that exits at once (it cannot parse its listen address) is reported as such,
        // with its own words, and removed.
        let err = PluginContainer::builder(KEYS_IMAGE)
            .env("NOTES_API_KEY", "k")
            .env("NOTES_REGION", "eu")
            .env("NANOFLEET_MCP_ADDR", "not-an-address")
            .start()
            .await
            .expect_err("the plugin exits");
        assert!(
            matches!(&err, Error::Exited { exit_code: Some(1), logs, .. }
                if logs.contains("NANOFLEET_MCP_ADDR")),
            "{err}"
        );
        assert_eq!(
            leftovers(rt.docker(), &keys_label).await,
            Vec::<String>::new(),
            "an exited plugin's objects are removed"
        );

        // A start abandoned half-way (the test's own timeout) removes what it created too.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(1500),
            PluginContainer::builder(KEYS_IMAGE)
                .env("NOTES_API_KEY", "k")
                .env("NOTES_REGION", "eu")
                .start(),
        )
        .await;
        assert!(abandoned.is_err(), "the start never finishes");
        assert_eq!(
            leftovers(rt.docker(), &keys_label).await,
            Vec::<String>::new(),
            "an abandoned start removes what it created"
        );
    })
    .catch_unwind()
    .await;

    for tag in [KEYS_IMAGE, BARE_IMAGE, BROKEN_IMAGE] {
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        if let Err(e) = rt.docker().remove_image(tag, Some(options), None).await {
            eprintln!("[testkit] cannot remove image {tag}: {e}");
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The harness's hardening constants are the host's.
#[test]
fn the_defaults_are_the_hosts() {
    let host = nanofleet_host::runtime::Limits::default();
    let ours = Limits::default();
    assert_eq!(
        (ours.memory_bytes, ours.nano_cpus, ours.pids),
        (
            host.memory_bytes,
            u64::from(host.milli_cpus) * 1_000_000,
            host.pids
        )
    );
    assert_eq!(PLUGIN_USER, nanofleet_host::runtime::DEFAULT_USER);
    assert_eq!(names::DATA_DIR, nanofleet_host::runtime::DATA_DIR);
}
