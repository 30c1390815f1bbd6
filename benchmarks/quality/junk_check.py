"""What the fast-junk rules (complete/postprocess.drop_junk) do to recorded HumanEval answers (issue 22).

    python -m benchmarks.quality.junk_check [--out benchmarks/results]

Reads the per-task answers of the HumanEval block and line results already in benchmarks/results and applies the
junk rule to each as the server would (the cursor on the task's body line, indented, in a Python file): how many
answers of each row are dropped, how many of those had passed their tests (a loss) and how many had failed (junk a
person no longer sees). No model runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from codehearth.complete.postprocess import CursorContext, drop_junk

INPUTS = ("humaneval-blocks-qwen2.5.json", "humaneval-lines-qwen2.5.json")


def check(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    out: dict[str, Any] = {}
    for name, row in data["rows"].items():
        tasks = row.get("per_task") or []
        dropped = [t for t in tasks if (t.get("completion") or "").strip()
                   and not drop_junk(t["completion"], CursorContext("    ", "", language="python")).strip()]
        out[name] = {"answers": len(tasks), "non_empty": sum(bool((t.get("completion") or "").strip()) for t in tasks),
                     "dropped": len(dropped), "dropped_passed": sum(bool(t.get("passed")) for t in dropped),
                     "dropped_failed": sum(not t.get("passed") for t in dropped),
                     "examples": sorted({t["completion"].split("\n", 1)[0] for t in dropped})[:8]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    results = {"name": "junk-check", "command": "python -m benchmarks.quality.junk_check", "inputs": {}}
    for name in INPUTS:
        path = ROOT / "benchmarks" / "results" / name
        if path.is_file():
            results["inputs"][name] = check(path)
    (args.out / "junk-check.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
