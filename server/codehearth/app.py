"""The assistant: open documents, settings, the engine's life cycle, the workspace index and the services.

Everything an editor session needs, with no protocol in it: the LSP layer translates requests into calls
here, and the CLI and benchmarks use the same object without an editor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from codehearth.complete.service import CompletionService
from codehearth.config import Settings, SettingsProblem, cache_dir, merge_settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex
from codehearth.context.languages import language_for_path, language_from_lsp_id
from codehearth.engine.base import Engine, EngineError
from codehearth.explain.service import ExplainService
from codehearth.feedback import Recorder, store_path
from codehearth.models.registry import ModelError, Registry, models_dir
from codehearth.models.watch import ModelFileWatch, signature

log = logging.getLogger(__name__)

EngineState = Literal["idle", "loading", "ready", "error"]
Progress = Callable[[str, int | None], None]  # (message, percentage)


def make_engine(settings: Settings, registry: Registry) -> Engine:
    """The engine the settings ask for: embedded llama.cpp by default, or a remote server."""
    if settings.engine.kind == "embedded":
        from codehearth.engine.llama import LlamaEngine

        return LlamaEngine(registry.resolve(settings.model_id()), settings.engine)
    from codehearth.engine.remote import make_remote_engine

    return make_remote_engine(settings)


class Assistant:
    def __init__(
        self,
        roots: list[Path] | None = None,
        settings: Settings | None = None,
        engine_factory: Callable[[Settings, Registry], Engine] = make_engine,
        data_dir: Path | None = None,
    ) -> None:
        self.roots = [r.resolve() for r in roots or []]
        self.settings = settings or Settings()
        self.problems: list[SettingsProblem] = []
        self.documents: dict[str, Document] = {}
        self.engine_state: EngineState = "idle"
        self.engine_error = ""
        self._engine: Engine | None = None
        self._engine_factory = engine_factory
        self._engine_key: tuple[Any, ...] | None = None
        self._load_lock = threading.Lock()
        self.data_dir = data_dir or cache_dir()
        self.index: WorkspaceIndex | None = None
        self.builder = ContextBuilder(None, self.settings.context, self._count_tokens)
        self.completions = CompletionService(self.settings, self.builder, self.engine)
        self.explanations = ExplainService(self.settings, self.builder, self.engine, self.data_dir)
        self.feedback = Recorder(store_path(self.data_dir))  # acceptance statistics; no file until an event
        self.on_state_change: Callable[[EngineState, str], None] | None = None
        self._model_watch: ModelFileWatch | None = None

    # -- settings ---------------------------------------------------------------------------------

    def configure(
        self, init_options: dict[str, Any] | None = None, client_settings: dict[str, Any] | None = None
    ) -> list[SettingsProblem]:
        settings, problems = merge_settings(self.roots, init_options, client_settings)
        self.apply_settings(settings)
        self.problems = problems
        return problems

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.completions.settings = settings
        self.explanations.settings = settings
        self.builder.settings = settings.context

    def registry(self) -> Registry:
        return Registry(directory=models_dir(self.settings.model_dir))

    # -- engine -----------------------------------------------------------------------------------

    def engine(self) -> Engine | None:
        return self._engine if self.engine_state == "ready" else None

    def engine_key(self) -> tuple[Any, ...]:
        """Everything that needs a reload when it changes: the model and every engine setting."""
        engine = msgspec.json.encode(self.settings.engine)
        return (self.settings.model_id(), self.settings.model_dir, engine)

    def forget_engine(self) -> None:
        """Make the next load_engine() try again even though the settings did not change."""
        self._engine_key = None

    def needs_reload(self) -> bool:
        return self.engine_key() != self._engine_key

    def load_engine(self) -> Engine | None:
        """Blocking: load (or reload) the engine the settings ask for. Errors leave the server usable."""
        with self._load_lock:
            key = self.engine_key()
            if key == self._engine_key and self.engine_state in ("ready", "error"):
                return self._engine
            self._set_state("loading", self.settings.model_id())
            old, self._engine = self._engine, None
            self.completions.cancel_all()
            self.explanations.cancel_all()
            if old is not None:
                old.close()
            self._engine_key = key
            watch = self._watch_model_file()
            try:
                self._engine = self._engine_factory(self.settings, self.registry())
            except (ModelError, EngineError, OSError, ValueError) as exc:
                self.engine_error = str(exc)
                self._set_state("error", self.engine_error)
                return None
            finally:
                if watch is not None:
                    watch.start()
            self.engine_error = ""
            self._set_state("ready", self._engine.info.name)
            return self._engine

    def _model_path(self) -> Path | None:
        """The file the embedded engine loads (whether or not it is there now); None for remote engines."""
        if self.settings.engine.kind != "embedded":
            return None
        model = self.settings.model_id()
        if model.endswith(".gguf") or "/" in model:
            return Path(model).expanduser()
        try:
            registry = self.registry()
            return registry.directory / registry.entry(model).file
        except ModelError:
            return None

    def _watch_model_file(self) -> ModelFileWatch | None:
        """Follow the model's file from the version about to be loaded on: a replaced file is reloaded."""
        path = self._model_path()
        if self._model_watch is not None and (path is None or self._model_watch.path != path):
            self._model_watch.stop()
            self._model_watch = None
        if path is None:
            return None
        if self._model_watch is None:
            self._model_watch = ModelFileWatch(path, self._reload_model_file)
        self._model_watch.loaded(signature(path))
        return self._model_watch

    def _reload_model_file(self) -> None:
        self.forget_engine()
        self.load_engine()

    async def load_engine_async(self) -> Engine | None:
        return await asyncio.get_running_loop().run_in_executor(None, self.load_engine)

    def _set_state(self, state: EngineState, message: str) -> None:
        self.engine_state = state
        log.info("engine %s: %s", state, message)
        if self.on_state_change is not None:
            self.on_state_change(state, message)

    def _count_tokens(self, text: str) -> int:
        engine = self._engine
        if engine is not None and self.engine_state == "ready":
            try:
                return engine.count_tokens(text)
            except Exception:  # tokenizer trouble must not break context building
                log.debug("count_tokens failed", exc_info=True)
        return len(text) // 3 + 1

    # -- workspace --------------------------------------------------------------------------------

    def start_index(self, progress: Callable[[int, int], None] | None = None) -> concurrent.futures.Future[Any]:
        """Scan the workspace in the background and then watch it."""
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="index")

        def run() -> Any:
            if not self.roots or not self.settings.context.index_workspace:
                return None
            index = WorkspaceIndex(self.roots, self.data_dir / "index", self.settings.context)
            self.index = index
            self.builder.index = index
            for doc in self.documents.values():
                if doc.path is not None:
                    index.update_text(doc.path, doc.text)
            stats = index.scan(progress)
            index.start_watching()
            return stats

        future = executor.submit(run)
        executor.shutdown(wait=False)
        return future

    def open_document(self, uri: str, text: str, language_id: str = "", version: int = 0) -> Document:
        path = uri_to_path(uri)
        language = language_from_lsp_id(language_id) if language_id else None
        if language is None and path is not None:
            language = language_for_path(path)
        doc = Document(uri, text, language=language, version=version, path=path)
        self.documents[uri] = doc
        self.note_edit(doc)
        return doc

    def note_edit(self, doc: Document) -> None:
        self.builder.note_document(doc)
        self.completions.note_edit(doc, doc.last_edit)
        if self.index is not None and doc.path is not None and self.index.is_allowed(doc.path):
            self.index.update_text(doc.path, doc.text)

    def close_document(self, uri: str) -> None:
        doc = self.documents.pop(uri, None)
        if doc is not None and doc.path is not None and self.index is not None:
            self.index.close_document(doc.path)  # back to the file on disk
        self.completions.forget(uri)
        self.builder.forget_document(uri)

    def shutdown(self) -> None:
        if self._model_watch is not None:
            self._model_watch.stop()
        self.completions.close()
        self.explanations.close()
        self.feedback.close()
        if self.index is not None:
            self.index.stop()
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def uri_to_path(uri: str) -> Path | None:
    if not uri.startswith("file://"):
        return None
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return Path(unquote(parsed.path))
