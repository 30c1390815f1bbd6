"""A general-purpose mutation fuzzer that is not the project's own (Debian's ``zzuf``) against the real server.

    python -m benchmarks.reliability.external_fuzz [--messages 5000] [--minutes 8] [--seed 1] [--no-model]

Issue 23's "Done when" asks for a fuzz that is not the project's own. The seed corpus is valid LSP JSON-RPC the
server accepts (initialize, initialized, didOpen/didChange of a small Python file, completion, inline completion,
codeAction, workspace/executeCommand codehearth.explain, didChangeConfiguration with the settings tree,
$/cancelRequest, codehearth/stats, shutdown). zzuf mutates the bytes, knowing nothing of JSON or LSP:

- *body* mode: one message's body is mutated (sometimes only the bytes of its params, sometimes with JSON's
  structural characters protected or high bytes refused so more of them stay JSON) and framed with the
  mutated body's Content-Length;
- *stream* mode: several framed messages, headers included, are mutated as one byte stream and sent raw; a
  probe request afterwards (with padding when a mutated Content-Length left the server waiting) tells when
  the server has read past them.

Everything goes to ONE long-running ``codehearth serve`` over stdio after a valid initialize; it is restarted
only when it dies (a death is a finding) or a mutated message is still a valid ``shutdown``. Counted from the
server's output: every response; error responses without an ``"id"`` member (JSON-RPC wants ``"id": null``);
-32603 responses (with the last settings message sent before each); error pop-ups (a notification's internal
fault, e.g. from settings); for every body whose JSON our side could read as a request with a valid id, no answer
or two answers; crashes; hangs (a probe unanswered in 30 s). The engine is the real server with the small
model (SmolLM2-135M, nThreads 1), or with ``--no-model`` a models folder left empty (the model never loads).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.reliability.client import ROOT, frame
from benchmarks.reliability.zzuf_corpus import SETTINGS, SOURCE, Corpus, notification, request
from benchmarks.reliability.zzuf_mutate import ZZUF, zzuf, zzuf_version
from benchmarks.reliability.zzuf_server import FuzzedServer, is_shutdown, owed, reaches_settings

# owed and zzuf are also this module's own: tests/bench/test_external_fuzz.py imports them from here
__all__ = ["Run", "main", "owed", "verdict", "zzuf"]

WINDOW = 32  # readable requests in flight at once
PROBE_EVERY = 100  # messages between liveness probes
RESTORE_EVERY = 150  # messages between the run's own settings sent again (valid, not counted as fuzz)
PROBE_TIMEOUT_S = 30.0


class Run:
    def __init__(self, work: Path, seed: int, no_model: bool) -> None:
        self.work = work
        self.rng = random.Random(seed)
        self.seed = seed
        self.workspace = work / "ws"
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.workspace / "m.py").write_text(SOURCE)
        self.corpus = Corpus(self.workspace, self.rng)
        self.extra_env: dict[str, str] = {}
        if no_model:
            empty = work / "no-models"
            empty.mkdir(exist_ok=True)
            self.extra_env["CODEHEARTH_MODELS_DIR"] = str(empty)
        self.servers: list[FuzzedServer] = []
        self.server: FuzzedServer | None = None
        self.next_id = 0
        self.zzuf_calls = 0
        # what the server owes, per server (index into self.servers)
        self.expected: list[dict[Any, int]] = []  # id -> how many readable requests were sent with it
        self.expected_null: list[int] = []
        self.collisions = 0  # a mutated id equal to one already sent (the client's fault: not counted as doubles)
        self.sent_msgs = 0
        self.mode_counts: collections.Counter[str] = collections.Counter()
        self.kind_counts: collections.Counter[str] = collections.Counter()
        self.readable_bodies = 0
        self.last_settings: bytes | None = None
        self.settings_at: dict[Any, bytes | None] = {}  # request id -> the last settings body sent before it
        self.recent: collections.deque[bytes] = collections.deque(maxlen=12)
        self.crashes: list[dict[str, Any]] = []
        self.planned_restarts = 0
        self.probe_latencies: list[float] = []
        self.hangs: list[dict[str, Any]] = []
        self.pad_bytes = 0
        self.restored = 0
        self.last_stats: dict[str, Any] = {}
        self.settings_reached = 0  # fuzzed settings bodies still a didChangeConfiguration notification
        self.settings_mutated_reached = 0  # ... of them changed by the mutation
        self.dead: set[int] = set()  # servers that died (their unanswered ids are the crash's)

    # -- server lifetime -------------------------------------------------------------------------------------

    def start(self) -> None:
        cache = self.work / f"cache{len(self.servers)}"
        server = FuzzedServer(cache, extra_env=self.extra_env)
        self.servers.append(server)
        self.expected.append({})
        self.expected_null.append(0)
        self.server = server
        server.initialize(self.workspace, SETTINGS)
        server.open(self.corpus.uri, SOURCE)

    def alive(self) -> bool:
        return self.server is not None and self.server.proc.poll() is None

    def ensure_alive(self, why: str) -> None:
        assert self.server is not None
        if self.alive():
            return
        self.dead.add(len(self.servers) - 1)
        self.crashes.append({"when": why, "exit_code": self.server.proc.returncode,
                             "after_messages": self.sent_msgs,
                             "last_sent": [b.decode("utf-8", "backslashreplace")[:600] for b in list(self.recent)[-4:]],
                             "stderr_tail": self.server.stderr_tail(25)})
        self.start()

    def new_id(self) -> Any:
        self.next_id += 1
        # ints and strings, far from the client's own ids (1, 2, ... from RawServer.request)
        return 10_000_000 + self.next_id if self.rng.random() < 0.6 else f"f-{self.next_id}"

    def write(self, data: bytes) -> bool:
        assert self.server is not None
        self.recent.append(data)
        try:
            self.server.write(data)
            return True
        except OSError:
            return False

    # -- one body-mode message -----------------------------------------------------------------------------

    def body_message(self) -> None:
        assert self.server is not None
        msg_id = self.new_id()
        seed_msg = self.corpus.draw(msg_id)
        if "id" in seed_msg:
            self.corpus.last_ids.append(msg_id)
        body = json.dumps(seed_msg).encode()
        self.kind_counts[seed_msg["method"]] += 1
        protect = refuse = None
        byte_range = None
        style = self.rng.random()
        if style < 0.6:
            protect = '{}[]":,'  # JSON's structure stays: the values change (more messages get past the parser)
            # nor made where they were not, and no control bytes, backslashes or invalid UTF-8 either
            refuse = '{}[]":,\\x00-\\x1f\\\\\\x80-\\xff'
        if self.rng.random() < 0.5 and (at := body.find(b'"params"')) >= 0:
            byte_range = (at + 9, len(body))  # the envelope stays: the mutation lands in params
        # about 1 to 30 bits flipped in the bytes fuzzed, whatever the message's size (a settings tree is ten
        # times a completion's: one ratio for both would leave no settings message readable)
        flips = self.rng.choice([1, 1, 2, 3, 5, 10, 30])
        fuzzed = (byte_range[1] - byte_range[0]) if byte_range else len(body)
        ratio = min(0.5, flips / (8 * max(1, fuzzed)))
        self.zzuf_calls += 1
        mutated = zzuf(body, self.seed * 1_000_003 + self.zzuf_calls, ratio, protect=protect, refuse=refuse,
                       byte_range=byte_range)
        self.mode_counts["body"] += 1
        index = len(self.servers) - 1
        what, owed_id = owed(mutated)
        is_settings = seed_msg["method"] == "workspace/didChangeConfiguration"
        if what == "answer":
            self.readable_bodies += 1
            counts = self.expected[index]
            if owed_id in counts:
                self.collisions += 1
            counts[owed_id] = counts.get(owed_id, 0) + 1
            self.settings_at[owed_id] = self.last_settings
        elif what == "null":
            self.expected_null[index] += 1
        else:
            self.readable_bodies += 1
        shutdown = is_shutdown(mutated)
        if not self.write(frame(mutated)):
            return
        if is_settings:
            self.last_settings = mutated
            if reaches_settings(mutated):
                self.settings_reached += 1
                self.settings_mutated_reached += mutated != body
        self.sent_msgs += 1
        if shutdown:
            self.after_shutdown()

    def after_shutdown(self) -> None:
        """A mutated message was still a valid shutdown: end this server cleanly and start the next one."""
        assert self.server is not None
        self.settle(self.server, 60)
        code = self.server.close(30)
        if code != 0:
            self.crashes.append({"when": "exit after a fuzzed shutdown", "exit_code": code,
                                 "stderr_tail": self.server.stderr_tail(25)})
        self.planned_restarts += 1
        self.start()

    # -- one stream-mode burst -----------------------------------------------------------------------------

    def stream_burst(self) -> int:
        """Several framed messages mutated as one stream; returns how many messages it held."""
        assert self.server is not None
        count = self.rng.randint(2, 6)
        parts = []
        for _ in range(count):
            msg_id = f"s-{self.new_id()}"
            message = self.corpus.draw(msg_id)
            if message["method"] == "shutdown":
                message = request(msg_id, "codehearth/stats", None)  # a clean shutdown is body mode's
            self.kind_counts[message["method"]] += 1
            parts.append(frame(json.dumps(message).encode()))
        stream = b"".join(parts)
        self.zzuf_calls += 1
        mutated = zzuf(stream, self.seed * 1_000_003 + self.zzuf_calls,
                       self.rng.choice([0.0005, 0.001, 0.002, 0.005, 0.02]))
        self.mode_counts["stream"] += 1
        if not self.write(mutated):
            return 0
        self.sent_msgs += count
        self.resync()
        return count

    def resync(self) -> None:
        """A probe after the raw bytes; when it is not answered (a mutated Content-Length is still being read),
        padding that is no header and no JSON, doubled each time, until the probe is answered."""
        assert self.server is not None
        pad = 16 * 1024
        while True:
            probe = f"sync-{self.new_id()}"
            self.write(frame(json.dumps(request(probe, "codehearth/stats", None)).encode()))
            if self.wait_for(probe, 5.0):
                self.expected[-1][probe] = 1
                return
            if not self.alive() or pad > 256 * 1024 * 1024:
                self.hangs.append({"when": "resync after a mutated stream", "padding_bytes": self.pad_bytes,
                                   "last_sent": self.recent[-1].decode("utf-8", "backslashreplace")[:600]})
                return
            self.write(b" " * pad)
            self.pad_bytes += pad
            pad *= 2

    # -- waiting -------------------------------------------------------------------------------------------

    def wait_for(self, msg_id: Any, timeout: float) -> bool:
        assert self.server is not None
        server = self.server
        end = time.monotonic() + timeout
        with server._cond:
            while msg_id not in server.responses:
                left = end - time.monotonic()
                if left <= 0 or server.proc.poll() is not None:
                    return False
                server._cond.wait(min(left, 0.5))
        return True

    def pending(self, server: FuzzedServer, index: int) -> list[Any]:
        with server._cond:
            return [i for i, n in self.expected[index].items() if len(server.responses.get(i, [])) < n]

    def throttle(self) -> None:
        assert self.server is not None
        index = len(self.servers) - 1
        end = time.monotonic() + 120
        while len(self.pending(self.server, index)) >= WINDOW and self.alive():
            if time.monotonic() > end:
                self.hangs.append({"when": f"{WINDOW} requests unanswered for 120 s after {self.sent_msgs} messages",
                                   "ids": [str(i) for i in self.pending(self.server, index)[:10]],
                                   "stderr_tail": self.server.stderr_tail(15)})
                return
            with self.server._cond:
                self.server._cond.wait(0.5)

    def probe(self) -> None:
        assert self.server is not None
        probe = f"probe-{self.new_id()}"
        started = time.monotonic()
        self.write(frame(json.dumps(request(probe, "codehearth/stats", None)).encode()))
        self.expected[-1][probe] = 1
        if self.wait_for(probe, PROBE_TIMEOUT_S):
            self.probe_latencies.append(time.monotonic() - started)
        elif self.alive():
            self.hangs.append({"when": f"probe after {self.sent_msgs} messages", "timeout_s": PROBE_TIMEOUT_S,
                               "last_sent": [b.decode("utf-8", "backslashreplace")[:600]
                                             for b in list(self.recent)[-4:]],
                               "stderr_tail": self.server.stderr_tail(15)})

    def settle(self, server: FuzzedServer, timeout: float) -> None:
        index = self.servers.index(server)
        end = time.monotonic() + timeout
        while time.monotonic() < end and server.proc.poll() is None:
            if not self.pending(server, index) and len(server.null_id_errors) >= self.expected_null[index]:
                return
            with server._cond:
                server._cond.wait(0.5)

    def restore(self) -> None:
        """The run's own settings again (valid), so the fuzz goes on against a server configured as intended."""
        self.write(frame(json.dumps(notification("workspace/didChangeConfiguration",
                                                 {"settings": {"codehearth": SETTINGS}})).encode()))
        self.restored += 1

    # -- the run -------------------------------------------------------------------------------------------

    def run(self, messages: int, seconds: float) -> dict[str, Any]:
        started = time.monotonic()
        self.start()
        load_s = time.monotonic() - started
        fuzz_started = time.monotonic()
        next_probe = PROBE_EVERY
        next_restore = RESTORE_EVERY
        while self.sent_msgs < messages and time.monotonic() - fuzz_started < seconds:
            self.ensure_alive(f"before message {self.sent_msgs}")
            self.throttle()
            if self.rng.random() < 0.15:
                self.stream_burst()
            else:
                self.body_message()
            if self.sent_msgs >= next_probe:
                next_probe += PROBE_EVERY
                self.ensure_alive(f"before the probe after {self.sent_msgs}")
                self.probe()
            if self.sent_msgs >= next_restore:
                next_restore += RESTORE_EVERY
                self.restore()
        send_s = time.monotonic() - fuzz_started
        self.ensure_alive("at the end of sending")
        assert self.server is not None
        self.settle(self.server, 120)
        self.probe()
        try:  # the last server's own counts (the model's answers among them): the run really reached the engine
            stats = self.server.call("codehearth/stats", timeout=30).get("result") or {}
            self.last_stats = {k: stats.get(k) for k in ("state", "model", "requests", "sources", "modelCalls",
                                                         "errors", "cancelled", "superseded")}
        except (OSError, TimeoutError):
            pass
        exit_code = self.server.close(60) if self.alive() else self.server.proc.returncode
        if exit_code != 0:
            self.crashes.append({"when": "shutdown + exit at the end", "exit_code": exit_code,
                                 "stderr_tail": self.server.stderr_tail(25)})
        return self.result(load_s, send_s, time.monotonic() - fuzz_started, exit_code)

    def result(self, load_s: float, send_s: float, duration_s: float, exit_code: int | None) -> dict[str, Any]:
        responses = 0
        idless: list[dict[str, Any]] = []
        null_id_errors = 0
        codes: collections.Counter[str] = collections.Counter()
        internal: list[dict[str, Any]] = []
        unanswered: list[str] = []
        answered_twice: list[str] = []
        error_pop_ups: list[str] = []
        tracebacks: list[str] = []
        for index, server in enumerate(self.servers):
            with server._cond:
                msgs = list(server.all_messages)
            for m in msgs:
                if "method" in m:
                    if m["method"] == "window/showMessage" and (m.get("params") or {}).get("type") == 1:
                        error_pop_ups.append(str(m["params"].get("message"))[:300])
                    continue
                responses += 1
                if "error" in m:
                    codes[str(m["error"].get("code"))] += 1
                    if "id" not in m:
                        idless.append(m)
                    elif m["id"] is None:
                        null_id_errors += 1
                    if m["error"].get("code") == -32603:
                        settings = self.settings_at.get(m.get("id"))
                        internal.append({"id": m.get("id"), "message": str(m["error"].get("message"))[:400],
                                         "last_settings_sent": settings.decode("utf-8", "backslashreplace")[:1500]
                                         if settings else None})
                else:
                    codes["result"] += 1
            # a server that died owes nothing more: its unanswered ids are the crash's, not counted twice
            died = index in self.dead
            for msg_id, n in self.expected[index].items():
                got = len(server.responses.get(msg_id, []))
                if got < n and not died:
                    unanswered.append(str(msg_id))
                elif got > n:
                    answered_twice.append(str(msg_id))
            tracebacks += server.tracebacks
        settings_internal = [e for e in internal if e["last_settings_sent"]]
        return {
            "fuzzer": f"{zzuf_version()} (Debian package zzuf, used as a filter: zzuf -s SEED -r RATIO [-P] [-R] [-b])",
            "seed": self.seed,
            "engine": "no model (models folder empty)" if self.extra_env else
            "real server, model smollm2-135m-instruct, engine.nThreads 1",
            "messages": self.sent_msgs,
            "mutations": self.zzuf_calls,
            "modes": dict(self.mode_counts),
            "seed_methods": dict(sorted(self.kind_counts.items())),
            "bodies_still_readable": self.readable_bodies,
            "requests_tracked": sum(len(e) for e in self.expected),
            "expected_null_id_errors": sum(self.expected_null),
            "responses": responses,
            "response_codes": dict(sorted(codes.items())),
            "errors_without_id": len(idless),
            "errors_without_id_samples": [json.dumps(m)[:400] for m in idless[:5]],
            "errors_with_null_id": null_id_errors,
            "settings_messages_reaching_handler": self.settings_reached,
            "settings_messages_reaching_handler_mutated": self.settings_mutated_reached,
            "internal_errors": len(internal),
            "internal_errors_after_settings": len(settings_internal),
            "internal_error_samples": internal[:8],
            # a fault of ours in a notification handler (settings are notifications) shows as such a pop-up
            "internal_error_pop_ups": sum(1 for p in error_pop_ups if "internal error" in p),
            "error_pop_ups": len(error_pop_ups),
            "error_pop_up_samples": error_pop_ups[:5],
            "unanswered": len(unanswered),
            "unanswered_ids": unanswered[:20],
            "answered_twice": len(answered_twice),
            "answered_twice_ids": answered_twice[:20],
            "id_collisions_from_mutation": self.collisions,
            "unreadable_server_output": sum(s.unreadable_output for s in self.servers),
            "crashes": len(self.crashes),
            "crash_details": self.crashes[:5],
            "hangs": len(self.hangs),
            "hang_details": self.hangs[:5],
            "planned_restarts_after_fuzzed_shutdown": self.planned_restarts,
            "server_processes": len(self.servers),
            "tracebacks_in_log": len(tracebacks),
            "traceback_samples": tracebacks[:5],
            "probe_latency_s": {"count": len(self.probe_latencies),
                                "max": round(max(self.probe_latencies), 3) if self.probe_latencies else None,
                                "median": round(sorted(self.probe_latencies)[len(self.probe_latencies) // 2], 3)
                                if self.probe_latencies else None},
            "padding_bytes_for_resync": self.pad_bytes,
            "settings_restored": self.restored,
            "last_server_stats": self.last_stats,
            "exit_code_at_end": exit_code,
            "model_load_s": round(load_s, 1),
            "send_s": round(send_s, 1),
            "duration_s": round(duration_s, 1),
        }


def verdict(result: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("errors_without_id", "internal_errors", "internal_error_pop_ups", "unanswered", "answered_twice", "crashes",
                "hangs"):
        if result[key]:
            problems.append(f"{key}: {result[key]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-model", action="store_true", help="leave the models folder empty (no model loads)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "external-fuzz.json")
    from benchmarks.common import add_allow_dirty, begin_results, machine_info, write_results_file

    add_allow_dirty(parser)
    args = parser.parse_args(argv)
    if shutil.which(ZZUF) is None:
        raise SystemExit("zzuf is not installed (apt-get install -y zzuf)")
    begin_results(args.allow_dirty)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="codehearth-zzuf-") as tmp:
        os.chdir(tmp)  # the server's working folder: a relative path in a mutated setting lands here
        run = Run(Path(tmp), args.seed, args.no_model)
        result = run.run(args.messages, args.minutes * 60)
        os.chdir(here)
    result["problems"] = verdict(result)
    result["command"] = (f"python -m benchmarks.reliability.external_fuzz --messages {args.messages} "
                         f"--minutes {args.minutes:g} --seed {args.seed}" + (" --no-model" if args.no_model else ""))
    result["machine"] = machine_info()
    write_results_file(args.out, result)
    print(f"wrote {args.out}: {result['messages']} messages, problems: {result['problems'] or 'none'}", flush=True)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
