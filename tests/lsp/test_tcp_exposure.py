"""`codehearth serve --tcp`: loopback only unless --allow-remote, and then only with the token (issue 14)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.reliability.client import SERVER, encode, server_env

TOKEN = "correct-horse-battery-staple"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tmp_path: Path, *args: str, token: str | None = None) -> subprocess.Popen[bytes]:
    env = server_env(tmp_path)
    env.pop("CODEHEARTH_TCP_TOKEN", None)
    if token is not None:
        env["CODEHEARTH_TCP_TOKEN"] = token
    return subprocess.Popen([*SERVER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    for _ in range(300):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
    raise AssertionError("the server never listened")


def read_message(sock: socket.socket) -> dict[str, Any] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            return None
        data += chunk
    length = int(data.split(b"Content-Length:")[1].split(b"\r\n")[0])
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk
        body += chunk
    return json.loads(body)  # type: ignore[no-any-return]


def answer(sock: socket.socket, msg_id: int) -> dict[str, Any]:
    while True:
        message = read_message(sock)
        assert message is not None, f"connection closed before the answer to {msg_id}"
        if message.get("id") == msg_id and "method" not in message:
            return message


def initialize(msg_id: int, options: dict[str, Any]) -> bytes:
    return encode({"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
                   "params": {"capabilities": {}, "initializationOptions": options}})


def test_refuses_non_loopback_without_the_flag(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--tcp", f"0.0.0.0:{free_port()}", token=TOKEN)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"refusing to listen on 0.0.0.0: only loopback addresses are served unless --allow-remote" in err


def test_allow_remote_needs_a_token(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--allow-remote", "--tcp", f"0.0.0.0:{free_port()}")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"--allow-remote needs a token: set $CODEHEARTH_TCP_TOKEN" in err


def test_remote_clients_must_present_the_token(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(tmp_path, "--allow-remote", "--tcp", f"0.0.0.0:{port}", token=TOKEN)
    try:
        # No token: everything but initialize is refused, initialize is refused, and the connection is closed.
        with connect(port, proc) as sock:
            sock.sendall(encode({"jsonrpc": "2.0", "id": 1, "method": "codehearth/stats"}))
            assert answer(sock, 1)["error"] == {"code": -32002, "message": "initialize with the token first"}
            sock.sendall(initialize(2, {"tcpToken": "guess"}))
            assert answer(sock, 2)["error"] == {"code": -32600, "message": (
                "this server requires initializationOptions.tcpToken (the value of $CODEHEARTH_TCP_TOKEN where it runs)")}
            assert read_message(sock) is None  # closed by the server
        assert proc.poll() is None  # still serving the next client
        # The right token: a normal session.
        with connect(port, proc) as sock:
            sock.sendall(initialize(3, {"tcpToken": TOKEN}))
            assert answer(sock, 3)["result"]["capabilities"]["inlineCompletionProvider"] is not None
            sock.sendall(encode({"jsonrpc": "2.0", "id": 4, "method": "codehearth/stats"}))
            assert answer(sock, 4)["result"]["state"] == "idle"
            sock.sendall(encode({"jsonrpc": "2.0", "id": 5, "method": "shutdown"}))
            assert answer(sock, 5)["result"] is None
            sock.sendall(encode({"jsonrpc": "2.0", "method": "exit"}))
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_loopback_needs_no_flag(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(tmp_path, "--tcp", f"127.0.0.1:{port}")
    try:
        with connect(port, proc) as sock:
            sock.sendall(initialize(1, {}))
            assert "result" in answer(sock, 1)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
