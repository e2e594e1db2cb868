#!/usr/bin/env python3
"""A small, real MCP server for Parley's MCP client tests (PyPI `mcp==2.3.0`).

    python tests/mcp/orders_server.py                      # stdio (the default)
    python tests/mcp/orders_server.py --only get_order_status   # stdio, offering only those tools
    python tests/mcp/orders_server.py --http PORT          # streamable HTTP on 127.0.0.1:PORT/mcp,
                                                           # answering POSTs with application/json

Tools:
* get_order_status(order_id) -> a fixed sentence naming the order.
* slow_lookup(seconds) -> sleeps, then answers; when the call is cancelled
  (notifications/cancelled) it writes "cancelled <seconds>" to the file named by
  ORDERS_CANCEL_MARKER, so a test can prove the cancellation reached the server.
* failing_tool() -> raises, so the result has isError: true.
* server_pid() -> this process's id.
* add_tool() -> registers `track_parcel` and sends notifications/tools/list_changed.

Logs go to stderr only: on stdio, stdout carries the protocol.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

logging.basicConfig(stream=sys.stderr, level=logging.INFO)
log = logging.getLogger("orders_server")

server = MCPServer("orders", log_level="WARNING")


@server.tool()
def get_order_status(order_id: str) -> str:
    """Where an order is: when it shipped and when it arrives."""
    calls = os.environ.get("ORDERS_CALL_LOG")
    if calls:
        # One JSON line per call, so an end-to-end test can check the arguments that arrived.
        with open(calls, "a", encoding="utf-8") as file:
            file.write(json.dumps({"tool": "get_order_status", "order_id": order_id, "pid": os.getpid()}) + "\n")
    return f"Order {order_id} shipped on 3 December and arrives on Friday."


@server.tool()
async def slow_lookup(seconds: float) -> str:
    """A lookup that takes `seconds` seconds."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        marker = os.environ.get("ORDERS_CANCEL_MARKER")
        if marker:
            with open(marker, "w", encoding="utf-8") as file:
                file.write(f"cancelled {seconds}\n")
        log.info("slow_lookup(%s) cancelled", seconds)
        raise
    return f"Looked up after {seconds} seconds."


@server.tool()
def server_pid() -> int:
    """The server's process id (tests check that it is gone after Parley stops it)."""
    return os.getpid()


@server.tool()
def failing_tool() -> str:
    """Always fails."""
    raise ToolError("the orders database is unavailable")


def track_parcel(parcel_id: str) -> str:
    """Where a parcel is now."""
    return f"Parcel {parcel_id} is at the depot."


@server.tool()
async def add_tool(ctx: Context) -> str:
    """Adds the track_parcel tool and tells the client the tool list changed."""
    if server._tool_manager.get_tool("track_parcel") is None:  # noqa: SLF001 (no public lookup)
        server.add_tool(track_parcel)
    await ctx.request_context.session.send_tool_list_changed()
    return "track_parcel added"


def main() -> None:
    # --only NAME[,NAME…]: offer just those tools (an agent demo needs no test tools).
    if len(sys.argv) == 3 and sys.argv[1] == "--only":
        keep = set(sys.argv[2].split(","))
        for tool in server._tool_manager.list_tools():  # noqa: SLF001 (no public listing)
            if tool.name not in keep:
                server.remove_tool(tool.name)
        server.run()
    elif len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=True)
    else:
        server.run()


if __name__ == "__main__":
    main()
