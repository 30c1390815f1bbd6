"""The editor's process killed while an explanation streams: the real server notices its stdin closing, exits by
itself, and leaves no process behind."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.faults.common import SETTLE_S, write_workspace
from tests.lsp.harness import server_env

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the client said nothing in time"
    return proc.stdout.readline().strip()


def descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (children of all its threads, recursively)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet (init in a container may not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_client_killed_mid_stream(tmp_path: Path, default_model: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    for i in range(80):  # enough files for the scan to use its parsing processes
        (ws / f"mod_{i}.py").write_text(f"def helper_{i}(x):\n    return x + {i}\n")
    env = server_env(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    client = subprocess.Popen([sys.executable, "-m", "tests.faults.killable_client", str(ws), str(tmp_path / "cache")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    server = 0
    try:
        first = read_line(client, 180)
        assert first.startswith("server "), first
        server = int(first.split()[1])
        assert read_line(client, 180) == "streaming"
        watched = descendants(server) | {server}
        client.send_signal(signal.SIGKILL)
        client.wait(10)
        end = time.monotonic() + SETTLE_S
        while time.monotonic() < end and not all(gone(pid) for pid in watched | descendants(server)):
            time.sleep(0.1)
        left = sorted(pid for pid in watched | descendants(server) if not gone(pid))
        assert left == [], f"still running after the client died: {left}"
    finally:
        for pid in (server, *descendants(server)) if server else ():
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        if client.poll() is None:
            client.kill()
