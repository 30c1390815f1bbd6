"""Thin handlers: the "Explain this function" code action, the codehearth.explain command and its stream."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled, JsonRpcServerError

from codehearth.engine.base import CancelToken
from codehearth.explain.service import ExplainError
from codehearth.lsp import convert
from codehearth.lsp.server import CodehearthServer

log = logging.getLogger(__name__)

EXPLAIN_COMMAND = "codehearth.explain"
EXPLAIN_TITLE = "Explain this function"


def register(server: CodehearthServer) -> None:
    running: dict[str, CancelToken] = {}

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.Empty], resolve_provider=False),
    )
    def code_action(ls: CodehearthServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        doc = ls.document(params.text_document.uri)
        if doc is None or not convert.in_range(doc, params.range.start):
            return []
        point = convert.to_point(doc, params.range.start, ls.encoding)
        function = doc.enclosing_function(point)
        if function is None:
            return []
        ls.assistant.explanations.rest_at(doc, point)  # read its explanation prompt ahead if the cursor stays
        position = {"line": params.range.start.line, "character": params.range.start.character}
        return [
            types.CodeAction(
                title=EXPLAIN_TITLE if not function.name else f"{EXPLAIN_TITLE}: {function.name}",
                kind=types.CodeActionKind.Empty,
                command=types.Command(
                    title=EXPLAIN_TITLE, command=EXPLAIN_COMMAND, arguments=[params.text_document.uri, position]
                ),
            )
        ]

    @server.command(EXPLAIN_COMMAND)
    async def explain(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        uri, position, options = _parse_args(args)
        doc = ls.document(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document is not open: {uri}")
        stream_id = str(options.get("id") or uuid.uuid4().hex[:12])
        point = convert.to_point(doc, position, ls.encoding)
        cancel = CancelToken()

        def send(text: str, done: bool, error: str | None = None) -> None:
            payload: dict[str, Any] = {"id": stream_id, "text": text, "done": done}
            if error:
                payload["error"] = error
            ls.notify("codehearth/explainChunk", payload)

        token: str | None = None
        running[stream_id] = cancel
        try:  # from here on, so a cancel while the progress is created leaves no entry in `running`
            token = await ls.progress_begin("codehearth: explaining")
            result = await ls.assistant.explanations.explain(
                doc, point, on_chunk=lambda delta: send(delta, False), cancel=cancel,
                on_wait=lambda message: ls.progress_report(token, message),  # a model still loading
            )
        except ExplainError as exc:
            send("", True, str(exc))
            raise JsonRpcServerError(str(exc), code=-32000) from exc
        except asyncio.CancelledError:
            # $/cancelRequest (the protocol cancels this task with the request): the service has stopped the
            # generation; the request's -32800 is pygls's, the stream still needs its end.
            send("", True, "cancelled")
            raise
        finally:
            running.pop(stream_id, None)
            ls.progress_end(token)
        if cancel.cancelled:
            if cancel.reason:  # the server's reason (a model reload), not the client's cancel: -32000, said
                send("", True, cancel.reason)
                raise JsonRpcServerError(f"explanation stopped: {cancel.reason}", code=-32000)
            send("", True, "cancelled")
            raise JsonRpcRequestCancelled("explanation cancelled")
        send("", True)
        log.info(
            "explained %s: %d chunks, first after %.0f ms, %.0f ms in all%s",
            result.function, result.chunks, result.first_chunk_ms, result.total_ms, " (cached)" if result.cached else "",
        )
        return {"id": stream_id, "text": result.text, "cached": result.cached}

    @server.feature("codehearth/cancelExplain")
    def cancel_explain(ls: CodehearthServer, params: Any) -> None:
        stream_id = _get(params, "id")
        token = running.get(str(stream_id))
        if token is not None:
            token.cancel()


def _get(params: Any, key: str) -> Any:
    if isinstance(params, dict):
        return params.get(key)
    return getattr(params, key, None)


def _parse_args(args: tuple[Any, ...]) -> tuple[str, types.Position, dict[str, Any]]:
    if len(args) < 2:
        raise JsonRpcInvalidParams(f"{EXPLAIN_COMMAND} needs [uri, position]")
    uri, raw = args[0], args[1]
    options = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
    line, character = _get(raw, "line"), _get(raw, "character")
    if not isinstance(uri, str) or not _uinteger(line) or not _uinteger(character):
        raise JsonRpcInvalidParams(
            f"{EXPLAIN_COMMAND} needs [uri: string, position: {{line, character}}] with line and character "
            f"integers from 0 to {UINTEGER_MAX}"
        )
    return uri, types.Position(line=line, character=character), options


UINTEGER_MAX = 2**31 - 1  # LSP's uinteger


def _uinteger(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINTEGER_MAX


__all__ = ["EXPLAIN_COMMAND", "register"]
