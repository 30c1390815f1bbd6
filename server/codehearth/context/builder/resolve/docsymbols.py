"""A document's symbol table as the resolver reads it: a table that cannot be read costs that part of the prompt
(logged once, with what it was for), never the prompt."""

from __future__ import annotations

import logging

from codehearth.context.document import Document
from codehearth.context.symbols import FileSymbols
from codehearth.logonce import log_once

log = logging.getLogger(__name__)


def read_symbols(doc: Document, what: str) -> FileSymbols | None:
    """``doc``'s symbols (stale ones will do), or None when they cannot be read (``what`` names the loss)."""
    try:
        return doc.symbols(allow_stale=True)
    except Exception as exc:
        log_once(log, f"reading the {what} of {doc.uri}", exc)
        return None
