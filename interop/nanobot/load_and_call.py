"""Has nanobot's own MCP loader read an agent's config.json, connect to every server in it
over Streamable HTTP, register their tools, and call one through nanobot's tool wrapper. No
language model is involved.

    python load_and_call.py CONFIG [TOOL JSON_ARGS]

Prints one JSON object: {"tools": [...registered names...], "result": str | null,
"blocked": [...nanobot's warnings about refused URLs...]}.
"""

import asyncio
import json
import sys
from pathlib import Path

from loguru import logger
from nanobot.agent.tools.mcp import connect_mcp_servers
from nanobot.agent.tools.registry import ToolRegistry
from nanobot.config.loader import load_config, resolve_config_env_vars


async def main(path: Path, tool: str | None, args: dict) -> dict:
    warnings: list[str] = []
    logger.remove()
    logger.add(lambda message: warnings.append(str(message).strip()), level="WARNING")
    # Also applies `tools.ssrfWhitelist`, process-wide, as nanobot itself does.
    config = resolve_config_env_vars(load_config(path), config_path=path)
    registry = ToolRegistry()
    connections = await connect_mcp_servers(config.tools.mcp_servers, registry)
    try:
        result = None
        if tool is not None and tool in registry.tool_names:
            result = str(await registry.execute(tool, args))
        return {
            "tools": sorted(registry.tool_names),
            "result": result,
            "blocked": [w for w in warnings if "blocked" in w.lower()],
        }
    finally:
        for connection in connections.values():
            await connection.aclose()


if __name__ == "__main__":
    config_path = Path(sys.argv[1])
    tool_name = sys.argv[2] if len(sys.argv) > 2 else None
    arguments = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    print(json.dumps(asyncio.run(main(config_path, tool_name, arguments))))
