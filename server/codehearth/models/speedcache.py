"""Measured speed per machine and model file: where `auto` and `models recommend` read their figures.

One JSON file in the cache folder, keyed by the model file (name and size) and the thread count, so that a
different machine (another cache folder) or a re-downloaded file never reuses stale numbers. The engine's
calibration at load time and `codehearth models recommend --measure` write here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from codehearth.config import EngineSettings, cache_dir
from codehearth.engine.speed import (
    TYPICAL_KEYSTROKE_GENERATED_TOKENS,
    SpeedFigures,
)
from codehearth.models.registry import ModelEntry

log = logging.getLogger(__name__)

FILE_NAME = "speed-figures.json"


def _key(path: Path, threads: int) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return f"{path.name}:{size}:t{threads}"


def _file(directory: Path | None) -> Path:
    return (directory or cache_dir()) / FILE_NAME


def _read(directory: Path | None) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_file(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load(path: Path, threads: int, directory: Path | None = None) -> SpeedFigures | None:
    raw = _read(directory).get(_key(path, threads))
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, SpeedFigures)
    except msgspec.ValidationError:
        return None


def store(path: Path, figures: SpeedFigures, directory: Path | None = None) -> None:
    data = _read(directory)
    data[_key(path, figures.threads)] = msgspec.to_builtins(figures)
    target = _file(directory)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        log.warning("cannot write speed figures to %s", target, exc_info=True)


def lookup_for(threads: int, directory: Path | None = None) -> Callable[[ModelEntry, Path], SpeedFigures | None]:
    """A FiguresLookup (models/selection) reading this cache."""

    def lookup(entry: ModelEntry, path: Path) -> SpeedFigures | None:
        return load(path, threads, directory) if path.is_file() else None

    return lookup


PROMPT_SAMPLE = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n" * 8


def measure(path: Path, settings: EngineSettings, threads: int) -> SpeedFigures:
    """Load the model and time a prompt evaluation and a short greedy generation (a few seconds)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_batch=256, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=settings.n_gpu_layers, use_mmap=True, verbose=False)
    try:
        tokens = llm.tokenize(PROMPT_SAMPLE.encode(), add_bos=True)[:256]
        llm.eval(tokens[:8])  # warm-up: first touches of the mapped weights are page faults, not speed
        llm.reset()
        started = time.monotonic()
        llm.eval(tokens)
        prompt_s = time.monotonic() - started
        n = TYPICAL_KEYSTROKE_GENERATED_TOKENS * 2
        started = time.monotonic()
        for i in range(n):  # one token at a time, as generation does; which token does not change the cost
            llm.eval([tokens[i % len(tokens)]])
        gen_s = time.monotonic() - started
    finally:
        llm.close()
    return SpeedFigures(prompt_tokens_per_s=len(tokens) / max(prompt_s, 1e-6),
                        generated_tokens_per_s=n / max(gen_s, 1e-6), threads=threads, n_ctx=1024,
                        source="calibration")
