"""Seeded concurrency stress of the real server (issue 23): everything that runs on another thread, at once.

    python -m benchmarks.reliability.stress [--seconds 150] [--seed 1] [--out benchmarks/results]

The real ``codehearth serve`` over stdio with the real default model (a copy in a temporary folder, so it can be
replaced) and ``CODEHEARTH_DEBUG_THREADS=1`` (a loop-owned object changed from another thread raises, and the
request answers -32603): a client types into three open files with inline completions, cancels some of them and
sends cancel storms; the settings change (each change reloads the model), the model file is replaced on disk
(reloaded by the file watch), ``--files`` files appear in and vanish from the workspace (the index thread),
explanations start and are cancelled, and documents are closed and opened again meanwhile.

The verdict (``problems``, empty when all holds): the server alive to the end and exiting 0 at shutdown; every
request answered exactly once; no internal error (-32603) and no error without an id; no explanation answered
-32800 unless the client cancelled it (a reload says -32000 and why); every completion consistent with the
document version it was asked for: a non-empty suggestion never arrives after the server has read a close of its
document or a newer request for it (seen from the client: the answer to a message sent after that one came first),
and its range is at the position asked; nothing in the log about ownership, tracebacks or lost tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.reliability.client import ROOT, RawServer

FILES = ["textwrap.py", "shlex.py", "json/decoder.py"]  # typed into (standard library, not written here)
MAX_LINES = 400
WORDS = ["value", "result", "self.", "items", "len(", "return ", "if ", "for ", "name", "x ", "= ", "+ 1", "(", ")"]
SETTINGS = [{"engine": {"nBatch": 128}}, {"engine": {"nBatch": 256}}, {"engine": {"nCtx": 16}},
            {"engine": {"nBatch": 192}}]
BAD_LOG = ("ThreadOwnershipError", "Traceback", "never retrieved", "internal error", "was never awaited")


@dataclass
class Sent:
    kind: str  # "complete" | "explain" | "other"
    uri: str
    seq: int  # index of the message in the order sent
    version: int = 0
    position: tuple[int, int] = (0, 0)
    cancelled: bool = False


@dataclass
class Doc:
    uri: str
    lines: list[str]
    version: int = 1
    open: bool = True
    cursor: tuple[int, int] = (0, 0)
    functions: list[int] = field(default_factory=list)


def _stdlib(name: str) -> str:
    from benchmarks.common import STDLIB

    return "\n".join((STDLIB / name).read_text().split("\n")[:MAX_LINES])


def replace_atomically(target: Path, source: Path) -> None:
    part = target.with_name(target.name + ".part")
    shutil.copyfile(source, part)
    os.replace(part, target)


class Stress:
    def __init__(self, seed: int, work: Path, model: Path, seconds: float, files: int) -> None:
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.files_total = files
        self.ws = work / "ws"
        (self.ws / "churn").mkdir(parents=True)
        self.model = work / "models" / "model.gguf"
        self.model.parent.mkdir()
        self.original = model
        shutil.copyfile(model, self.model)
        self.docs: list[Doc] = []
        for i, name in enumerate(FILES):
            path = self.ws / f"typed{i}.py"
            text = _stdlib(name)
            path.write_text(text)
            self.docs.append(Doc(uri=path.as_uri(), lines=text.split("\n")))
        self.sent: dict[int, Sent] = {}
        self.seq = 0
        self.close_seq: dict[str, list[int]] = {}  # uri -> seqs of its didClose messages
        self.counts: dict[str, int] = {k: 0 for k in (
            "completions", "completion_cancels", "storms", "explanations", "explain_cancels", "settings_changes",
            "model_replacements", "files_created", "files_deleted", "closes", "keystrokes")}
        self.live_files: list[Path] = []
        env = {"CODEHEARTH_DEBUG_THREADS": "1"}
        self.server = RawServer(work / "cache", extra_env=env)

    # -- sending ------------------------------------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def notify(self, method: str, params: Any) -> int:
        seq = self._next()
        self.server.notify(method, params)
        return seq

    def request(self, kind: str, method: str, params: Any, uri: str = "", **extra: Any) -> int:
        seq = self._next()
        msg_id = self.server.request(method, params)
        self.sent[msg_id] = Sent(kind=kind, uri=uri, seq=seq, **extra)
        return msg_id

    def cancel(self, msg_id: int) -> None:
        self.sent[msg_id].cancelled = True
        self.notify("$/cancelRequest", {"id": msg_id})

    # -- actions --------------------------------------------------------------------------------------------------

    def open_doc(self, doc: Doc) -> None:
        doc.open = True
        doc.version += 1
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": doc.uri, "languageId": "python", "version": doc.version, "text": "\n".join(doc.lines)}})
        self.place_cursor(doc)

    def place_cursor(self, doc: Doc) -> None:
        body = [i for i, line in enumerate(doc.lines) if line.startswith("        ") and line.strip()]
        row = self.rng.choice(body) if body else len(doc.lines) - 1
        doc.cursor = (row, len(doc.lines[row]))
        doc.functions = [i for i, line in enumerate(doc.lines) if line.lstrip().startswith("def ")]

    def type_text(self, doc: Doc, text: str) -> None:
        row, col = doc.cursor
        doc.lines[row] = doc.lines[row][:col] + text + doc.lines[row][col:]
        doc.version += 1
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": doc.uri, "version": doc.version},
            "contentChanges": [{"range": {"start": {"line": row, "character": col},
                                          "end": {"line": row, "character": col}}, "text": text}]})
        doc.cursor = (row, col + len(text))
        self.counts["keystrokes"] += 1

    def complete(self, doc: Doc) -> int:
        row, col = doc.cursor
        self.counts["completions"] += 1
        return self.request("complete", "textDocument/inlineCompletion", {
            "textDocument": {"uri": doc.uri}, "position": {"line": row, "character": col},
            "context": {"triggerKind": 2}}, uri=doc.uri, version=doc.version, position=(row, col))

    def explain(self, doc: Doc) -> int | None:
        if not doc.functions:
            return None
        row = self.rng.choice(doc.functions)
        col = len(doc.lines[row]) - len(doc.lines[row].lstrip()) + 4
        self.counts["explanations"] += 1
        return self.request("explain", "workspace/executeCommand", {
            "command": "codehearth.explain", "arguments": [doc.uri, {"line": row, "character": col}]}, uri=doc.uri)

    def churn_files(self) -> None:
        if self.counts["files_created"] < self.files_total and (len(self.live_files) < 40 or self.rng.random() < .5):
            n = self.counts["files_created"]
            path = self.ws / "churn" / f"f{n}.py"
            path.write_text(f"def churned_{n}(x):\n    return x + {n}\n")
            self.live_files.append(path)
            self.counts["files_created"] += 1
        elif self.live_files:
            self.live_files.pop(self.rng.randrange(len(self.live_files))).unlink()
            self.counts["files_deleted"] += 1

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        # The gate off (minConfidence 0): the stress judges soundness, and it needs suggestions that reach the client
        # to do so; the small default model's are mostly below the default gate.
        self.server.initialize(self.ws, {"model": str(self.model), "latencyBudgetMs": 1200, "minConfidence": 0,
                                         "explain": {"maxTokens": 48}})
        for doc in self.docs:
            self.open_doc(doc)
        pending: dict[str, int] = {}  # uri -> the last completion request
        next_settings = next_model = time.monotonic() + 8
        end = time.monotonic() + self.seconds
        churn_every = self.seconds / (2 * self.files_total + 1)
        next_churn = time.monotonic()
        while time.monotonic() < end:
            now = time.monotonic()
            while now >= next_churn:  # files appear and vanish at an even pace over the run
                self.churn_files()
                next_churn += churn_every
            if now >= next_settings:
                self.notify("workspace/didChangeConfiguration",
                            {"settings": SETTINGS[self.counts["settings_changes"] % len(SETTINGS)]})
                self.counts["settings_changes"] += 1
                next_settings = now + self.rng.uniform(6, 12)
            if now >= next_model:
                replace_atomically(self.model, self.original)  # a new file (inode, time): the watch reloads it
                self.counts["model_replacements"] += 1
                next_model = now + self.rng.uniform(15, 25)
            doc = self.rng.choice(self.docs)
            roll = self.rng.random()
            if not doc.open:
                if roll < 0.3:
                    self.open_doc(doc)
            elif roll < 0.70:
                self.type_text(doc, self.rng.choice(WORDS))
                if self.rng.random() < 0.6:
                    if doc.uri in pending and self.rng.random() < 0.5:
                        self.cancel(pending[doc.uri])  # as VS Code does with the pending one
                        self.counts["completion_cancels"] += 1
                    pending[doc.uri] = self.complete(doc)
                    if self.rng.random() < 0.1:
                        time.sleep(self.rng.uniform(0.5, 2.0))  # the user stops to read the suggestion
            elif roll < 0.74:
                row = doc.cursor[0]
                indent = doc.lines[row][: len(doc.lines[row]) - len(doc.lines[row].lstrip())]
                self.type_text(doc, "\n")
                doc.lines[row:row + 1] = doc.lines[row].split("\n", 1)
                doc.lines[row + 1] = indent + doc.lines[row + 1]
                if indent:
                    doc.cursor = (row + 1, 0)
                    self.type_text(doc, indent)
                else:
                    doc.cursor = (row + 1, 0)
            elif roll < 0.77:  # a cancel storm: many requests, all cancelled at once
                ids = [self.complete(self.rng.choice([d for d in self.docs if d.open] or [doc])) for _ in range(12)]
                for msg_id in ids:
                    self.cancel(msg_id)
                self.counts["storms"] += 1
            elif roll < 0.81:
                msg_id = self.explain(doc)
                if msg_id is not None and self.rng.random() < 0.5:
                    time.sleep(self.rng.uniform(0.0, 0.4))
                    self.cancel(msg_id)
                    self.counts["explain_cancels"] += 1
            elif roll < 0.83:
                self.place_cursor(doc)  # a jump elsewhere in the file
            elif roll < 0.85:
                self.close_seq.setdefault(doc.uri, []).append(self.notify(
                    "textDocument/didClose", {"textDocument": {"uri": doc.uri}}))
                doc.open = False
                self.counts["closes"] += 1
                pending.pop(doc.uri, None)
            time.sleep(self.rng.uniform(0.01, 0.06))
        while self.counts["files_created"] < self.files_total or self.live_files:
            self.churn_files()  # the rest of the files, should the run have been slower than planned
        return self.finish(time.monotonic() - started)

    # -- the verdict ----------------------------------------------------------------------------------------------

    def finish(self, duration: float) -> dict[str, Any]:
        server = self.server
        unanswered = []
        deadline = time.monotonic() + 180
        for msg_id in list(self.sent):
            try:
                server.wait(msg_id, max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                unanswered.append(msg_id)
        alive = server.proc.poll() is None
        stats = server.call("codehearth/stats")["result"] if alive else {}
        exit_code = server.close()
        problems: list[str] = []
        internal, twice, stale, misplaced, wrong_cancel, texts = [], [], [], [], [], 0
        errors: dict[str, int] = {}
        later_answered: list[tuple[int, int]] = sorted(  # (seq sent, arrival) of every answered request
            (s.seq, server.arrival[i]) for i, s in self.sent.items() if i in server.arrival)
        for msg_id, sent in self.sent.items():
            answers = server.responses.get(msg_id, [])
            if len(answers) > 1:
                twice.append(msg_id)
            if not answers:
                continue
            answer = answers[0]
            if "error" in answer:
                code = answer["error"]["code"]
                errors[f"{sent.kind} {code}"] = errors.get(f"{sent.kind} {code}", 0) + 1
                if code == -32603:
                    internal.append(f"{msg_id}: {answer['error']['message']}")
                if sent.kind == "explain" and code == -32800 and not sent.cancelled:
                    wrong_cancel.append(f"{msg_id}: {answer['error']['message']}")
                continue
            if sent.kind != "complete":
                continue
            items = (answer.get("result") or {}).get("items") or []
            if not items or not items[0].get("insertText"):
                continue
            texts += 1
            start = items[0].get("range", {}).get("start", {})
            if (start.get("line"), start.get("character")) != sent.position:
                misplaced.append(msg_id)
            # What the server had read before it answered: every message sent before a request answered earlier.
            arrived = server.arrival[msg_id]
            read_up_to = max((seq for seq, at in later_answered if at < arrived), default=0)
            newer = [s.seq for s in self.sent.values() if s.kind == "complete" and s.uri == sent.uri
                     and sent.seq < s.seq <= read_up_to]
            closed = [c for c in self.close_seq.get(sent.uri, []) if sent.seq < c <= read_up_to]
            if newer or closed:
                stale.append(f"{msg_id} (v{sent.version}): {'closed' if closed else 'superseded'} before it was "
                             f"answered with {items[0]['insertText'][:30]!r}")
        log = [n["params"]["message"] for n in server.notifications if n["method"] == "window/logMessage"]
        bad_log = [line[:300] for line in log if any(b in line for b in BAD_LOG)]
        stderr = server.stderr_tail(2000)
        bad_stderr = [line[:300] for line in stderr.splitlines() if any(b in line for b in BAD_LOG)]
        statuses = [n["params"].get("state") for n in server.notifications if n["method"] == "codehearth/status"]
        if not alive:
            problems.append(f"the server died (exit {exit_code}): {stderr[-2000:]}")
        elif exit_code != 0:
            problems.append(f"exit code {exit_code} after shutdown")
        for name, found in (("unanswered", unanswered), ("answered twice", twice), ("internal errors", internal),
                            ("errors without an id", server.null_id_errors), ("stale suggestions", stale),
                            ("suggestions at another position", misplaced),
                            ("explanations answered -32800 without a cancel", wrong_cancel),
                            ("bad lines in the client log", bad_log), ("bad lines on stderr", bad_stderr)):
            if found:
                problems.append(f"{len(found)} {name}: {found[:5]}")
        if bad_stderr:  # the whole traceback, so a failure on CI says where it came from
            lines = stderr.splitlines()
            first = next(i for i, line in enumerate(lines) if any(b in line for b in BAD_LOG))
            problems.append("stderr from the first bad line:\n" + "\n".join(lines[first:first + 80]))
        return {
            "duration_s": round(duration, 1), "requests": len(self.sent), "messages_sent": self.seq,
            **self.counts, "suggestions_with_text": texts, "errors_by_kind": errors,
            "reloads": statuses.count("loading"), "pop_ups": [p["params"]["message"] for p in server.pop_ups()],
            "unanswered": len(unanswered), "internal_errors": len(internal), "stale": len(stale),
            "null_id_errors": len(server.null_id_errors), "alive_at_end": alive, "exit_code": exit_code,
            "server_stats": {k: stats.get(k) for k in ("requests", "sources", "errors", "state")},
            "problems": problems,
        }


def run_stress(seconds: float, seed: int, work: Path, files: int = 1000) -> dict[str, Any]:
    from codehearth.models.registry import Registry

    model = Registry().resolve("default")
    stress = Stress(seed, work, model, seconds, files)
    try:
        return stress.run()
    finally:
        if stress.server.proc.poll() is None:
            stress.server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    from benchmarks.common import add_allow_dirty, begin_results, machine_info, write_results_file

    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    begin_results(args.allow_dirty)
    with tempfile.TemporaryDirectory(prefix="codehearth-stress-") as tmp:
        result = run_stress(args.seconds, args.seed, Path(tmp), args.files)
    result["command"] = f"python -m benchmarks.reliability.stress --seconds {args.seconds:g} --seed {args.seed}"
    result["machine"] = machine_info()
    out = args.out or ROOT / "benchmarks" / "results"
    path = write_results_file(out / f"stress-seed{args.seed}.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    print(f"wrote {path}", flush=True)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
