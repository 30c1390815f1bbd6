"""Thin handlers: what happened to each suggestion (docs/protocol.md, "Acceptance statistics").

Every inline completion item carries the command ``codehearth.acceptSuggestion`` with the suggestion's id: editors
run an item's command when the user accepts it whole, so plain LSP clients report whole accepts with no code of
ours. The *custom* notification ``codehearth/suggestionEvent`` carries the rest (shown, partial, dismissed).
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from codehearth.complete.suggestion import Suggestion
from codehearth.lsp import convert
from codehearth.lsp.server import CodehearthServer

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "codehearth.acceptSuggestion"
ERASE_COMMAND = "codehearth.eraseStats"
EVENT_NOTIFICATION = "codehearth/suggestionEvent"


def accept_command(
    ls: CodehearthServer, uri: str, position: types.Position, suggestion: Suggestion
) -> types.Command | None:
    """The command for an inline completion item: its id, and how many characters accepting it keeps."""
    doc = ls.document(uri)
    if doc is None or not suggestion.text:
        return None
    point = convert.to_point(doc, position, ls.encoding)
    offer = ls.assistant.feedback.offer(doc, point, suggestion.text, suggestion.latency_ms, model_label(ls))
    arguments = [{"id": offer.id, "acceptedChars": offer.typed + len(suggestion.text)}]
    return types.Command(title="codehearth: suggestion accepted", command=ACCEPT_COMMAND, arguments=arguments)


def model_label(ls: CodehearthServer) -> str:
    settings = ls.assistant.settings
    if settings.engine.kind == "embedded":
        return settings.model_id()
    return f"{settings.engine.kind}:{settings.engine.model or settings.engine.url}"


def register(server: CodehearthServer) -> None:
    def record(ls: CodehearthServer, params: Any, event: str | None = None) -> bool:
        suggestion_id = _get(params, "id")
        event = event or _get(params, "event")
        chars = _get(params, "acceptedChars")
        if not isinstance(suggestion_id, str) or not isinstance(event, str):
            log.debug("malformed suggestion event: %r", params)
            return False
        return ls.assistant.feedback.event(
            suggestion_id,
            event,
            chars if isinstance(chars, int) and not isinstance(chars, bool) else None,
            enabled=ls.assistant.settings.record_acceptance,
        )

    @server.feature(EVENT_NOTIFICATION)
    def suggestion_event(ls: CodehearthServer, params: Any) -> None:
        record(ls, params)

    @server.command(ACCEPT_COMMAND)
    def accept_suggestion(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return {"recorded": bool(args) and record(ls, args[0], "accepted")}

    @server.command(ERASE_COMMAND)
    def erase_stats(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        erased = ls.assistant.feedback.erase()
        log.info("erased %d suggestion records from %s", erased, ls.assistant.feedback.path)
        return {"erased": erased, "store": str(ls.assistant.feedback.path)}


def _get(params: Any, key: str) -> Any:
    if isinstance(params, dict):
        return params.get(key)
    return getattr(params, key, None)
