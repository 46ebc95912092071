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
    token: String,
    _dir: tempfile::TempDir,
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
        router: api::router(host, Arc::new(auth), messages, api_config),
        token: token.expect("new token"),
        _dir: dir,
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
