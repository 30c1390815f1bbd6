"""The watchdog: cancellation and deadlines close a silent stream at once (the server may still be in prefill)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from codehearth.engine.base import GenerationRequest, StopReason

WATCH_INTERVAL_S = 0.02


@dataclass
class _Watched:
    request: GenerationRequest
    response: httpx.Response | None = None
    reason: StopReason | None = None


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: set[int] = set()
        self._by_id: dict[int, _Watched] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def watch(self, request: GenerationRequest) -> Iterator[_Watched]:
        item = _Watched(request)
        if request.cancel is None and request.deadline is None:
            yield item
            return
        with self._cond:
            self._by_id[id(item)] = item
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="remote-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        try:
            yield item
        finally:
            with self._cond:
                self._by_id.pop(id(item), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._by_id and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                items = list(self._by_id.values())
            for item in items:
                if item.reason is not None or item.response is None:
                    continue
                if item.request.cancelled():
                    item.reason = "cancelled"
                elif item.request.expired():
                    item.reason = "deadline"
                else:
                    continue
                _abort(item.response)
            time.sleep(WATCH_INTERVAL_S)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _abort(response: httpx.Response) -> None:
    """Close a response from another thread: shut the socket down so a blocked read returns at once."""
    stream = response.extensions.get("network_stream")
    sock = None
    if stream is not None:
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
