"""The same prompts, replayed after the LSP run, through (a) the physical floor, (b) the same model without KV
reuse and (c) llama.cpp's own server (llama-cpp-python's OpenAI-compatible server). Each phase is time-boxed:
when a phase cannot do every request in its time, it takes requests spread evenly over the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.latency.traced_server import decode_pieces
from codehearth.config import EngineSettings
from codehearth.engine.base import GenerationRequest
from codehearth.engine.llama import LlamaEngine
from codehearth.engine.templates import prompt_text

BIG_DEADLINE_S = 600.0


def spread(items: list[Any], count: int) -> list[Any]:
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _request(pieces: list[Any], max_tokens: int) -> GenerationRequest:
    return GenerationRequest(prompt=pieces, max_tokens=max_tokens, deadline=time.monotonic() + BIG_DEADLINE_S)


def floor_and_no_reuse(model_path: Path, settings: EngineSettings, prompts: list[dict[str, Any]],
                       floor_box_s: float, no_reuse_box_s: float) -> dict[str, Any]:
    """``prompts``: every prompt the server's engine was given, in order, each with ``pieces``, ``measure``
    (a model-answered request), ``shown`` and ``generated``. Fills ``floor_ms`` and ``no_reuse_ms``."""
    engine = LlamaEngine(model_path, settings)
    try:
        # Warm-up (first decode, page-in of the weights), not counted.
        engine.generate(_request(decode_pieces(prompts[0]["pieces"]), 1))
        # Floor: the KV cache holds the previous prompt; evaluate what is new, generate the shown tokens.
        started = time.monotonic()
        previous = None
        floor_done = 0
        for item in prompts:
            pieces = decode_pieces(item["pieces"])
            if item["measure"] and time.monotonic() - started < floor_box_s:
                if previous is not None:
                    engine.generate(_request(previous, 0))  # prime: exactly the previous prompt in the cache
                else:
                    engine.forget_cache()
                shown_tokens = max(1, engine.count_tokens(item["shown"]))
                result = engine.generate(_request(pieces, shown_tokens))
                t = result.timings
                item["floor_ms"] = round(t.total_ms, 2)
                item["floor_evaluated"] = t.tokens_evaluated
                item["floor_generated"] = t.tokens_generated
                floor_done += 1
            previous = pieces
        # No reuse: a fresh cache for every request, the same number of tokens generated as ours.
        measured = [p for p in prompts if p["measure"]]
        started = time.monotonic()
        per_request = None
        chosen = measured
        no_reuse_done = 0
        for i, item in enumerate(list(chosen)):
            if per_request is not None:  # after the first, thin out to fit the time box
                left = no_reuse_box_s - (time.monotonic() - started)
                fit = int(left / max(per_request, 1e-3))
                if fit <= 0:
                    break
                rest = spread(measured[i:], fit)
                if item not in rest:
                    continue
            engine.forget_cache()
            t0 = time.monotonic()
            result = engine.generate(_request(decode_pieces(item["pieces"]), max(1, item["generated"])))
            item["no_reuse_ms"] = round((time.monotonic() - t0) * 1000, 2)
            item["no_reuse_evaluated"] = result.timings.tokens_evaluated
            no_reuse_done += 1
            per_request = (time.monotonic() - started) / no_reuse_done
    finally:
        engine.close()
    return {"floor_requests": floor_done, "no_reuse_requests": no_reuse_done}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_cpp_server(model_path: Path, settings: EngineSettings, threads: int, log_path: Path):
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(settings.n_ctx), "--n_batch", str(settings.n_batch),
           "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-1500:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/models", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > end:
                raise TimeoutError("llama_cpp.server did not start")
            time.sleep(0.3)
        yield url, cmd
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def llama_server_baseline(model_path: Path, settings: EngineSettings, threads: int, prompts: list[dict[str, Any]],
                          box_s: float, log_path: Path) -> dict[str, Any]:
    """Every prompt our engine was given, in the same order, so that its prompt cache sees what ours saw; the
    model-answered ones are timed with the same token count, the others (cancelled, superseded) get one token."""
    import httpx

    done = 0
    with llama_cpp_server(model_path, settings, threads, log_path) as (url, cmd), httpx.Client(timeout=600) as http:
        http.post(f"{url}/v1/completions", json={"prompt": "def f():", "max_tokens": 1})  # warm-up
        started = time.monotonic()
        for item in prompts:
            if time.monotonic() - started > box_s:
                break
            measure = item["measure"]
            body = {"prompt": prompt_text(decode_pieces(item["pieces"])),
                    "max_tokens": max(1, item["generated"]) if measure else 1,
                    "temperature": 0.0, "top_k": 1, "repeat_penalty": 1.0, "stream": False}
            t0 = time.monotonic()
            response = http.post(f"{url}/v1/completions", json=body)
            elapsed = round((time.monotonic() - t0) * 1000, 2)
            response.raise_for_status()
            if not measure:
                continue
            item["llama_server_ms"] = elapsed
            usage = response.json().get("usage", {})
            item["llama_server_prompt_tokens"] = usage.get("prompt_tokens")
            item["llama_server_generated"] = usage.get("completion_tokens")
            done += 1
    return {"llama_server_requests": done, "llama_server_command": " ".join(cmd[1:])}
