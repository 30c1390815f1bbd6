"""The VS Code extension's own unit tests (`npm test` in editors/vscode-client: typecheck + node:test).

Needs the extension's node_modules, which tests/e2e/vscode/setup.sh installs (`npm ci`); skips without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[3] / "editors" / "vscode-client"


def test_extension_unit_tests() -> None:
    npm = shutil.which("npm")
    if npm is None or not (EXT / "node_modules" / "vscode-languageclient").is_dir():
        pytest.skip("extension dependencies not installed: run `bash tests/e2e/vscode/setup.sh`")
    proc = subprocess.run(
        [npm, "test"],
        cwd=EXT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
        start_new_session=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"npm test failed:\n{out[-8000:]}"
    assert "# fail 0" in out, out[-4000:]
