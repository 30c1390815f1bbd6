"""Matches the editors' events to offered suggestions and records them (when the user lets it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, get_args

from codehearth.context.document import Document, Point
from codehearth.feedback.offers import Offer, OfferBook
from codehearth.feedback.store import Store

log = logging.getLogger(__name__)

Event = Literal["shown", "accepted", "partial", "dismissed"]
EVENTS: tuple[str, ...] = get_args(Event)
STORE_NAME = "acceptance.sqlite3"


def store_path(cache: Path) -> Path:
    """Where the statistics are kept under the user cache folder."""
    return cache / STORE_NAME


class Recorder:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.offers = OfferBook()

    @property
    def path(self) -> Path:
        return self.store.path

    def offer(self, doc: Document, point: Point, text: str, latency_ms: float, model: str) -> Offer:
        return self.offers.offer(doc, point, text, latency_ms, model)

    def event(self, suggestion_id: str, event: str, accepted_chars: int | None = None, enabled: bool = True) -> bool:
        """Record one event; False when it was not recorded (recording off, unknown id or event)."""
        if not enabled:
            return False
        offer = self.offers.get(suggestion_id)
        if offer is None or event not in EVENTS:
            log.debug("suggestion event %r for an unknown suggestion %r", event, suggestion_id)
            return False
        if accepted_chars is None:
            # A whole accept without a count: everything the last answer offered, and what was typed before it.
            accepted_chars = offer.length if event == "accepted" else 0
        self.store.record(
            suggestion_id=offer.id,
            model=offer.model,
            language=offer.language,
            kind=offer.kind,
            latency_ms=offer.latency_ms,
            length=offer.length,
            outcome=event,  # type: ignore[arg-type]
            accepted_chars=accepted_chars,
            at=offer.offered_at,
        )
        return True

    def erase(self) -> int:
        return self.store.erase()

    def close(self) -> None:
        self.store.close()
