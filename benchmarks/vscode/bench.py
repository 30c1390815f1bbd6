"""The VS Code row of the editor benchmark: code-server driven by tests/e2e/vscode/driver.mjs --measure, with a
Neovim row typed on the same passages right after it (benchmarks/editor's typist), both scored by
benchmarks/editor/scoring.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, git_commit, machine_info
from benchmarks.editor import bench as editor_bench
from benchmarks.editor import passages as passages_mod
from benchmarks.editor import scoring
from benchmarks.editor.typist import NvimEditor, type_passage, wait_quiet
from benchmarks.vscode import glue

E2E_DIR = Path(os.environ.get("CODEHEARTH_E2E_DIR", ROOT / "editors" / "vscode-client" / ".e2e"))
DRIVER = ROOT / "tests" / "e2e" / "vscode" / "driver.mjs"
PAUSE_MS = editor_bench.PAUSE_MS
PLANNED = re.compile(r"plan for \S+:\d+:\d+: ")
# codehearth's defaults, with the debug log that names each answer's plan (the Neovim benchmark's defaults row too)
SETTINGS = {"codehearth.logLevel": "debug"}


def select(which: str) -> list[passages_mod.Passage]:
    """``quick`` (the editor benchmark's --quick passage), ``all``, or passage names (``colorsys.py:99-104``)."""
    if which == "quick":
        return passages_mod.load(passages_mod.QUICK)
    specs = passages_mod.PASSAGES if which == "all" else tuple(
        s for s in passages_mod.PASSAGES if f"{s[0]}:{s[1]}-{s[2]}" in which.split(","))
    if not specs:
        raise SystemExit(f"no passage named {which!r}: choose from "
                         + ", ".join(f"{s[0]}:{s[1]}-{s[2]}" for s in passages_mod.PASSAGES))
    return passages_mod.load(specs)


def _marked(token: str) -> list[int]:
    needle = f"CODEHEARTH_E2E_RUN={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _sweep(proc: subprocess.Popen[str], token: str) -> None:
    """The driver's process group and every process that carries its run token (code-server detaches)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for pid in _marked(token):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM:
            time.sleep(1.0)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def vscode_row(passages: list[passages_mod.Passage], ws: Path, work: Path, cadence: int,
               timeout_s: int) -> dict[str, Any]:
    env_json = E2E_DIR / "env.json"
    if not env_json.is_file():
        raise SystemExit(f"no {env_json}: run `make e2e-setup` (tests/e2e/vscode/setup.sh) first")
    tools = json.loads(env_json.read_text())
    work.mkdir(parents=True, exist_ok=True)
    spec_file = work / "spec.json"
    spec_file.write_text(json.dumps(glue.spec(passages, ws, cadence, PAUSE_MS, SETTINGS)))
    out = work / "driver"
    token = secrets.token_hex(8)
    cmd = [tools["node"], str(DRIVER), "--env", str(env_json), "--out", str(out), "--repo", str(ROOT),
           "--python", sys.executable, "--models-dir", os.environ["CODEHEARTH_MODELS_DIR"],
           "--measure", str(spec_file)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env={**os.environ, "CODEHEARTH_E2E_RUN": token}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _sweep(proc, token)
        stdout, stderr = proc.communicate()
        raise SystemExit(f"the VS Code driver ran past {timeout_s} s (logs in {out})\n{stderr[-4000:]}") from None
    finally:
        _sweep(proc, token)
    (work / "driver.stderr.log").write_text(stderr)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT "):]) if lines else {}
    if not result.get("ok"):
        raise SystemExit(f"the VS Code driver failed (rc {proc.returncode}, logs in {out}): "
                         f"{''.join(result.get('errors', []))}\n{stderr[-4000:]}")
    return {
        "status_bar": result.get("statusBar"), "model_used": _model_of(result.get("statusBar", "")),
        "vsix": tools.get("vsix"), "seconds": round(time.monotonic() - t0, 1),
        "typing": [{k: p[k] for k in ("name", "seconds", "quietWaitS")} for p in result["measure"]["passages"]],
        **_answers(_codehearth_log(out)),
        "ghost_on_another_line": sum(r.get("elsewhere", False) for p in result["measure"]["passages"]
                                     for r in p["readings"]),
        "readings": glue.readings(passages, result["measure"]),
    }


def _codehearth_log(out: Path) -> str:
    """The extension's output channel as code-server wrote it (the server's stderr, with its debug lines)."""
    return "\n".join(p.read_text(errors="replace") for p in sorted((out / "vscode-logs").rglob("*odehearth*.log")))


def _answers(log: str) -> dict[str, Any]:
    """The server's answers (one debug line each) and the requests it planned: VS Code cancels a request at the
    next keystroke, and a cancelled request is planned but never answered."""
    return {"answers": editor_bench.parse_answers(log), "requests_planned": len(PLANNED.findall(log))}


def _model_of(status_bar: str) -> str | None:
    """The status bar item reads ``<model> · ready``."""
    model = status_bar.split("·")[0].strip()
    return model or None


def neovim_row(passages: list[passages_mod.Passage], ws: Path, work: Path, cadence: int) -> dict[str, Any]:
    """codehearth's Neovim plugin with default settings on the same passages (the editor benchmark's defaults
    row), for a same-run comparison."""
    state = work
    state.mkdir(parents=True, exist_ok=True)
    env = editor_bench.codehearth_env(state, Path(os.environ["CODEHEARTH_MODELS_DIR"]))
    env["EDITOR_BENCH_SETUP"] = json.dumps({"cmd": [sys.executable, "-m", "codehearth", "serve"],
                                            "settings": {"logLevel": "debug"}})
    t0 = time.monotonic()
    nv = NvimEditor("codehearth", ws, state, env, editor_bench.PLUGIN_DIR, "codehearth.ghost")
    try:
        nv.open(passages[0].module)
        ready = editor_bench.wait_ready(nv)
        readings: list[dict[str, Any]] = []
        typing = []
        for passage in passages:
            quiet = wait_quiet(nv.pids())
            typed = type_passage(nv, passage, cadence, PAUSE_MS)
            readings += [dict(r.__dict__) for r in typed.readings]
            typing.append({"name": passage.name, "seconds": typed.seconds, "quietWaitS": quiet})
        stats = nv.stats()
        log = nv.lsp_log()
    finally:
        nv.close()
    return {"model_used": (stats or ready).get("model"), "threads": (stats or ready).get("threads"),
            "seconds": round(time.monotonic() - t0, 1), "typing": typing, **_answers(log), "readings": readings}


EDITORS = {"vscode": "VS Code (code-server in chromium, the packaged extension)",
           "neovim": "Neovim 0.11 (headless, codehearth's plugin)"}


def run(args: Any) -> dict[str, Any]:
    passages = select(args.passages)
    work = Path(tempfile.mkdtemp(prefix="vscode-bench-"))
    print(f"  work folder (driver logs, screenshots): {work}", flush=True)
    results: dict[str, Any] = {
        "name": "editor-vscode", "command": " ".join(["python -m benchmarks.vscode", *sys.argv[1:]]),
        "git_commit": git_commit(), "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"cadence_ms": args.cadence, "pause_ms": PAUSE_MS, "settings": SETTINGS,
                   "passages": args.passages, "neovim_row": not args.no_neovim, "repeat": args.repeat},
        "passages": [{"name": p.name, "split": p.split, "keystrokes": len(p.keys), "lines": len(p.lines),
                      "by_class": {k: sum(x.kind == k for x in p.keys) for k in scoring.CLASSES}}
                     for p in passages],
        "rows": {},
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in EDITORS if name == "vscode" or not args.no_neovim}
    for rep in range(args.repeat):
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))  # each editor leads in turn
        for name in order:
            where = work / f"{name}-{rep}"
            ws = passages_mod.write_workspace(where / "ws", passages)  # a fresh workspace: the passages removed
            got = (vscode_row(passages, ws, where, args.cadence, args.timeout) if name == "vscode"
                   else neovim_row(passages, ws, where, args.cadence))
            runs[name].append(got)
            print(f"  {rep + 1}/{args.repeat} {name}: {got['model_used']} "
                  f"{scoring.summarise(got['readings'])}", flush=True)
    for name, repeats in runs.items():
        combined = {"editor": EDITORS[name], **glue.combine(repeats)}
        combined["readings"] = editor_bench.compact(combined["readings"])
        results["rows"][name] = combined
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results
