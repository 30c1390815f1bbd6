"""Swallowed exceptions are logged once with their traceback; the log keeps its own stderr through a model load."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codehearth.context.builder.resolve import Resolver
from codehearth.logonce import log_once

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_failure_is_logged_once_with_its_traceback(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="codehearth")
    logger = logging.getLogger("codehearth.test")
    for _ in range(3):
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError as exc:
            log_once(logger, "dividing", exc)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["dividing failed (going on without it): division by zero"]
    assert warnings[0].exc_info is not None
    assert sum(r.getMessage() == "dividing failed again: division by zero" for r in caplog.records) == 2


class BrokenSymbols:
    uri = "file:///t/broken.py"

    def symbols(self, allow_stale: bool = False) -> Any:
        raise RuntimeError("symbol table broken")


def test_the_resolver_logs_what_it_swallows(caplog: Any) -> None:
    resolver = Resolver(None)
    assert resolver.import_map(BrokenSymbols()) == {}  # type: ignore[arg-type]
    assert resolver.doc_definitions(BrokenSymbols()) == []  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        "reading the imports of file:///t/broken.py failed (going on without it): symbol table broken",
        "reading the definitions of file:///t/broken.py failed (going on without it): symbol table broken",
    ]


SCRIPT = r"""
import logging
from llama_cpp._utils import suppress_stdout_stderr
from codehearth.cli import main

main(["settings-schema"])  # the CLI sets up logging as `codehearth serve` does
log = logging.getLogger("codehearth.test")
log.warning("before the load")
with suppress_stdout_stderr(disable=False):  # what llama-cpp-python does around a model load
    log.warning("during the load")
log.warning("after the load")
"""


def test_log_lines_written_while_a_model_loads_reach_stderr(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"codehearth.test: {w} the load" for w in ("before", "during", "after")]


class BrokenTree:
    uri = "file:///t/broken.py"
    language = "python"
    tree = None

    def opens_empty_block(self, point: Any) -> bool:
        raise RuntimeError("grammar quirk")


def test_the_completion_gates_log_what_they_swallow(caplog: Any) -> None:
    from codehearth.complete.generation import opens_block
    from codehearth.context.document import Point

    assert opens_block(BrokenTree(), Point(0, 0)) is False  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == ["deciding the block shape failed (going on without it): grammar quirk"]
