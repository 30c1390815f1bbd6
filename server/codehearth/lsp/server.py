"""The language server: pygls wiring, life cycle, configuration, progress and messages.

Handlers stay thin: unpack params, call the :class:`~codehearth.app.Assistant`, convert the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from typing import Any, BinaryIO, ClassVar

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from codehearth import __version__
from codehearth.app import Assistant, EngineState
from codehearth.context.document import Document
from codehearth.lsp import convert, transport
from codehearth.lsp.protocol import CodehearthProtocol

log = logging.getLogger(__name__)

REMOTE_RETRY_S = 10.0


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
        self._settings_shown = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closing = False  # after shutdown/exit nothing more is sent to the client
        self._load_task: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # kept until done: the loop holds tasks only weakly

    def keep(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Hold ``task`` until it is done; its failure is logged with the traceback."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed: %s", task.get_name(), exc, exc_info=exc)

    protocol: CodehearthProtocol

    # -- transports (lsp/transport.py frames the bytes; pygls's own reader trusts any Content-Length) ----

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls's default shows every error as a pop-up; ours are logged, and shown once (lsp/protocol.py).
        log.debug("pygls reported: %s", error)

    def start_stdio(self, stdin_fd: int, stdout: BinaryIO) -> None:
        self._stop_event = stop = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout))
        source = transport.StdinChunks(stdin_fd)
        try:
            asyncio.run(transport.pump(source.read, self.protocol, stop))
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_guarded_tcp(self, host: str, port: int, token: str | None) -> None:
        """One client at a time. With a token, a client that does not present it is refused and disconnected,
        and the server waits for the next; the session of an accepted client ends the server, as on stdio."""
        self._stop_event = stop = threading.Event()
        self.protocol.required_token = token
        busy = False

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            if busy:
                writer.close()
                return
            busy = True
            self.protocol.set_writer(writer)
            try:
                await transport.pump(lambda: reader.read(transport.CHUNK_BYTES), self.protocol, stop)
            except (ConnectionError, OSError) as exc:
                log.info("connection lost: %s", exc)
            finally:
                busy = False
                writer.close()
            if self.protocol.authenticated:
                self.shutdown()

        async def main() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            log.info("listening on %s:%s%s", host, port, " (token required)" if token else "")
            async with self._server:
                await self._server.serve_forever()

        try:
            asyncio.run(main())
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

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
        if problems and not self._settings_shown:
            # One pop-up per session for settings: a client that keeps sending bad ones must not bury the user.
            self._settings_shown = True
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.show_once(f"{problems[0]}{more}; details in the log", types.MessageType.Warning)
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
        self._load_task = self.keep(asyncio.get_running_loop().create_task(self.load_model()))

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
            except Exception as exc:  # the client may be gone: said once on stderr (never through this handler)
                _say_once_on_stderr(f"could not send a log message to the client: {exc!r}", exc)

        self.server.from_any_thread(send)


_said_on_stderr: set[str] = set()


def _say_once_on_stderr(message: str, exc: BaseException) -> None:
    """A failure of the client log handler itself: logging it through the logger would come back here."""
    import traceback

    from codehearth.stdio import private_stderr

    key = type(exc).__name__
    if key in _said_on_stderr:
        return
    _said_on_stderr.add(key)
    err = private_stderr()
    with contextlib.suppress(OSError, ValueError):
        err.write(f"codehearth: {message}\n" + "".join(traceback.format_exception(exc)))
        err.flush()


def create_server() -> CodehearthServer:
    from codehearth.lsp import completion, explain, feedback, lifecycle

    server = CodehearthServer()
    lifecycle.register(server)
    completion.register(server)
    explain.register(server)
    feedback.register(server)
    return server


def serve(tcp: str | None = None, allow_remote: bool = False) -> int:
    """Run until the client says exit or goes away. Returns 1 after an exit without shutdown (LSP spec), 2 when
    the TCP address is refused (not loopback without --allow-remote, or no token)."""
    import sys

    from codehearth.stdio import protect_stdout

    if tcp:
        try:
            host, port = transport.parse_tcp(tcp)
            token = transport.tcp_token(host, allow_remote)
        except transport.ExposureError as exc:
            log.error("%s", exc)
            return 2
    server = create_server()
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("codehearth").addHandler(handler)
    if tcp:
        server.start_guarded_tcp(host, port, token)
    else:
        server.start_stdio(sys.stdin.fileno(), protect_stdout())
    server.assistant.shutdown()
    return 0 if server.protocol._shutdown else 1
