//! The plugin UI behind `nf_token`.

mod common;

use std::time::{Duration, SystemTime};

use axum::{Extension, Router, body::Body, routing::get};
use common::send;
use http::{Request, StatusCode};
use nanofleet_sdk::{
    Manifest, Plugin,
    env::PluginEnv,
    identity::{InternalToken, mint_ui_token},
    manifest::Sidebar,
    testing::TestClient,
    ui::{Ui, UiCaller},
};

fn ui_plugin() -> Plugin {
    let manifest = Manifest::new("board", "0.1.0", "nanofleet/board:0.1.0", 8080)
        .with_ui(8081, Sidebar::new("layout", "Board", "/plugins/board/ui"));
    let ui = Router::new().route(
        "/",
        get(|Extension(caller): Extension<UiCaller>| async move {
            match caller {
                UiCaller::Verified(claims) => {
                    format!("hello {}", claims.subject.unwrap_or_default())
                }
                _ => "hello stranger".to_owned(),
            }
        }),
    );
    Plugin::builder(manifest)
        .ui(Ui::router(ui))
        .build()
        .expect("valid")
}

fn ui_router(env: PluginEnv) -> Router {
    let client = TestClient::with_env(&ui_plugin(), env).expect("starts");
    nanofleet_sdk::ui::router(client.running())
        .expect("ui config")
        .expect("has a ui")
}

async fn get_status(router: &Router, uri: &str) -> (StatusCode, String) {
    let (resp, body) = send(router, Request::get(uri).body(Body::empty()).expect("req")).await;
    (resp.status(), body)
}

#[tokio::test]
async fn only_a_fresh_token_for_this_plugin_opens_the_ui() {
    let token = InternalToken::generate();
    let env = PluginEnv {
        internal_token: Some(token.clone()),
        plugin_id: Some("board".into()),
        ..PluginEnv::default()
    };
    let router = ui_router(env);
    let now = SystemTime::now();
    let good = mint_ui_token(&token, "board", Some("admin"), Duration::from_secs(60), now);
    let (status, body) = get_status(&router, &format!("/?nf_token={good}")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello admin"));

    let expired = mint_ui_token(
        &token,
        "board",
        None,
        Duration::from_secs(60),
        now - Duration::from_secs(3600),
    );
    let other_plugin = mint_ui_token(&token, "kanban", None, Duration::from_secs(60), now);
    let other_key = mint_ui_token(
        &InternalToken::generate(),
        "board",
        None,
        Duration::from_secs(60),
        now,
    );
    for uri in [
        "/".to_owned(),
        "/?nf_token=".to_owned(),
        "/?nf_token=3f1c2d4e-0000-4000-8000-000000000001".to_owned(),
        format!("/?nf_token={expired}"),
        format!("/?nf_token={other_plugin}"),
        format!("/?nf_token={other_key}"),
    ] {
        let (status, body) = get_status(&router, &uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        assert!(
            !body.contains(token.expose_secret()),
            "the token leaked: {body}"
        );
    }
}

#[tokio::test]
async fn the_documented_switch_accepts_nanofleets_own_tokens() {
    let env = PluginEnv {
        accept_unverified_ui_token: true,
        ..PluginEnv::default()
    };
    let router = ui_router(env);
    let (status, body) = get_status(&router, "/?nf_token=any-admin-access-token").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello stranger"));
    let (status, _) = get_status(&router, "/").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token is still required"
    );
}

#[test]
fn a_ui_without_a_token_to_check_with_is_a_startup_error() {
    let client = TestClient::new(&ui_plugin()).expect("starts");
    let err = nanofleet_sdk::ui::router(client.running()).expect_err("must refuse");
    assert!(
        err.to_string()
            .contains("NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN"),
        "{err}"
    );
}
