"""Context benchmark: recall per repository (recall.py) and index build cold/warm for the standard library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, STDLIB
from benchmarks.context.recall import run_recall


def run_index(root: Path, work: Path, exclude: list[str]) -> dict[str, Any]:
    cache = work / "stdlib-index"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    out: dict[str, Any] = {"root": str(root), "exclude": exclude}
    cmd = [sys.executable, "-m", "benchmarks.context.index_probe", str(root), str(cache)]
    for pattern in exclude:
        cmd += ["--exclude", pattern]
    for run in ("cold", "warm"):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
        if proc.returncode != 0:
            out[run] = {"error": proc.stderr[-800:]}
            continue
        out[run] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[context] index {run}: {out[run]}", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    return out


def run_context(packages: list[str], work: Path, max_sites: int | None, index_root: Path,
                index_exclude: list[str]) -> dict[str, Any]:
    recall = run_recall(packages, work, max_sites)
    index = run_index(index_root, work, index_exclude)
    return {"recall": recall, "index": index, "stdlib": str(STDLIB)}
