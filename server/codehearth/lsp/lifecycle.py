"""Thin handlers: initialize, document sync, configuration, stats, shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codehearth.app import Assistant, uri_to_path
from codehearth.engine.base import token_counts
from codehearth.lsp import convert
from codehearth.lsp.server import CodehearthServer
from codehearth.memory import snapshot as memory_snapshot

log = logging.getLogger(__name__)


def register(server: CodehearthServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: CodehearthServer, params: types.InitializeParams) -> None:
        ls._loop = asyncio.get_running_loop()
        ls.assistant.bind_loop()
        options = params.initialization_options
        ls.init_options = options if isinstance(options, dict) else {}
        roots = [uri_to_path(f.uri) for f in params.workspace_folders or []]
        if not roots and params.root_uri:
            roots = [uri_to_path(params.root_uri)]
        ls.assistant.roots = [r.resolve() for r in roots if r is not None and r.is_dir()]
        ls.configure()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodehearthServer, params: types.InitializedParams) -> None:
        ls.assistant.on_state_change = ls.on_engine_state
        ls.schedule_model_load()
        ls.keep(asyncio.get_running_loop().create_task(ls.index_workspace()))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: CodehearthServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings if isinstance(params.settings, dict) else {}
        ls.configure(settings)
        if ls.assistant.needs_reload():
            ls.schedule_model_load()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodehearthServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        # cattrs lets a number through where lsprotocol says str: an unknown language, not a crash.
        language = item.language_id if isinstance(item.language_id, str) else ""
        ls.assistant.open_document(item.uri, convert.clean_text(item.text), language, item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodehearthServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", params.text_document.uri)
            return
        for change in params.content_changes:
            try:
                convert.apply_change(doc, change, ls.encoding)
            except ValueError as exc:
                log.error("edit rejected for %s: %s", doc.uri, exc)
        doc.version = params.text_document.version
        ls.assistant.note_edit(doc)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodehearthServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.assistant.close_document(params.text_document.uri)

    @server.feature("codehearth/stats")
    def stats(ls: CodehearthServer, params: Any = None) -> dict[str, Any]:
        result = collect_stats(ls)
        since = _answers_since(params)
        if since is not None:  # per-answer records (confidence, rung, prompt contents) for the benchmarks
            result["answers"] = ls.assistant.completions.stats.answers_since(since)
        return result

    @server.feature("codehearth/memory")
    def memory(ls: CodehearthServer, params: Any = None) -> dict[str, Any]:
        """Where resident memory is (for soaks and bug reports); ``{"top": N}`` names Python's N fastest growers."""
        top = params.get("top", 0) if isinstance(params, dict) else getattr(params, "top", 0)
        return memory_snapshot(top if isinstance(top, int) and 0 <= top <= 100 else 0)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CodehearthServer, params: Any = None) -> None:
        ls.closing = True
        ls.assistant.completions.cancel_all()
        ls.assistant.explanations.cancel_all()

    @server.feature(types.EXIT)
    def exit_(ls: CodehearthServer, params: Any = None) -> None:
        ls.closing = True


def _answers_since(params: Any) -> int | None:
    since = params.get("answersSince") if isinstance(params, dict) else getattr(params, "answersSince", None)
    return since if isinstance(since, int) and not isinstance(since, bool) else None


def engine_contexts(assistant: Assistant) -> list[str]:
    """The llama contexts the embedded engines have made, per model (a soak compares memory only between samples
    with the same ones: the spare and explanation contexts are made on first use, after every reload)."""
    engines = {id(e): e for e in (assistant.engine(), assistant.explain_engine()) if e is not None}
    return sorted(f"{e.info.name}:{label}" for e in engines.values() for label in getattr(e, "contexts", ()))


def collect_stats(ls: CodehearthServer) -> dict[str, Any]:
    assistant = ls.assistant
    s = assistant.completions.stats
    engine = assistant.engine()
    counters = engine.counters if engine is not None else None
    speed = getattr(engine, "speed", None)
    return {
        "requests": s.requests,
        "answeredFromCache": s.answered_from_cache,
        "cancelled": s.cancelled,
        "superseded": s.superseded,
        "skipped": s.skipped,
        "empty": s.empty,
        "errors": s.errors,
        "sources": dict(s.sources),
        "modelCalls": counters.calls if counters else 0,
        **token_counts(counters),
        "latencyMs": s.percentiles(),
        "lastLatencyMs": s.last_latency_ms,
        "model": assistant.model_label(),
        "models": assistant.models_status(),  # per role: model, state, why it was chosen
        "state": assistant.engine_state,
        "error": assistant.engine_error or getattr(engine, "unavailable_reason", None) or None,
        "positionEncoding": ls.encoding,
        "handlersInFlight": getattr(ls.protocol, "handlers_in_flight", None),  # this request included
        "redactions": getattr(engine, "redactions", 0),  # secrets kept out of prompts sent to a remote engine
        "index": assistant.index.health() if assistant.index is not None else None,
        # measured rates of this machine and model (calibration, then the moving average per context length)
        "speed": speed.describe() if speed is not None else None,
        "threads": getattr(engine, "threads", None),
        "contexts": engine_contexts(assistant),
        **s.planning(),
    }
