"""Type a short passage into a real VS Code (code-server) and score the ghost text a person sees (issue 21).

    python -m benchmarks.vscode                      # the editor benchmark's --quick passage, VS Code and Neovim
    python -m benchmarks.vscode --passages colorsys.py:99-104,graphlib.py:104-107 --no-neovim

Needs `make e2e-setup` (code-server, chromium, the .vsix). Loads a model: run it under
``flock /tmp/codehearth-bench.lock``. Writes benchmarks/results/editor-vscode.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import ROOT, add_allow_dirty, begin_results, write_results_file
from benchmarks.vscode.bench import run
from benchmarks.vscode.report import markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", default="quick",
                        help="quick (colorsys.py:99-102, as benchmarks.editor --quick), all, or names of the editor "
                        "benchmark's passages, comma-separated")
    parser.add_argument("--cadence", type=int, default=150, help="milliseconds between characters (default 150)")
    parser.add_argument("--no-neovim", action="store_true", help="skip the Neovim row on the same passages")
    parser.add_argument("--repeat", type=int, default=3, help="type the passages this many times in each editor, "
                        "each time in a fresh editor, server and workspace, the editors leading in turn (default 3)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds the VS Code driver may run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="editor-vscode", help="results file name (→ NAME.json, NAME.md)")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    begin_results(args.allow_dirty)  # refuses an uncommitted tree; caches, state and config in temporary folders
    results = run(args)
    write_results_file(args.out / f"{args.name}.json", results)
    write_results_file(args.out / f"{args.name}.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
