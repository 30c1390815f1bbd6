"""The language server: pygls wiring, life cycle, configuration, progress and messages.

Handlers stay thin: unpack params, call the :class:`~codehearth.app.Assistant`, convert the result.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Generator
from typing import Any, ClassVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from codehearth import __version__
from codehearth.app import Assistant, EngineState
from codehearth.context.document import Document
from codehearth.lsp import convert

log = logging.getLogger(__name__)

REMOTE_RETRY_S = 10.0


class CodehearthProtocol(LanguageServerProtocol):
    """Prefer UTF-8 positions whenever the client offers them (tree-sitter counts UTF-8 bytes)."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        # JSON-RPC allows a request without "params" (codehearth/stats takes none); pygls needs the key.
        if "method" in data and "params" not in data:
            data = {**data, "params": None}
        return super().structure_message(data)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            offered = list(general.position_encodings)
            if convert.UTF8 in offered:
                general.position_encodings = [convert.UTF8, *[e for e in offered if e != convert.UTF8]]
        return (yield from super().lsp_initialize(params))


class CodehearthServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "codehearth",
            __version__,
            protocol_cls=CodehearthProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.assistant = Assistant()
        self.init_options: dict[str, Any] = {}
        self.stream_chunks = False
        self._shown: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closing = False  # after shutdown/exit nothing more is sent to the client
        self._load_task: asyncio.Task[Any] | None = None

    # -- helpers for handlers ----------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or convert.UTF16)
        except RuntimeError:  # no workspace before initialize
            return str(convert.UTF16)

    def document(self, uri: str) -> Document | None:
        return self.assistant.documents.get(uri)

    def show_once(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """One window/showMessage per distinct problem; details go to the log."""
        if message in self._shown:
            return
        self._shown.add(message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"codehearth: {message}"))

    def notify(self, method: str, params: Any) -> None:
        if not self.closing:
            self.protocol.notify(method, params)

    def from_any_thread(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self.closing:
            return
        loop.call_soon_threadsafe(fn, *args)

    def client_supports_progress(self) -> bool:
        caps = self.protocol.client_capabilities
        return bool(caps and caps.window and caps.window.work_done_progress)

    async def progress_begin(self, title: str) -> str | None:
        if not self.client_supports_progress():
            return None
        token = f"codehearth-{uuid.uuid4().hex[:8]}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # the client refused: carry on without a spinner
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
        return token

    def progress_report(self, token: str | None, message: str, percentage: int | None = None) -> None:
        if token is not None:
            self.work_done_progress.report(token, types.WorkDoneProgressReport(message=message, percentage=percentage))

    def progress_end(self, token: str | None, message: str = "") -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    # -- life cycle -------------------------------------------------------------------------------

    def configure(self, client_settings: dict[str, Any] | None = None) -> None:
        problems = self.assistant.configure(self.init_options, client_settings)
        for problem in problems:
            log.warning("%s", problem)
            self.show_once(str(problem), types.MessageType.Warning)
        self.stream_chunks = self.assistant.settings.stream_completion_chunks
        set_log_level(self.assistant.settings.log_level)

    def on_engine_state(self, state: EngineState, message: str) -> None:
        def send() -> None:
            payload: dict[str, Any] = {"state": state, "model": self.assistant.model_label(),
                                       "models": self.assistant.models_status()}
            if state == "error":
                payload["message"] = message
                self.show_once(message)
            self.notify("codehearth/status", payload)

        self.from_any_thread(send)

    async def load_model(self) -> None:
        token = await self.progress_begin(f"codehearth: loading {self.assistant.model_label()}")
        engine = await self.assistant.load_engine_async()
        self.progress_end(token, "ready" if engine is not None else "failed")
        if engine is None and self.assistant.settings.engine.kind != "embedded" and not self.closing:
            # A shared server that is down at start-up may come back: keep trying, quietly.
            asyncio.get_running_loop().call_later(REMOTE_RETRY_S, self.retry_model_load)

    def retry_model_load(self) -> None:
        if self.closing or self.assistant.engine_state != "error":
            return
        self.assistant.forget_engine()
        self.schedule_model_load()

    def schedule_model_load(self) -> None:
        self._load_task = asyncio.get_running_loop().create_task(self.load_model())

    async def index_workspace(self) -> None:
        if not self.assistant.roots or not self.assistant.settings.context.index_workspace:
            return
        token = await self.progress_begin("codehearth: indexing workspace")

        def progress(done: int, total: int) -> None:
            pct = int(done * 100 / total) if total else None
            self.from_any_thread(self.progress_report, token, f"{done}/{total} files", pct)

        try:
            stats = await asyncio.wrap_future(self.assistant.start_index(progress))
            self.progress_end(token, f"{stats}" if stats is not None else "")
        except Exception as exc:  # the index is a help, never a reason to fail
            log.exception("workspace index failed")
            self.progress_end(token, f"index failed: {exc}")


def set_log_level(level: str) -> None:
    logging.getLogger("codehearth").setLevel(level.upper())


class ClientLogHandler(logging.Handler):
    """Mirror codehearth's log records to the client's log (window/logMessage)."""

    LEVELS: ClassVar[dict[int, types.MessageType]] = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
        logging.DEBUG: types.MessageType.Log,
    }

    def __init__(self, server: CodehearthServer) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
        message = self.format(record)

        def send() -> None:
            try:
                self.server.window_log_message(types.LogMessageParams(type=kind, message=message))
            except Exception:  # the client may be gone
                pass

        self.server.from_any_thread(send)


def create_server() -> CodehearthServer:
    from codehearth.lsp import completion, explain, lifecycle

    server = CodehearthServer()
    lifecycle.register(server)
    completion.register(server)
    explain.register(server)
    return server


def serve(tcp: str | None = None) -> int:
    """Run until the client says exit or goes away. Returns 1 after an exit without shutdown (LSP spec)."""
    from codehearth.stdio import protect_stdout

    server = create_server()
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("codehearth").addHandler(handler)
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io(stdout=protect_stdout())
    server.assistant.shutdown()
    return 0 if server.protocol._shutdown else 1
