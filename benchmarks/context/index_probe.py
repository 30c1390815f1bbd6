"""Index a tree once in this process and print one JSON line: time, files, symbols, peak memory.

    python -m benchmarks.context.index_probe ROOT CACHE_DIR [--exclude PATTERN ...]

Run by the benchmark in a fresh process for a cold index (empty cache) and again for a warm one (same cache,
nothing changed), so that peak RSS is the index's own. Workers' peak RSS (the scan's parsing processes) is
reported separately.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from codehearth.config import ContextSettings
from codehearth.context.index import WorkspaceIndex


def vm_hwm_mb() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the forking parent's peak over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args()
    before = vm_hwm_mb()
    settings = ContextSettings(exclude=args.exclude)
    started = time.perf_counter()
    index = WorkspaceIndex([args.root], args.cache, settings)
    stats = index.scan()
    seconds = time.perf_counter() - started
    index.close()
    print(json.dumps({
        "files": stats.files, "symbols": stats.symbols, "parsed": stats.parsed, "seconds": round(seconds, 2),
        "peak_rss_mb": vm_hwm_mb(),
        "rss_before_index_mb": before,
        "workers_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "index_workers": settings.index_workers,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
