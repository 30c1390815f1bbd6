"""Every message in, at most one answer out: the one place that turns bad input into JSON-RPC errors.

pygls structures a message while decoding it (as ``json.loads``'s object hook); when that fails the exception
escapes its reader loop, the request is never answered and the user sees an "Error in server" pop-up. Here the
body is decoded first and then checked step by step, so each request gets exactly one response:

- not JSON → -32700; not a JSON-RPC request → -32600; unknown method → -32601;
- params that do not fit the method's lsprotocol type → -32602, naming the field;
- a handler that raises → -32603, the reason logged once per distinct fault;
- after ``shutdown`` → -32600 (LSP spec); a notification with bad params is logged and dropped.

Errors caused by the client's input go to the log only. A fault of our own in a notification handler (no
response can carry it) shows at most one pop-up per distinct fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import traceback
from collections.abc import Generator
from concurrent.futures import Future
from typing import Any
from urllib.parse import unquote, urlsplit

import cattrs
from cattrs._compat import is_mutable_sequence, is_sequence
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, MsgId

from codehearth.lsp import convert
from codehearth.lsp.handler_futures import HandlerFutures
from codehearth.lsp.transport import (
    MAX_MESSAGE_BYTES,
    TOKEN_ENV,
    TOKEN_OPTION,
    Frame,
    Oversized,
    token_matches,
)

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 400  # of one error message sent back (a bad value may be a megabyte long)
_PEEK_ID_RE = re.compile(rb'^\s*\{[^{}\[\]]*?"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")')


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _describe_leaf(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError) and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc)  # lsprotocol's range checks name the field and the value
    if isinstance(exc, TypeError | AttributeError | cattrs.errors.StructureHandlerNotFoundError):
        name = getattr(_type, "__name__", None) or str(_type)
        return f"invalid value, expected {name}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"invalid value ({type(exc).__name__})"


def describe_params_error(exc: BaseException) -> str:
    """``params.position.line: required field missing; ...`` with the wire's camelCase names."""
    if isinstance(exc, cattrs.BaseValidationError):
        try:
            parts = cattrs.transform_error(exc, path="$", format_exception=_describe_leaf)
        except Exception:  # never let the message itself fail the answer
            parts = [str(exc)]
        out = []
        for part in parts:
            what, _, where = part.rpartition(" @ ")
            path = ".".join(_camel(seg) for seg in where.removeprefix("$.").split("."))
            out.append(f"{path}: {what}")
        text = "; ".join(out)
    else:
        text = _describe_leaf(exc, None)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def _reject_text_as_sequence(converter: cattrs.Converter) -> None:
    """A string (or an object) where a list belongs is one error, not one per character: cattrs would try each
    of a 1 MB string's characters as an element and collect a million errors, freezing the event loop for
    minutes (found by the protocol fuzz, issue 14)."""

    def wrap(make: Any) -> Any:
        def factory(tp: Any, conv: cattrs.Converter) -> Any:
            inner = make(tp, conv)

            def structure(value: Any, _tp: Any) -> Any:
                if isinstance(value, str | bytes | dict):
                    raise TypeError(f"expected a list, got {type(value).__name__}")
                return inner(value, _tp)

            return structure

        return factory

    converter.register_structure_hook_factory(is_sequence, wrap(homogenous_tuple_structure_factory))
    converter.register_structure_hook_factory(is_mutable_sequence, wrap(list_structure_factory))


class CodehearthProtocol(HandlerFutures):
    """Prefer UTF-8 positions whenever the client offers them (tree-sitter counts UTF-8 bytes); validate every
    message before it reaches a handler; keep pygls's own copy of the documents out of the way (the
    :class:`~codehearth.app.Assistant` keeps the documents)."""

    # Class defaults: pygls's __init__ reads every attribute (looking for builtin features) before ours runs.
    required_token: str | None = None  # set when serving TCP with a token (lsp/transport.py)
    initialized_once = False
    initialized_seen = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _reject_text_as_sequence(self._converter)
        self._faults_logged: set[str] = set()
        self._faults_shown: set[str] = set()

    # -- reading ---------------------------------------------------------------------------------------

    def receive_frame(self, frame: Frame) -> None:
        """One framed message from the transport. Never raises (except SystemExit from ``exit``)."""
        if isinstance(frame, Oversized):
            m = _PEEK_ID_RE.match(frame.head)
            msg_id: MsgId | None = None
            if m is not None:
                try:
                    msg_id = json.loads(m.group(1))
                except ValueError:
                    msg_id = None
            if msg_id is not None:
                self._reply_error(msg_id, JsonRpcInvalidRequest(
                    f"message of {frame.length} bytes refused: the limit is {MAX_MESSAGE_BYTES} bytes"))
            return
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.warning("unreadable message (%d bytes): %s", len(frame), _short(exc))
            self._reply_error(None, JsonRpcParseError(f"Parse error: {_short(exc)}"))
            return
        self.receive_data(data)

    def receive_data(self, data: Any) -> None:
        if not isinstance(data, dict):
            log.warning("not a JSON-RPC message: a JSON %s", type(data).__name__)
            self._reply_error(None, JsonRpcInvalidRequest("Invalid request: expected a JSON object"))
            return
        method = data.get("method")
        if "method" in data:
            if "id" in data:
                self._receive_request(data, method)
            else:
                self._receive_notification(data, method)
            return
        if "id" in data and ("result" in data or "error" in data):
            self._receive_response(data)
            return
        log.warning("not a JSON-RPC message: keys %s", sorted(map(str, data))[:10])
        self._reply_error(data.get("id") if _valid_id(data.get("id")) else None,
                          JsonRpcInvalidRequest("Invalid request: no method"))

    def _receive_request(self, data: dict[str, Any], method: Any) -> None:
        msg_id = data["id"]
        if not _valid_id(msg_id):
            log.warning("request with an invalid id: %s", type(msg_id).__name__)
            self._reply_error(None, JsonRpcInvalidRequest("Invalid request: id must be a string or an integer"))
            return
        if data.get("jsonrpc") != self.VERSION or not isinstance(method, str):
            self._reply_error(msg_id, JsonRpcInvalidRequest('Invalid request: needs "jsonrpc": "2.0" and a '
                                                            "string method"))
            return
        if self.required_token is not None and not self.authenticated and method != types.INITIALIZE:
            self._reply_error(msg_id, JsonRpcServerNotInitialized("initialize with the token first"))
            return
        if self._shutdown:
            self._reply_error(msg_id, JsonRpcInvalidRequest(f"{method}: the server is shutting down"))
            return
        if method == types.INITIALIZE and self.initialized_once:
            self._reply_error(msg_id, JsonRpcInvalidRequest("initialize may only be sent once"))
            return
        if not self._known(method):
            log.info("request for an unknown method: %s", _short(method))
            self._reply_error(msg_id, JsonRpcMethodNotFound.of(_short(method)))
            return
        message = self._structure(data, JsonRPCRequestMessage)
        if not isinstance(message, BaseException) and getattr(message, "id", None) is None:
            # A notification's method sent with an id: pygls would run it and never answer.
            self._reply_error(msg_id, JsonRpcInvalidRequest(f"{method} is a notification, not a request"))
            return
        if isinstance(message, BaseException) or (problem := _uri_problem(message)):
            problem = describe_params_error(message) if isinstance(message, BaseException) else problem
            log.info("%s (id %s): invalid params: %s", method, _short(msg_id), problem)
            self._reply_error(msg_id, JsonRpcInvalidParams(f"Invalid params for {method}: {problem}"))
            return
        try:
            self.handle_message(message)
        except Exception as exc:  # pygls's dispatch itself failed: the handler never ran, so answer here
            self.fault(exc, method, pop_up=False)
            self._reply_error(msg_id, JsonRpcInternalError(f"Internal error: {_short(exc)}"))

    def _receive_notification(self, data: dict[str, Any], method: Any) -> None:
        if data.get("jsonrpc") != self.VERSION or not isinstance(method, str):
            log.warning("ignored a notification that is not JSON-RPC 2.0")
            return
        if self.required_token is not None and not self.authenticated and method != types.EXIT:
            log.warning("ignored %s before an authenticated initialize", _short(method))
            return
        if not self._known(method) and method != types.CANCEL_REQUEST:
            log.debug("ignored a notification for an unknown method: %s", _short(method))
            return
        if method == types.INITIALIZED:
            # Once, after initialize: each `initialized` loads the model and scans the workspace again (the fuzz
            # found memory and threads growing by the gigabyte with a client that repeats it).
            if not self.initialized_once or self.initialized_seen:
                log.warning("ignored %s: %s", method, "sent again" if self.initialized_seen else "before initialize")
                return
            self.initialized_seen = True
        message = self._structure(data, JsonRPCNotification)
        if isinstance(message, BaseException) or (problem := _uri_problem(message)):
            problem = describe_params_error(message) if isinstance(message, BaseException) else problem
            log.warning("ignored %s: invalid params: %s", method, problem)
            return
        if method == types.CANCEL_REQUEST and not _valid_id(message.params.id):
            log.warning("ignored %s: invalid params: params.id must be a string or an integer", method)
            return
        try:
            self.handle_message(message)
        except Exception as exc:
            self.fault(exc, method, pop_up=True)

    def _receive_response(self, data: dict[str, Any]) -> None:
        try:
            message = self.structure_message(data)
            self.handle_message(message)
        except Exception as exc:  # a malformed answer to one of our requests: nothing to answer
            log.warning("ignored a malformed response: %s", _short(exc))

    def _known(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _structure(self, data: dict[str, Any], fallback: type) -> Any:
        """The message as its lsprotocol type, or the exception that says why it is not one."""
        payload = {**data, "params": data.get("params")}  # JSON-RPC allows leaving "params" out
        method = payload["method"]
        if method in types.METHOD_TO_TYPES and types.METHOD_TO_TYPES[method][2] is None:
            payload["params"] = None  # shutdown, exit: take none, whatever a client sends
        message_type = self.get_message_type(method) or fallback
        try:
            return self._converter.structure(payload, message_type)
        except Exception as exc:  # cattrs' validation errors, lsprotocol's range checks, RecursionError
            return exc

    def structure_message(self, data: dict[str, Any]) -> Any:
        # JSON-RPC allows a request without "params" (codehearth/stats takes none); pygls needs the key.
        if "method" in data and "params" not in data:
            data = {**data, "params": None}
        return super().structure_message(data)

    @property
    def authenticated(self) -> bool:
        return self.required_token is None or self.initialized_once

    # -- answering -------------------------------------------------------------------------------------

    def _reply_error(self, msg_id: MsgId | None, error: JsonRpcException) -> None:
        response = error.to_response_error()
        # A message that quotes the client's input may carry its lone surrogates (a URI "file:///\udc80.py"),
        # which no UTF-8 body can: they are written as escapes instead of failing the answer (-32603).
        response.message = response.message.encode("utf-8", "backslashreplace").decode("utf-8")
        if msg_id is None:
            # JSON-RPC 2.0: the answer to a message whose id could not be read carries "id": null, never no id
            # (lsprotocol's converter drops a None id, and a client that routes by id cannot place the answer).
            body: dict[str, Any] = {"code": response.code, "message": response.message}
            if response.data is not None:
                body["data"] = response.data
            self._send_data({"jsonrpc": self.VERSION, "id": None, "error": body})
            return
        self._send_data(types.ResponseErrorMessage(id=msg_id, error=response))

    def _send_handler_result(self, future: Future[Any], *, msg_id: MsgId) -> None:
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            self._reply_error(msg_id, JsonRpcRequestCancelled(f'Request with id "{msg_id}" is cancelled'))
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
        elif isinstance(exc, JsonRpcException):  # the handler's own answer: invalid params, cancelled, ...
            log.info("request %s answered with error %s: %s", _short(msg_id), exc.code, _short(exc.message))
            self._reply_error(msg_id, exc)
        else:
            self.fault(exc, f"request {msg_id}", pop_up=False)
            self._reply_error(msg_id, JsonRpcInternalError(f"Internal error: {_short(exc)}"))

    def _check_handler_result(self, future: Future[Any]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            self.fault(exc, "a notification", pop_up=True)

    def fault(self, exc: BaseException, where: str, pop_up: bool) -> None:
        """A fault of ours: logged with its traceback once per distinct place, shown at most once."""
        frames = traceback.extract_tb(exc.__traceback__)
        place = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        key = f"{type(exc).__name__} at {place}"
        if key in self._faults_logged:
            log.debug("again: %s in %s: %s", key, where, _short(exc))
        else:
            self._faults_logged.add(key)
            log.error("internal error in %s: %s", where, _short(exc), exc_info=exc)
        if pop_up and key not in self._faults_shown:
            self._faults_shown.add(key)
            self.notify(types.WINDOW_SHOW_MESSAGE, types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"codehearth: internal error ({type(exc).__name__}: {_short(exc)}); details in the log"))

    def _send_data(self, data: Any) -> None:
        """pygls's writer, but a response that cannot be encoded still answers its request (-32603)."""
        if not data:
            return
        if self.writer is None:
            log.error("no transport to send on")
            return
        try:
            body = json.dumps(data, default=self._serialize_message)
        except Exception as exc:
            self.fault(exc, "encoding a message", pop_up=False)
            msg_id = getattr(data, "id", None)
            if getattr(data, "method", None) is None and _valid_id(msg_id):
                body = json.dumps({"jsonrpc": self.VERSION, "id": msg_id, "error": {
                    "code": JsonRpcInternalError.CODE, "message": f"Internal error: {_short(exc)}"}})
            else:
                return
        # ensure_ascii (json's default) keeps the body ASCII, so characters and bytes are the same count.
        header = f"Content-Length: {len(body)}\r\nContent-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n"
        try:
            self.writer.write((header + body).encode(self.CHARSET))  # stdio and TCP writers are synchronous
        except (OSError, ValueError) as exc:  # the client is gone; the reader sees the end of the stream
            log.debug("could not send: %s", exc)

    # -- life cycle and documents ----------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        if self.required_token is not None:
            options = params.initialization_options
            if not isinstance(options, dict) or not token_matches(self.required_token, options.get(TOKEN_OPTION)):
                log.warning("refused initialize: no valid initializationOptions.%s", TOKEN_OPTION)
                self._close_after_refusal()
                raise JsonRpcInvalidRequest(
                    f"this server requires initializationOptions.{TOKEN_OPTION} (the value of ${TOKEN_ENV} "
                    "where it runs)")
            params.initialization_options = {k: v for k, v in options.items() if k != TOKEN_OPTION}
        self.initialized_once = True
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            offered_encodings = list(general.position_encodings)
            if convert.UTF8 in offered_encodings:
                general.position_encodings = [convert.UTF8, *[e for e in offered_encodings if e != convert.UTF8]]
        return (yield from super().lsp_initialize(params))

    def _close_after_refusal(self) -> None:
        """After a refused initialize the connection is closed (once the error has gone out)."""
        writer = self.writer
        if writer is not None and hasattr(writer, "close"):
            asyncio.get_running_loop().call_later(0.05, _close_quietly, writer)

    # The Assistant keeps the open documents; pygls's copy (whose didChange raised KeyError for a document that
    # is not open, before our handler could say so) is not kept.
    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def lsp_work_done_progress_cancel(self, params: types.WorkDoneProgressCancelParams) -> None:
        # cattrs lets a list through where the token must be int | str; pygls would raise looking it up.
        if not _valid_id(params.token):
            log.warning("ignored %s: params.token must be a string or an integer",
                        types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
            return
        super().lsp_work_done_progress_cancel(params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    # Notebook sync is not offered: a client that sends it anyway is ignored rather than crashing pygls's copy.
    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def lsp_notebook_document__did_open(self, params: Any) -> None:
        log.debug("ignored notebookDocument/didOpen (not offered)")

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(self, params: Any) -> None:
        log.debug("ignored notebookDocument/didChange (not offered)")

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def lsp_notebook_document__did_close(self, params: Any) -> None:
        log.debug("ignored notebookDocument/didClose (not offered)")


def _uri_problem(message: Any) -> str | None:
    """A document URI that no file can have (a NUL, a lone surrogate) is invalid params, not a crash later on."""
    document = getattr(getattr(message, "params", None), "text_document", None)
    uri = getattr(document, "uri", None)
    if not isinstance(uri, str):
        return None
    try:
        uri.encode("utf-8")  # a lone surrogate: no URI has one, and every later encode of it would fail
    except UnicodeEncodeError:
        return f"params.textDocument.uri: not a usable URI (a lone surrogate): {_short(uri)!r}"
    if not uri.startswith("file:"):
        return None
    path = unquote(urlsplit(uri).path)
    try:
        if b"\0" not in os.fsencode(path):
            return None
    except (UnicodeError, ValueError):
        pass
    return f"params.textDocument.uri: not a usable file path: {_short(uri)!r}"


def _close_quietly(writer: Any) -> None:
    try:
        writer.close()
    except Exception:
        pass


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"
