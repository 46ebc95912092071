"""The official MCP Python SDK (PyPI `mcp`) against the `notes` example plugin.

Run by `cargo xtask interop`, which starts the plugin and sets NANOFLEET_NOTES_URL to its
`/mcp` endpoint (no query string). Every test talks over real HTTP with a client nobody here
wrote: the handshake-era `ClientSession` over `streamable_http_client`, and the high-level
`mcp.Client`, which negotiates the protocol version itself.
"""

import os
import uuid
from contextlib import asynccontextmanager

import pytest
from mcp import ClientSession, Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

BASE_URL = os.environ["NANOFLEET_NOTES_URL"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def url_for(agent: str | None) -> str:
    return BASE_URL if agent is None else f"{BASE_URL}?agent_id={agent}"


def fresh_agent(name: str) -> str:
    # The plugin keeps data across tests; unique ids keep the tests independent.
    return f"{name}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def session(agent: str | None):
    async with streamable_http_client(url_for(agent)) as (read, write):
        async with ClientSession(read, write) as s:
            result = await s.initialize()
            assert result.server_info.name == "notes"
            yield s


def texts(result) -> list[str]:
    return [c.text for c in result.content if getattr(c, "type", None) == "text"]


@pytest.mark.anyio
async def test_lists_the_tools_with_schemas():
    async with session(None) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert set(tools) == {"add_note", "list_notes", "delete_note"}
    add = tools["add_note"]
    assert add.input_schema["required"] == ["text"]
    assert add.input_schema["properties"]["text"]["description"] == "The note's text."
    assert add.output_schema is not None and "id" in add.output_schema["properties"]
    assert tools["list_notes"].annotations.read_only_hint is True
    assert tools["delete_note"].annotations.destructive_hint is True


@pytest.mark.anyio
async def test_two_agents_see_only_their_own_notes():
    alice, bob = fresh_agent("alice"), fresh_agent("bob")
    async with session(alice) as a, session(bob) as b:
        r1 = await a.call_tool("add_note", {"text": "alice one"})
        assert not r1.is_error, texts(r1)
        assert r1.structured_content == {"id": 1, "count": 1}
        await a.call_tool("add_note", {"text": "alice two"})
        rb = await b.call_tool("add_note", {"text": "bob one"})
        assert rb.structured_content == {"id": 1, "count": 1}

        la = await a.call_tool("list_notes", {})
        lb = await b.call_tool("list_notes", {})
    assert [n["text"] for n in la.structured_content["notes"]] == ["alice one", "alice two"]
    assert [n["text"] for n in lb.structured_content["notes"]] == ["bob one"]


@pytest.mark.anyio
async def test_bad_arguments_are_a_tool_error_naming_the_field():
    async with session(fresh_agent("carol")) as s:
        result = await s.call_tool("add_note", {"text": 42})
    assert result.is_error
    assert "`text`" in " ".join(texts(result))


@pytest.mark.anyio
async def test_missing_agent_is_a_clear_tool_error():
    async with session(None) as s:
        result = await s.call_tool("add_note", {"text": "nobody's"})
    assert result.is_error
    assert "agent_id" in " ".join(texts(result))


@pytest.mark.anyio
async def test_unknown_tool_is_a_protocol_error():
    async with session(fresh_agent("dave")) as s:
        with pytest.raises(MCPError) as err:
            await s.call_tool("no_such_tool", {})
    assert "no_such_tool" in str(err.value)


@pytest.mark.anyio
async def test_the_high_level_client_negotiates_and_calls():
    agent = fresh_agent("erin")
    async with Client(url_for(agent)) as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} >= {"add_note", "list_notes"}
        added = await client.call_tool("add_note", {"text": "via Client"})
        assert not added.is_error, texts(added)
        listed = await client.call_tool("list_notes", {})
    assert [n["text"] for n in listed.structured_content["notes"]] == ["via Client"]
