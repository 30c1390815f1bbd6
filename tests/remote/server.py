"""llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``), started for a test.

Loopback only, bounded waits, always killed with its whole process group; it can be killed and restarted on the
same port to play a shared inference server that goes away and comes back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaCppServer:
    def __init__(self, model: Path, log_dir: Path, port: int | None = None, api_key: str | None = None,
                 n_threads: int | None = None) -> None:
        self.model = model
        self.port = port or free_port()
        self.api_key = api_key
        self.n_threads = n_threads
        self.log_path = log_dir / f"llama-cpp-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "2048"]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        if self.n_threads:
            cmd += ["--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)]
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/models", headers=headers, timeout=1.0).status_code == 200:
                    self._warm_up(headers)
                    return
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"llama_cpp.server did not start in {START_TIMEOUT_S:.0f} s: {self.tail()}")

    def _warm_up(self, headers: dict[str, str]) -> None:
        """One tiny completion, so that the first request of a test does not pay for the first decode."""
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{self.url}/v1/completions", headers=headers, timeout=START_TIMEOUT_S,
                       json={"prompt": "def f():", "max_tokens": 1})

    def kill(self) -> None:
        """SIGKILL the whole process group (the server dies as a crashed machine would) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        # The port must be free again before a restart on it.
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def restart(self) -> None:
        self.kill()
        self.start()

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def llama_cpp_server(model: Path, log_dir: Path, **kwargs: object) -> Iterator[LlamaCppServer]:
    server = LlamaCppServer(model, log_dir, **kwargs)  # type: ignore[arg-type]
    try:
        server.start()
        yield server
    finally:
        server.kill()
