"""Swallowed exceptions, logged once each with their traceback.

Where a failure must not break the feature (a tokenizer, a symbol table, a scope walk), the code goes on with a
fallback; the first failure of each kind at each place is logged with its traceback, the rest at debug level, so a
real bug is seen once and a busy day does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import traceback

_seen: set[str] = set()
_lock = threading.Lock()


def log_once(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log ``exc`` (with its traceback) the first time this kind of failure happens at this place."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    key = f"{what}|{type(exc).__name__}|{place}"
    with _lock:
        first = key not in _seen
        _seen.add(key)
    if first:
        logger.warning("%s failed (going on without it): %s", what, exc, exc_info=exc)
    else:
        logger.debug("%s failed again: %s", what, exc)
