"""Fixtures for the Neovim end-to-end tests: a real headless Neovim 0.11 with the plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nvim_driver import HERE, PLUGIN_DIR, REPO, SAMPLE_PY, Nvim, NvimFactory


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".git").mkdir()  # a root marker
    (ws / "sample.py").write_text(SAMPLE_PY)
    return ws


@pytest.fixture
def make_nvim(workspace: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NvimFactory]:
    """Start headless Neovims with the plugin; every one is stopped (and its server killed) afterwards."""
    started: list[Nvim] = []

    def start(
        setup: dict[str, Any], files: list[str] | None = None, env: dict[str, str] | None = None
    ) -> Nvim:
        full_env = {
            "CODEHEARTH_PLUGIN_DIR": str(PLUGIN_DIR),
            "CODEHEARTH_TEST_LUA_DIR": str(HERE / "lua"),
            "CODEHEARTH_TEST_SETUP": json.dumps(setup),
        }
        full_env.update(env or {})
        state = tmp_path / f"nvim-{len(started)}"
        nv = Nvim(HERE / "lua" / "init.lua", workspace, env=full_env, args=files or [], state_dir=state)
        started.append(nv)
        return nv

    yield start
    for nv in started:
        nv.close()
    # Keep Neovim's and the server's logs (the server's stderr is in lsp.log) for CI artifacts.
    logs = REPO / "test-output" / "neovim" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for i, nv in enumerate(started):
        name = f"{request.node.name}-{i}"
        (logs / f"{name}.lsp.log").write_text(nv.lsp_log()[-200_000:])
        (logs / f"{name}.nvim.log").write_text(nv.log())
    for nv in started:
        assert not nv.alive()
