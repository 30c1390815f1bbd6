"""The suggestions the server offered, in memory, so that an editor's event can be matched to one by its id.

A suggestion the user is typing through is answered again at every keystroke; those answers continue the same
suggestion and keep its id, so that it is counted once however many times the editor asks.
"""

from __future__ import annotations

import collections
import time
import uuid
from typing import Literal

import msgspec

from codehearth.context.document import Document, Point

TaskKind = Literal["mid-line", "line-start", "block"]
MAX_OFFERS = 1024
TAIL_BYTES = 160  # how much text before the cursor identifies where a suggestion was offered
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", "then", "do")


class Offer(msgspec.Struct, kw_only=True):
    id: str
    uri: str
    model: str
    language: str
    kind: TaskKind
    latency_ms: float
    length: int  # characters of the suggestion when it was first offered
    offered_at: float = msgspec.field(default_factory=time.time)
    text: str = ""  # the whole suggestion, from its first anchor
    tail: bytes = b""  # the document's bytes just before its first anchor
    typed: int = 0  # characters typed through before the latest answer continuing it


def task_kind(line_prefix: str, previous_line: str) -> TaskKind:
    """The kind of position, in the vocabulary of ``codehearth eval``'s tasks.

    ``mid-line``: text before the cursor on its line; ``block``: a blank line right after a line that opens a
    block (an empty body); ``line-start``: any other blank line. (``cross-file`` needs the index and the hidden
    text, which only the evaluation has.)
    """
    if line_prefix.strip():
        return "mid-line"
    if previous_line.rstrip().endswith(BLOCK_OPENERS):
        return "block"
    return "line-start"


class OfferBook:
    """The latest offers, bounded; per document the last one, to recognise a suggestion typed through."""

    def __init__(self, size: int = MAX_OFFERS) -> None:
        self._offers: collections.OrderedDict[str, Offer] = collections.OrderedDict()
        self._last: dict[str, Offer] = {}
        self._size = size

    def get(self, offer_id: str) -> Offer | None:
        return self._offers.get(offer_id)

    def offer(self, doc: Document, point: Point, text: str, latency_ms: float, model: str) -> Offer:
        """Register a suggestion answered at ``point``; a continuation of the previous one keeps its id."""
        end = doc.offset(doc.clamp(point))
        before = doc.source[max(0, end - 4 * TAIL_BYTES - len(text.encode())) : end]
        previous = self._last.get(doc.uri)
        if previous is not None:
            typed = _typed_through(previous, before, text)
            if typed is not None:
                previous.typed = typed
                self._offers.move_to_end(previous.id)
                return previous
        row = point.row
        line_prefix = doc.line_bytes(row)[: point.column].decode("utf-8", "replace")
        above = next((doc.line(r) for r in range(row - 1, max(-1, row - 50), -1) if doc.line(r).strip()), "")
        offer = Offer(
            id=uuid.uuid4().hex[:16],
            uri=doc.uri,
            model=model,
            language=doc.language or "plaintext",
            kind=task_kind(line_prefix, above),
            latency_ms=round(latency_ms, 1),
            length=len(text),
            text=text,
            tail=before[-TAIL_BYTES:],
        )
        self._offers[offer.id] = offer
        self._last[doc.uri] = offer
        while len(self._offers) > self._size:
            _, old = self._offers.popitem(last=False)
            if self._last.get(old.uri) is old:
                del self._last[old.uri]
        return offer

    def forget_document(self, uri: str) -> None:
        self._last.pop(uri, None)


def _typed_through(previous: Offer, before: bytes, text: str) -> int | None:
    """How many characters of ``previous`` the user typed to get here, if ``text`` continues it; else None."""
    whole = previous.text.encode()
    for n in range(len(previous.text)):
        typed = previous.text[:n]
        if not before.endswith(previous.tail + typed.encode()):
            continue
        rest = whole[len(typed.encode()) :].decode()
        if text and (rest.startswith(text) or text.startswith(rest)):
            return n
    return None
