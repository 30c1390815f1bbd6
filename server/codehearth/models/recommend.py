"""`codehearth models recommend [--json] [--measure]` and the model part of `codehearth doctor`.

A table per role: model, family, size, tokens/s on this machine (measured or estimated), the expected
typical-keystroke latency or time to an explanation's first chunk, memory, whether it fits, and whether it
is present or the command that pulls it. Then what `auto` chooses and why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import msgspec

from codehearth.config import Settings
from codehearth.engine.speedcache import SpeedCache
from codehearth.models.registry import Registry
from codehearth.models.selection import (
    ROLES,
    Plan,
    candidates,
    measured_lookup,
    memory_budget_mb,
    plan,
    threads,
    total_ram_mb,
)


def measure_present(registry: Registry, settings: Settings, out: TextIO, cache: SpeedCache | None = None) -> None:
    """Measure every downloaded manifest model again, with the calibration the server runs at load and the same
    settings, so the figures land in the per-machine speed cache under the key that load reads back."""
    from codehearth.engine.llama import LlamaEngine

    engine_settings = msgspec.structs.replace(settings.engine, calibrate=False)  # calibrated below, fresh
    for entry in registry.entries():
        path = registry.directory / entry.file
        if not path.is_file():
            continue
        out.write(f"measuring {entry.id}...\n")
        out.flush()
        engine = LlamaEngine(path, engine_settings)
        try:
            engine.calibrate(fresh=True, cache=cache)
            speed = engine.speed
            assert speed is not None
            f = speed.calibrated
            out.write(f"  {f.prompt_tokens_per_s:.1f} prompt tokens/s, {f.generated_tokens_per_s:.1f} generated "
                      f"tokens/s on {f.threads} threads\n")
        finally:
            engine.close()


def report(settings: Settings, registry: Registry) -> dict[str, Any]:
    lookup = measured_lookup(settings)
    budget = memory_budget_mb(settings)
    roles = {
        role: [msgspec.to_builtins(c) for c in candidates(role, registry, settings, lookup, budget)] for role in ROLES
    }
    chosen = plan(settings, registry, lookup)
    return {
        "machine": {"ramMb": total_ram_mb(), "memoryBudgetMb": budget, "threads": threads(settings),
                    "latencyBudgetMs": settings.latency_budget_ms,
                    "explainFirstChunkMs": settings.explain_first_chunk_ms},
        "roles": roles,
        "auto": msgspec.to_builtins(chosen),
    }


def choices_for_doctor(settings: Settings, registry: Registry) -> dict[str, Any]:
    """Per role: the model, whether auto chose it, and why (or the one error the set-up has)."""
    chosen: Plan = plan(settings, registry, measured_lookup(settings))
    out: dict[str, Any] = {}
    for role in ROLES:
        choice = chosen.choice(role)
        if choice is not None:
            out[role] = f"{choice.model} ({'auto' if choice.auto else 'explicit'}: {choice.reason})"
    if chosen.error:
        out["error"] = chosen.error
    out["memory"] = f"about {chosen.memory_mb} MB of memoryBudgetMb {chosen.memory_budget_mb} MB"
    return out


def completion_model(settings: Settings, registry: Registry) -> str:
    """The model completions use: the explicit setting, else auto's choice, else the manifest default."""
    choice = plan(settings, registry, measured_lookup(settings)).completion
    return choice.model if choice is not None else settings.model_id()


def print_table(data: dict[str, Any], out: TextIO) -> None:
    m = data["machine"]
    out.write(f"this machine: {m['ramMb']} MB RAM, memory budget {m['memoryBudgetMb']} MB, {m['threads']} threads; "
              f"latencyBudgetMs {m['latencyBudgetMs']}, explainFirstChunkMs {m['explainFirstChunkMs']}\n")
    for role, rows in data["roles"].items():
        latency = "keystroke" if role == "completion" else "1st chunk"
        out.write(f"\n{role}s (best first):\n")
        out.write(f"  {'model':<28} {'family':<9} {'fim':<4} {'size':>9} {'tok/s':>7} {'source':<9} "
                  f"{latency:>10} {'memory':>8} {'fits':<4}  present\n")
        for r in rows:
            ms = r["keystrokeMs"] if role == "completion" else r["firstChunkMs"]
            fits = "yes" if r["fitsMemory"] and r["fastEnough"] else ("slow" if r["fitsMemory"] else "no")
            size = f"{'~' if r['sizeEstimated'] else ''}{r['sizeMb']} MB"
            source = "measured" if r["figures"]["source"] != "estimate" else "estimate"
            have = "yes" if r["present"] else r["pull"]
            out.write(f"  {r['id']:<28} {r['family']:<9} {r['fim']:<4} {size:>9} "
                      f"{r['figures']['generatedTokensPerS']:>7.1f} {source:<9} {ms:>7.0f} ms {r['memoryMb']:>5} MB "
                      f"{fits:<4}  {have}\n")
    auto = data["auto"]
    out.write("\nauto chooses:\n")
    for role in ROLES:
        choice = auto.get(role)
        if choice:
            out.write(f"  {role}: {choice['model']} ({choice['reason']})\n")
    if auto.get("error"):
        out.write(f"  problem: {auto['error']}\n")


def run(settings: Settings, models_dir: Path, as_json: bool, measure: bool) -> int:
    registry = Registry(directory=models_dir)
    if measure:
        measure_present(registry, settings, sys.stderr)
    data = report(settings, registry)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        print_table(data, sys.stdout)
    return 0
