"""The soak's samples: the server process as /proc sees it, its own account of its memory, taken only with the
model loaded."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pytest_lsp import LanguageClient

from benchmarks.latency.lsp_driver import to_dict
from benchmarks.soak.disturber import Disturber

MEMORY_KEYS = ("anonymousMb", "fileMb", "heapInUseMb", "heapFreeMb", "heapMmappedMb", "pythonTracedMb",
               "tracingOverheadMb", "gcObjects")


def proc_sample(pid: int) -> dict[str, Any]:
    """Resident memory (MB), open file descriptors and threads of a live process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kb = int(fields["VmRSS"].split()[0])
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(fields["Threads"])}



async def wait_until_loaded(client: LanguageClient, disturber: Disturber | None, timeout: float = 60) -> dict[str, Any]:
    """Before a sample: the models loaded (not between a reload's unload and load, nor with two copies mapped).
    Returns the server's stats then: their ``contexts`` say which llama contexts exist at the sample."""
    end = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    if disturber is not None:
        while time.monotonic() < min(end, disturber.reloading_until):
            stats = to_dict(await client.protocol.send_request_async("codehearth/stats", None))
            if stats["state"] == "ready" and time.monotonic() > disturber.reloading_until - 15:
                break  # the reload is over (at least 5 s after it began, and ready)
            await asyncio.sleep(0.5)
    while time.monotonic() < end:
        stats = to_dict(await client.protocol.send_request_async("codehearth/stats", None))
        if stats["state"] == "ready":
            break
        await asyncio.sleep(0.5)
    return stats


async def memory_split(client: LanguageClient, top: int = 0) -> dict[str, Any]:
    """The server's own account of its memory (resident by kind, C heap, traced Python), or {} if it cannot say."""
    try:
        return to_dict(await asyncio.wait_for(
            client.protocol.send_request_async("codehearth/memory", {"top": top}), 60))
    except Exception as exc:  # a sample without the split, not a failed soak
        return {"memoryError": f"{type(exc).__name__}: {exc}"[:200]}
