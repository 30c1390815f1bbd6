"""Type passages into a real headless Neovim and score the ghost text a person sees (issue 21).

    python -m benchmarks.editor --llama-vim /path/to/llama.vim            # the full run (make bench)
    python -m benchmarks.editor --quick --rows defaults --no-bounds      # a short passage, for development

Rows (``--rows``): ``defaults`` (codehearth's plugin, default settings, a first start), ``measured`` (the
same after ``codehearth models recommend --measure``, as ``make run`` leaves a machine), ``MODEL@MS`` /
``defaults@MS`` / ``measured@MS`` (a model and ``latencyBudgetMs``), ``llama.vim`` (the real plugin from ``--llama-vim DIR``, a checkout or a bare
git snapshot of ggml-org/llama.vim; never committed here) and ``replica`` (the committed Python replica of
llama.vim). Heavy: run it under ``flock /tmp/codehearth-bench.lock``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import ROOT, add_allow_dirty, begin_results, write_results_file
from benchmarks.editor import passages as passages_mod
from benchmarks.editor.bench import run
from benchmarks.editor.report import markdown

DEFAULT_ROWS = ["defaults", "qwen2.5-coder-0.5b-instruct@1000", "llama.vim", "replica@150"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: s.split(","), default=None,
                        help="comma-separated rows (default: " + ",".join(DEFAULT_ROWS) + "; without --llama-vim "
                        "the llama.vim row is left out)")
    parser.add_argument("--cadence", type=lambda s: [int(x) for x in s.split(",")], default=[150, 250],
                        help="milliseconds between characters, comma-separated (default 150,250)")
    parser.add_argument("--llama-vim", help="ggml-org/llama.vim: a checkout or a bare git snapshot")
    parser.add_argument("--threads", type=int, default=2, help="threads of llama-server and llama-bench (ours: "
                        "its own choice, recorded)")
    parser.add_argument("--quick", action="store_true", help="one short passage (development)")
    parser.add_argument("--passages", choices=sorted(passages_mod.SETS), default="default",
                        help="which passages: the benchmark's own, or one-line strings (the oneLineStrings decision)")
    parser.add_argument("--no-bounds", action="store_true", help="skip the floor and the ceiling")
    parser.add_argument("--ceiling-stride", type=int, default=12, help="the ceiling asks at every Nth keystroke")
    parser.add_argument("--ceiling-box-s", type=float, default=600, help="time box of each ceiling replay")
    parser.add_argument("--bounds-from", help="an editor.json whose floor and ceiling to (re)measure; no typing")
    parser.add_argument("--floor-only", action="store_true", help="with --bounds-from: the floor again, the ceiling kept")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="editor", help="results file name (editor → editor.json, editor.md)")
    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = [r for r in DEFAULT_ROWS if r != "llama.vim" or args.llama_vim]
        if not args.llama_vim:  # without the real plugin the replica is the baseline, at every cadence
            args.rows = [r.replace("replica@150", "replica") for r in args.rows]
    begin_results(args.allow_dirty)  # refuses an uncommitted tree; caches, state and config in temporary folders
    results = run(args)
    write_results_file(args.out / f"{args.name}.json", results)
    write_results_file(args.out / f"{args.name}.md", markdown(results))
    print(markdown(results))
    beaten = results.get("floor", {}).get("rows_beating_floor")
    if beaten:
        print(f"rows beat the floor (the measurement is wrong): {beaten}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
