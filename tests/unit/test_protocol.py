"""Every request answered exactly once, with the right error code (lsp/protocol.py), in process and fast.

The real server over stdio is exercised by tests/lsp/test_bad_input.py and tests/lsp/test_fuzz.py; here the
protocol gets framed bodies directly and its writer records what it sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from codehearth.lsp.transport import Oversized

URI = "file:///ws/a.py"
IC = "textDocument/inlineCompletion"
GOOD_IC = {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}}


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        header, _, body = data.partition(b"\r\n\r\n")
        assert int(header.split(b"\r\n")[0].split(b":")[1]) == len(body)
        self.messages.append(json.loads(body))

    def close(self) -> None:
        pass

    def answers(self, msg_id: Any) -> list[dict[str, Any]]:
        return [m for m in self.messages if "method" not in m and m.get("id") == msg_id]

    def pop_ups(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("method") == "window/showMessage"]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CODEHEARTH_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "cache"))
    from codehearth.lsp.server import create_server

    srv = create_server()
    srv.protocol.set_writer(Recorder())

    @srv.feature("test/boom")
    def boom(ls: Any, params: Any) -> None:
        raise ZeroDivisionError("boom")

    @srv.feature("test/boomNote")
    def boom_note(ls: Any, params: Any) -> None:
        raise ZeroDivisionError("boom in a notification")

    yield srv
    srv.assistant.shutdown()


def out(server: Any) -> Recorder:
    return server.protocol.writer  # type: ignore[no-any-return]


def send(server: Any, message: Any) -> None:
    server.protocol.receive_frame(json.dumps(message).encode())


async def ask(server: Any, msg_id: Any, method: str, params: Any = None, omit: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if not omit:
        message["params"] = params
    send(server, message)
    for _ in range(200):
        answers = out(server).answers(msg_id)
        if answers:
            await asyncio.sleep(0.01)  # a second answer would show up here
            assert len(out(server).answers(msg_id)) == 1
            return answers[0]
        await asyncio.sleep(0.005)
    raise AssertionError(f"no answer to {msg_id}")


async def initialize(server: Any, options: dict[str, Any] | None = None) -> None:
    answer = await ask(server, "init", "initialize", {"capabilities": {}, "initializationOptions": options or {}})
    assert "result" in answer, answer
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": "def f(x):\n    return x\n"}}})


def error_of(answer: dict[str, Any]) -> tuple[int, str]:
    return answer["error"]["code"], answer["error"]["message"]


@pytest.mark.parametrize(("params", "omit", "message"), [
    ({"textDocument": {"uri": URI}}, False,
     "params.context: required field missing; params.position: required field missing"),
    ({"textDocument": {"uri": URI}, "position": {"line": -1, "character": "x"}, "context": {"triggerKind": 1}}, False,
     "params.position.character: invalid literal for int() with base 10: 'x'"),
    ({**GOOD_IC, "position": {"line": -1, "character": 0}}, False,
     "params.position: Position.line should be in range [0:2147483647], but was -1."),
    ({**GOOD_IC, "position": {"line": 2**31, "character": 0}}, False,
     "params.position: Position.line should be in range [0:2147483647], but was 2147483648."),
    ({**GOOD_IC, "context": {"triggerKind": None}}, False,
     "params.context.triggerKind: None is not a valid InlineCompletionTriggerKind"),
    (None, False, "params: invalid value, expected InlineCompletionParams"),
    (None, True, "params: invalid value, expected InlineCompletionParams"),
    ({"position": {"line": 0, "character": 0}}, False,
     "params.context: required field missing; params.textDocument: required field missing"),
])
async def test_inline_completion_invalid_params(server: Any, params: Any, omit: bool, message: str) -> None:
    await initialize(server)
    answer = await ask(server, 1, IC, params, omit=omit)
    assert error_of(answer) == (-32602, f"Invalid params for {IC}: {message}")
    assert out(server).pop_ups() == []


@pytest.mark.parametrize(("method", "params", "code", "message"), [
    ("textDocument/codeAction", {"textDocument": {"uri": URI}}, -32602,
     "Invalid params for textDocument/codeAction: params.range: required field missing; "
     "params.context: required field missing"),
    ("textDocument/completion", {"textDocument": {"uri": URI}}, -32602,
     "Invalid params for textDocument/completion: params.position: required field missing"),
    ("workspace/executeCommand", {}, -32602,
     "Invalid params for workspace/executeCommand: params.command: required field missing"),
    ("workspace/executeCommand", {"command": "nope"}, -32602, "Invalid Params: Command name 'nope' is not defined"),
    ("workspace/executeCommand", {"command": "codehearth.explain", "arguments": [URI, {"line": 2**31, "character": 0}]},
     -32602, "codehearth.explain needs [uri: string, position: {line, character}] with line and character integers "
     "from 0 to 2147483647"),
    ("workspace/executeCommand", {"command": "codehearth.explain", "arguments": ["file:///ws/closed.py",
                                                                               {"line": 0, "character": 0}]},
     -32602, "document is not open: file:///ws/closed.py"),
    # a lone surrogate in the quoted URI: written as an escape, still -32602 (the fuzz got -32603 here)
    ("workspace/executeCommand", {"command": "codehearth.explain", "arguments": ["file:///tmp/\udc80.py",
                                                                               {"line": 9, "character": 3}]},
     -32602, "document is not open: file:///tmp/\\udc80.py"),
    ("textDocument/hover", {}, -32601, "Method Not Found: textDocument/hover"),
    ("workspace/symbol", {}, -32601, "Method Not Found: workspace/symbol"),
    ("$/unknown", {}, -32601, "Method Not Found: $/unknown"),
    ("textDocument/didClose", {"textDocument": {"uri": URI}}, -32600,
     "textDocument/didClose is a notification, not a request"),
    ("textDocument/inlineCompletion", {**GOOD_IC, "textDocument": {"uri": "file:///tmp/\udc80.py"}}, -32602,
     "Invalid params for textDocument/inlineCompletion: params.textDocument.uri: not a usable URI (a lone "
     "surrogate): 'file:///tmp/\\udc80.py'"),
    ("textDocument/inlineCompletion", {**GOOD_IC, "textDocument": {"uri": "file:///nowhere/%00.py"}}, -32602,
     "Invalid params for textDocument/inlineCompletion: params.textDocument.uri: not a usable file path: "
     "'file:///nowhere/%00.py'"),
])
async def test_request_errors(server: Any, method: str, params: Any, code: int, message: str) -> None:
    await initialize(server)
    assert error_of(await ask(server, 2, method, params)) == (code, message)
    assert out(server).pop_ups() == []


async def test_valid_requests_answer(server: Any) -> None:
    await initialize(server)
    assert (await ask(server, 3, IC, GOOD_IC))["result"] == {"items": []}  # no model loaded: empty at once
    stats = await ask(server, 4, "codehearth/stats", omit=True)
    assert stats["result"]["state"] == "idle"
    assert (await ask(server, 5, "textDocument/codeAction", {
        "textDocument": {"uri": URI}, "range": {"start": {"line": 1, "character": 8},
                                                "end": {"line": 1, "character": 8}},
        "context": {"diagnostics": []}}))["result"][0]["title"] == "Explain this function: f"


async def test_framing_errors(server: Any) -> None:
    await initialize(server)
    server.protocol.receive_frame(b"{bad}")
    server.protocol.receive_frame(b"\xff\xfe")
    server.protocol.receive_frame(b"[" * 100000)
    server.protocol.receive_frame(b"[1, 2]")
    server.protocol.receive_frame(b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "codehearth/stats"}')
    null_ids = [m for m in out(server).messages if "method" not in m and m.get("id") is None]
    assert [m["error"]["code"] for m in null_ids] == [-32700, -32700, -32700, -32600, -32600]
    assert null_ids[0]["error"]["message"].startswith("Parse error: Expecting property name")
    server.protocol.receive_frame(Oversized(10**14, b'{"jsonrpc": "2.0", "id": 9, "method": "x", "params": {'))
    assert error_of(out(server).answers(9)[0]) == (
        -32600, "message of 100000000000000 bytes refused: the limit is 134217728 bytes")
    assert error_of(await _with_version(server)) == (
        -32600, 'Invalid request: needs "jsonrpc": "2.0" and a string method')
    assert out(server).pop_ups() == []


async def _with_version(server: Any) -> dict[str, Any]:
    send(server, {"jsonrpc": "1.0", "id": "v1", "method": "codehearth/stats"})
    await asyncio.sleep(0)
    return out(server).answers("v1")[0]


async def test_bad_notifications_are_logged_and_ignored(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    await initialize(server)
    caplog.set_level(logging.INFO, logger="codehearth")
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": "file:///ws/not-open.py", "version": 2}, "contentChanges": [{"text": "x"}]}})
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "file:///nowhere/%00.py", "languageId": "python", "version": 1, "text": "x = 1\n"}}})
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": None})
    send(server, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {}})
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {
        "textDocument": {"uri": "file:///ws/never.py"}}})
    send(server, {"jsonrpc": "2.0", "method": "notebookDocument/didChange", "params": {}})
    await asyncio.sleep(0.05)
    assert out(server).pop_ups() == []
    assert [m for m in out(server).messages if "method" not in m and m.get("id") != "init"] == []
    logged = caplog.text
    assert "didChange for a document that is not open: file:///ws/not-open.py" in logged
    assert "ignored textDocument/didOpen: invalid params: params.textDocument.uri: not a usable file path" in logged
    assert "ignored textDocument/didOpen: invalid params: params.textDocument: invalid value, expected TextDocumentItem" in logged
    assert "ignored $/cancelRequest: invalid params: params.id: required field missing" in logged


async def test_handler_faults(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    await initialize(server)
    caplog.set_level(logging.DEBUG, logger="codehearth")
    assert error_of(await ask(server, 10, "test/boom", {})) == (-32603, "Internal error: boom")
    assert error_of(await ask(server, 11, "test/boom", {})) == (-32603, "Internal error: boom")
    assert caplog.text.count("Traceback") == 1  # the reason logged once
    assert out(server).pop_ups() == []  # a request's fault travels in its answer
    for _ in range(3):
        send(server, {"jsonrpc": "2.0", "method": "test/boomNote", "params": {}})
    await asyncio.sleep(0.05)
    pop_ups = out(server).pop_ups()
    assert [p["params"]["message"] for p in pop_ups] == [
        "codehearth: internal error (ZeroDivisionError: boom in a notification); details in the log"]


async def test_shutdown_then_requests_are_refused(server: Any) -> None:
    await initialize(server)
    assert (await ask(server, 20, "shutdown", {}))["result"] is None
    assert error_of(await ask(server, 21, "codehearth/stats")) == (
        -32600, "codehearth/stats: the server is shutting down")


async def test_second_initialize_is_refused(server: Any) -> None:
    await initialize(server)
    assert error_of(await ask(server, 30, "initialize", {"capabilities": {}})) == (
        -32600, "initialize may only be sent once")


async def test_token_required(server: Any) -> None:
    server.protocol.required_token = "s3cret"
    assert error_of(await ask(server, 40, "codehearth/stats")) == (-32002, "initialize with the token first")
    refused = await ask(server, 41, "initialize", {"capabilities": {}, "initializationOptions": {"tcpToken": "no"}})
    assert error_of(refused) == (-32600, "this server requires initializationOptions.tcpToken (the value of "
                                         "$CODEHEARTH_TCP_TOKEN where it runs)")
    accepted = await ask(server, 42, "initialize", {"capabilities": {},
                                                    "initializationOptions": {"tcpToken": "s3cret"}})
    assert "result" in accepted
    assert "result" in await ask(server, 43, "codehearth/stats")
    assert "tcpToken" not in server.init_options


async def test_initialized_is_handled_once(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codehearth")
    send(server, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
    assert "ignored initialized: before initialize" in caplog.text
    await initialize(server)
    loads = []
    server.schedule_model_load = lambda: loads.append(1)  # the real one loads the model
    server.index_workspace = lambda: asyncio.sleep(0)
    for _ in range(3):
        send(server, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
    await asyncio.sleep(0.05)
    assert loads == [1]
    assert caplog.text.count("ignored initialized: sent again") == 2


async def test_text_where_a_list_belongs_is_one_error(server: Any) -> None:
    # cattrs would try each character of the string as a list element: a 1 MB string froze the server for minutes.
    await initialize(server)
    params = {"textDocument": {"uri": URI}, "range": {"start": {"line": 0, "character": 0},
                                                      "end": {"line": 0, "character": 0}},
              "context": {"diagnostics": "y" * 2**20}}
    assert error_of(await ask(server, 3, "textDocument/codeAction", params)) == (
        -32602, "Invalid params for textDocument/codeAction: params.context.diagnostics: invalid value, "
        "expected Sequence")
    params["context"] = {"diagnostics": {"a": 1}}
    assert error_of(await ask(server, 4, "textDocument/codeAction", params))[0] == -32602
    assert out(server).pop_ups() == []


async def test_odd_values_cattrs_lets_through(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    await initialize(server)
    caplog.set_level(logging.INFO, logger="codehearth")
    send(server, {"jsonrpc": "2.0", "method": "window/workDoneProgress/cancel", "params": {"token": [1]}})
    send(server, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "file:///ws/b.py", "languageId": 7, "version": 1, "text": "x = 1\n"}}})
    await asyncio.sleep(0.05)
    assert out(server).pop_ups() == []
    assert "ignored window/workDoneProgress/cancel: params.token must be a string or an integer" in caplog.text
    assert server.assistant.documents.get("file:///ws/b.py") is not None
