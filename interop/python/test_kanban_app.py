"""The kanban board in a real browser (chromium, driven by selenium), both ways it is shown.

- As an MCP App: the official Python client finds `list_tasks`'s page (`_meta.ui.resourceUri`)
  and reads it (`resources/read`); a host page of this test frames it in a sandboxed iframe
  and plays the client's part of MCP Apps over postMessage (`ui/initialize`, the tool result,
  `tools/call` relayed to the plugin through the official client). Buttons in the frame move
  the agent's task, and the plugin's own `list_tasks` confirms it.
- As the sidebar UI: the same HTML served on the plugin's UI port, the whole board, moving
  a task through the UI API.

Run by `cargo xtask interop`, which starts kanban (MCP and UI ports) and sets
NANOFLEET_KANBAN_URL, NANOFLEET_KANBAN_UI_URL, NANOFLEET_CHROMIUM and NANOFLEET_CHROMEDRIVER.
"""

import json
import os
import threading
import uuid
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

MCP_URL = os.environ["NANOFLEET_KANBAN_URL"]
UI_URL = os.environ["NANOFLEET_KANBAN_UI_URL"]
APP_URI = "ui://kanban/board"
APP_MIME = "text/html;profile=mcp-app"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@asynccontextmanager
async def session(agent: str):
    async with streamable_http_client(f"{MCP_URL}?agent_id={agent}") as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            yield s


async def call(agent: str, name: str, arguments: dict) -> dict:
    async with session(agent) as s:
        result = await s.call_tool(name, arguments)
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def column_of(agent: str, task_id: int) -> str | None:
    result = anyio.run(call, agent, "list_tasks", {})
    for task in result["structuredContent"]["tasks"]:
        if task["id"] == task_id:
            return task["column"]
    return None


# The client's side of MCP Apps, in the host page: frames the app, answers `ui/initialize`,
# sends the tool's result once the app is initialized, relays `tools/call` to /call (the test's
# MCP client), and logs every method the app sends.
HOST_PAGE = """<!doctype html>
<html><body>
<iframe id="app" sandbox="allow-scripts" style="width: 900px; height: 600px"></iframe>
<pre id="log"></pre>
<script>
  "use strict";
  const frame = document.getElementById("app");
  const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
  const send = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
  async function callTool(params) {
    const response = await fetch("/call", { method: "POST", body: JSON.stringify(params) });
    return response.json();
  }
  window.addEventListener("message", async (event) => {
    if (event.source !== frame.contentWindow) return;
    const message = event.data;
    log(message.method ?? "response");
    if (message.method === "ui/initialize") {
      send({ id: message.id, result: {
        protocolVersion: "2026-01-26",
        hostInfo: { name: "nanofleet-test-host", version: "0" },
        hostCapabilities: { serverTools: {} },
        hostContext: { theme: "light", displayMode: "inline" },
      } });
    } else if (message.method === "ui/notifications/initialized") {
      const result = await callTool({ name: "list_tasks", arguments: {} });
      send({ method: "ui/notifications/tool-result", params: result });
    } else if (message.method === "tools/call") {
      send({ id: message.id, result: await callTool(message.params) });
    }
  });
  fetch("/page").then((r) => r.text()).then((html) => { frame.srcdoc = html; });
</script>
</body></html>
"""


class Host:
    """A web server for the host page, the app's HTML and the tool-call relay."""

    def __init__(self, agent: str, page: str):
        self.calls: list[dict] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body: bytes, content_type: str):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/":
                    self.reply(HOST_PAGE.encode(), "text/html")
                elif self.path == "/page":
                    self.reply(page.encode(), "text/html")
                else:
                    self.send_error(404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                params = json.loads(self.rfile.read(length))
                host.calls.append(params)
                result = anyio.run(call, agent, params["name"], params.get("arguments", {}))
                self.reply(json.dumps(result).encode(), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ["NANOFLEET_CHROMIUM"]
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=os.environ["NANOFLEET_CHROMEDRIVER"])
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def card(driver, column: str, task_id: int):
    return driver.find_elements(
        By.CSS_SELECTOR, f'section[data-column="{column}"] article[data-id="{task_id}"]'
    )


def wait_for_card(driver, column: str, task_id: int):
    WebDriverWait(driver, 15).until(
        lambda d: card(d, column, task_id),
        f"task {task_id} never showed in {column}",
    )
    return card(driver, column, task_id)[0]


@pytest.mark.anyio
async def test_list_tasks_names_its_app_and_the_page_is_a_resource():
    agent = f"alice-{uuid.uuid4().hex[:8]}"
    async with session(agent) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        meta = tools["list_tasks"].meta or {}
        assert meta["ui"]["resourceUri"] == APP_URI
        assert meta["ui/resourceUri"] == APP_URI
        assert all(not (t.meta or {}).get("ui") for n, t in tools.items() if n != "list_tasks")
        listed = {str(r.uri): r for r in (await s.list_resources()).resources}
        assert listed[APP_URI].mime_type == APP_MIME
        contents = (await s.read_resource(APP_URI)).contents
    assert contents[0].mime_type == APP_MIME
    assert contents[0].text.lstrip().lower().startswith("<!doctype html>")


def test_the_board_as_an_mcp_app_moves_the_agents_task(browser):
    agent = f"alice-{uuid.uuid4().hex[:8]}"
    other = f"bob-{uuid.uuid4().hex[:8]}"
    mine = anyio.run(call, agent, "create_task", {"title": "Write the report"})["structuredContent"]
    theirs = anyio.run(call, other, "create_task", {"title": "Not alice's"})["structuredContent"]

    async def page() -> str:
        async with session(agent) as s:
            return (await s.read_resource(APP_URI)).contents[0].text

    host = Host(agent, anyio.run(page))
    try:
        browser.get(host.url)
        browser.switch_to.frame(browser.find_element(By.ID, "app"))
        try:
            wait_for_card(browser, "todo", mine["id"])
        except Exception:
            status = browser.find_element(By.ID, "status").text
            browser.switch_to.default_content()
            raise AssertionError(
                f"status {status!r}, host log {browser.find_element(By.ID, 'log').text!r}, "
                f"calls {host.calls}, console {browser.get_log('browser')}"
            )
        # The tool result the host sent: the agent's own tasks, and nobody else's.
        task = wait_for_card(browser, "todo", mine["id"])
        assert "Write the report" in task.text
        assert not card(browser, "todo", theirs["id"])
        assert browser.find_element(By.ID, "status").text == "Your tasks"

        task.find_element(By.CSS_SELECTOR, 'button[title="Move to doing"]').click()
        wait_for_card(browser, "doing", mine["id"])
        browser.switch_to.default_content()
        log = browser.find_element(By.ID, "log").text.split("\n")
    finally:
        host.close()

    assert log[:2] == ["ui/initialize", "ui/notifications/initialized"], log
    # The click: `move_task` through the client, then `list_tasks` to redraw.
    assert {"name": "move_task", "arguments": {"id": mine["id"], "column": "doing"}} in host.calls
    assert column_of(agent, mine["id"]) == "doing"
    assert column_of(other, theirs["id"]) == "todo"


def test_the_same_page_as_the_sidebar_ui_moves_any_task(browser):
    agent = f"carol-{uuid.uuid4().hex[:8]}"
    task = anyio.run(call, agent, "create_task", {"title": "Review"})["structuredContent"]
    # The plugin runs with NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN: any nf_token passes.
    browser.get(f"{UI_URL}/?nf_token=dashboard")
    found = wait_for_card(browser, "todo", task["id"])
    found.find_element(By.CSS_SELECTOR, 'button[title="Move to doing"]').click()
    wait_for_card(browser, "doing", task["id"])
    assert column_of(agent, task["id"]) == "doing"
