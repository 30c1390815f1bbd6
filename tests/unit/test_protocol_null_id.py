"""JSON-RPC 2.0: an error answering a message whose id could not be read carries ``"id": null`` (never no id)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codehearth.lsp.transport import Oversized


class Raw:
    """The writer's bodies as sent, so a missing member and a null one differ."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.bodies.append(json.loads(data.partition(b"\r\n\r\n")[2]))

    def close(self) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CODEHEARTH_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "cache"))
    from codehearth.lsp.server import create_server

    srv = create_server()
    srv.protocol.set_writer(Raw())
    return srv


def test_unreadable_messages_are_answered_with_a_null_id(server: Any) -> None:
    p = server.protocol
    p.receive_frame(b"{bad}")  # not JSON
    p.receive_frame(b"\xff\xfe")  # not UTF-8
    p.receive_frame(b"[1, 2]")  # not an object
    p.receive_frame(b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "codehearth/stats"}')  # an id of the wrong type
    p.receive_frame(b'{"jsonrpc": "2.0", "result": 1}')  # neither request nor response
    p.receive_frame(Oversized(10**14, b'{"jsonrpc": "2.0", "id": 9, "method": "x"'))  # its id is readable
    bodies = p.writer.bodies
    assert [(b["id"], b["error"]["code"]) for b in bodies] == [
        (None, -32700), (None, -32700), (None, -32600), (None, -32600), (None, -32600), (9, -32600)]
    assert all("id" in b and b["jsonrpc"] == "2.0" and set(b) == {"jsonrpc", "id", "error"} for b in bodies)
