"""Keep the protocol stream on stdout clean.

llama-cpp-python (``verbose=False``) points file descriptor 1 at /dev/null while it loads a model, and native
code may print to it at any time. On the stdio transport that would eat or corrupt LSP messages. So the JSON-RPC
writer gets its own duplicate of fd 1, and fd 1 itself is pointed at stderr (DESIGN.md §4).

The same load points fd 2 at /dev/null (and swaps ``sys.stderr``): log lines other threads write meanwhile would
vanish, so the log handler writes to its own duplicate of fd 2 (:func:`private_stderr`).
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, TextIO

_private_stderr: TextIO | None = None


def protect_stdout() -> BinaryIO:
    """Return a private binary stream onto the real stdout; fd 1 and sys.stdout now go to stderr."""
    sys.stdout.flush()
    private_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(private_fd, "wb", buffering=0)


def private_stderr() -> TextIO:
    """A text stream onto the real stderr that no later redirection of fd 2 or ``sys.stderr`` affects (one per
    process)."""
    global _private_stderr
    if _private_stderr is None:
        sys.stderr.flush()
        _private_stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    return _private_stderr
