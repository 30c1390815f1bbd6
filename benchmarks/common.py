"""Shared helpers: machine description, percentiles, similarity measures, paths, and the rules every results
writer follows (results only from committed code, no user folder touched, one post-processing for every row)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tree_state() -> tuple[str, list[str]]:
    """The checkout's commit and its tracked files that differ from it (untracked files do not count)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", ["(git not available)"]
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return head.stdout.strip() or "unknown", changed


def git_commit() -> str:
    commit, changed = tree_state()
    return commit + ("+dirty" if changed else "")


# -- results from committed code only (issue 21 point 5) ----------------------------------------------------------

_PROVENANCE: dict[str, Any] | None = None


def add_allow_dirty(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write results although the checkout has uncommitted changes (they are marked dirty)")


def begin_results(allow_dirty: bool = False, work: Path | None = None) -> dict[str, Any]:
    """Call first in every benchmark that writes results: refuses an uncommitted tree unless ``allow_dirty`` (the
    results then say so), and points every cache, state and config folder of this process and of the servers it
    starts at temporary folders (the model weights stay where they are)."""
    global _PROVENANCE
    commit, changed = tree_state()
    if changed and not allow_dirty:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise SystemExit(f"refusing to write results from an uncommitted tree ({shown}): commit the code first, "
                         "or pass --allow-dirty (the results are then marked dirty)")
    isolate_user_folders(work)
    _PROVENANCE = {"git_commit": commit + ("+dirty" if changed else ""), "dirty": bool(changed),
                   "dirty_files": changed[:50]}
    return dict(_PROVENANCE)


def provenance() -> dict[str, Any]:
    if _PROVENANCE is None:
        raise RuntimeError("benchmarks.common.begin_results() must run before any results are written")
    return dict(_PROVENANCE)


def write_results_file(path: Path, content: str | dict[str, Any]) -> Path:
    """Every results file goes through here: a JSON object gets the run's provenance (commit, dirty or not)."""
    mark = provenance()
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = json.dumps({**content, "provenance": mark}, indent=1, default=str) + "\n"
    path.write_text(content, encoding="utf-8")
    return path


USER_FOLDER_VARIABLES = ("CODEHEARTH_CACHE_DIR", "CODEHEARTH_STATE_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME",
                         "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def isolate_user_folders(work: Path | None = None) -> Path:
    """Cache, state and config of this process (and every process it starts) in a temporary folder; the models
    folder is kept where the weights are (read only here)."""
    import tempfile

    from codehearth.models.registry import models_dir

    os.environ.setdefault("CODEHEARTH_MODELS_DIR", str(models_dir()))  # before XDG_CACHE_HOME moves
    base = work if work is not None else Path(tempfile.mkdtemp(prefix="codehearth-bench-home-"))
    for name in USER_FOLDER_VARIABLES:
        folder = base / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(folder)
    os.environ["CODEHEARTH_CONFIG"] = str(base / "no-user-config.toml")
    return base


# -- one post-processing for every row (issue 21 point 3) ---------------------------------------------------------


INDENT_UNIT = 4


def shown_text(text: str, line_prefix: str, shape: str = "line", header_indent: int | None = None) -> str:
    """What an editor shows of a row's answer, the same function for ours and every baseline before scoring.

    ``line``: the first line. ``block``: the lines up to the first one that dedents to the block's header
    (``header_indent`` columns) or below. Where the cursor's line holds only indentation, the indentation the
    model wrote before its first line is taken off (the line already has it: llama.vim trims it the same way, and
    ours' server does it itself, so this is a no-op on ours), and the following lines lose the same shift where
    they carry it. Trailing whitespace goes.
    """
    if shape == "line":
        if not line_prefix.strip() and text.startswith("\n") and text.strip():
            text = text.lstrip("\n")
        lines = [text.split("\n", 1)[0]]
    else:
        lines = []
        for k, line in enumerate(text.rstrip().split("\n")):
            if k > 0 and line.strip() and header_indent is not None and _width(line) <= header_indent:
                break
            lines.append(line)
    if not line_prefix.strip() and lines and lines[0][:1] in (" ", "\t"):
        shift = _width(lines[0])
        lines[0] = lines[0].lstrip(" \t")
        if shift < INDENT_UNIT and len(line_prefix) % INDENT_UNIT == 0:
            # a stray space before the first line (its token began with one) shifts the lines below alike:
            # taken off where it shows, as ours' post-processing does (complete/postprocess.py fix_indentation)
            lines[1:] = [ln[shift:] if ln.strip() and _width(ln) % INDENT_UNIT == shift else ln for ln in lines[1:]]
    return "\n".join(ln.rstrip() for ln in lines).rstrip()


def _width(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def machine_info() -> dict[str, Any]:
    try:
        import llama_cpp

        llama_version = str(llama_cpp.__version__)
    except Exception:  # pragma: no cover
        llama_version = "missing"
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "llama_cpp_python": llama_version,
        # the tree as the run began (begin_results), else as it is now
        "git_commit": _PROVENANCE["git_commit"] if _PROVENANCE is not None else git_commit(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": pct(values, 0.5), "p95": pct(values, 0.95), "p99": pct(values, 0.99),
            "mean": round(sum(values) / len(values), 2) if values else None}


def edit_similarity(a: str, b: str) -> float:
    """1 - normalised edit distance, approximated by difflib's ratio (as in CodeXGLUE/RepoBench reports)."""
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)
