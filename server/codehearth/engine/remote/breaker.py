"""The circuit breaker: a dead inference server fails at once, and is probed again every few seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed while the server answers; open (fail at once) after a failure, with a probe every few seconds."""

    def __init__(self, base_delay: float = 1.0, max_delay: float = 8.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.failures = 0
        self._next_probe = 0.0
        self._probing = False
        self._warned: str | None = None  # the last reason logged: a server that flaps is reported once per reason
        self._announced = False  # an outage was logged, so its end is logged too

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def failure(self, reason: str) -> None:
        with self._lock:
            if self.reason is None and reason != self._warned:
                log.warning("inference server unavailable: %s", reason)
                self._warned = reason
                self._announced = True
            self.reason = reason
            self.failures += 1
            delay = min(self.max_delay, self.base_delay * 2 ** min(self.failures - 1, 8))
            self._next_probe = self.clock() + delay
            self._probing = False

    def success(self) -> None:
        with self._lock:
            if self.reason is not None and self._announced:
                log.info("inference server is back")
                self._announced = False
            self.reason = None
            self.failures = 0
            self._probing = False

    def try_probe(self) -> bool:
        """True for exactly one caller when a half-open probe is due."""
        with self._lock:
            if self.reason is None or self._probing or self.clock() < self._next_probe:
                return False
            self._probing = True
            return True
