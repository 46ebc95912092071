"""The official MCP Python SDK (PyPI `mcp`) against the host's own MCP server (`/mcp` of
`nanofleet serve`): a read-scoped token lists but cannot change; an operate-scoped token
installs a plugin, registers and links an agent, reads the client config written for it, and
reads the plugin's manifest as a resource, and uninstalls the plugin.

Run by the host's engine tests (nanofleet-host/tests/clients_docker.rs) with FLEET_URL,
READ_TOKEN, OPERATE_TOKEN, MANIFEST (a manifest's JSON) and WORKSPACE set. Exits non-zero,
saying why, when anything is not as expected.
"""

import asyncio
import json
import os
from contextlib import asynccontextmanager

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

URL = os.environ["FLEET_URL"]
MANIFEST = json.loads(os.environ["MANIFEST"])
PLUGIN = MANIFEST["name"]


@asynccontextmanager
async def session(token: str):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                info = await s.initialize()
                assert info.server_info.name == "fleet", info.server_info
                yield s


def text(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def main() -> None:
    async with session(os.environ["READ_TOKEN"]) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert tools["list_plugins"].annotations.read_only_hint is True
        assert tools["uninstall_plugin"].annotations.destructive_hint is True
        listed = await s.call_tool("list_plugins", {})
        assert listed.structured_content == {"plugins": []}, listed
        refused = await s.call_tool("install_plugin", {"manifest": MANIFEST})
        assert refused.is_error, refused
        assert "needs scope `operate`" in text(refused), text(refused)

    async with session(os.environ["OPERATE_TOKEN"]) as s:
        installed = await s.call_tool("install_plugin", {"manifest": MANIFEST})
        assert not installed.is_error, text(installed)
        assert installed.structured_content["name"] == PLUGIN, installed
        assert installed.structured_content["status"] == "running", installed
        manifest = await s.read_resource(f"nanofleet://plugins/{PLUGIN}/manifest")
        assert json.loads(manifest.contents[0].text)["name"] == PLUGIN, manifest
        detail = await s.call_tool("inspect_plugin", {"name": PLUGIN})
        names = [t["name"] for t in detail.structured_content["tool_definitions"]]
        assert names == ["greet"], names
        done = await s.call_tool(
            "register_agent", {"id": "py-agent", "workspace": os.environ["WORKSPACE"]}
        )
        assert not done.is_error, text(done)
        linked = await s.call_tool("link_agent", {"agent": "py-agent", "plugin": PLUGIN})
        assert not linked.is_error, text(linked)
        config = await s.call_tool("agent_client_config", {"agent": "py-agent"})
        servers = config.structured_content["content"]["mcpServers"]
        assert PLUGIN in servers and "agent_id=py-agent" in servers[PLUGIN]["url"], servers
        missing = await s.call_tool("uninstall_plugin", {"name": "no-such-plugin"})
        assert missing.is_error and f"installed: {PLUGIN}" in text(missing), text(missing)
        gone = await s.call_tool("uninstall_plugin", {"name": PLUGIN})
        assert not gone.is_error, text(gone)
        listed = await s.call_tool("list_plugins", {})
        assert listed.structured_content == {"plugins": []}, listed
    print("OK")


if __name__ == "__main__":
    asyncio.run(main())
