"""The editor benchmark's run: rows typed passage by passage (interleaved), then the floor and the ceiling."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, git_commit, machine_info
from benchmarks.editor import bounds, llamavim, scoring
from benchmarks.editor import passages as passages_mod
from benchmarks.editor.typist import NvimEditor, type_passage, wait_quiet

FIM_MODEL = "qwen2.5-coder-0.5b-instruct"
FLOOR_MODELS = (FIM_MODEL, "smollm2-135m-instruct")  # the models a row can use, each with its llama-bench rates
PLUGIN_DIR = ROOT / "editors" / "neovim"
PAUSE_MS = 1000  # after Enter, before the first key of the next line
ANSWER = re.compile(r"completion (\S+) in (\d+) ms at (\d+):(\d+) plan=(\S+) rung=(-?\d+) evaluated=(-?\d+) "
                    r"generated=(-?\d+) prompt=(-?\d+)")


@dataclass
class Row:
    """``defaults``, ``MODEL@MS`` or ``defaults@MS`` (codehearth's plugin), ``llama.vim`` (the real plugin) or
    ``replica`` (the Python replica of llama.vim). A codehearth row may end in ``+SETTING=VALUE`` (a JSON value),
    e.g. ``defaults+tokenHealing=false``: that server setting changed, for an A/B beside the row without it.
    ``measured`` / ``measured@MS`` is ``defaults`` after ``codehearth models recommend --measure``, as ``make run``
    leaves a machine: ``auto`` then picks from measured speeds, not from the size estimate of a first start."""

    name: str
    kind: str
    model: str | None = None
    budget_ms: int | None = None
    readings: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    cadence_ms: int | None = None  # only at this cadence (``replica@150``: the replica's check beside the plugin)
    settings: dict[str, Any] = field(default_factory=dict)  # server settings changed from the defaults
    measure_first: bool = False  # ``measured``: the models' speeds measured before the server starts

    @classmethod
    def parse(cls, spec: str) -> Row:
        kind, _, at = spec.partition("@")
        if kind in ("llama.vim", "replica"):
            return cls(kind, kind, cadence_ms=int(at) if at else None)
        base, *changes = spec.split("+")
        settings = {key: json.loads(value) for key, _, value in (c.partition("=") for c in changes)}
        model, _, ms = base.partition("@")
        chosen = model not in ("defaults", "measured")
        return cls(spec, "codehearth", model if chosen else None, int(ms) if ms else None, settings=settings,
                   measure_first=model == "measured")


def model_path(model: str) -> Path:
    out = subprocess.run([sys.executable, "-m", "codehearth", "models", "path", model], capture_output=True,
                         text=True, check=True, env=server_env({}))
    return Path(out.stdout.strip())


def measure_models(env: dict[str, str]) -> list[str]:
    """``codehearth models recommend --measure`` in the row's own state (what ``make run`` does first): its
    speed cache then holds measured rates, as on a machine where codehearth has run. Returns what it printed."""
    out = subprocess.run([sys.executable, "-m", "codehearth", "models", "recommend", "--measure"],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    return out.stdout.strip().splitlines()


def default_budget_ms() -> int:
    """This tree's default ``latencyBudgetMs`` (what a ``defaults`` row ran with), read as its servers read it."""
    out = subprocess.run([sys.executable, "-c", "from codehearth.config import Settings; "
                          "print(Settings().latency_budget_ms)"], capture_output=True, text=True, check=True,
                         env=server_env({}))
    return int(out.stdout.strip())


def server_env(base: dict[str, str]) -> dict[str, str]:
    """The checkout's own server package first (results come from this tree's code, not another install)."""
    env = {**os.environ, **base}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return env


def codehearth_env(state: Path, models_dir: Path) -> dict[str, str]:
    for d in ("cache", "state"):
        (state / d).mkdir(parents=True, exist_ok=True)
    return {"CODEHEARTH_CACHE_DIR": str(state / "cache"), "CODEHEARTH_STATE_DIR": str(state / "state"),
            "CODEHEARTH_CONFIG": str(state / "no-user-config.toml"), "CODEHEARTH_MODELS_DIR": str(models_dir),
            "PYTHONPATH": server_env({})["PYTHONPATH"]}


def wait_ready(editor: NvimEditor, timeout_s: float = 300) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        stats = editor.stats()
        if stats and stats.get("state") in ("ready", "error"):
            if stats["state"] != "ready":
                raise RuntimeError(f"codehearth did not load its model: {stats.get('error')}")
            return stats
        time.sleep(0.3)
    raise TimeoutError("codehearth never became ready")


def parse_answers(lsp_log: str) -> list[dict[str, Any]]:
    out = []
    for m in ANSWER.finditer(lsp_log):
        source, ms, line, char, plan, rung, evaluated, generated, prompt = m.groups()
        out.append({"source": source, "ms": int(ms), "line": int(line), "character": int(char), "plan": plan,
                    "rung": int(rung), "evaluated": int(evaluated), "generated": int(generated),
                    "prompt": int(prompt)})
    return out


def prompt_shares(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the model answers with text: how many came from the full prompt (rung 0), from a prompt that held the
    suffix and the definitions (rung 0 or 1: snippets whole or cut, every suffix line), and from a glance."""
    model = [a for a in answers if a["source"] == "model" and a["generated"] > 0]
    n = len(model)
    known = [a for a in model if a["rung"] >= 0 or a["plan"] == "glance"]
    out: dict[str, Any] = {"model_answers": n, "plans": {}}
    for a in model:
        out["plans"][a["plan"]] = out["plans"].get(a["plan"], 0) + 1
    if n and len(known) == n:
        out["full_prompt_share"] = round(sum(a["plan"] != "glance" and a["rung"] == 0 for a in model) / n, 3)
        out["suffix_and_definitions_share"] = round(
            sum(a["plan"] != "glance" and 0 <= a["rung"] <= 1 for a in model) / n, 3)
    else:
        out["full_prompt_share"] = out["suffix_and_definitions_share"] = None  # the server logs no rung
    out["glance_share"] = round(out["plans"].get("glance", 0) / n, 3) if n else None
    return out


def run(args: Any) -> dict[str, Any]:
    spec = passages_mod.QUICK if args.quick else passages_mod.SETS[getattr(args, "passages", "default")]
    passages = passages_mod.load(spec)
    rows = [Row.parse(s) for s in args.rows]
    work = Path(tempfile.mkdtemp(prefix="editor-bench-"))
    ws = passages_mod.write_workspace(work / "ws", passages)
    qwen = model_path(FIM_MODEL)
    models_dir = qwen.parent
    os.environ["CODEHEARTH_MODELS_DIR"] = str(models_dir)  # servers started here find the weights, not user state
    llama_vim_dir, llama_vim_commit = (llamavim.snapshot_dir(Path(args.llama_vim)) if args.llama_vim
                                       else (None, None))
    if any(r.kind == "llama.vim" for r in rows) and llama_vim_dir is None:
        raise SystemExit("the llama.vim row needs --llama-vim DIR (a snapshot of ggml-org/llama.vim)")
    results: dict[str, Any] = {
        "name": "editor", "command": " ".join(["python -m benchmarks.editor", *sys.argv[1:]]),
        "git_commit": git_commit(), "machine": machine_info(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                         time.gmtime()),
        "config": {"cadences_ms": args.cadence, "pause_ms": PAUSE_MS, "rows": args.rows, "quick": args.quick,
                   "passages": getattr(args, "passages", "default"), "default_budget_ms": default_budget_ms(),
                   "threads": args.threads, "ceiling_stride": args.ceiling_stride,
                   "llama_vim_commit": llama_vim_commit, "llama_server_preset": llamavim.PRESET,
                   "fim_model_file": str(qwen)},
        "passages": [{"name": p.name, "split": p.split, "keystrokes": len(p.keys), "lines": len(p.lines),
                      "by_class": {k: sum(x.kind == k for x in p.keys) for k in scoring.CLASSES}}
                     for p in passages],
        "cadences": {},
    }
    threads = args.threads
    bounds_from = getattr(args, "bounds_from", None)  # callers with their own argument namespace may lack it
    if bounds_from:  # the floor and ceiling again, for typing results already written
        results = {**json.loads(Path(bounds_from).read_text()), "bounds_command": results["command"],
                   "bounds_git_commit": results["git_commit"]}
        results.pop("bounds_error", None)
    if not args.no_bounds and not bounds_from:  # the floor takes the faster of two measurements
        results["floor_rates_start"] = {m: bounds.llama_bench(model_path(m), threads) for m in FLOOR_MODELS}
    for cadence in [] if bounds_from else args.cadence:
        results["cadences"][str(cadence)] = run_cadence(rows, passages, ws, work / f"c{cadence}", cadence,
                                                        models_dir, qwen, threads, llama_vim_dir)
    results["threads"] = threads
    if not args.no_bounds:
        # the typing above survives a failure here: the error is in the results (and the results check fails)
        try:
            results["floor"] = floor(results, qwen, threads, models_dir)
            if not (bounds_from and getattr(args, "floor_only", False)):  # --floor-only keeps the ceiling
                results["ceiling"] = ceiling(passages, ws, work / "ceiling", qwen, threads, args.ceiling_stride,
                                             args.ceiling_box_s)
            apply_bounds(results)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            results["bounds_error"] = f"{type(exc).__name__}: {exc}"
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results


def run_cadence(all_rows: list[Row], passages: list[passages_mod.Passage], ws: Path, work: Path, cadence: int,
                models_dir: Path, qwen: Path, threads: int, llama_vim_dir: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": {}, "load_start": [round(x, 2) for x in os.getloadavg()]}
    rows = [r for r in all_rows if r.cadence_ms in (None, cadence)]
    editors: dict[str, Any] = {}
    servers: dict[str, llamavim.Server] = {}
    with contextlib.ExitStack() as stack:
        for row in rows:
            state = work / re.sub(r"[^\w.@-]", "_", row.name)
            state.mkdir(parents=True, exist_ok=True)
            if row.kind == "codehearth":
                setup: dict[str, Any] = {"cmd": [sys.executable, "-m", "codehearth", "serve"],
                                         "settings": {"logLevel": "debug"}}
                if row.model:  # a chosen model runs on the same threads as llama-server; defaults stay defaults
                    setup["model"] = row.model
                    setup["settings"]["engine"] = {"nThreads": threads}
                if row.budget_ms:
                    setup["latency_budget_ms"] = row.budget_ms
                setup["settings"].update(row.settings)
                env = codehearth_env(state, models_dir)
                if row.measure_first:
                    row.extra["measured"] = measure_models(env)
                env["EDITOR_BENCH_SETUP"] = json.dumps(setup)
                nv = NvimEditor("codehearth", ws, state, env, PLUGIN_DIR, "codehearth.ghost")
                stack.callback(nv.close)
                nv.open(passages[0].module)
                row.extra["ready_stats"] = wait_ready(nv)
                editors[row.name] = nv
            else:
                server = stack.enter_context(llamavim.llama_server(qwen, threads, state / "llama-server.log"))
                servers[row.name] = server
                if row.kind == "llama.vim":
                    nv = NvimEditor("llama.vim", ws, state, {"EDITOR_BENCH_LLAMA_ENDPOINT": server.infill},
                                    llama_vim_dir, "vt_fim", "llama_hl_fim_hint")
                    stack.callback(nv.close)
                    nv.open(passages[0].module)
                    editors[row.name] = nv
                else:
                    editors[row.name] = llamavim.ReplicaEditor(server.infill, ws)
        pids = [pid for ed in editors.values() if isinstance(ed, NvimEditor) for pid in ed.pids()]
        pids += [s.pid for s in servers.values()]
        quiet: list[float] = []
        for i, passage in enumerate(passages):
            order = rows[i % len(rows):] + rows[: i % len(rows)]  # interleaved: each row leads in turn
            for row in order:
                quiet.append(wait_quiet(pids))
                typing = type_passage(editors[row.name], passage, cadence, PAUSE_MS)
                row.readings += [{**r.__dict__} for r in typing.readings]
                ed = editors[row.name]
                if isinstance(ed, llamavim.ReplicaEditor):
                    ed.idle()
                print(f"  {cadence} ms {row.name:32} {passage.name:22} {typing.seconds:6.1f} s "
                      f"{scoring.summarise(row.readings[-len(typing.readings):]).get('useful_per_keystroke')}",
                      flush=True)
        for row in rows:
            ed = editors[row.name]
            info: dict[str, Any] = {"kind": row.kind, "model": row.model, "budget_ms": row.budget_ms,
                                    "settings": row.settings}
            if row.measure_first:
                info["measured_first"] = row.extra.get("measured")  # what `models recommend --measure` said
            if isinstance(ed, NvimEditor) and row.kind == "codehearth":
                stats = ed.stats()
                answers = parse_answers(ed.lsp_log())
                info.update({"server_stats": stats, "answers": answers, "prompts": prompt_shares(answers),
                             "model_used": (stats or {}).get("model"), "threads": (stats or {}).get("threads")})
            elif row.kind in ("llama.vim", "replica"):
                info["server_tasks"] = servers[row.name].timings()
                info["server_cmd"] = " ".join(servers[row.name].cmd[1:])
                if isinstance(ed, llamavim.ReplicaEditor):
                    info["replica_log"] = {k: v for k, v in ed.log.__dict__.items()}
            info["summary"] = scoring.breakdown(row.readings)
            info["readings"] = compact(row.readings)
            out["rows"][row.name] = info
            row.readings = []
        out["quiet_waits_s"] = {"count": len(quiet), "total": round(sum(quiet), 1)}
    out["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def compact(readings: list[dict[str, Any]]) -> list[list[Any]]:
    """[passage, index, ghost first line, lines below, seconds into the passage] per keystroke with ghost text."""
    return [[r["passage"], r["index"], r["first"], r["below"], r.get("t", r.get("ms"))] for r in readings
            if r["first"] or r["below"]]


def floor(results: dict[str, Any], qwen: Path, threads: int, models_dir: Path) -> dict[str, Any]:
    """llama-bench's rates for each model at each row's own thread count (a row on 1 thread beside a floor measured
    on 2 loaded threads "beat" it in the first run); at the run's thread count also the rates measured before the
    typing, the faster of each: the lower floor."""
    start = results.get("floor_rates_start", {})
    rates: dict[str, Any] = {}

    def rates_for(model: str, row_threads: int) -> str:
        key = f"{model}@{row_threads}t"
        if key not in rates:
            now = bounds.llama_bench(qwen if model == FIM_MODEL else model_path(model), row_threads)
            before = start.get(model) if row_threads == threads else None
            rates[key] = {**now, "measurements": [x for x in (before, now) if x]}
            if before:
                for k in ("prompt_tokens_per_s", "generated_tokens_per_s"):
                    rates[key][k] = max(now[k], before[k])
        return key

    out: dict[str, Any] = {"rates": rates, "rows": {}}
    for cadence, c in results["cadences"].items():
        for name, row in c["rows"].items():
            used = str(row.get("model_used") or FIM_MODEL) if row["kind"] == "codehearth" else FIM_MODEL
            model = next((m for m in FLOOR_MODELS if m in used), FIM_MODEL)
            key = rates_for(model, int(row.get("threads") or threads))
            if row["kind"] == "codehearth":
                answers = [{"ms": a["ms"], "generated": a["generated"]} for a in row["answers"]
                           if a["source"] == "model"]
            else:
                answers = [{"ms": t["prompt_ms"] + t["gen_ms"], "generated": t["generated"]}
                           for t in row["server_tasks"]]
            out["rows"][f"{cadence}/{name}"] = {"model": model, "rates_key": key,
                                                **bounds.floor_check(answers, rates[key])}
    return out


def ceiling(passages: list[passages_mod.Passage], ws: Path, work: Path, qwen: Path, threads: int, stride: int,
            box_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"model": FIM_MODEL, "stride": stride}
    t0 = time.monotonic()
    ours, stats = bounds.ceiling_ours(FIM_MODEL, passages, ws, stride, box_s, work / "ours", threads)
    out["ours_full_prompt"] = {"summary": scoring.breakdown(ours), "seconds": round(time.monotonic() - t0, 1),
                               "readings": compact(ours), "server_stats_plans": stats.get("plans")}
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    with llamavim.llama_server(qwen, threads, work / "llama-server.log") as server:
        theirs = bounds.ceiling_llama_server(server.infill, passages, ws, stride, box_s)
    out["llama_server_prompt"] = {"summary": scoring.breakdown(theirs), "seconds": round(time.monotonic() - t0, 1),
                                  "readings": compact(theirs)}
    best = max(("ours_full_prompt", "llama_server_prompt"),
               key=lambda k: out[k]["summary"]["all"].get("useful_per_keystroke", 0))
    out["best"] = best
    out["sampled"] = sorted({(r["passage"], r["index"]) for r in ours} & {(r["passage"], r["index"])
                                                                          for r in theirs})
    return out


def apply_bounds(results: dict[str, Any]) -> None:
    """Every row as a share of the ceiling (per keystroke: the row on all keystrokes, the ceiling on its systematic
    sample of them), and the floor's verdict."""
    ceiling = results["ceiling"]
    best = ceiling[ceiling["best"]]["summary"]["all"].get("useful_per_keystroke") or 0
    for c in results["cadences"].values():
        for row in c["rows"].values():
            got = row["summary"]["all"].get("useful_per_keystroke") or 0
            row["share_of_ceiling"] = round(got / best, 3) if best else None
    results["floor"]["rows_beating_floor"] = [k for k, v in results["floor"]["rows"].items() if v["beats_floor"]]
