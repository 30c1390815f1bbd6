"""Thin handlers: textDocument/inlineCompletion and the textDocument/completion fallback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lsprotocol import types

from codehearth.complete.suggestion import Suggestion
from codehearth.lsp import convert, feedback
from codehearth.lsp.server import CodehearthServer

log = logging.getLogger(__name__)


def register(server: CodehearthServer) -> None:
    def send_chunk(token: str, text: str, done: bool) -> None:
        server.notify("codehearth/completionChunk", {"token": token, "text": text, "done": done})

    server.assistant.completions.chunk_sink = send_chunk

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodehearthServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        arrived = time.monotonic()
        stream = str(params.work_done_token) if ls.stream_chunks and params.work_done_token is not None else None
        uri, position = params.text_document.uri, params.position

        def ready() -> None:  # a better suggestion is ready here than the budget allowed: the client may ask again
            ls.notify("codehearth/suggestionReady", {"textDocument": {"uri": uri},
                                                     "position": {"line": position.line,
                                                                  "character": position.character}})

        suggestion = await _suggest(ls, uri, position, arrived, stream, ready)
        if suggestion is None or not suggestion.text:
            return types.InlineCompletionList(items=[])
        here = params.position
        return types.InlineCompletionList(
            items=[
                types.InlineCompletionItem(
                    insert_text=suggestion.text,
                    # An explicit empty range: without it VS Code replaces the word at the cursor (DESIGN.md §4).
                    range=types.Range(start=here, end=here),
                    command=feedback.accept_command(ls, params.text_document.uri, here, suggestion),
                )
            ]
        )

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))
    async def completion(ls: CodehearthServer, params: types.CompletionParams) -> types.CompletionList:
        arrived = time.monotonic()
        suggestion = await _suggest(ls, params.text_document.uri, params.position, arrived, None)
        if suggestion is None or not suggestion.text:
            return types.CompletionList(is_incomplete=True, items=[])
        first_line = suggestion.text.split("\n", 1)[0]
        here = params.position
        item = types.CompletionItem(
            label=(first_line.strip() or suggestion.text.strip())[:60],
            kind=types.CompletionItemKind.Text,
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=types.Range(start=here, end=here), new_text=suggestion.text),
            detail=f"codehearth ({suggestion.latency_ms:.0f} ms)",
            sort_text="0",
        )
        return types.CompletionList(is_incomplete=True, items=[item])


async def _suggest(
    ls: CodehearthServer, uri: str, position: types.Position, arrived: float, stream: str | None,
    on_late: Callable[[], None] | None = None,
) -> Suggestion | None:
    doc = ls.document(uri)
    if doc is None:
        log.info("completion for a document that is not open: %s", uri)
        return None
    if not convert.in_range(doc, position):
        log.info("completion position %s:%s is past the end of %s", position.line, position.character, uri)
        return None
    point = convert.to_point(doc, position, ls.encoding)
    suggestion = await ls.assistant.completions.complete(doc, point, arrived=arrived, stream_token=stream,
                                                         on_late=on_late)
    timings = suggestion.timings
    # One line per answer, read by the editor benchmark (benchmarks/editor): source, plan, rung and token counts;
    # the model's confidence (lowest/mean/first log-probability of the first line), what the prompt held (s: lines below
    # the cursor's, d: definitions) and whether minConfidence hid the text.
    confidence = suggestion.confidence
    log.debug("completion %s in %.0f ms at %d:%d plan=%s rung=%s evaluated=%s generated=%s prompt=%s: %r "
              "conf=%s held=%s hidden=%d",
              suggestion.source, suggestion.latency_ms, position.line, position.character, suggestion.plan or "-",
              suggestion.rung, timings.tokens_evaluated if timings else -1,
              timings.tokens_generated if timings else -1, timings.prompt_tokens if timings else -1,
              suggestion.text[:80],
              f"{confidence.min_logprob:.3f}/{confidence.mean_logprob:.3f}/{confidence.first_logprob:.3f}"
              if confidence is not None else "-",
              ("s" if suggestion.held_suffix else "") + ("d" if suggestion.held_definitions else "") or "-",
              suggestion.hidden)
    return suggestion
