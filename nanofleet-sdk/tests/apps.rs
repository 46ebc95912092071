//! MCP Apps: a tool naming its `ui://` page, and the checks the plugin makes when it starts.

use nanofleet_sdk::{
    Error, Manifest, Plugin,
    app::APP_MIME_TYPE,
    resource::Resource,
    testing::TestClient,
    tool::{NoArgs, Tool, ToolCall},
};

const PAGE: &str = "<!doctype html><title>Board</title>";

fn manifest() -> Manifest {
    Manifest::new("board", "0.1.0", "nanofleet/board:0.1.0", 8080)
}

fn show_tool() -> Tool {
    Tool::new("show", "Shows the board.")
        .app("ui://board/view")
        .handler(|_: NoArgs, _: ToolCall| async { "3 tasks" })
}

fn page(uri: &'static str) -> Resource {
    Resource::new(uri, "board").handler(|_: ToolCall| async { PAGE })
}

fn problems(result: Result<Plugin, Error>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(Error::InvalidPlugin(problems)) => problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => vec![format!("unexpected error: {other}")],
    }
}

#[tokio::test]
async fn the_tool_names_its_page_which_is_an_html_app_resource()
-> Result<(), Box<dyn std::error::Error>> {
    let plugin = Plugin::builder(manifest())
        .tool(show_tool())
        .tool(Tool::new("plain", "No page.").handler(|_: NoArgs, _: ToolCall| async { "ok" }))
        .resource(page("ui://board/view"))
        .build()?;
    let client = TestClient::new(&plugin)?.connect_as("alice").await?;
    let tools = client.list_tools().await?;
    let show = tools.iter().find(|t| t.name == "show").ok_or("no show")?;
    let meta = serde_json::to_value(show.meta.as_ref().ok_or("no _meta")?)?;
    assert_eq!(meta["ui"]["resourceUri"], "ui://board/view");
    assert_eq!(meta["ui/resourceUri"], "ui://board/view");
    let plain = tools.iter().find(|t| t.name == "plain").ok_or("no plain")?;
    assert!(plain.meta.is_none());
    assert_eq!(APP_MIME_TYPE, "text/html;profile=mcp-app");
    Ok(())
}

#[test]
fn a_missing_page_or_a_page_of_another_type_stops_the_plugin() {
    let missing = problems(
        Plugin::builder(manifest())
            .tool(show_tool())
            .resource(page("ui://board/other"))
            .build(),
    );
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].contains("tool `show`")
            && missing[0].contains("`ui://board/view` is no resource"),
        "{missing:?}"
    );

    let not_ui = problems(
        Plugin::builder(manifest())
            .tool(
                Tool::new("show", "Shows the board.")
                    .app("https://example.com/board")
                    .handler(|_: NoArgs, _: ToolCall| async { "" }),
            )
            .build(),
    );
    assert!(
        not_ui.iter().any(|p| p.contains("is not a `ui://` URI")),
        "{not_ui:?}"
    );

    let wrong_type = problems(
        Plugin::builder(manifest())
            .tool(show_tool())
            .resource(page("ui://board/view").mime_type("text/plain"))
            .build(),
    );
    assert_eq!(wrong_type.len(), 1, "{wrong_type:?}");
    assert!(
        wrong_type[0].contains("MCP App's page") && wrong_type[0].contains("text/plain"),
        "{wrong_type:?}"
    );
}
