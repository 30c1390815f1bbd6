"""What every fault test checks: the server still answers, said what happened at most once, and recovers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_lsp import LanguageClient
from tests.lsp.harness import inline, insert, open_doc, stats_of

SOURCE = '''"""Circles."""

import math


def circle_area(radius):
    return math.pi * radius ** 2


def circle_circumference(radius):
    '''
SOURCE_END = (10, 4)  # the cursor: the empty body of circle_circumference
SETTLE_S = 60.0  # the longest any recovery may take before a test gives up (a hang detector, not a threshold)


def write_workspace(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "circles.py").write_text(SOURCE)
    return root


def popups(client: LanguageClient) -> list[str]:
    """Every window/showMessage the server sent."""
    return [m.message for m in client.messages]


def logged(client: LanguageClient, needle: str) -> list[str]:
    return [m.message for m in client.log_messages if needle in m.message]


async def log_seen(client: LanguageClient, needle: str) -> bool:
    return bool(logged(client, needle))


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = SETTLE_S, step: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` if it never does."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = await check()
        if last:
            return last
        await asyncio.sleep(step)
    raise AssertionError(f"{what} did not happen in {timeout:.0f} s (last: {last!r})")


class Typist:
    """Opens the sample file and asks for completions at the end of it, typing a little between requests so that
    no cache can answer for the model."""

    def __init__(self, client: LanguageClient, workspace: Path) -> None:
        self.client = client
        self.uri = (workspace / "circles.py").as_uri()
        self.version = 1
        self.line, self.col = SOURCE_END
        open_doc(client, self.uri, SOURCE)

    async def complete(self) -> str:
        return await inline(self.client, self.uri, self.line, self.col)

    async def type_and_complete(self, text: str = " ") -> str:
        self.version += 1
        insert(self.client, self.uri, self.version, self.line, self.col, text)
        self.col += len(text)
        return await self.complete()

    async def alive(self) -> dict[str, Any]:
        return await stats_of(self.client)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def server_pid(client: LanguageClient) -> int:
    return int(client._server.pid)  # type: ignore[attr-defined]
