"""A plain JSON-RPC client over the real server's stdio, for input no well-behaved client library would send
(invalid JSON, wrong types, absurd headers). A reader thread collects every message the server writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "codehearth", "serve"]


def server_env(cache: Path) -> dict[str, str]:
    """This checkout's server, a private cache and no user configuration (models come from the user cache)."""
    env = dict(os.environ)
    env["CODEHEARTH_CACHE_DIR"] = str(cache)
    env["CODEHEARTH_CONFIG"] = str(cache / "no-user-config.toml")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), env.get("PYTHONPATH", "")])
    return env


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def encode(message: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \ud800 escapes (valid JSON, invalid UTF-16 once decoded).
    return frame(json.dumps(message).encode())


class RawServer:
    def __init__(self, cache: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        env = {**server_env(cache), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.proc = subprocess.Popen([*SERVER, *(args or [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.responses: dict[Any, list[dict[str, Any]]] = {}
        self.null_id_errors: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.received = 0  # messages read so far
        self.unreadable_output = 0  # frames the server wrote that are not a JSON object
        self.arrival: dict[Any, int] = {}  # response id -> ``received`` when its (first) answer came
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()  # the reader thread answers the server's requests too
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self._next_id = 0

    # -- writing ---------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.write(encode(message))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Any = None, *, omit_params: bool = False) -> int:
        msg_id = self.new_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if not omit_params:
            message["params"] = params
        self.send(message)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def call(self, method: str, params: Any = None, timeout: float = 60, **kw: Any) -> dict[str, Any]:
        return self.wait(self.request(method, params, **kw), timeout)

    def wait(self, msg_id: Any, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.responses:
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no response to {msg_id!r}; stderr tail: {self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))
            return self.responses[msg_id][0]

    def wait_null_errors(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.null_id_errors) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.null_id_errors)} of {count} id-less errors")
                self._cond.wait(min(left, 0.5))
            return list(self.null_id_errors)

    def initialize(self, workspace: Path, options: dict[str, Any] | None = None, *, ready: bool = True) -> None:
        result = self.call("initialize", {
            "processId": os.getpid(), "rootUri": workspace.as_uri(),
            "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                             "textDocument": {"inlineCompletion": {}}},
            "workspaceFolders": [{"uri": workspace.as_uri(), "name": "ws"}],
            "initializationOptions": options or {}})
        assert "result" in result, result
        self.notify("initialized", {})
        if ready:
            end = time.monotonic() + 120
            while self.call("codehearth/stats")["result"]["state"] not in ("ready", "error"):
                assert time.monotonic() < end, "the model never loaded"
                time.sleep(0.1)

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language,
                                                              "version": version, "text": text}})

    def close(self, timeout: float = 30) -> int:
        """shutdown + exit (when still running); returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.call("shutdown", timeout=timeout)
                self.notify("exit")
                self.proc.stdin.close()  # type: ignore[union-attr]
                return self.proc.wait(timeout)
            except Exception:
                pass
        return self.kill()

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(30)

    # -- reading ---------------------------------------------------------------------------------------

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line == b"\r\n":
                    break
            try:
                message = json.loads(out.read(length)) if length is not None else None
            except ValueError:
                message = None
            with self._cond:
                if not isinstance(message, dict):  # the server wrote something that is no JSON-RPC message
                    self.unreadable_output += 1
                    self._cond.notify_all()
                    continue
                self.received += 1
                self._seen(message)
                if "method" in message and "id" in message:
                    self.server_requests.append(message)
                    self._answer(message)
                elif "method" in message:
                    self.notifications.append(message)
                elif message.get("id") is None:
                    self.null_id_errors.append(message)
                else:
                    self.arrival.setdefault(message["id"], self.received)
                    self.responses.setdefault(message["id"], []).append(message)
                self._cond.notify_all()

    def _seen(self, message: dict[str, Any]) -> None:
        """Every message the server writes, as written, before it is filed (under ``_cond``); for subclasses."""

    def _answer(self, message: dict[str, Any]) -> None:
        """The server's own requests (work-done progress) get a null result, as an editor would send."""
        try:
            self.write(encode({"jsonrpc": "2.0", "id": message["id"], "result": None}))
        except OSError:
            pass

    def _drain_stderr(self) -> None:
        err = self.proc.stderr
        assert err is not None
        for line in err:
            self._stderr.append(line)
            del self._stderr[:-2000]  # enough for a traceback among the log lines
            self._stderr_line(line)

    def _stderr_line(self, line: bytes) -> None:
        """Every line of the server's log; for subclasses."""

    def stderr_tail(self, lines: int = 20) -> str:
        return b"".join(self._stderr[-lines:]).decode("utf-8", "replace")

    def pop_ups(self) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["method"] == "window/showMessage"]

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
