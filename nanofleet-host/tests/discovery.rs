//! Discovery: directory trees, URLs and images, every problem reported, nothing aborted.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use nanofleet_host::discovery::{
    Candidate, EXIT_ERRORS, EXIT_OK, ImageManifests, MAX_MANIFEST_BYTES, Source, discover,
    render_text,
};
use nanofleet_host::manifest::Level;
use nanofleet_host::runtime::Offline;
use serde_json::{Value, json};

fn manifest(name: &str) -> Value {
    json!({
        "name": name,
        "version": "0.1.0",
        "description": "A test plugin",
        "image": format!("nanofleet/{name}:0.1.0"),
        "mcpPort": 8080,
    })
}

fn with_ui(name: &str, route: &str) -> Value {
    let mut value = manifest(name);
    value["uiPort"] = json!(8081);
    value["sidebar"] = json!({"icon": "layout", "label": name, "route": route});
    value
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, contents).expect("write");
}

fn write_json(path: &Path, value: &Value) {
    write(path, serde_json::to_string_pretty(value).expect("json"));
}

/// `(level, path)` of each diagnostic.
fn located(candidate: &Candidate) -> Vec<(Level, &str)> {
    candidate
        .diagnostics
        .iter()
        .map(|d| (d.level, d.path.as_str()))
        .collect()
}

fn messages(candidate: &Candidate) -> String {
    candidate.diagnostics.to_string()
}

#[tokio::test]
async fn a_tree_is_searched_and_every_manifest_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_json(&root.join("a/manifest.json"), &manifest("alpha"));
    write_json(&root.join("b/manifest.json"), &manifest("beta"));
    write_json(
        &root.join("c/kanban.nanofleet.json"),
        &with_ui("kanban", "/plugins/kanban/ui"),
    );
    write(
        &root.join("d/manifest.json"),
        "{ \"name\": \"delta\",\n  oops\n}",
    );
    let mut bad = manifest("Bad Name");
    bad["image"] = json!("nanofleet/bad:0.1.0");
    bad["mcpPort"] = json!(80);
    write_json(&root.join("e/manifest.json"), &bad);
    write_json(&root.join("f/manifest.json"), &manifest("alpha"));
    // Never searched: hidden, build output, dependencies; not manifests by name.
    for skipped in [
        ".git/manifest.json",
        "target/manifest.json",
        "node_modules/x/manifest.json",
    ] {
        write(&root.join(skipped), "not even json");
    }
    write(&root.join("a/package.json"), "{}");
    // A link back up the tree is entered once, not forever.
    std::os::unix::fs::symlink(root, root.join("g-loop")).expect("symlink");

    let report = discover(&[Source::Path(root.to_owned())], &Offline::not_configured()).await;
    let sources: Vec<String> = report
        .candidates
        .iter()
        .map(|c| {
            Path::new(&c.source)
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| c.source.clone())
        })
        .collect();
    assert_eq!(
        sources,
        [
            "a/manifest.json",
            "b/manifest.json",
            "c/kanban.nanofleet.json",
            "d/manifest.json",
            "e/manifest.json",
            "f/manifest.json"
        ]
    );
    let [a, b, c, d, e, f] = &report.candidates[..] else {
        panic!("six candidates");
    };
    for valid in [a, b, c] {
        assert!(valid.diagnostics.is_empty(), "{}", messages(valid));
        assert!(valid.manifest.is_some());
    }
    assert_eq!(located(d), [(Level::Error, "")]);
    assert!(
        messages(d).contains("malformed JSON at line 2"),
        "{}",
        messages(d)
    );
    assert!(d.manifest.is_none());
    assert_eq!(
        located(e),
        [(Level::Error, "name"), (Level::Error, "mcpPort")]
    );
    assert_eq!(located(f), [(Level::Error, "name")]);
    assert!(
        messages(f).contains(&format!("also used by {}", a.source)),
        "{}",
        messages(f)
    );

    assert_eq!((report.error_count(), report.warning_count()), (4, 0));
    assert!(report.has_errors());
    assert_eq!(report.exit_code(), EXIT_ERRORS);

    let text = render_text(&report);
    assert!(text.contains(": ok (alpha 0.1.0)\n"), "{text}");
    assert!(text.contains("  error at mcpPort: "), "{text}");
    assert!(text.contains("    hint: "), "{text}");
    assert!(
        text.ends_with("6 manifests checked: 4 errors, 0 warnings\n"),
        "{text}"
    );

    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        (json["errors"].clone(), json["warnings"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(json["candidates"].as_array().map(Vec::len), Some(6));
    assert_eq!(
        json["candidates"][4]["diagnostics"][1]["path"],
        json!("mcpPort")
    );
    assert_eq!(json["candidates"][0]["manifest"]["name"], json!("alpha"));
}

#[tokio::test]
async fn a_clean_set_exits_zero_even_with_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut warned = manifest("notes");
    warned["mountShared"] = json!(true);
    write_json(&dir.path().join("manifest.json"), &warned);
    let report = discover(
        &[Source::Path(dir.path().to_owned())],
        &Offline::not_configured(),
    )
    .await;
    assert_eq!((report.error_count(), report.warning_count()), (0, 1));
    assert_eq!(report.exit_code(), EXIT_OK);
    assert!(render_text(&report).contains("ok (notes 0.1.0), 1 warning"));
}

#[tokio::test]
async fn equal_sidebar_routes_are_an_error_on_the_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_json(
        &dir.path().join("one.nanofleet.json"),
        &with_ui("one", "/plugins/shared/ui"),
    );
    write_json(
        &dir.path().join("two.nanofleet.json"),
        &with_ui("two", "/plugins/shared/ui"),
    );
    let report = discover(
        &[Source::Path(dir.path().to_owned())],
        &Offline::not_configured(),
    )
    .await;
    let [first, second] = &report.candidates[..] else {
        panic!("two candidates: {report:#?}");
    };
    assert!(!first.diagnostics.has_errors(), "{}", messages(first));
    let errors: Vec<_> = second.diagnostics.errors().collect();
    assert_eq!(errors.len(), 1, "{}", messages(second));
    assert_eq!(errors[0].path, "sidebar.route");
    assert!(errors[0].message.contains(&first.source));
}

#[tokio::test]
async fn unreadable_inputs_are_diagnostics_not_aborts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big/manifest.json");
    let size = usize::try_from(MAX_MANIFEST_BYTES).expect("fits") + 10;
    write(&big, vec![b' '; size]);
    let latin1 = dir.path().join("latin1/manifest.json");
    write(&latin1, b"{\"name\": \"caf\xe9\"}");
    let good = dir.path().join("good/manifest.json");
    write_json(&good, &manifest("good"));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");

    let sources = [
        Source::Path(big.clone()),
        Source::Path(latin1),
        Source::Path(dir.path().join("missing.json")),
        Source::Path(empty),
        Source::Path(good.clone()),
        // The same file again, through its directory: reported once.
        Source::Path(good.parent().expect("dir").to_owned()),
    ];
    let report = discover(&sources, &Offline::not_configured()).await;
    assert_eq!(report.candidates.len(), 5, "{report:#?}");
    let expect = [
        "over the 1048576-byte limit",
        "not valid UTF-8",
        "no such file or directory",
        "no manifest.json or *.nanofleet.json found",
    ];
    for (candidate, needle) in report.candidates.iter().zip(expect) {
        assert_eq!(located(candidate), [(Level::Error, "")], "{needle}");
        assert!(
            messages(candidate).contains(needle),
            "{}",
            messages(candidate)
        );
        assert!(candidate.diagnostics.iter().all(|d| d.hint.is_some()));
    }
    assert_eq!(report.candidates[4].source, good.display().to_string());
    assert!(report.candidates[4].diagnostics.is_empty());
}

#[tokio::test]
async fn the_search_stops_at_the_depth_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut deep = dir.path().to_owned();
    for level in 0..10 {
        deep.push(format!("l{level}"));
    }
    write_json(&deep.join("manifest.json"), &manifest("deep"));
    write_json(&dir.path().join("l0/manifest.json"), &manifest("shallow"));
    let report = discover(
        &[Source::Path(dir.path().to_owned())],
        &Offline::not_configured(),
    )
    .await;
    let [shallow, summary] = &report.candidates[..] else {
        panic!("{report:#?}");
    };
    assert_eq!(
        shallow.manifest.as_ref().map(|m| m.name.as_str()),
        Some("shallow")
    );
    assert_eq!(located(summary), [(Level::Warning, "")]);
    assert!(
        messages(summary).contains("deeper than 8 levels"),
        "{}",
        messages(summary)
    );
}

mod urls {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::response::Redirect;
    use axum::routing::get;

    use super::*;

    async fn serve() -> String {
        let good = serde_json::to_string(&manifest("remote")).expect("json");
        let app = Router::new()
            .route("/good.json", get(move || async move { good }))
            .route("/big.json", get(|| async { " ".repeat(2 * 1024 * 1024) }))
            .route(
                "/chunked.json",
                get(|| async {
                    // No content length: the cap must hold while reading.
                    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                    let chunks = std::iter::repeat_n(chunk, 40).map(Ok::<_, std::io::Error>);
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route(
                "/teapot.json",
                get(|| async { (StatusCode::IM_A_TEAPOT, "no") }),
            )
            .route(
                "/to-ftp.json",
                get(|| async { Redirect::temporary("ftp://example.invalid/m.json") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn urls_are_fetched_with_every_failure_reported() {
        let base = serve().await;
        let urls = [
            format!("{base}/good.json"),
            format!("{base}/missing.json"),
            format!("{base}/big.json"),
            format!("{base}/chunked.json"),
            format!("{base}/teapot.json"),
            format!("{base}/to-ftp.json"),
            "ftp://example.com/manifest.json".to_owned(),
            // Nothing listens on port 1: with TLS, a failed connection; without, refused.
            "https://127.0.0.1:1/manifest.json".to_owned(),
        ];
        let sources: Vec<Source> = urls.iter().map(|u| Source::parse(u)).collect();
        assert!(sources.iter().all(|s| matches!(s, Source::Url(_))));
        let report = discover(&sources, &Offline::not_configured()).await;
        assert_eq!(report.candidates.len(), urls.len());
        for (candidate, url) in report.candidates.iter().zip(&urls) {
            assert_eq!(&candidate.source, url);
        }

        let good = &report.candidates[0];
        assert!(good.diagnostics.is_empty(), "{}", messages(good));
        assert_eq!(
            good.manifest.as_ref().map(|m| m.name.as_str()),
            Some("remote")
        );

        let expect = [
            "the server answered 404 Not Found",
            "larger than the 1048576-byte limit",
            "larger than the 1048576-byte limit",
            "the server answered 418",
            "not a URL this build can fetch",
            "unsupported URL scheme `ftp`",
            if cfg!(feature = "tls") {
                "request failed"
            } else {
                "this build of nanofleet-host has no TLS support"
            },
        ];
        for (candidate, needle) in report.candidates[1..].iter().zip(expect) {
            assert_eq!(located(candidate), [(Level::Error, "")], "{needle}");
            assert!(
                messages(candidate).contains(needle),
                "{needle}: {}",
                messages(candidate)
            );
        }
        assert_eq!(report.error_count(), 7);
    }

    /// With TLS, an `https://` manifest URL opens a TLS connection naming the host.
    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn https_urls_are_fetched_over_tls() {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut hello = vec![0; 2048];
            let n = socket.read(&mut hello).await.expect("read");
            hello.truncate(n);
            hello
        });
        let url = format!("https://localhost:{port}/manifest.json");
        let report = discover(&[Source::parse(&url)], &Offline::not_configured()).await;
        let hello = server.await.expect("server");
        // A TLS handshake record (22) holding a ClientHello (1) that names the server.
        assert_eq!(hello.first(), Some(&22), "{hello:?}");
        assert_eq!(hello.get(5), Some(&1), "{hello:?}");
        assert!(hello.windows(9).any(|w| w == b"localhost"), "{hello:?}");
        // The server hung up: a failed request, not an unsupported scheme.
        let candidate = &report.candidates[0];
        assert!(
            messages(candidate).contains("request failed"),
            "{}",
            messages(candidate)
        );
    }
}

mod images {
    use super::*;

    /// Labels by image; absent images cannot be inspected.
    struct FakeImages(HashMap<&'static str, Option<String>>);

    impl ImageManifests for FakeImages {
        fn manifest_label<'a>(
            &'a self,
            image: &'a str,
        ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>> {
            Box::pin(async move {
                self.0
                    .get(image)
                    .cloned()
                    .ok_or_else(|| format!("no such image: {image}"))
            })
        }
    }

    #[tokio::test]
    async fn image_labels_are_read() {
        let label = serde_json::to_string(&manifest("boxed")).expect("json");
        let images = FakeImages(HashMap::from([
            ("acme/boxed:1", Some(label)),
            ("acme/plain:1", None),
            ("acme/broken:1", Some("{".to_owned())),
        ]));
        let sources = [
            "image:acme/boxed:1",
            "image:acme/plain:1",
            "image:acme/gone:1",
            "image:acme/broken:1",
        ]
        .map(Source::parse);
        let report = discover(&sources, &images).await;
        let [boxed, plain, gone, broken] = &report.candidates[..] else {
            panic!("{report:#?}");
        };
        assert_eq!(boxed.source, "image:acme/boxed:1");
        assert!(boxed.diagnostics.is_empty(), "{}", messages(boxed));
        assert_eq!(
            boxed.manifest.as_ref().map(|m| m.name.as_str()),
            Some("boxed")
        );
        assert!(
            messages(plain).contains("image has no com.nanofleet.manifest label"),
            "{}",
            messages(plain)
        );
        assert!(
            messages(gone).contains("no such image: acme/gone:1"),
            "{}",
            messages(gone)
        );
        assert_eq!(located(broken), [(Level::Error, "")]);
        assert!(messages(broken).contains("JSON"), "{}", messages(broken));
        assert_eq!(report.error_count(), 3);
    }
}
