"""The server under the zzuf fuzz (external_fuzz.py): how a mutated body reads as JSON-RPC (what the server owes
for it, whether it is still a shutdown or a settings notification), and the server's output kept exactly as
written."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.reliability.client import RawServer


def owed(body: bytes) -> tuple[str, Any]:
    """What JSON-RPC says the server owes for a body framed with its true length: ``("answer", id)``, ``("null",
    None)`` for an error with ``"id": null``, or ``("nothing", None)`` (a notification, or a response)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "null", None
    if not isinstance(data, dict):
        return "null", None
    has_id = "id" in data
    msg_id = data.get("id")
    valid = (isinstance(msg_id, int) and not isinstance(msg_id, bool)) or isinstance(msg_id, str)
    if "method" in data:
        if not has_id:
            return "nothing", None
        return ("answer", msg_id) if valid else ("null", None)
    if has_id and valid and ("result" in data or "error" in data):
        return "nothing", None  # an answer to one of the server's requests
    return ("answer", msg_id) if valid else ("null", None)


def reaches_settings(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("method") == "workspace/didChangeConfiguration" and "id" not in data


def is_shutdown(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("method") == "shutdown" and "id" in data and (
        isinstance(data["id"], int | str) and not isinstance(data["id"], bool))


class FuzzedServer(RawServer):
    """RawServer that keeps every message exactly as written (an error with no ``id`` member is told apart from
    one with ``"id": null``) and counts tracebacks in the log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.all_messages: list[dict[str, Any]] = []
        self.tracebacks: list[str] = []
        self._tb_open: list[str] | None = None
        super().__init__(*args, **kwargs)

    def _seen(self, message: dict[str, Any]) -> None:
        self.all_messages.append(message)

    def _stderr_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if text.startswith("Traceback"):
            self._tb_open = [text]
        elif self._tb_open is not None:
            self._tb_open.append(text)
            if not text.startswith((" ", "\t")):  # the exception line ends it
                if len(self.tracebacks) < 20:
                    self.tracebacks.append("".join(self._tb_open[-12:])[:3000])
                self._tb_open = None
