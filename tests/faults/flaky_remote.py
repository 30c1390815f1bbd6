"""An OpenAI-compatible inference server that misbehaves on demand: slow, garbage, or a stream cut short.

Only ``/v1/models`` and streamed ``/v1/completions``, on loopback, in a thread of the test process. ``mode`` can be
switched at any time; the next request sees it. "good" streams a fixed answer, so a test can tell a recovered server
from a broken one by the text alone.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["good", "slow", "garbage", "truncated", "html"]
ANSWER = ["return", " radius", " *", " 2"]


def _event(text: str, finish: str | None = None) -> bytes:
    payload = {"id": "x", "object": "text_completion", "model": "flaky-coder",
               "choices": [{"index": 0, "text": text, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


class FlakyRemote:
    def __init__(self, slow_s: float = 30.0) -> None:
        self.mode: Mode = "good"
        self.slow_s = slow_s
        self.completions = 0
        self.stop_event = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "flaky-coder", "object": "model"}]})
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path != "/v1/completions":
                    self._json(404, {"detail": "Not Found"})
                    return
                owner.completions += 1
                mode = owner.mode
                if mode == "slow":  # silent (prefill that never ends) until the client hangs up or the test ends
                    owner.stop_event.wait(owner.slow_s)
                    self.close_connection = True
                    return
                if mode == "html":  # a proxy's login page where the server should be
                    body = b"<html><body><h1>Sign in to continue</h1></body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if mode == "truncated":  # half the answer, then the connection drops mid-chunk
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = _event(ANSWER[0]) + _event(ANSWER[1])
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"400\r\ndata: {\"choi")  # a chunk promised and never finished
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "garbage":
                    body = (b"data: {not json at all\n\n" + b"data: \xff\xfe\x00garbage\n\n"
                            + b"data: [1, 2, 3]\n\n" + b"data: [DONE]\n\n")
                else:
                    body = b"".join(_event(t) for t in ANSWER) + _event("", "stop") + b"data: [DONE]\n\n"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: object) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="flaky-remote", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def flaky_remote(slow_s: float = 30.0) -> Iterator[FlakyRemote]:
    server = FlakyRemote(slow_s)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        time.sleep(0.05)
