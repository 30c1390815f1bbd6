"""Where this process's memory is: resident pages by kind, the C heap, and (when traced) Python's own allocations.

A soak that sees resident memory creep needs to tell three causes apart: Python objects that accumulate (a
cache without a bound), the C heap (llama.cpp, tree-sitter) growing or fragmenting, and file pages of the model
being touched for the first time (not a leak: they are shared and can be dropped). ``snapshot`` splits resident
memory that way from ``/proc/self/smaps_rollup`` and glibc's ``mallinfo2``; with ``CODEHEARTH_TRACEMALLOC`` set at
start-up, Python's allocations are traced too and ``snapshot(top=N)`` names the N source lines whose allocations
grew most since tracing started. Everything here is read-only and cheap except the traced comparison.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import tracemalloc
from pathlib import Path
from typing import Any

TRACE_ENV = "CODEHEARTH_TRACEMALLOC"  # a number of frames per traced allocation (1 is enough to name a line)
_MB = 1024 * 1024
_baseline: tracemalloc.Snapshot | None = None


def start_tracing_if_asked() -> bool:
    """Start tracing Python allocations when the environment asks (costly: for diagnosis, not for daily use)."""
    global _baseline
    frames = os.environ.get(TRACE_ENV, "").strip()
    if not frames or tracemalloc.is_tracing():
        return tracemalloc.is_tracing()
    try:
        depth = max(1, min(int(frames), 25))
    except ValueError:
        depth = 1
    tracemalloc.start(depth)
    _baseline = tracemalloc.take_snapshot()
    return True


def resident_by_kind(rollup: Path = Path("/proc/self/smaps_rollup")) -> dict[str, float]:
    """Resident memory split into anonymous pages (heap, stacks, repacked weights) and file pages (the mapped model)."""
    try:
        text = rollup.read_text()
    except OSError:
        return {}
    fields: dict[str, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name.strip()] = int(parts[0]) / 1024
    if "Rss" not in fields:
        return {}
    anonymous = fields.get("Anonymous", 0.0)
    return {"rssMb": round(fields["Rss"], 1), "anonymousMb": round(anonymous, 1),
            "fileMb": round(fields["Rss"] - anonymous, 1)}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _mallinfo2() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallinfo2"):  # glibc < 2.33, or not glibc
        return None
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2


_MALLINFO2 = _mallinfo2()


def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> bool:
    """Give the free pages inside glibc's heap back to the system (``malloc_trim``). A model reload frees hundreds
    of MB of buffers in pieces; without this the soak saw that memory kept as free heap (``heapFreeMb`` 12 → 45 MB
    in 7 minutes of reloads), counted in the resident size. False where there is no glibc."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def c_heap() -> dict[str, float]:
    """glibc's heap: bytes handed out, bytes free inside its arenas (fragmentation), and large blocks it mmapped."""
    if _MALLINFO2 is None:
        return {}
    info = _MALLINFO2()
    return {"heapInUseMb": round(info.uordblks / _MB, 1), "heapFreeMb": round(info.fordblks / _MB, 1),
            "heapMmappedMb": round(info.hblkhd / _MB, 1)}


def python_objects(top: int = 0) -> dict[str, Any]:
    """Live Python objects, and when allocations are traced, their total and the lines that grew most since start."""
    result: dict[str, Any] = {"gcObjects": len(gc.get_objects())}
    if not tracemalloc.is_tracing():
        return result
    current, peak = tracemalloc.get_traced_memory()
    result.update(pythonTracedMb=round(current / _MB, 2), pythonTracedPeakMb=round(peak / _MB, 2),
                  tracingOverheadMb=round(tracemalloc.get_tracemalloc_memory() / _MB, 2))
    if top > 0 and _baseline is not None:
        stats = tracemalloc.take_snapshot().compare_to(_baseline, "lineno")
        result["grewMost"] = [
            {"where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}", "sizeKb": round(s.size / 1024, 1),
             "grewKb": round(s.size_diff / 1024, 1), "count": s.count}
            for s in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:top]
        ]
    return result


def snapshot(top: int = 0) -> dict[str, Any]:
    return {**resident_by_kind(), **c_heap(), **python_objects(top)}
