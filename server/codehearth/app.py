"""The assistant: open documents, settings, the engine's life cycle, the workspace index and the services.

Everything an editor session needs, with no protocol in it: the LSP layer translates requests into calls
here, and the CLI and benchmarks use the same object without an editor.

The event loop owns all of it (:mod:`codehearth.threads`). Two threads call in: a model reload (the file watch,
or the executor of ``load_engine_async``) hops onto the loop to stop running work before it frees the engines,
and the index thread gets the open documents as a list made on the loop, which also attaches the index.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, cast

import msgspec

from codehearth import threads
from codehearth.complete.service import CompletionService
from codehearth.config import AUTO, Settings, SettingsProblem, cache_dir, merge_settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document
from codehearth.context.index import WorkspaceIndex
from codehearth.context.languages import language_for_path, language_from_lsp_id
from codehearth.engine.base import Engine, EngineError
from codehearth.explain.service import ExplainService
from codehearth.feedback import Recorder, store_path
from codehearth.memory import release_free_heap
from codehearth.models.registry import ModelError, Registry, models_dir
from codehearth.models.selection import ROLES, Choice, FiguresLookup, Plan, measured_lookup, role_warnings
from codehearth.models.selection import plan as plan_models
from codehearth.models.watch import ModelFileWatch, signature
from codehearth.settings_fit import fit_to_context

log = logging.getLogger(__name__)

EngineState = Literal["idle", "loading", "ready", "error"]
Progress = Callable[[str, int | None], None]  # (message, percentage)
# (settings, model file or None for a remote server, role) -> a loaded engine
EngineFactory = Callable[[Settings, Path | None, str], Engine]
IDLE_WAIT_S = 30.0  # an explanation waits this long for a load to start before it gives up
RELOAD_REASON = "the model is being reloaded (settings or model file changed)"
INDEX_ATTACH_WAIT_S = 60.0


def make_engine(settings: Settings, path: Path | None, role: str) -> Engine:
    """The engine the settings ask for: embedded llama.cpp for one model file, or a remote server."""
    if settings.engine.kind == "embedded" and path is not None:
        from codehearth.engine.llama import LlamaEngine

        return LlamaEngine(path, settings.engine)
    from codehearth.engine.remote import make_remote_engine

    return make_remote_engine(settings)


class RoleSlot(msgspec.Struct, kw_only=True):
    """What serves one role: its model, why it was chosen, its state and engine."""

    role: str
    state: EngineState = "idle"
    model: str = ""
    reason: str = ""
    auto: bool = False
    error: str = ""
    warnings: list[str] = msgspec.field(default_factory=list)
    engine: Any = None

    def describe(self) -> dict[str, Any]:
        engine = self.engine if self.state == "ready" else None
        info = engine.info if engine is not None else None
        return {
            "model": self.model,
            "name": info.name if info is not None else "",
            "state": self.state,
            "auto": self.auto,
            "reason": self.reason,
            "fim": info.fim_style if info is not None else "",
            "error": self.error or None,
            "warnings": list(self.warnings),
        }


class Assistant:
    def __init__(
        self,
        roots: list[Path] | None = None,
        settings: Settings | None = None,
        engine_factory: EngineFactory = make_engine,
        data_dir: Path | None = None,
        speed_lookup: FiguresLookup | None = None,
    ) -> None:
        self.roots = [r.resolve() for r in roots or []]
        self.settings = settings or Settings()
        self.problems: list[SettingsProblem] = []
        self.documents: dict[str, Document] = {}
        self.slots: dict[str, RoleSlot] = {role: RoleSlot(role=role) for role in ROLES}
        self.plan: Plan | None = None
        self._engine_factory = engine_factory
        self._engine_key: tuple[Any, ...] | None = None
        self._load_lock = threading.Lock()
        self._warned: set[str] = set()
        self.data_dir = data_dir or cache_dir()
        self.speed_lookup = speed_lookup
        self.index: WorkspaceIndex | None = None
        self.builder = ContextBuilder(None, self.settings.context, self._count_tokens)
        self.completions = CompletionService(self.settings, self.builder, self.engine)
        self.explanations = ExplainService(self.settings, self.builder, self.explain_engine, self.data_dir,
                                           wait_engine=self.wait_for_explanation_engine)
        self.feedback = Recorder(store_path(self.data_dir))  # acceptance statistics; no file until an event
        self.on_state_change: Callable[[EngineState, str], None] | None = None
        self._model_watches: dict[Path, ModelFileWatch] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # the event loop that owns all this, once one runs
        with contextlib.suppress(RuntimeError):  # made on a running loop: that loop owns it from the start
            self.loop = asyncio.get_running_loop()
        self._owner = threads.owner()
        self._warned_tokens = False

    def bind_loop(self) -> None:
        """Called on the event loop: threads that call in hop onto it (see :mod:`codehearth.threads`)."""
        self.loop = asyncio.get_running_loop()

    # -- settings ---------------------------------------------------------------------------------

    def configure(
        self, init_options: dict[str, Any] | None = None, client_settings: dict[str, Any] | None = None
    ) -> list[SettingsProblem]:
        settings, problems = merge_settings(self.roots, init_options, client_settings)
        settings, unfit = fit_to_context(settings)  # the prompt always fits engine.nCtx
        problems = problems + unfit
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

    # -- engines: one per role, one per model file ---------------------------------------------------

    def engine(self) -> Engine | None:
        """The completion role's engine, once ready."""
        slot = self.slots["completion"]
        return slot.engine if slot.state == "ready" else None

    def explain_engine(self) -> Engine | None:
        slot = self.slots["explanation"]
        return slot.engine if slot.state == "ready" else None

    @property
    def engine_state(self) -> EngineState:
        """Both roles in one word: an error in either wins, then loading, then ready."""
        states = {slot.state for slot in self.slots.values()}
        for state in ("error", "loading", "idle"):
            if state in states:
                return state  # type: ignore[return-value]
        return "ready"

    @property
    def engine_error(self) -> str:
        errors = dict.fromkeys(slot.error for slot in self.slots.values() if slot.error)
        return "; ".join(errors)

    def model_label(self) -> str:
        """Both models in a few words, e.g. ``smollm2-135m-instruct + qwen2.5-coder-0.5b-instruct``."""
        names = list(dict.fromkeys(slot.model for slot in self.slots.values() if slot.model))
        return " + ".join(names) or self.settings.role_model("completion")

    def models_status(self) -> dict[str, dict[str, Any]]:
        return {role: slot.describe() for role, slot in self.slots.items()}

    def engine_key(self) -> tuple[Any, ...]:
        """Everything that needs a reload when it changes: the models, what auto weighs, every engine setting."""
        s = self.settings
        roles = tuple(s.role_model(role) for role in ROLES)
        weighed = (s.latency_budget_ms, s.explain_first_chunk_ms) if AUTO in roles else ()
        engine = msgspec.json.encode(s.engine)
        return (roles, s.model_dir, s.memory_budget_mb, s.auto_pull, weighed, engine)

    def forget_engine(self) -> None:
        """Make the next load_engine() try again even though the settings did not change."""
        self._engine_key = None

    def needs_reload(self) -> bool:
        return self.engine_key() != self._engine_key

    def load_engine(self) -> Engine | None:
        """Blocking: load (or reload) the models the settings ask for. Errors leave the server usable."""
        with self._load_lock:
            key = self.engine_key()
            if key == self._engine_key and self.engine_state in ("ready", "error"):
                return self.engine()
            self._engine_key = key
            self._unload()
            for slot in self.slots.values():
                slot.state, slot.error, slot.warnings = "loading", "", []
            self._notify("loading", self.model_label())
            if self.settings.engine.kind != "embedded":
                self._load_remote()
            else:
                self._load_roles()
            state = self.engine_state
            self._notify(state, self.engine_error if state == "error" else self.model_label())
            return self.engine()

    def _unload(self) -> None:
        # Running work is the loop's: a reload from the watch thread or an executor asks the loop to stop it, and
        # waits, before the engines are freed.
        threads.on_loop(self.loop, self._stop_work)
        old = {id(slot.engine): slot.engine for slot in self.slots.values() if slot.engine is not None}
        for slot in self.slots.values():
            slot.engine = None
        for engine in old.values():
            engine.close()
        if old:
            release_free_heap()  # the freed model's buffers, back to the system rather than kept as free heap

    def _stop_work(self) -> None:
        self.completions.cancel_all()
        self.explanations.cancel_all(RELOAD_REASON)

    def _load_remote(self) -> None:
        """A remote server serves both roles with the model it runs."""
        try:
            engine = self._engine_factory(self.settings, None, "completion")
        except (ModelError, EngineError, OSError, ValueError) as exc:
            self._fail(list(self.slots.values()), str(exc))
            return
        for slot in self.slots.values():
            slot.model, slot.engine, slot.state, slot.reason = engine.info.name, engine, "ready", "remote server"

    def _load_roles(self) -> None:
        registry = self.registry()
        lookup = self.speed_lookup or measured_lookup(self.settings)
        try:
            plan = self.plan = plan_models(self.settings, registry, lookup)
        except (ModelError, OSError, ValueError) as exc:
            self._fail(list(self.slots.values()), str(exc))
            return
        for role in ROLES:
            choice = plan.choice(role)
            if choice is not None:
                slot = self.slots[role]
                slot.model, slot.reason, slot.auto = choice.model, choice.reason, choice.auto
        if plan.error:
            self._fail(list(self.slots.values()), plan.error)
            return
        self._watch_model_files(Path(c.path) for c in (plan.completion, plan.explanation) if c is not None and c.path)
        by_path: dict[str, Engine] = {}
        failed: dict[str, str] = {}  # one file for both roles fails once, with one message
        for role in ROLES:  # completions first: the editor feels them; explanations wait for theirs
            choice = plan.choice(role)
            slot = self.slots[role]
            assert choice is not None  # a plan without error has both
            if choice.path in failed:
                self._fail([slot], failed[choice.path])
                continue
            try:
                path = self._resolve(registry, choice)
                engine = by_path.get(choice.path)
                if engine is None:
                    engine = self._engine_factory(self._role_settings(role, choice, plan), path, role)
                    _share_decode_gate(engine, by_path.values())
                    by_path[choice.path] = engine
            except (ModelError, EngineError, OSError, ValueError) as exc:
                failed[choice.path] = f"{choice.model} failed to load: {exc}"
                self._fail([slot], failed[choice.path])
                continue
            slot.engine, slot.state = engine, "ready"
            self._warn_role(slot, choice, engine)  # its calibration went to the speed cache `auto` reads
        for watch in self._model_watches.values():
            watch.start()

    def _resolve(self, registry: Registry, choice: Choice) -> Path:
        if not choice.present and choice.auto and self.settings.auto_pull:
            log.info("pulling %s for %ss (autoPull)", choice.model, choice.role)
            return registry.pull(choice.model)
        return registry.resolve(choice.model)

    def _role_settings(self, role: str, choice: Choice, plan: Plan) -> Settings:
        """A model that serves explanations only needs one context, not a completion one beside it."""
        other = plan.choice("completion")
        if role == "explanation" and other is not None and other.path != choice.path:
            engine = msgspec.structs.replace(self.settings.engine, separate_explain_context=False)
            return msgspec.structs.replace(self.settings, engine=engine)
        return self.settings

    def _warn_role(self, slot: RoleSlot, choice: Choice, engine: Engine) -> None:
        info = engine.info
        for message in role_warnings(slot.role, info.fim_style, bool(info.chat_template), choice.kind, choice.model):
            slot.warnings.append(message)
            if message not in self._warned:  # once per server, not once per reload
                self._warned.add(message)
                log.warning("%s", message)

    def _fail(self, slots: list[RoleSlot], message: str) -> None:
        for slot in slots:
            slot.state, slot.error, slot.engine = "error", message, None
        log.error("%s", message)

    def _watch_model_files(self, paths: Iterable[Path]) -> None:
        """Follow the files of the models about to be loaded: a replaced file is reloaded, a deleted one reported.

        Watches of files no longer used stop; a load that fails before it knows its files keeps the old watches,
        so a model file that comes back is still noticed.
        """
        wanted = set(paths)
        for path in list(self._model_watches):
            if path not in wanted:
                self._model_watches.pop(path).stop()
        for path in wanted:
            watch = self._model_watches.get(path)
            if watch is None:
                watch = self._model_watches[path] = ModelFileWatch(path, self._reload_model_file)
            watch.loaded(signature(path))

    def _reload_model_file(self) -> None:
        self.forget_engine()
        self.load_engine()

    async def load_engine_async(self) -> Engine | None:
        self.bind_loop()
        return await asyncio.get_running_loop().run_in_executor(None, self.load_engine)

    async def wait_for_explanation_engine(self, on_wait: Callable[[str], None] | None = None) -> Engine:
        """The explanation model, waiting while it loads; an error only when loading failed, with its reason."""
        slot = self.slots["explanation"]
        started = time.monotonic()
        said = -1
        while True:
            if slot.state == "ready" and slot.engine is not None:
                return cast(Engine, slot.engine)
            if slot.state == "error":
                raise EngineError(slot.error or "the explanation model failed to load")
            waited = time.monotonic() - started
            if slot.state == "idle" and waited > IDLE_WAIT_S:
                raise EngineError("no model is loading (the server was not initialized?)")
            if on_wait is not None and int(waited) > said:  # about once a second
                said = int(waited)
                name = slot.model or "the model"
                on_wait(f"waiting for {name} to load ({said} s)" if said else f"waiting for {name} to load")
            await asyncio.sleep(0.05)

    def _notify(self, state: EngineState, message: str) -> None:
        log.info("engine %s: %s", state, message)
        if self.on_state_change is not None:
            self.on_state_change(state, message)

    def _count_tokens(self, text: str) -> int:
        engine = self.engine()
        if engine is not None:
            try:
                return engine.count_tokens(text)
            except Exception:  # tokenizer trouble must not break context building: estimate, and say so once
                if not self._warned_tokens:
                    self._warned_tokens = True
                    log.warning("counting tokens failed; estimating 3 characters a token from now on when it "
                                "fails", exc_info=True)
        return len(text) // 3 + 1

    # -- workspace --------------------------------------------------------------------------------

    def start_index(self, progress: Callable[[int, int], None] | None = None) -> concurrent.futures.Future[Any]:
        """Scan the workspace in the background and then watch it."""
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="index")
        with contextlib.suppress(RuntimeError):
            self.bind_loop()

        def attach(index: WorkspaceIndex) -> list[tuple[Path, str]]:
            """On the loop: the index serves from now on; the open documents' text as of now, for the thread."""
            self.index = index
            self.builder.index = index
            return [(doc.path, doc.text) for doc in self.documents.values() if doc.path is not None]

        def run() -> Any:
            if not self.roots or not self.settings.context.index_workspace:
                return None
            index = WorkspaceIndex(self.roots, self.data_dir / "index", self.settings.context)
            opened = threads.on_loop(self.loop, lambda: attach(index), INDEX_ATTACH_WAIT_S)
            if opened is None:
                log.warning("the workspace index was not attached: the event loop did not answer")
                return None
            for path, text in opened:
                index.update_text(path, text)
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
        threads.check_owner(self._owner, "open documents")
        doc = Document(uri, text, language=language, version=version, path=path)
        self.documents[uri] = doc
        self.note_edit(doc)
        return doc

    def note_edit(self, doc: Document) -> None:
        self.builder.note_document(doc.snapshot())  # read by the planning thread: never the live document
        self.completions.note_edit(doc, doc.last_edit)
        if self.index is not None and doc.path is not None and self.index.is_allowed(doc.path):
            self.index.update_text(doc.path, doc.text)

    def close_document(self, uri: str) -> None:
        threads.check_owner(self._owner, "open documents")
        doc = self.documents.pop(uri, None)
        if doc is not None and doc.path is not None and self.index is not None:
            self.index.close_document(doc.path)  # back to the file on disk
        self.completions.forget(uri)
        self.builder.forget_document(uri)

    def shutdown(self) -> None:
        for watch in self._model_watches.values():
            watch.stop()
        self.completions.close()
        self.explanations.close()
        self.feedback.close()
        if self.index is not None:
            self.index.stop()
        self._unload()


def uri_to_path(uri: str) -> Path | None:
    """The local file a ``file:`` URI names; None for any other scheme (``untitled:``), another host, or a
    URI with no absolute path (``file://x.py``): such a document has no path, so no workspace-relative one."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parts.path))
    return path if path.is_absolute() else None


def _share_decode_gate(engine: Engine, others: Iterable[Engine]) -> None:
    """Two models on one CPU: one decode at a time across both, completions first (engine/llama.py's gate)."""
    for other in others:
        gate = getattr(other, "_gate", None)
        if gate is not None and hasattr(engine, "_gate"):
            engine._gate = gate  # type: ignore[attr-defined]
            return
