"""llama.vim as its users run it: llama-server with the documented preset, the real plugin from a snapshot, and a
committed Python replica of the plugin's client (requests, pacing, client cache, speculative requests).

Every behaviour reproduced here is listed, with the line of ``autoload/llama.vim`` (ggml-org/llama.vim @ a1c8e6e)
it comes from and every way the replica differs, in benchmarks/editor/README.md. This is a re-statement of the
plugin's behaviour, not a copy of its code.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.editor.passages import Key, Passage
from benchmarks.editor.typist import Look
from benchmarks.latency.llama_server import SERVER_PRESET, free_port, running, server_command

# llama.vim's defaults (autoload/llama.vim:65-96)
N_PREFIX = 256
N_SUFFIX = 64
N_PREDICT = 128
T_MAX_PROMPT_MS = 500
T_MAX_PREDICT_MS = 1000
T_MAX_PREDICT_FIRST_MS = 250  # the first request of a position is quick (:741-745)
MAX_LINE_SUFFIX = 8
MAX_CACHE_KEYS = 250
RETRY_MS = 100  # a request in flight: try again in 100 ms (:713-722)
LOOKBACK = 128  # cached answers of up to 128 characters back are reused while typing into them (:973-1007)

# The documented server preset (llama.cpp's --fim-qwen-*-default, ggml-org/llama.vim README "llama.cpp settings"):
# batch and ubatch 1024, the model's full context, --cache-reuse 256; one definition for every benchmark.
PRESET = SERVER_PRESET


@dataclass
class Server:
    url: str
    log: Path
    cmd: list[str]
    pid: int

    @property
    def infill(self) -> str:
        return self.url + "/infill"

    def timings(self) -> list[dict[str, float]]:
        """Per finished task: prompt tokens evaluated, generated tokens and their milliseconds (the server's log)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        prompt = re.findall(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", text)
        gen = re.findall(r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*(\d+) tokens", text)
        return [{"prompt_ms": float(p[0]), "evaluated": int(p[1]), "gen_ms": float(g[0]), "generated": int(g[1])}
                for p, g in zip(prompt, gen, strict=False)]


@contextlib.contextmanager
def llama_server(model_path: Path, threads: int, log: Path, extra: list[str] | None = None) -> Iterator[Server]:
    cmd = server_command(model_path, threads, free_port(), extra)
    with running(cmd, log, new_session=True) as (url, proc):
        yield Server(url, log, cmd, proc.pid)


def post(url: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return dict(json.loads(r.read()))


def snapshot_dir(path: Path) -> tuple[Path, str]:
    """A llama.vim work tree from ``path``: a checkout (has autoload/llama.vim) or a bare git snapshot (exported
    to a temporary folder). Returns the folder and the commit (or "unknown")."""
    commit = "unknown"
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    if (path / "autoload" / "llama.vim").is_file():
        return path, commit
    out = Path(tempfile.mkdtemp(prefix="llama-vim-"))
    archive = subprocess.run(["git", "-C", str(path), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    if not (out / "autoload" / "llama.vim").is_file():
        shutil.rmtree(out, ignore_errors=True)
        raise FileNotFoundError(f"no autoload/llama.vim in {path}")
    return out, commit


# -- llama.vim's local context and request ---------------------------------------------------------------------


@dataclass
class LocalContext:
    prefix: str
    middle: str
    suffix: str
    indent: int
    line_cur: str
    line_cur_suffix: str


def local_context(lines: list[str], row: int, col: int, prev: list[str] | None = None,
                  indent_last: int = -1) -> LocalContext:
    """llama.vim's ``s:fim_ctx_local`` (:607-679): 256 lines above, the typed part of the line as ``prompt``, the
    rest of the line and 64 lines below as the suffix; a whitespace-only line is sent as empty. With ``prev`` (a
    suggestion shown), the context as if it had been accepted (for the speculative request)."""
    if not prev:
        line_cur = lines[row]
        line_prefix, line_suffix = line_cur[:col], line_cur[col:]
        lines_prefix = lines[max(0, row - N_PREFIX):row]
        if line_cur.strip() == "":
            indent, line_prefix, line_suffix = 0, "", ""
        else:
            indent = len(line_cur) - len(line_cur.lstrip())
    else:
        line_cur = lines[row] + prev[0] if len(prev) == 1 else prev[-1]
        line_prefix, line_suffix = line_cur, ""
        lines_prefix = lines[max(0, row - N_PREFIX + len(prev) - 1):row]
        if len(prev) > 1:
            lines_prefix = [*lines_prefix, lines[row] + prev[0], *prev[1:-1]]
        indent = indent_last
    lines_suffix = lines[row + 1:row + 1 + N_SUFFIX]
    return LocalContext("\n".join(lines_prefix) + "\n", line_prefix, line_suffix + "\n" + "\n".join(lines_suffix)
                        + "\n", indent, line_cur, line_suffix)


def request_body(ctx: LocalContext, t_max_predict_ms: int, extra: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """llama.vim's /infill request (:796-825). No ``temperature`` and no ``stop`` rule: the sampler chain is
    top_k 40, top_p 0.90, infill; the server's default temperature applies and ``n_indent`` ends the answer at a
    line that dedents below the current indentation."""
    return {
        "id_slot": 0, "input_prefix": ctx.prefix, "input_suffix": ctx.suffix, "input_extra": extra or [],
        "prompt": ctx.middle, "n_predict": N_PREDICT, "stop": [], "n_indent": ctx.indent, "top_k": 40, "top_p": 0.90,
        "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
        "t_max_prompt_ms": T_MAX_PROMPT_MS, "t_max_predict_ms": t_max_predict_ms,
        "response_fields": ["content", "timings/prompt_n", "timings/prompt_ms", "timings/predicted_n",
                            "timings/predicted_ms", "truncated", "tokens_cached"],
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hashes(ctx: LocalContext) -> list[str]:
    """The cache keys of a request (:751-763): its context, and the same with 1-3 first lines of the prefix gone."""
    out = [_sha(ctx.prefix + ctx.middle + "Î" + ctx.suffix)]
    trimmed = ctx.prefix
    for _ in range(3):
        trimmed = re.sub(r"^[^\n]*\n", "", trimmed, count=1)
        if not trimmed:
            break
        out.append(_sha(trimmed + ctx.middle + "Î" + ctx.suffix))
    return out


def render(content_text: str, lines: list[str], row: int, col: int) -> tuple[list[str], bool]:
    """``s:fim_render``'s clean-up (:1041-1153): the suggestion's lines as shown and whether it can be accepted."""
    content = content_text.split("\n")
    while content and content[-1] == "":
        content.pop()
    can_accept = bool(content)
    if not content:
        content = [""]
    line_cur = lines[row]
    if line_cur.strip() == "":
        lead = min(len(content[0]) - len(content[0].lstrip()), len(line_cur))
        line_cur, content[0] = content[0][:lead], content[0][lead:]
    line_prefix, line_suffix = line_cur[:col], line_cur[col:]
    if len(content) > 1 and content[0] == "" and content[1:] == lines[row + 1:row + len(content)]:
        content = [""]
    if len(content) == 1 and content[0] == line_suffix:
        content = [""]
    cmp_y = row + 1
    while cmp_y < len(lines) - 1 and lines[cmp_y].strip() == "":
        cmp_y += 1
    nxt = lines[cmp_y] if cmp_y < len(lines) else ""
    if line_prefix + content[0] == nxt:
        after = lines[cmp_y + 1] if cmp_y + 1 < len(lines) else ""
        if len(content) == 1 or (len(content) == 2 and content[-1] == after[:len(content[-1])]) or \
                (len(content) > 2 and content[1:] == lines[cmp_y + 1:cmp_y + len(content)]):
            content = [""]
    content[-1] += line_suffix
    if "\n".join(content).strip() == "":
        can_accept = False
    return content, can_accept


# -- the replica client, typed into like the real plugin ------------------------------------------------------


@dataclass
class Shown:
    content: list[str]
    can_accept: bool
    row: int
    col: int


@dataclass
class ReplicaLog:
    requests: int = 0
    speculative: int = 0
    retries: int = 0
    cache_skips: int = 0
    line_suffix_skips: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)


class ReplicaEditor:
    """A document typed by the typist, with llama.vim's client behaviour in Python (one thread plays Vim's main
    loop: every event takes ``lock``). Implements the typist's ``Editor`` protocol."""

    def __init__(self, server_infill: str, workspace: Path) -> None:
        self.url, self.workspace = server_infill, workspace
        self.lock = threading.RLock()
        self.docs: dict[str, list[str]] = {}
        self.lines: list[str] = []
        self.row = self.col = 0
        self.cache: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.shown: Shown | None = None
        self.job: threading.Thread | None = None
        self.timer: threading.Timer | None = None
        self.indent_last = -1
        self.inserting = False
        self.log = ReplicaLog()
        self.t0 = 0.0

    # -- the typist's Editor protocol
    def begin(self, passage: Passage) -> None:
        with self.lock:
            if passage.module not in self.docs:
                self.docs[passage.module] = (self.workspace / passage.module).read_text().split("\n")
            self.lines = self.docs[passage.module]
            first = passage.lines[0]
            indent = first[: len(first) - len(first.lstrip(" \t"))]
            self.lines.insert(passage.row, indent)
            self.row, self.col = passage.row, len(indent)
            self.inserting = True
            self.t0 = time.monotonic()
            self._on_cursor_moved_i()

    def key(self, key: Key, next_indent: str) -> None:
        with self.lock:
            if key.char == "\n":
                self.lines.insert(self.row + 1, next_indent + self.lines[self.row][self.col:])
                self.lines[self.row] = self.lines[self.row][:self.col]
                self.row, self.col = self.row + 1, len(next_indent)
            else:
                line = self.lines[self.row]
                self.lines[self.row] = line[:self.col] + key.char + line[self.col:]
                self.col += 1
            self._on_cursor_moved_i()

    def look(self, key: Key, typed: str) -> Look:
        with self.lock:
            first, below = "", []
            if self.shown is not None and (self.shown.content != [""] or len(self.shown.content) > 1):
                first, below = self.shown.content[0], self.shown.content[1:]
            return Look(first, below, time.monotonic() - self.t0, self.lines[self.row] == typed)

    def end(self) -> None:
        with self.lock:
            self.inserting = False
            self.shown = None  # InsertLeavePre hides (:328)
            if self.timer is not None:
                self.timer.cancel()

    def idle(self) -> None:
        """Wait until the request in flight has ended (the typist's quiet time between passages)."""
        job = self.job
        if job is not None:
            job.join(timeout=60)

    # -- llama.vim's events
    def _on_cursor_moved_i(self) -> None:
        # autocmd order (:333-337): s:on_move (hide, show from the cache), then llama#fim(-1, -1, auto, [], cache)
        self.shown = None
        self._try_hint(self.row, self.col)
        self._fim(None, None, [], True)

    def _fim(self, row: int | None, col: int | None, prev: list[str], use_cache: bool) -> None:
        if not self.inserting:
            return
        if self.job is not None:
            if self.timer is not None:
                self.timer.cancel()
            self.log.retries += 1
            self.timer = threading.Timer(RETRY_MS / 1000, self._retry, (row, col, prev, use_cache))
            self.timer.daemon = True
            self.timer.start()
            return
        r = self.row if row is None else row
        c = self.col if col is None else col
        ctx = local_context(self.lines, r, c, prev, self.indent_last)
        if len(ctx.line_cur_suffix) > MAX_LINE_SUFFIX:
            self.log.line_suffix_skips += 1
            return
        keys = hashes(ctx)
        if use_cache and any(k in self.cache for k in keys):
            self.log.cache_skips += 1
            return
        self.indent_last = ctx.indent
        body = request_body(ctx, T_MAX_PREDICT_MS if prev else T_MAX_PREDICT_FIRST_MS)
        self.log.requests += 1
        self.log.speculative += bool(prev)
        self.job = threading.Thread(target=self._send, args=(body, keys, bool(prev)), daemon=True)
        self.job.start()

    def _retry(self, row: int | None, col: int | None, prev: list[str], use_cache: bool) -> None:
        with self.lock:
            self.timer = None
            self._fim(row, col, prev, use_cache)

    def _send(self, body: dict[str, Any], keys: list[str], speculative: bool) -> None:
        sent = time.monotonic()
        try:
            answer: dict[str, Any] | None = post(self.url, body)
        except Exception as exc:  # a failed job: llama.vim echoes the exit code and goes on
            answer = None
            self.log.answers.append({"error": f"{type(exc).__name__}: {exc}"})
        with self.lock:
            if answer is not None:
                self.log.answers.append({"ms": round((time.monotonic() - sent) * 1000, 1),
                                         "speculative": speculative, "content": answer.get("content", ""),
                                         "prompt_n": answer.get("timings/prompt_n"),
                                         "predicted_n": answer.get("timings/predicted_n")})
                for k in keys:  # :916-919
                    self.cache[k] = answer
                    self.cache.move_to_end(k)
                    while len(self.cache) > MAX_CACHE_KEYS:
                        self.cache.popitem(last=False)
                if self.shown is None or not self.shown.can_accept:  # :921-930
                    self._try_hint(self.row, self.col)
            self.job = None  # on_exit (:933-939)

    def _try_hint(self, row: int, col: int) -> None:
        """``s:fim_try_hint`` (:953-1017): show a cached answer for this context, or one asked up to 128
        characters back whose text starts with what was typed since; then ask speculatively for what follows."""
        if not self.inserting:
            return
        ctx = local_context(self.lines, row, col)
        answer = self.cache.get(_sha(ctx.prefix + ctx.middle + "Î" + ctx.suffix))
        if answer is None:
            pm = ctx.prefix + ctx.middle
            best = 0
            for i in range(LOOKBACK):
                if i + 1 > len(pm):
                    break
                removed = pm[len(pm) - (1 + i):]
                cached = self.cache.get(_sha(pm[:len(pm) - (1 + i)] + "Î" + ctx.suffix))
                if cached is None:
                    continue
                text = str(cached.get("content", ""))
                if text[:i + 1] != removed:
                    continue
                rest = text[i + 1:]
                if rest:
                    if answer is None:
                        answer = {**cached, "content": rest}
                    elif len(rest) > best:  # the plugin's own quirk: `best` is only set here
                        best = len(rest)
                        answer = {**cached, "content": rest}
        if answer is None:
            return
        content, can_accept = render(str(answer.get("content", "")), self.lines, row, col)
        self.shown = Shown(content, can_accept, row, col)
        # the speculative request for what follows the shown suggestion (:1012-1015)
        self._fim(row, col, content, True)
