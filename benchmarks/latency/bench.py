"""Latency benchmark: keystroke replay over LSP, then the same prompts through the floor and the baselines."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.common import ratio, summary
from benchmarks.latency.baselines import floor_and_no_reuse, llama_server_baseline
from benchmarks.latency.replay import run_replay
from codehearth.config import EngineSettings
from codehearth.engine.llama import default_threads
from codehearth.models.registry import Registry

CACHE_SOURCES = ("typed-through", "in-flight", "lru")


def run_latency(model_id: str, files: list[tuple[str, int, int]], work: Path, *, budget_ms: int,
                floor_box_s: float, no_reuse_box_s: float, llama_box_s: float,
                llama_server: bool = True) -> dict[str, Any]:
    model_path = Registry().resolve(model_id)
    settings = EngineSettings()  # what the server uses with no engine settings given
    threads = settings.n_threads or default_threads()
    init = {"latencyBudgetMs": budget_ms}
    work.mkdir(parents=True, exist_ok=True)
    print(f"[latency {model_id}] keystroke replay over LSP: {files}", flush=True)
    t0 = time.monotonic()
    replay = asyncio.run(run_replay(model_id, files, work, init))
    requests = replay["requests"]
    print(f"[latency {model_id}] {len(requests)} requests in {replay['wall_s']} s", flush=True)

    # Every prompt the server's engine was given, in arrival order; model answers are measured.
    prompts: list[dict[str, Any]] = []
    for rec in sorted(replay["server_records"], key=lambda r: r["arrived"]):
        if not rec.get("pieces"):
            continue
        t = rec.get("timings")
        prompts.append({"key": (rec["uri"], rec["row"], rec["column"]), "pieces": rec["pieces"],
                        "measure": rec["source"] == "model" and t is not None,
                        "shown": rec.get("text", ""), "generated": (t or {}).get("tokens_generated", 0)})
    phases: dict[str, Any] = {}
    if any(p["measure"] for p in prompts):
        print(f"[latency {model_id}] floor and no-reuse baseline", flush=True)
        phases.update(floor_and_no_reuse(model_path, settings, prompts, floor_box_s, no_reuse_box_s))
        if llama_server:
            print(f"[latency {model_id}] llama.cpp server baseline", flush=True)
            try:
                phases.update(llama_server_baseline(model_path, settings, threads, prompts, llama_box_s,
                                                    work / "llama-server.log"))
            except Exception as exc:  # reported, never hidden
                phases["llama_server_error"] = f"{type(exc).__name__}: {exc}"
                print(f"[latency {model_id}] llama.cpp server failed: {exc}", flush=True)
    by_key = {tuple(p["key"]): p for p in prompts if p["measure"]}
    workspace = work / "workspace"
    rows: list[dict[str, Any]] = []
    for req in requests:
        uri = (workspace / req["file"]).as_uri()
        p = by_key.get((uri, req["row"], req["column"]), {})
        t = req.get("timings") or {}
        rows.append({
            "file": req["file"], "row": req["row"], "column": req["column"],
            "source": req.get("source"), "plan": req.get("plan"), "rung": req.get("rung"),
            "client": req.get("client_outcome"),
            "e2e_ms": req.get("e2e_ms"), "server_ms": req.get("server_ms"),
            "prompt_tokens": t.get("prompt_tokens"), "tokens_evaluated": t.get("tokens_evaluated"),
            "tokens_reused": t.get("tokens_reused"), "tokens_generated": t.get("tokens_generated"),
            "shown_chars": len(req.get("shown") or ""),
            "floor_ms": p.get("floor_ms"), "floor_evaluated": p.get("floor_evaluated"),
            "floor_generated": p.get("floor_generated"),
            "no_reuse_ms": p.get("no_reuse_ms"), "no_reuse_evaluated": p.get("no_reuse_evaluated"),
            "llama_server_ms": p.get("llama_server_ms"),
            "llama_server_prompt_tokens": p.get("llama_server_prompt_tokens"),
        })
    result = {
        "model": model_id,
        "model_file": model_path.name,
        "model_bytes": model_path.stat().st_size,
        "settings": {"server": {"latencyBudgetMs": budget_ms, "note": "other settings at their defaults"},
                     "engine": msgspec.to_builtins(settings), "threads": threads,
                     "typing": {"char_s": 0.03, "pause_s": [0.15, 0.6], "line_pause_s": 6.0}},
        "files": [{"path": f, "first_line": s + 1, "lines": n} for f, s, n in files],
        "replay_wall_s": replay["wall_s"],
        "server_stats": replay["server_stats"],
        "phases": phases,
        "summary": summarize(rows),
        "requests": rows,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    return result


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in rows if r["client"] == "answered" and r["e2e_ms"] is not None]
    model = [r for r in answered if r["source"] == "model" and r["tokens_evaluated"] is not None]
    sources: dict[str, int] = {}
    for r in rows:
        sources[str(r["source"])] = sources.get(str(r["source"]), 0) + 1
    out: dict[str, Any] = {
        "requests": len(rows),
        "answered": len(answered),
        "with_suggestion": sum(1 for r in answered if r["shown_chars"]),
        "from_cache": sum(1 for r in rows if r["source"] in CACHE_SOURCES),
        "superseded": sources.get("superseded", 0),
        "cancelled": sum(1 for r in rows if r["source"] == "cancelled" or r["client"] == "cancelled"),
        "model_answered": len(model),
        "sources": sources,
        "e2e_ms_all_answered": summary([r["e2e_ms"] for r in answered]),
        "e2e_ms_model": summary([r["e2e_ms"] for r in model]),
        "tokens_evaluated": summary([r["tokens_evaluated"] for r in model]),
        "tokens_reused": summary([r["tokens_reused"] for r in model]),
        "tokens_generated": summary([r["tokens_generated"] for r in model]),
        "tokens_evaluated_total": sum(r["tokens_evaluated"] for r in model),
        "tokens_reused_total": sum(r["tokens_reused"] for r in model),
    }
    for name in ("floor", "no_reuse", "llama_server"):
        matched = [r for r in model if r.get(f"{name}_ms") is not None]
        ours = [r["e2e_ms"] for r in matched]
        theirs = [r[f"{name}_ms"] for r in matched]
        per = [r["e2e_ms"] / r[f"{name}_ms"] for r in matched if r[f"{name}_ms"]]
        s_ours, s_theirs = summary(ours), summary(theirs)
        out[name] = {
            "matched_requests": len(matched),
            "ours_ms": s_ours,
            f"{name}_ms": s_theirs,
            "ratio_p50": ratio(s_ours["p50"], s_theirs["p50"]),
            "ratio_p95": ratio(s_ours["p95"], s_theirs["p95"]),
            "ratio_per_request": summary(per),
        }
        if name == "no_reuse":
            out[name]["tokens_evaluated"] = summary([r["no_reuse_evaluated"] for r in matched])
        if name == "floor":
            out[name]["tokens_evaluated"] = summary([r["floor_evaluated"] for r in matched])
    return out
