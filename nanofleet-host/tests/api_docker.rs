//! The HTTP API against the real engine: a plugin's whole life through `/api/plugins`, and the
//! UI proxy in front of the real `kanban` example (defect 6 of
//! ../shared/research/nanofleet-host.md). Nothing is skipped; without an engine these tests
//! fail with its error.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use nanofleet_host::runtime::{LogOptions, Runtime as _};
use nanofleet_host::{
    Host, HostConfig,
    api::{self, ApiConfig, BearerToken, StoreMessages},
};
use nanofleet_sdk::manifest::{Manifest, Sidebar};
use nanofleet_test_support::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

struct Api {
    router: Router,
    host: Host,
    token: String,
    dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(dir.path().join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    // The test process is not on the plugin network: reach plugins on published ports.
    config.publish_loopback = true;
    config.instance = nanofleet_host::names::Instance::new(unique("api-test")).expect("instance");
    let host = Host::open(config, Arc::new(runtime().await))
        .await
        .expect("host opens");
    let mut api_config = ApiConfig::new(dir.path().join("host"));
    api_config.max_body_bytes = 4 * 1024;
    let (auth, token) = BearerToken::load_or_create(&api_config.data_dir).expect("token");
    let messages = Arc::new(StoreMessages::new(host.store().clone()));
    Api {
        router: api::router(host.clone(), Arc::new(auth), messages, api_config),
        host,
        token: token.expect("new token"),
        dir,
    }
}

struct Reply {
    status: StatusCode,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

impl Api {
    fn request(&self, method: Method, uri: &str, auth: bool, body: Option<Value>) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(uri);
        if auth {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        }
        match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request")
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.send(self.request(method, uri, true, body)).await
    }
}

#[tokio::test]
async fn a_plugin_lives_its_whole_life_through_the_api() {
    let rt = runtime().await;
    let name = unique("api-hello");
    with_cleanup(&rt, &[&name], async {
        hello_image().await;
        let api = api().await;
        let manifest = Manifest::new(&name, "0.1.0", HELLO_IMAGE, 8080);
        let body = json!({"manifest": manifest});
        let installed = api
            .call(Method::POST, "/api/plugins", Some(body.clone()))
            .await;
        assert_eq!(installed.status, StatusCode::CREATED, "{}", installed.text);
        let record = installed.json();
        assert_eq!(record["status"], "running");
        assert_eq!(record["tools"][0]["name"], "greet");

        let again = api.call(Method::POST, "/api/plugins", Some(body)).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.json()["code"], "already_installed");

        let list = api.call(Method::GET, "/api/plugins", None).await.json();
        assert!(
            list["plugins"]
                .as_array()
                .expect("list")
                .iter()
                .any(|p| p["name"] == name.as_str())
        );
        let one = api
            .call(Method::GET, &format!("/api/plugins/{name}"), None)
            .await;
        assert_eq!(one.status, StatusCode::OK);

        let restarted = api
            .call(Method::POST, &format!("/api/plugins/{name}/restart"), None)
            .await;
        assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.text);
        assert_eq!(restarted.json()["status"], "running");

        let disabled = api
            .call(Method::POST, &format!("/api/plugins/{name}/disable"), None)
            .await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
        assert_eq!(disabled.json()["desired"], "stopped");
        let enabled = api
            .call(Method::POST, &format!("/api/plugins/{name}/enable"), None)
            .await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
        assert_eq!(enabled.json()["desired"], "running");

        let logs = api
            .send(api.request(
                Method::GET,
                &format!("/api/plugins/{name}/logs?tail=50"),
                true,
                None,
            ))
            .await;
        assert_eq!(logs.status, StatusCode::OK, "{}", logs.text);

        // Following: the first lines arrive while the response is still open.
        let response = api
            .router
            .clone()
            .oneshot(api.request(
                Method::GET,
                &format!("/api/plugins/{name}/logs?tail=50&follow=true"),
                true,
                None,
            ))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|v| v.starts_with("text/plain"))
        );
        let mut stream = response.into_body().into_data_stream();
        let first = tokio::time::timeout(Duration::from_secs(20), stream.next()).await;
        assert!(
            matches!(first, Ok(Some(Ok(_)))),
            "a first chunk while following"
        );
        drop(stream);

        let deleted = api
            .call(
                Method::DELETE,
                &format!("/api/plugins/{name}?purge=true"),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        let gone = api
            .call(Method::GET, &format!("/api/plugins/{name}"), None)
            .await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
    })
    .await;
}

/// Defect 6, against the real kanban UI: the page loads through the proxy only with the host's
/// auth, and kanban accepts the `nf_token` the proxy minted.
#[tokio::test]
async fn defect_6_the_kanban_ui_through_the_proxy() {
    let rt = runtime().await;
    let name = unique("api-kanban");
    with_cleanup(&rt, &[&name], async {
        kanban_image().await;
        let api = api().await;
        let manifest = Manifest::new(&name, "0.1.0", KANBAN_IMAGE, 8080).with_ui(
            8081,
            Sidebar::new("kanban", "Kanban", Manifest::default_sidebar_route(&name)),
        );
        let installed = api
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({"manifest": manifest})),
            )
            .await;
        assert_eq!(installed.status, StatusCode::CREATED, "{}", installed.text);

        // Without the host's auth: 401, and nothing of the plugin.
        let anonymous = api
            .send(api.request(
                Method::GET,
                &format!("/api/plugins/{name}/ui/"),
                false,
                None,
            ))
            .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        let forged = api
            .send(api.request(
                Method::GET,
                &format!("/api/plugins/{name}/ui/?nf_token=v1.forged.token"),
                false,
                None,
            ))
            .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

        // The dashboard's way: a UI session, then the iframe URL without any header.
        let session = api
            .call(
                Method::POST,
                &format!("/api/plugins/{name}/ui-session"),
                None,
            )
            .await;
        assert_eq!(session.status, StatusCode::OK, "{}", session.text);
        let session = session.json();
        let url = session["url"].as_str().expect("url");
        let page = api.send(api.request(Method::GET, url, false, None)).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "kanban accepted the minted nf_token: {}",
            page.text
        );
        assert!(
            page.text.contains("<html") || page.text.contains("<!doctype"),
            "{}",
            page.text
        );
        let token = session["token"].as_str().expect("token");
        let tasks = api
            .send(api.request(
                Method::GET,
                &format!("/api/plugins/{name}/ui/api/tasks?nf_token={token}"),
                false,
                None,
            ))
            .await;
        assert_eq!(tasks.status, StatusCode::OK, "{}", tasks.text);
        let _: Value = tasks.json();

        // A body 16x over the API's JSON limit is streamed to the plugin, not refused by the
        // host: whatever kanban answers, it is kanban's answer, not the host's 413.
        let big = json!({"column": "done", "padding": "x".repeat(64 * 1024)});
        let streamed = api
            .call(
                Method::POST,
                &format!("/api/plugins/{name}/ui/api/tasks/no-such-task/move"),
                Some(big),
            )
            .await;
        assert!(
            !streamed.text.contains("body_too_large"),
            "{}",
            streamed.text
        );
        assert_ne!(
            streamed.status,
            StatusCode::BAD_GATEWAY,
            "{}",
            streamed.text
        );

        // Down: 502 with a JSON body.
        let disabled = api
            .call(Method::POST, &format!("/api/plugins/{name}/disable"), None)
            .await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
        let down = api
            .call(Method::GET, &format!("/api/plugins/{name}/ui/"), None)
            .await;
        assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{}", down.text);
        assert_eq!(down.json()["code"], "plugin_unavailable");

        let deleted = api
            .call(
                Method::DELETE,
                &format!("/api/plugins/{name}?purge=true"),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    })
    .await;
}

/// The probe's manifest, with the settings `tests/probe` declares (`ProbeConfig`): were they
/// to drift apart, the plugin would refuse to start and this test would say so.
fn probe_manifest(name: &str) -> Value {
    json!({
        "name": name,
        "version": "0.1.0",
        "image": PROBE_IMAGE,
        "mcpPort": 8080,
        "config": {
            "greeting": {"type": "string", "title": "Greeting", "required": true},
            "secret": {"type": "string", "required": true, "sensitive": true},
            "repeat": {"type": "integer", "default": 1, "min": 1, "max": 5}
        }
    })
}

/// The text of a tool's answer, called as an agent would.
async fn probe_says(api: &Api, plugin: &str, tool: &str, args: Value) -> String {
    let result = api
        .host
        .call(
            plugin,
            "config-agent",
            tool,
            args.as_object().cloned().unwrap_or_default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    nanofleet_sdk::testing::result_text(&result)
}

async fn container_id(
    rt: &nanofleet_host::runtime::DockerRuntime,
    api: &Api,
    plugin: &str,
) -> String {
    rt.docker()
        .inspect_container(
            &api.host.config().instance.container_name(plugin),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("inspect")
        .id
        .expect("id")
}

/// Typed settings end to end: an install without the required values is refused naming each,
/// values are checked and delivered, a sensitive one never comes back out (API, listings,
/// logs, the store file), and a change recreates the plugin with the new values.
#[tokio::test]
async fn typed_settings_are_checked_delivered_hidden_and_applied() {
    let rt = runtime().await;
    let name = unique("api-config");
    with_cleanup(&rt, &[&name], async {
        probe_image().await;
        let api = api().await;
        let secret = format!("s3cret-{:016x}", rand::random::<u64>());

        let refused = api
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({"manifest": probe_manifest(&name)})),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        let body = refused.json();
        assert_eq!(body["code"], "missing_config", "{body}");
        assert_eq!(body["missing"], json!(["greeting", "secret"]), "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("greeting, secret"), "{message}");
        let absent = api
            .call(Method::GET, &format!("/api/plugins/{name}"), None)
            .await;
        assert_eq!(
            absent.status,
            StatusCode::NOT_FOUND,
            "a refused install leaves no record"
        );

        let invalid = api
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({
                    "manifest": probe_manifest(&name),
                    "config": {"greeting": "hi", "secret": secret, "repeat": "9", "greting": "x"}
                })),
            )
            .await;
        assert_eq!(
            invalid.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            invalid.text
        );
        let body = invalid.json();
        assert_eq!(body["code"], "invalid_config", "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("`repeat`: it is above the maximum 5"),
            "{message}"
        );
        assert!(
            message
                .contains("`greting` is not a setting of this plugin (did you mean `greeting`?)"),
            "{message}"
        );
        assert!(!message.contains(&secret), "{message}");

        // Typed values, or their text form for a setting that is not a string.
        let installed = api
            .call(
                Method::POST,
                "/api/plugins",
                Some(json!({
                    "manifest": probe_manifest(&name),
                    "config": {"greeting": "hello", "secret": secret, "repeat": "2"}
                })),
            )
            .await;
        assert_eq!(installed.status, StatusCode::CREATED, "{}", installed.text);
        assert_eq!(
            probe_says(&api, &name, "show_config", json!({})).await,
            "hello hello"
        );
        let guess = probe_says(&api, &name, "check_secret", json!({"guess": secret})).await;
        assert_eq!(guess, "true");

        let listed = api
            .call(Method::GET, &format!("/api/plugins/{name}/config"), None)
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        let settings = listed.json()["settings"].clone();
        assert_eq!(
            settings,
            json!([
                {"key": "greeting", "type": "string", "title": "Greeting", "required": true,
                 "sensitive": false, "source": "set", "value": "hello"},
                {"key": "repeat", "type": "integer", "required": false, "sensitive": false,
                 "source": "set", "value": 2, "default": 1},
                {"key": "secret", "type": "string", "required": true, "sensitive": true,
                 "source": "set"}
            ])
        );
        let container = api.host.config().instance.container_name(&name);
        let mut seen = vec![
            installed.text.clone(),
            listed.text.clone(),
            api.call(Method::GET, "/api/plugins", None).await.text,
            api.call(Method::GET, &format!("/api/plugins/{name}"), None)
                .await
                .text,
            api.call(
                Method::GET,
                &format!("/api/plugins/{name}/logs?tail=200"),
                None,
            )
            .await
            .text,
            rt.logs(&container, LogOptions::tail(200))
                .await
                .expect("logs")
                .join("\n"),
        ];
        // The store keeps it sealed: not in the database file or its write-ahead log.
        for entry in std::fs::read_dir(api.dir.path().join("host"))
            .expect("data dir")
            .flatten()
        {
            if entry.path().is_file() {
                seen.push(
                    String::from_utf8_lossy(&std::fs::read(entry.path()).expect("read"))
                        .into_owned(),
                );
            }
        }
        for text in &seen {
            assert!(
                !text.contains(&secret),
                "the secret leaked: {}",
                &text[..text.len().min(300)]
            );
        }

        // A change recreates the plugin with the new values; `null` brings the default back.
        let before = container_id(&rt, &api, &name).await;
        let changed = api
            .call(
                Method::PATCH,
                &format!("/api/plugins/{name}/config"),
                Some(json!({"values": {"greeting": "bonjour", "repeat": null}})),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.json()["settings"][1]["source"], "default");
        assert_ne!(container_id(&rt, &api, &name).await, before, "recreated");
        assert_eq!(
            probe_says(&api, &name, "show_config", json!({})).await,
            "bonjour"
        );

        // Refused changes change nothing: a required value removed, a value of the wrong type.
        let running = container_id(&rt, &api, &name).await;
        for (patch, code) in [
            (json!({"secret": null}), "missing_config"),
            (
                json!({"repeat": "many", "greeting": "ciao"}),
                "invalid_config",
            ),
            (json!({"nope": 1}), "invalid_config"),
        ] {
            let refused = api
                .call(
                    Method::PATCH,
                    &format!("/api/plugins/{name}/config"),
                    Some(json!({"values": patch})),
                )
                .await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                refused.text
            );
            assert_eq!(refused.json()["code"], code, "{}", refused.text);
        }
        assert_eq!(container_id(&rt, &api, &name).await, running, "untouched");
        assert_eq!(
            probe_says(&api, &name, "show_config", json!({})).await,
            "bonjour"
        );
        let guess = probe_says(&api, &name, "check_secret", json!({"guess": secret})).await;
        assert_eq!(guess, "true");
    })
    .await;
}
