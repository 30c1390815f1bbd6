"""The thread that builds and plans completion prompts, and what happens when a job on it gets stuck.

Prompts are built off the event loop (see ``codehearth.threads``); a request waits for its job only until its
deadline. A job that runs past it may be stuck on a pathological buffer, so the next request gets a fresh thread
instead of queueing behind it; the old thread ends when its job does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")

EXIT_WAIT_S = 2.0  # how long close() waits for a job still running (it may be tokenizing with the model)
MAX_ABANDONED = 4  # stuck threads left running at once; past that the next request waits for them


def _new_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="complete-plan")


class PlanningThread:
    def __init__(self) -> None:
        self._pool = _new_pool()
        self._abandoned: list[concurrent.futures.ThreadPoolExecutor] = []
        self.replaced = 0

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The current planning thread, for work that has no deadline of its own (background prompts)."""
        return self._pool

    async def run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` on the planning thread; give up waiting at the deadline (the last argument, monotonic)."""
        deadline = args[-1]
        assert isinstance(deadline, float)
        pool = self._pool
        job = pool.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self._abandon(pool)
            raise

    def _abandon(self, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        if pool is not self._pool:
            return  # replaced already
        self._abandoned = [p for p in self._abandoned if any(t.is_alive() for t in getattr(p, "_threads", ()))]
        if len(self._abandoned) >= MAX_ABANDONED:
            log.warning("%d planning threads are stuck; the next request waits for them", len(self._abandoned))
            return
        pool.shutdown(wait=False, cancel_futures=True)
        self._abandoned.append(pool)
        self._pool = _new_pool()
        self.replaced += 1

    def close(self) -> None:
        """Let every planning thread go; wait a little for a job still running, never long enough to hold up exit."""
        for pool in [self._pool, *self._abandoned]:
            pool.shutdown(wait=False, cancel_futures=True)
            for thread in list(getattr(pool, "_threads", ())):
                thread.join(EXIT_WAIT_S)
