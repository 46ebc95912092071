"""The official MCP Python SDK (PyPI `mcp`) starting the `notes` plugin binary as a stdio MCP
server (`notes stdio --agent <id> --data-dir <dir>`), as local clients (Claude Desktop, Codex,
nanobot's `stdio` servers) do.

Run by `cargo xtask interop`, which builds the binary and sets NANOFLEET_NOTES_BINARY.
"""

import os
import tempfile
from contextlib import asynccontextmanager

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

BINARY = os.environ["NANOFLEET_NOTES_BINARY"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="nanofleet-stdio-") as path:
        yield path


@asynccontextmanager
async def notes_as(agent: str, data_dir: str):
    params = StdioServerParameters(
        command=BINARY,
        args=["stdio", "--agent", agent, "--data-dir", data_dir],
        env={"RUST_LOG": "warn"},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            result = await s.initialize()
            assert result.server_info.name == "notes"
            yield s


@pytest.mark.anyio
async def test_each_process_serves_its_agent_and_the_data_stays(data_dir):
    async with notes_as("alice", data_dir) as alice:
        tools = {t.name for t in (await alice.list_tools()).tools}
        assert {"add_note", "list_notes"} <= tools
        added = await alice.call_tool("add_note", {"text": "from stdio"})
        assert not added.is_error, added.content
        assert added.structured_content["count"] == 1

    # Another agent on the same directory sees nothing of alice's.
    async with notes_as("bob", data_dir) as bob:
        listed = await bob.call_tool("list_notes", {})
        assert listed.structured_content["notes"] == []

    # Alice, in a new process, finds her note again.
    async with notes_as("alice", data_dir) as alice:
        listed = await alice.call_tool("list_notes", {})
        assert [n["text"] for n in listed.structured_content["notes"]] == ["from stdio"]


@pytest.mark.anyio
async def test_meta_naming_another_agent_is_refused(data_dir):
    async with notes_as("alice", data_dir) as alice:
        with pytest.raises(MCPError) as raised:
            await alice.call_tool("list_notes", {}, meta={"agent_id": "mallory"})
    assert "one agent" in raised.value.message
