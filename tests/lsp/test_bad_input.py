"""Bad input over the wire: each answered with an error or an empty result, and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from tests.lsp.harness import (
    SERVER,
    inline,
    inline_params,
    open_doc,
    running_server,
    send_raw_request,
    server_env,
    stats_of,
)

pytestmark = pytest.mark.model

GOOD = "def double(x):\n    return "


async def still_serving(client, uri: str) -> None:  # type: ignore[no-untyped-def]
    """The server answers a normal request after the bad ones, with the model's text."""
    assert (await stats_of(client))["state"] == "ready"
    assert await inline(client, uri, 1, 11) != ""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def test_bad_requests_in_one_session(workspace: Path, tmp_path: Path, default_model: Path) -> None:
    good = (workspace / "good.py").as_uri()
    # The confidence gate off: this session asks whether bad input leaves the server serving, and a likely-wrong
    # suggestion hidden by the gate would read as "not serving" (the plain-text shopping list below was).
    async with running_server(workspace, tmp_path / "cache", {"minConfidence": 0}) as client:
        open_doc(client, good, GOOD)
        assert await inline(client, good, 1, 11)

        # Unknown URI.
        assert await inline(client, (workspace / "never-opened.py").as_uri(), 0, 0) == ""
        # Position beyond the end.
        assert await inline(client, good, 400, 3) == ""
        # untitled: documents complete like any other.
        open_doc(client, "untitled:Untitled-1", GOOD)
        assert await inline(client, "untitled:Untitled-1", 1, 11) != ""
        # A language with no grammar falls back to plain text.
        notes = (workspace / "notes.txt").as_uri()
        open_doc(client, notes, "Shopping list:\n- apples\n- ", language="plaintext")
        assert await inline(client, notes, 2, 2) != ""
        # Invalid surrogates in the text.
        weird = (workspace / "weird.py").as_uri()
        open_doc(client, weird, 'name = "\ud800"\ndef double(x):\n    return ')
        assert await inline(client, weird, 2, 11) != ""
        # Malformed params: an error response, not a crash.
        malformed = inline_params(good, 0, 0)
        object.__setattr__(malformed.text_document, "uri", 42)  # past the client's own validation
        object.__setattr__(malformed.position, "line", "x")
        _, fut = send_raw_request(client, types.TEXT_DOCUMENT_INLINE_COMPLETION, malformed)
        with pytest.raises(JsonRpcInvalidParams) as err:  # an answer, not a timeout
            await asyncio.wait_for(fut, 10)
        assert (err.value.code, err.value.message) == (
            -32602, "Invalid params for textDocument/inlineCompletion: params.position.line: invalid literal for "
                    "int() with base 10: 'x'")
        _, fut = send_raw_request(client, "workspace/executeCommand",
                                  types.ExecuteCommandParams(command="codehearth.explain", arguments=["x"]))
        with pytest.raises(JsonRpcInvalidParams) as err:
            await asyncio.wait_for(fut, 10)
        assert (err.value.code, err.value.message) == (-32602, "codehearth.explain needs [uri, position]")
        # every text above came from the model: the first request, untitled, plain text, surrogates
        before = await stats_of(client)
        assert before["sources"]["model"] == 4
        # A 5 MB single-line document: answered (with text or, when its prompt takes the whole budget, empty), once.
        huge = (workspace / "huge.py").as_uri()
        line = "x = 1; " * (5 * 1024 * 1024 // 7)
        open_doc(client, huge, line)
        await asyncio.wait_for(inline(client, huge, 0, len(line)), 60)  # a hang fails here
        assert (await stats_of(client))["requests"] == before["requests"] + 1
        await still_serving(client, good)


async def test_request_before_initialized(workspace: Path, tmp_path: Path) -> None:
    good = (workspace / "good.py").as_uri()
    async with running_server(workspace, tmp_path / "cache", initialized=False, wait_ready=False) as client:
        open_doc(client, good, GOOD)
        assert await inline(client, good, 1, 11) == ""  # no model yet: empty at once, never blocked
        stats = await stats_of(client)
        assert stats["state"] == "idle"


def test_exit_without_shutdown(tmp_path: Path) -> None:
    """`exit` without `shutdown` ends the process (code 1, as the spec says) instead of hanging."""
    body = b'{"jsonrpc":"2.0","method":"exit"}'
    message = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    proc = subprocess.run(SERVER, input=message, capture_output=True, timeout=60, env=server_env(tmp_path))
    assert proc.returncode == 1


def test_client_that_vanishes(tmp_path: Path) -> None:
    """stdin closes mid-session: the server exits by itself."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    message = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    proc = subprocess.run(SERVER, input=message, capture_output=True, timeout=60, env=server_env(tmp_path))
    assert b'"id": 1' in proc.stdout or b'"id":1' in proc.stdout
    assert proc.returncode in (0, 1)


def test_stdout_carries_only_protocol(tmp_path: Path) -> None:
    """Native code cannot write into the protocol stream: every byte on stdout is a framed message."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    init = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    note = b'{"jsonrpc":"2.0","method":"initialized","params":{}}'
    init += b"Content-Length: %d\r\n\r\n%s" % (len(note), note)
    proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**server_env(tmp_path), "PYTHONUNBUFFERED": "1"})
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(init)
    proc.stdin.flush()
    # Let the model load (llama.cpp writes to fd 1 and 2 while loading), then leave.
    time.sleep(8)
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait(30)
    rest = out
    bodies = []
    while rest:
        assert rest.startswith(b"Content-Length: "), rest[:80]
        header, _, tail = rest.partition(b"\r\n\r\n")
        length = int(header.split(b"\r\n")[0].split(b":")[1])
        bodies.append(json.loads(tail[:length]))
        rest = tail[length:]
    states = [b["params"]["state"] for b in bodies if b.get("method") == "codehearth/status"]
    assert states[-1] == "ready"  # the model loaded while stdout stayed clean


def test_request_without_params(tmp_path: Path) -> None:
    """JSON-RPC lets a request leave out "params": codehearth/stats is answered either way."""

    def frame(obj: dict) -> bytes:
        body = json.dumps(obj).encode()
        return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    messages = frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    messages += frame({"jsonrpc": "2.0", "id": 2, "method": "codehearth/stats"})
    messages += frame({"jsonrpc": "2.0", "id": 3, "method": "codehearth/stats", "params": None})
    proc = subprocess.run(SERVER, input=messages, capture_output=True, timeout=60, env=server_env(tmp_path))
    answers = {}
    for part in proc.stdout.split(b"Content-Length: ")[1:]:
        body = json.loads(part.split(b"\r\n\r\n", 1)[1])
        answers[body.get("id")] = body
    assert answers[2]["result"]["state"] == "idle"
    assert answers[3]["result"]["requests"] == 0
