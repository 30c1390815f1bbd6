"""Fixtures for the Neovim end-to-end tests: a real headless Neovim 0.11 with the plugin."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nvim_driver import Nvim  # noqa: E402

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


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".git").mkdir()  # a root marker
    (ws / "sample.py").write_text(SAMPLE_PY)
    return ws


NvimFactory = Callable[..., Nvim]


@pytest.fixture
def make_nvim(workspace: Path) -> Iterator[NvimFactory]:
    """Start headless Neovims with the plugin; every one is stopped (and its server killed) afterwards."""
    started: list[Nvim] = []

    def start(setup: dict[str, Any], files: list[str] | None = None, env: dict[str, str] | None = None) -> Nvim:
        full_env = {
            "CODEHEARTH_PLUGIN_DIR": str(PLUGIN_DIR),
            "CODEHEARTH_TEST_LUA_DIR": str(HERE / "lua"),
            "CODEHEARTH_TEST_SETUP": json.dumps(setup),
        }
        full_env.update(env or {})
        nv = Nvim(HERE / "lua" / "init.lua", workspace, env=full_env, args=files or [])
        started.append(nv)
        return nv

    yield start
    for nv in started:
        nv.close()
    for nv in started:
        assert not nv.alive()


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
