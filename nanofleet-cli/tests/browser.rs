//! The dashboard and the kanban UI in a real headless Chromium, driven over WebDriver
//! (chromedriver), against a real `nanofleet serve` and engine. Every step leaves a screenshot
//! in `target/browser/` for a person to look at.
//!
//! Chromium and chromedriver come from `NANOFLEET_CHROMIUM` / `NANOFLEET_CHROMEDRIVER`, else
//! from `PATH` (Debian: `apt-get install chromium chromium-driver`, which `.ci/run` does).
//! Without them the test fails saying so: it is not skipped.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{NO_ENGINE, Serve, free_port, nanofleet};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use nanofleet_host::labels;
use nanofleet_sdk::manifest::{Manifest, Sidebar};
use nanofleet_test_support::*;
use serde_json::{Value, json};

/// How long a step may take to show its result.
const STEP: Duration = Duration::from_secs(30);
/// Enter, as WebDriver sends it.
const ENTER: &str = "\u{E007}";

/// Chromium and its driver, or a failure that says what to install.
fn browser_paths() -> (PathBuf, PathBuf) {
    let find = |env: &str, names: &[&str]| {
        if let Some(path) = std::env::var_os(env) {
            return Some(PathBuf::from(path));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    let chromium = find(
        "NANOFLEET_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find("NANOFLEET_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => (chromium, driver),
        _ => panic!(
            "the browser tests need Chromium and chromedriver: install them (Debian: apt-get \
             install chromium chromium-driver) or point NANOFLEET_CHROMIUM and \
             NANOFLEET_CHROMEDRIVER at them"
        ),
    }
}

/// A headless Chromium at 1280×800 through its own chromedriver, and the screenshots taken.
struct Browser {
    driver: Child,
    client: Client,
    shots: PathBuf,
    taken: usize,
}

impl Browser {
    async fn start(shots: &str) -> Self {
        let (chromium, chromedriver) = browser_paths();
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < STEP, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    "--force-device-scale-factor=1",
                ],
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        // target/tmp → target/browser/<test>
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target directory")
            .join("browser")
            .join(shots);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("the screenshot directory");
        Self {
            driver,
            client,
            shots,
            taken: 0,
        }
    }

    /// Saves what the browser shows as `NN-name.png`.
    async fn shot(&mut self, name: &str) -> PathBuf {
        self.taken += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` within {STEP:?}: {e}"))
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    async fn text_until(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && ok(&text)
            {
                return text;
            }
            if started.elapsed() > STEP * 3 {
                let last = match self.client.find(Locator::Css(css)).await {
                    Ok(element) => element.text().await.unwrap_or_default(),
                    Err(_) => "(absent)".to_owned(),
                };
                let alert = self.alert().await;
                panic!("`{css}` never showed what was expected; it shows {last:?}{alert}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The dashboard's error box, when shown, for failure messages.
    async fn alert(&self) -> String {
        let shown = self
            .client
            .execute(
                "const a = document.getElementById('alert'); \
                 return a && !a.hidden ? a.textContent : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if shown.is_empty() {
            String::new()
        } else {
            format!("; the dashboard says: {shown}")
        }
    }

    /// Clicks `css`; found again if the page redrew it in between (data changed).
    async fn click(&self, css: &str) {
        let mut attempts = 0;
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if attempts < 3 && e.to_string().contains("stale element") => {
                    attempts += 1;
                }
                Err(e) => panic!("cannot click `{css}`: {e}"),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `nanofleet call --url URL TOOL --args ARGS --json`, as an agent would call (the URL from
/// its client config, signed for it).
async fn call(url: &str, tool: &str, args: Value) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = nanofleet(
        &dir.path().join("data"),
        "browser-call",
        &[
            "call",
            "--url",
            url,
            tool,
            "--args",
            &args.to_string(),
            "--json",
        ],
    );
    command.env("DOCKER_HOST", NO_ENGINE);
    let output = tokio::task::spawn_blocking(move || command.output().expect("nanofleet runs"))
        .await
        .expect("join");
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a CallToolResult")
}

/// A page on another origin that frames whatever URL it is given.
async fn foreign_origin() -> SocketAddr {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!doctype html><title>Another application</title>\
                 <h1>Another application</h1>\
                 <iframe id=\"embed\" title=\"embedded\" width=\"900\" height=\"500\"></iframe>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A fresh UI session URL for `plugin`, from the API.
async fn ui_session(serve: &Serve, token: &str, plugin: &str) -> String {
    let session: Value = nanofleet_sdk::http::client()
        .expect("client")
        .post(format!("{}/api/plugins/{plugin}/ui-session", serve.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers")
        .error_for_status()
        .expect("a session")
        .json()
        .await
        .expect("JSON");
    format!("{}{}", serve.url(), session["url"].as_str().expect("a url"))
}

/// Whether the frame `#embed`, loading `page`, comes to show the kanban board (its new-task
/// form) within `within`: a refused frame shows the browser's error page instead. The page is
/// loaded again at each look, in case the plugin was not answering yet.
async fn embedded_board_shows(browser: &Browser, page: &str, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        browser
            .script(
                "document.getElementById('embed').src = arguments[0];",
                vec![json!(page)],
            )
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let frame = browser.find("#embed").await;
        frame.enter_frame().await.expect("enter the frame");
        let shows = browser
            .script(
                "return document.getElementById('new-task') !== null;",
                vec![],
            )
            .await;
        browser
            .client
            .enter_parent_frame()
            .await
            .expect("back to the page");
        if shows == Value::Bool(true) {
            return true;
        }
        if started.elapsed() > within {
            return false;
        }
    }
}

/// The agent's MCP URL for `plugin`, from the `.mcp.json` the host wrote.
fn mcp_url(workspace: &Path, plugin: &str) -> Option<String> {
    let text = std::fs::read_to_string(workspace.join(".mcp.json")).ok()?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    doc["mcpServers"][plugin]["url"].as_str().map(str::to_owned)
}

/// The kanban binary as `image`, labelled with a manifest naming it `board`, as `nanofleet
/// build` labels images.
async fn labelled_kanban(rt: &nanofleet_host::runtime::DockerRuntime, board: &str, image: &str) {
    kanban_image().await;
    let binary = tokio::task::spawn_blocking(|| cargo_build_static("kanban"))
        .await
        .expect("join")
        .expect("kanban builds");
    let manifest = Manifest::new(board, "0.1.0", image, 8080)
        .with_description("A task board, for the browser tests")
        .with_ui(
            8081,
            Sidebar::new("kanban", "Board", Manifest::default_sidebar_route(board)),
        );
    let mut build = nanofleet_build::ImageBuild::new(image, binary);
    build.expose = vec![8080, 8081];
    build.labels = BTreeMap::from([
        (labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned()),
        (labels::IMAGE_MANIFEST.to_owned(), manifest.to_json_pretty()),
    ]);
    nanofleet_build::build_image(rt, &build)
        .await
        .expect("image builds");
}

/// `method path` on the host's API with the operator's token; the JSON answer (`null` for
/// none).
async fn api(
    serve: &Serve,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let mut request = nanofleet_sdk::http::client()
        .expect("client")
        .request(method.clone(), format!("{}{path}", serve.url()))
        .bearer_auth(token);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The kanban UI on its own, through the host's proxy as a top-level page: what an agent does
/// through MCP shows on the board, and what the board's user does reaches the agent.
#[tokio::test(flavor = "multi_thread")]
async fn the_kanban_board_works_through_the_proxy() {
    let rt = runtime().await;
    let board = unique_plugin();
    let image = format!("nanofleet-test/kanban-labelled:{board}");
    with_cleanup(&rt, &[&board], async {
        labelled_kanban(&rt, &board, &image).await;
        let home = tempfile::tempdir().expect("tempdir");
        let instance = format!("browser-{:08x}", rand::random::<u32>());
        let mut serve = Serve::start_with(&home.path().join("data"), &instance, &["--dev"]);
        serve.wait_healthy().await;
        let token = serve.token().expect("the token");
        use reqwest::Method;
        api(
            &serve,
            &token,
            Method::POST,
            "/api/plugins",
            json!({ "image": image }),
        )
        .await;
        let workspace = home.path().join("agents/bob");
        std::fs::create_dir_all(&workspace).expect("workspace");
        api(
            &serve,
            &token,
            Method::POST,
            "/api/agents",
            json!({ "id": "bob", "name": "Bob", "workspaceDir": workspace }),
        )
        .await;
        api(
            &serve,
            &token,
            Method::PUT,
            &format!("/api/agents/bob/links/{board}"),
            Value::Null,
        )
        .await;
        let agent_url = mcp_url(&workspace, &board).expect("bob's .mcp.json names the board");
        call(
            &agent_url,
            "create_task",
            json!({"title": "Written through MCP"}),
        )
        .await;

        let mut browser = Browser::start("kanban").await;
        // Without a UI session: the host's 401, in its words.
        browser
            .client
            .goto(&format!("{}/api/plugins/{board}/ui/", serve.url()))
            .await
            .expect("the proxy answers");
        browser
            .text_until("body", |t| t.contains("unauthorized"))
            .await;
        browser.shot("no-session").await;

        let page = ui_session(&serve, &token, &board).await;
        browser.client.goto(&page).await.expect("the board");
        let task = "section[data-column=\"todo\"] article";
        browser
            .text_until(task, |t| t.contains("Written through MCP"))
            .await;
        browser
            .text_until("#status", |t| t.starts_with("Signed in as"))
            .await;
        browser.shot("task-from-mcp").await;

        // Moved on the board, moved for the agent.
        browser
            .click(&format!("{task} button[title=\"Move to doing\"]"))
            .await;
        browser
            .text_until("section[data-column=\"doing\"]", |t| {
                t.contains("Written through MCP")
            })
            .await;
        browser.shot("moved-on-the-board").await;
        let doing = call(&agent_url, "list_tasks", json!({"column": "doing"})).await;
        assert_eq!(
            doing["structuredContent"]["tasks"][0]["title"], "Written through MCP",
            "{doing}"
        );
        let status = serve.terminate().await;
        assert_eq!(status.code(), Some(0), "{}", serve.stderr());
    })
    .await;
    remove_image(&rt, &image).await;
}

/// Removes a test's labelled image.
async fn remove_image(rt: &nanofleet_host::runtime::DockerRuntime, image: &str) {
    let _ = rt
        .docker()
        .remove_image(
            image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_runs_the_fleet_in_a_browser() {
    let rt = runtime().await;
    let board = unique_plugin();
    let image = format!("nanofleet-test/kanban-labelled:{board}");
    with_cleanup(&rt, &[&board], async {
        labelled_kanban(&rt, &board, &image).await;

        let home = tempfile::tempdir().expect("tempdir");
        let data_dir = home.path().join("data");
        let instance = format!("browser-{:08x}", rand::random::<u32>());
        // Development mode: agents' URLs are loopback ones this test can call as the agent.
        let mut serve = Serve::start_with(&data_dir, &instance, &["--dev"]);
        serve.wait_healthy().await;
        let token = serve
            .token()
            .expect("the token is printed on the first start");

        let mut browser = Browser::start("dashboard").await;
        browser
            .client
            .goto(&format!("{}/", serve.url()))
            .await
            .expect("the dashboard loads");
        browser.find("#signin-token").await;
        browser.shot("sign-in").await;

        // A wrong token is refused in the API's words, and nothing else shows.
        browser
            .type_into("#signin-token", "not-the-token-0123456789")
            .await;
        browser.click("#signin-form button[type=submit]").await;
        let refused = browser.text_until("#signin-error", |t| !t.is_empty()).await;
        // The API's own words.
        assert!(
            refused.contains("the bearer token is not valid"),
            "{refused}"
        );
        let app_hidden = browser
            .script("return document.getElementById('app').hidden;", vec![])
            .await;
        assert_eq!(app_hidden, Value::Bool(true));
        browser.shot("wrong-token").await;

        // Keyboard only: the token field has the focus; typing and Enter sign in.
        let focused = browser.client.active_element().await.expect("focus");
        focused
            .send_keys(&format!("{token}{ENTER}"))
            .await
            .expect("type the token");
        browser.text_until("#main h2", |t| t == "Plugins").await;
        let kept = browser
            .script("return sessionStorage.getItem('nanofleet.token');", vec![])
            .await;
        assert_eq!(kept, Value::String(token.clone()), "kept in sessionStorage");
        let url = browser.client.current_url().await.expect("url");
        assert!(!url.as_str().contains(&token), "never in a URL: {url}");
        browser.shot("signed-in").await;

        // Install from the image, as docker users name it.
        browser.type_into("#install-source", &image).await;
        browser.click("form.inline-form button[type=submit]").await;
        let row = format!("tr[data-plugin=\"{board}\"]");
        browser.text_until(&row, |t| t.contains("running")).await;
        browser.shot("installed").await;

        // Its tools, with their schemas.
        browser.click(&format!("{row} a")).await;
        browser.find(".tool[data-tool=\"create_task\"]").await;
        let detail = browser
            .text_until("#plugin-detail", |t| t.contains("list_tasks"))
            .await;
        assert!(detail.contains("read-only"), "annotations shown: {detail}");
        browser.shot("tools").await;

        // Register an agent, link it, and see the client config the host wrote.
        let workspace = home.path().join("agents/alice");
        std::fs::create_dir_all(&workspace).expect("workspace");
        browser
            .client
            .goto(&format!("{}/#/agents", serve.url()))
            .await
            .expect("agents");
        browser.type_into("#agent-id", "alice").await;
        browser
            .type_into("#agent-workspace", workspace.to_str().expect("utf-8"))
            .await;
        browser.click("#main form button[type=submit]").await;
        let link = format!("input[data-agent=\"alice\"][data-plugin=\"{board}\"]");
        browser.click(&link).await;
        let started = Instant::now();
        let agent_url = loop {
            if let Some(url) = mcp_url(&workspace, &board) {
                break url;
            }
            assert!(started.elapsed() < STEP, "the link never reached .mcp.json");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        browser.click("article[data-agent=\"alice\"] summary").await;
        let config = browser
            .text_until("article[data-agent=\"alice\"] pre.client-config", |t| {
                t.contains(&board)
            })
            .await;
        assert!(
            config.contains("mcpServers") && config.contains(&agent_url),
            "{config}"
        );
        browser.shot("agent-linked").await;

        // The board in the sidebar: a sandboxed frame on a fresh UI session. A task created
        // in it is the agent's through MCP.
        browser
            .click(&format!("#sidebar a[href=\"#/ui/{board}\"]"))
            .await;
        let frame = browser.find("#plugin-ui").await;
        let sandbox = frame
            .attr("sandbox")
            .await
            .expect("attr")
            .unwrap_or_default();
        assert!(
            sandbox.contains("allow-scripts") && !sandbox.contains("allow-same-origin"),
            "{sandbox}"
        );
        let started = Instant::now();
        while browser
            .script("return document.getElementById('plugin-ui').src;", vec![])
            .await
            .as_str()
            .is_none_or(str::is_empty)
        {
            assert!(started.elapsed() < STEP, "the frame never got a session");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        frame.enter_frame().await.expect("into the board");
        browser
            .type_into("#new-title", "Written in the browser")
            .await;
        browser.type_into("#new-assignee", "alice").await;
        browser.click("#new-task button[type=submit]").await;
        browser
            .text_until("section[data-column=\"todo\"]", |t| {
                t.contains("Written in the browser")
            })
            .await;
        browser.client.enter_parent_frame().await.expect("back");
        browser.shot("board-in-the-dashboard").await;
        let listed = call(&agent_url, "list_tasks", json!({})).await;
        let titles: Vec<&str> = listed["structuredContent"]["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["title"].as_str())
            .collect();
        assert!(titles.contains(&"Written in the browser"), "{listed}");

        // Framed by a page on another origin: refused...
        let foreign = foreign_origin().await;
        browser
            .client
            .goto(&format!("http://{foreign}/"))
            .await
            .expect("the other page");
        let page = ui_session(&serve, &token, &board).await;
        assert!(
            !embedded_board_shows(&browser, &page, Duration::from_secs(5)).await,
            "another origin framed the board"
        );
        browser.shot("other-origin-refused").await;

        // ...until the operator names that origin.
        let status = serve.terminate().await;
        assert_eq!(status.code(), Some(0), "{}", serve.stderr());
        let origin = format!("http://{foreign}");
        let mut serve = Serve::start_on(
            &data_dir,
            &instance,
            serve.port,
            &["--dev", "--frame-ancestor", &origin],
        );
        serve.wait_healthy().await;
        let dashboard = nanofleet_sdk::http::client()
            .expect("client")
            .get(format!("{}/", serve.url()))
            .send()
            .await
            .expect("the dashboard answers");
        let csp = dashboard.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            csp.contains(&format!("frame-ancestors 'self' {origin}")),
            "{csp}"
        );
        assert!(dashboard.headers().get("x-frame-options").is_none());
        let page = ui_session(&serve, &token, &board).await;
        browser
            .client
            .goto(&format!("http://{foreign}/"))
            .await
            .expect("the other page");
        assert!(
            embedded_board_shows(&browser, &page, STEP).await,
            "the named origin may frame the board"
        );
        browser.shot("other-origin-allowed").await;

        // API keys: set, listed by name, never shown.
        browser
            .client
            .goto(&format!("{}/#/keys", serve.url()))
            .await
            .expect("keys");
        browser.type_into("#key-name", "BROWSER_TEST_KEY").await;
        browser
            .type_into("#key-value", "s3cret-from-the-browser")
            .await;
        browser.click("#main form button[type=submit]").await;
        browser
            .text_until("tr[data-key=\"BROWSER_TEST_KEY\"]", |t| t.contains("yes"))
            .await;
        let body = browser
            .script("return document.body.innerText;", vec![])
            .await;
        assert!(
            !body.to_string().contains("s3cret"),
            "a key's value is shown"
        );
        browser.shot("api-keys").await;

        // A phone's width: everything still fits across.
        browser
            .client
            .goto(&format!("{}/#/plugins", serve.url()))
            .await
            .expect("plugins");
        browser.text_until(&row, |t| t.contains("running")).await;
        browser
            .client
            .set_window_size(390, 844)
            .await
            .expect("resize");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = browser
            .script(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await;
        assert!(
            overflow.as_i64().is_some_and(|px| px <= 0),
            "the page is wider than a phone by {overflow} px"
        );
        browser.shot("phone").await;
        browser
            .client
            .set_window_size(1280, 800)
            .await
            .expect("resize");

        // Uninstall, confirmed in the dialog, data volume included.
        browser.click(&format!("{row} button.danger")).await;
        browser.find("#confirm[open]").await;
        browser.click("#confirm-check").await;
        browser.shot("confirm-uninstall").await;
        browser.click("#confirm-ok").await;
        let started = Instant::now();
        while browser.client.find(Locator::Css(&row)).await.is_ok() {
            assert!(started.elapsed() < STEP * 2, "the plugin is still listed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        browser.shot("uninstalled").await;
        assert!(mcp_url(&workspace, &board).is_none(), "uninstall unlinks");

        let status = serve.terminate().await;
        assert_eq!(status.code(), Some(0), "{}", serve.stderr());
    })
    .await;
    remove_image(&rt, &image).await;
}
