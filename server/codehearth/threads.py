"""Where threads meet, and the one rule for them.

The server runs one asyncio event loop and a few threads: ``complete-plan`` builds and plans prompts,
``complete`` runs generations, ``explain`` runs explanations, ``index`` scans the workspace, and the model-file
watch (and the executor that loads models) reload engines.

The rule: **the event loop owns** the open documents, the settings, the services and their dicts (the completion
service's running and recent generations, the background work's timer and prefetches, the explanation service's
active set). Another thread never edits them and never reads a live :class:`~codehearth.context.document.Document`:

- the planning thread gets an immutable snapshot made on the loop (``Document.snapshot()``: the text, a
  ``tree.copy()``, the symbols computed for that version); symbols it computes go into the snapshot and are
  handed back to the loop's document only for the same revision;
- a model reload from the watch thread or an executor hops onto the loop to cancel running work
  (:func:`on_loop`) before it frees the engines;
- the index thread gets a list of ``(path, text)`` made on the loop, and the index is attached on the loop;
- results come back with ``loop.call_soon_threadsafe`` or futures.

``CODEHEARTH_DEBUG_THREADS=1`` (on in the test suite) makes the mutation points check this: an object created on
one thread and changed from another raises :class:`ThreadOwnershipError`, so the test that breaks the rule fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEBUG_ENV = "CODEHEARTH_DEBUG_THREADS"
ON_LOOP_WAIT_S = 10.0  # a reload waits this long for the loop to cancel running work, then goes on

DEBUG = os.environ.get(DEBUG_ENV, "") not in ("", "0")


class ThreadOwnershipError(AssertionError):
    """A loop-owned object was changed from another thread (debug mode)."""


def owner() -> int:
    """The id to record at construction: the thread that owns the object from now on."""
    return threading.get_ident()


def check_owner(owner_id: int, what: str) -> None:
    """In debug mode, fail unless the calling thread is the one that owns the object (cheap: one comparison)."""
    if DEBUG and threading.get_ident() != owner_id:
        message = f"{what} changed from thread {threading.current_thread().name!r}, not its owner (the event loop)"
        log.error("%s", message)
        raise ThreadOwnershipError(message)


def on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], _T], wait_s: float = ON_LOOP_WAIT_S) -> _T | None:
    """Run ``fn`` on ``loop``'s thread and wait for its result; directly when there is no running loop (command
    line use) or when already on it. None (logged) if the loop did not get to it within ``wait_s``."""
    if loop is None or loop.is_closed() or not loop.is_running() or _running_loop() is loop:
        return fn()
    done: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            done.set_result(fn())
        except BaseException as exc:  # handed to the waiting thread
            done.set_exception(exc)

    try:
        loop.call_soon_threadsafe(run)
    except RuntimeError:  # the loop closed meanwhile: nothing else touches its objects any more
        return fn()
    try:
        return done.result(wait_s)
    except concurrent.futures.TimeoutError:
        done.cancel()
        log.warning("the event loop did not run %s within %.0f s", getattr(fn, "__name__", fn), wait_s)
        return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
