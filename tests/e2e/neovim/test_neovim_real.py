"""Issue 5's acceptance tests: headless Neovim 0.11.4 + this plugin + the real `codehearth serve`
with the real default model (SmolLM2-135M-Instruct), over stdio exactly as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nvim_driver import REPO, SAMPLE_PY, Nvim, NvimFactory, line_of, open_at

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.timeout(300)]

T = "require('codehearth_test')"
MODEL = "smollm2-135m-instruct"
RESULTS = REPO / "test-output" / "neovim"


def server_cmd() -> tuple[list[str], dict[str, str]]:
    """`codehearth` as installed next to this Python (CI: `make test`), else the checkout's package."""
    env: dict[str, str] = {}
    exe = Path(sys.executable).parent / "codehearth"
    if exe.is_file():
        return [str(exe)], env
    found = shutil.which("codehearth")
    if found:
        return [found], env
    env["PYTHONPATH"] = str(REPO / "server") + os.pathsep + os.environ.get("PYTHONPATH", "")
    return [sys.executable, "-m", "codehearth"], env


@pytest.fixture(scope="session")
def real_server() -> Iterator[tuple[list[str], dict[str, str]]]:
    """The server command and environment, with the default model downloaded (pulled if missing)."""
    base, env = server_cmd()
    full_env = {**os.environ, **env}
    out = subprocess.run(
        [*base, "models", "path", MODEL], env=full_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, f"codehearth models path failed: {out.stderr}"
    path = Path(out.stdout.strip())
    if not path.is_file():
        pulled = subprocess.run(
            [*base, "models", "pull", MODEL], env=full_env, capture_output=True, text=True, timeout=900
        )
        assert pulled.returncode == 0, f"codehearth models pull failed: {pulled.stderr[-2000:]}"
    assert path.is_file(), path
    # Each Neovim gets its own XDG cache (so explanations are not cached across tests); the
    # weights stay where they are.
    env["CODEHEARTH_MODELS_DIR"] = str(path.parent)
    yield [*base, "serve"], env


def start(
    make_nvim: NvimFactory,
    real_server: tuple[list[str], dict[str, str]],
    settings: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Nvim:
    """Neovim with the plugin set up for the real server. Tests other than the timing one shorten
    explanations (`explain.maxTokens`) to keep CI quick on a busy 2-core runner."""
    cmd, env = real_server
    opts = {
        "cmd": cmd,
        "model": MODEL,
        "latency_budget_ms": 2000,
        "settings": settings if settings is not None else {"explain": {"maxTokens": 96}},
        "ghost_text": {"debounce_ms": 50},
    }
    return make_nvim(opts, env={**env, **(extra_env or {})})


def wait_ready(nv: Nvim, timeout: float = 120.0) -> dict[str, Any]:
    stats: dict[str, Any] = nv.wait_for(
        f"local s = {T}.server_stats(); return s ~= vim.NIL and s.state ~= 'loading' and s.state ~= 'idle' and s",
        timeout=timeout,
    )
    assert stats["state"] == "ready", stats
    assert stats["model"] == MODEL
    return stats


def last_id(nv: Nvim) -> str | None:
    st = nv.lua(f"return {T}.explain_state()")
    return st["id"] if st else None


def finished(nv: Nvim, after: str | None, timeout: float = 180.0) -> dict[str, Any]:
    """The state of the explanation started after the one with id `after`, once it has ended."""
    st: dict[str, Any] = nv.wait_for(
        f"local s = {T}.explain_state(); return s ~= vim.NIL and s.id ~= ... and s.finished and s",
        after or "",
        timeout=timeout,
    )
    return st


def explain_actions(nv: Nvim) -> list[dict[str, Any]]:
    return [a for a in nv.lua(f"return {T}.code_actions()") if a["command"] == "codehearth.explain"]


def server_alive(nv: Nvim) -> bool:
    """A codehearth client exists and is running (whatever window, even the float, is current)."""
    code = "for _, c in ipairs(vim.lsp.get_clients({ name = 'codehearth' })) do if not c:is_stopped() then return true end end return false"
    return bool(nv.lua(code))


def record(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))


def test_explain_code_action_streams_then_cached(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server, settings={})
    open_at(nv, workspace / "sample.py", line_of(SAMPLE_PY, "raise ValueError"), 8)
    wait_ready(nv)
    assert len(explain_actions(nv)) == 1
    before = last_id(nv)
    nv.lua(f"{T}.run_explain_action()")
    st = finished(nv, before)
    assert st["status"] == "done", st
    assert st["chunks_before_done"] >= 2, st
    assert st["text"].strip(), st
    assert st["float_open"] and st["float_ft"] == "markdown" and st["in_float"]
    assert st["float_text"] == st["text"]
    gen_s = (st["done_ms"] - st["first_chunk_ms"]) / 1000
    timing = {
        "model": MODEL,
        "first_chunk_ms": round(st["first_chunk_ms"], 1),
        "total_ms": round(st["done_ms"], 1),
        "chunks": st["chunks"],
        "chunks_per_s": round((st["chunks"] - 1) / gen_s, 1) if gen_s > 0 else None,
        "chars": len(st["text"]),
    }
    record("explain_timing", timing)

    # q closes the float; the same function again comes from the server's cache
    nv.input("q")
    nv.wait_for(f"return not {T}.explain_state().float_open")
    assert nv.lua("return vim.api.nvim_get_mode().mode") == "n"
    before = last_id(nv)
    nv.lua(f"{T}.run_explain_action()")
    again = finished(nv, before, timeout=30)
    assert again["status"] == "cached" and again["cached"] is True, again
    assert again["text"] == st["text"]


def test_no_explain_action_outside_functions(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server)
    open_at(nv, workspace / "sample.py", line_of(SAMPLE_PY, "RATE = 0.2"))
    for needle in ("RATE = 0.2", "import math", '"""Sample module'):
        nv.lua("vim.api.nvim_win_set_cursor(0, {...})", line_of(SAMPLE_PY, needle), 0)
        assert explain_actions(nv) == [], needle
    # ... and offered in a method
    nv.lua("vim.api.nvim_win_set_cursor(0, {...})", line_of(SAMPLE_PY, "subtotal = sum"), 8)
    assert len(explain_actions(nv)) == 1


GHOST_SOURCE = '''\
import os


def read_text(path):
    """Return the text of the file at path."""
    with open(path) as handle:
'''


def test_ghost_text_appears_and_is_accepted(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server)
    src = workspace / "reader.py"
    src.write_text(GHOST_SOURCE)
    open_at(nv, src, 1)
    wait_ready(nv)
    # Type a line in Insert mode, a few keys at a time, as a user would; wait for ghost text.
    nv.input("Go")
    typed = ""
    state: dict[str, Any] | None = None
    for piece in ["return", " hand", "le", ".", "re", "a"]:
        nv.input(piece)
        typed += piece
        try:
            state = nv.wait_for(
                f"local s = {T}.ghost_state(); return s.visible and s.answered and s", timeout=10
            )
            break
        except TimeoutError:
            continue
    assert state is not None, f"no ghost text after typing {typed!r}: {nv.lua(f'return {T}.ghost_state()')}"
    assert state["mode"].startswith("i")
    assert state["extmarks"] == [state["text"]]
    before = nv.lua(f"return {T}.buffer_text()")
    row, col = nv.lua("return vim.api.nvim_win_get_cursor(0)")
    line = before.split("\n")[row - 1]
    suggestion = state["text"]
    nv.input("<Tab>")
    after = nv.wait_for(f"local t = {T}.buffer_text(); return t ~= {json.dumps(before)} and t")
    lines = suggestion.split("\n")
    expected_line = line[:col] + lines[0]
    after_lines = after.split("\n")
    assert (
        after_lines[row - 1] == expected_line
        if len(lines) == 1
        else after_lines[row - 1].startswith(expected_line)
    )
    assert suggestion in after
    assert nv.lua("return vim.api.nvim_get_mode().mode").startswith("i")
    g = nv.lua(f"return {T}.ghost_state()")
    assert g["stats"]["accepted"] == 1
    record("ghost", {"typed": typed, "suggestion": suggestion, "stats": g["stats"]})


def test_a_suggestion_cut_short_shows_once_it_is_ready(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    """A budget long enough to build the prompt, far too short to read it (a thousand tokens in 150 ms): the answer at
    the keystroke is empty; the server reads the full prompt behind it, generates, says `codehearth/suggestionReady`,
    and the plugin asks again and shows the suggestion while the cursor has not moved."""
    cmd, env = real_server
    nv = make_nvim({"cmd": cmd, "model": MODEL, "latency_budget_ms": 150, "ghost_text": {"debounce_ms": 50},
                    "settings": {"glanceWhenBehind": False}}, env=env)
    src = workspace / "reader.py"
    handlers = "".join(f"def handler_{i}(request):\n    return request.get('key_{i}', {i})\n\n\n" for i in range(60))
    src.write_text(handlers + GHOST_SOURCE)
    open_at(nv, src, 1)
    wait_ready(nv)
    nv.input("Go        return")  # then rest
    state = nv.wait_for(f"local s = {T}.ghost_state(); return s.visible and s.answered and s", timeout=60)
    assert state["stats"]["late"] == 1, state["stats"]
    assert state["stats"]["requests"] == 2  # the keystrokes' (debounced) request, then the one asked again
    assert state["extmarks"] == [state["text"]] and state["text"].strip()
    stats = nv.lua(f"return {T}.server_stats()")
    background = stats["background"]
    assert (background["lateStarted"], background["lateReady"]) == (1, 1)
    record("ghost-late", {"suggestion": state["text"], "stats": state["stats"]})


def test_acceptance_statistics_from_accept_keys(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    """Issue 13: a word taken with <M-w> counts as partly accepted, <Tab> as accepted, in `codehearth stats`."""
    cache = tmp_path / "stats-cache"
    nv = start(make_nvim, real_server, extra_env={"CODEHEARTH_CACHE_DIR": str(cache)})
    src = workspace / "reader.py"
    src.write_text(GHOST_SOURCE)
    open_at(nv, src, 1)
    wait_ready(nv)
    visible = f"local s = {T}.ghost_state(); return s.visible and s.answered and s"
    did: set[str] = set()
    nv.input("Go")
    for prefix in ["return hand", "text = handle.re", "lines = text.split", "count = len(", "result = ", "print("]:
        if {"partial", "accepted"} <= did:
            break
        nv.input(prefix)
        try:
            nv.wait_for(visible, timeout=15)
        except TimeoutError:
            nv.input("<Esc>o")
            continue
        if "partial" not in did:
            nv.input("<M-w>")  # the next word; a one-word suggestion is taken whole
            time.sleep(0.3)
            if nv.lua(f"return {T}.ghost_state().visible"):
                did.add("partial")
                nv.input("<C-]>")
            else:
                did.add("accepted")
        else:
            nv.input("<Tab>")
            did.add("accepted")
        nv.input("<Esc>o")
    assert {"partial", "accepted"} <= did, nv.lua(f"return {T}.ghost_state()")
    nv.input("<Esc>")
    events = nv.lua(f"return {T}.ghost_state().stats.events")
    nv.wait_for(f"return {T}.server_stats() ~= vim.NIL")  # the notifications before it have been handled
    base, env = real_server
    out = subprocess.run([*base[:-1], "stats", "--json"], env={**os.environ, **env, "CODEHEARTH_CACHE_DIR": str(cache)},
                         capture_output=True, text=True, timeout=60, check=True)
    total = json.loads(out.stdout)["total"]
    record("acceptance", {"events": events, "total": total})
    # What the server should have made of the events the plugin sent: per suggestion, its best outcome.
    outcome: dict[str, str] = {}
    chars: dict[str, int] = {}
    rank = {"shown": 0, "dismissed": 1, "partial": 2, "accepted": 3}
    for e in events:
        outcome[e["id"]] = max(outcome.get(e["id"], "shown"), e["event"], key=rank.__getitem__)
        chars[e["id"]] = max(chars.get(e["id"], 0), e.get("acceptedChars") or 0)
    finals = list(outcome.values())
    assert finals.count("partial") == 1 and finals.count("accepted") >= 1, events
    assert (total["shown"], total["fullyAccepted"], total["partiallyAccepted"], total["dismissed"]) == (
        len(finals), finals.count("accepted"), finals.count("partial"), finals.count("dismissed")), events
    assert total["acceptedChars"] == sum(chars.values()) > 0, events


def test_buffer_with_syntax_errors(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    src = workspace / "broken.py"
    src.write_text(
        "def broken(x:\n    y = x +\n    return y\n\nclass (:\n    def ok(self):\n        return 1\n"
    )
    nv = start(make_nvim, real_server)
    open_at(nv, src, 2, 4)
    wait_ready(nv)
    actions = explain_actions(nv)  # offered or not: it must answer
    if actions:
        before = last_id(nv)
        nv.lua(f"{T}.run_explain_action()")
    else:
        before = last_id(nv)
        nv.cmd("CodehearthExplain")
    st = finished(nv, before)
    assert st["status"] in ("done", "error"), st
    if st["status"] == "error":
        assert "\n" not in st["error"]
    else:
        assert st["text"].strip()
    nv.input("q")
    # typing in the broken buffer still works and the server survives it
    nv.input("Goz = broken(<Esc>")
    nv.wait_for(f"return {T}.buffer_text():find('z = broken(', 1, true) ~= nil")
    assert server_alive(nv)
    assert explain_actions(nv) is not None


def test_empty_file(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    src = workspace / "empty.py"
    src.write_text("")
    nv = start(make_nvim, real_server)
    open_at(nv, src, 1)
    wait_ready(nv)
    assert explain_actions(nv) == []
    before = last_id(nv)
    nv.cmd("CodehearthExplain")
    st = finished(nv, before, timeout=30)
    assert st["status"] == "error" and "\n" not in st["error"], st
    assert st["error"] in nv.lua(f"return {T}.errors()")
    nv.input("q")
    nv.input("iimport <Esc>")
    nv.wait_for(f"return {T}.buffer_text() == 'import '")
    time.sleep(0.5)
    assert server_alive(nv)


@pytest.mark.timeout(600)
def test_function_of_5000_lines(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    body = "".join(f"    total = total + {i} * x  # step {i}\n" for i in range(5000))
    src = workspace / "huge.py"
    src.write_text(f"def huge(x):\n    total = 0\n{body}    return total\n")
    nv = start(make_nvim, real_server)
    open_at(nv, src, 2500, 4)
    wait_ready(nv)
    assert len(explain_actions(nv)) == 1
    before = last_id(nv)
    nv.lua(f"{T}.run_explain_action()")
    st = finished(nv, before, timeout=480)
    assert st["status"] == "done", st  # the prompt is cut to the budget, not rejected
    assert st["text"].strip()
    assert server_alive(nv)


def test_server_killed_mid_stream(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server)
    open_at(nv, workspace / "sample.py", line_of(SAMPLE_PY, "subtotal = sum"), 8)
    wait_ready(nv)
    pids = nv.child_pids()
    assert len(pids) == 1, pids
    before = last_id(nv)
    nv.lua(f"{T}.run_explain_action()")
    nv.wait_for(
        f"local s = {T}.explain_state(); return s ~= vim.NIL and s.chunks >= 1", timeout=120, interval=0.01
    )
    os.kill(pids[0], signal.SIGKILL)
    st = finished(nv, before, timeout=20)
    if st["status"] == "done":
        pytest.fail(f"the explanation finished before the server could be killed: {st}")
    assert st["status"] == "error", st
    assert "server exited" in st["error"] and "\n" not in st["error"]
    assert st["float_open"] and "server exited" in st["float_text"]
    assert st["error"] in nv.lua(f"return {T}.errors()")
    # Neovim stays usable: close the float, edit, run commands
    nv.input("q")
    nv.wait_for(f"return not {T}.explain_state().float_open")
    nv.input("Gonew_line = 1<Esc>")
    nv.wait_for(f"return {T}.buffer_text():find('new_line = 1', 1, true) ~= nil")
    assert nv.lua("return vim.api.nvim_get_mode().mode") == "n"
    nv.input("inew<Esc>")  # no ghost request errors without a server
    time.sleep(0.3)
    assert nv.alive()
    assert not server_alive(nv)


def test_checkhealth(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server)
    open_at(nv, workspace / "sample.py", 1)
    wait_ready(nv)
    nv.request("nvim_command", "checkhealth codehearth", timeout=60)
    report = nv.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
    assert "codehearth: server" in report, report
    assert "server command:" in report, report
    assert "version: codehearth" in report, report
    assert f"model {MODEL} found" in report, report
    assert "state ready" in report, report
    assert "ERROR" not in report, report


def test_cancel_then_explain_again(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    nv = start(make_nvim, real_server, settings={"explain": {"maxTokens": 384}})
    open_at(nv, workspace / "sample.py", line_of(SAMPLE_PY, "total = a + b"), 4)
    wait_ready(nv)
    before = last_id(nv)
    nv.cmd("CodehearthExplain")
    nv.wait_for(
        f"local s = {T}.explain_state(); return s ~= vim.NIL and s.chunks >= 1", timeout=120, interval=0.01
    )
    nv.input("<C-c>")  # in the float: stop generating, keep the text
    st = finished(nv, before, timeout=10)
    if st["status"] == "done":
        pytest.skip("the explanation ended before <C-c> arrived")
    assert st["status"] == "cancelled", st
    assert st["float_open"] and st["text"]
    nv.input("q")
    nv.wait_for(f"return not {T}.explain_state().float_open")
    # the server is not stuck: the same function again generates (a cancelled text is not cached)
    before = st["id"]
    nv.cmd("CodehearthExplain")
    again = finished(nv, before, timeout=180)
    assert again["status"] == "done", again
    assert server_alive(nv)


def test_completions_while_an_explanation_streams(
    make_nvim: NvimFactory, workspace: Path, real_server: tuple[list[str], dict[str, str]]
) -> None:
    """Completions keep priority: ghost text still comes within the latency budget mid-explanation."""
    src = workspace / "reader.py"
    src.write_text(GHOST_SOURCE)
    nv = start(make_nvim, real_server, settings={"explain": {"maxTokens": 384}})
    open_at(nv, src, line_of(GHOST_SOURCE, "with open"), 8)
    wait_ready(nv)
    source_win = nv.lua("return vim.api.nvim_get_current_win()")
    before = last_id(nv)
    nv.cmd("CodehearthExplain")
    nv.wait_for(
        f"local s = {T}.explain_state(); return s ~= vim.NIL and s.chunks >= 1", timeout=120, interval=0.01
    )
    nv.lua("vim.api.nvim_set_current_win(...)", source_win)
    nv.input("Goreturn")
    # The ghost text and the explanation's state read in the same instant, as soon as ghost text is shown.
    seen = nv.wait_for(
        f"local s = {T}.ghost_state(); if s.answered and #s.extmarks > 0 and s.extmarks[1] ~= '' then "
        f"return {{ ghost = s, explain = {T}.explain_state() }} end",
        timeout=60,  # a hang detector: the test is what was shown and when, not how fast
    )
    state, explain = seen["ghost"], seen["explain"]
    record(
        "completion_during_explain",
        {
            "completion_latency_ms": round(state["stats"]["last_latency_ms"], 1),
            "suggestion": state["text"],
            "explanation_still_streaming": not explain["finished"],
            "explanation_chunks_so_far": explain["chunks"],
        },
    )
    assert state["extmarks"][0].strip(), state  # ghost text, not an empty answer
    assert not explain["finished"] and explain["chunks"] >= 1, explain  # shown while the explanation streamed
    nv.input("<Esc>")
    st = finished(nv, before, timeout=180)
    assert st["status"] == "done", st
