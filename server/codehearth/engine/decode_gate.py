"""One decode at a time across every llama context of the process, completions first."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class DecodeGate:
    """One decode at a time; urgent holders (completions) go before patient ones (explanations)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextlib.contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._busy or (not urgent and self._urgent_waiting > 0):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    @property
    def urgent_waiting(self) -> bool:
        return self._urgent_waiting > 0
