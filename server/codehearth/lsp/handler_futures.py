"""pygls's table of handler futures, kept honest: every future leaves it once done, a cancelled request cancels the
handler pygls runs behind its own generator handler, and shutdown cancels what is left over a copy of the table.

pygls files each handler's future in ``_request_futures`` and only a response to a request takes it out; these
overrides are the protocol's whole bookkeeping of it (the soak's leaks and the external fuzz's shutdown fault).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import MsgId

log = logging.getLogger(__name__)


class HandlerFutures(LanguageServerProtocol):
    _generator_result: Future[Any] | None = None  # set while one of pygls's generator handlers steps

    def _execute_handler(self, msg_id: MsgId, handler: Any, callback: Any, args: Any = None,
                         kwargs: Any = None) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        # pygls files every handler's future in _request_futures and only a response to a request takes it out.
        # A notification's future (under a fresh uuid) was left behind per keystroke's didChange (~2,000 objects a
        # minute in the soak). So was the user handler behind one of pygls's own generator handlers (filed under a
        # fresh uuid: workspace/executeCommand -> our explain command, didChangeConfiguration): a done task keeps
        # its result or exception, and an exception's traceback keeps the handler's frames, the closed Document
        # in them and that document's tree-sitter tree: the hour's soak's growth traced to Parser.parse (9.2 MB),
        # one document per explanation a reload stopped. Every future is taken out once it is done.
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(functools.partial(self._forget_handler, msg_id))
            if (outer := self._generator_result) is not None and outer is not future:
                # The user handler behind pygls's generator handler (executeCommand -> our explain): $/cancelRequest
                # cancels only the outer future, and the explanation generated on to its last token. Cancel it too.
                outer.add_done_callback(functools.partial(_cancel_if_cancelled, future))
                # Once the request is cancelled pygls's generator no longer reads how the handler ended: read it
                # here, or an explanation that ended in its own error (cancelExplain, a reload) just before the
                # $/cancelRequest is a task whose exception nobody read, and asyncio logs "Task exception was never
                # retrieved" with its traceback when it is collected (the concurrency stress on CI).
                future.add_done_callback(functools.partial(_read_if_dropped, outer))

    def _run_generator(self, future: Future[Any] | None, *, gen: Generator[Any, Any, Any],
                       result_future: Future[Any]) -> None:
        # pygls starts the handler a generator yields from here (fresh id): _execute_handler links it to the request.
        outer, self._generator_result = self._generator_result, result_future
        try:
            super()._run_generator(future, gen=gen, result_future=result_future)
        finally:
            self._generator_result = outer

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """pygls's own, over a copy of the table: cancelling a concurrent Future (a generator handler's request,
        e.g. a running explanation) runs its done callbacks at once, and they take it out of the table, so
        iterating the table itself raised and shutdown answered -32603 (found by the external zzuf fuzz)."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id  # this request's own future is not cancelled
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def _forget_handler(self, msg_id: MsgId, done: Future[Any]) -> None:
        # Only that future: a client may reuse a request id once it has been answered.
        if self._request_futures.get(msg_id) is done:
            del self._request_futures[msg_id]

    @property
    def handlers_in_flight(self) -> int:
        """Requests (and notification handlers) started and not yet done: stays small when nothing leaks."""
        return len(self._request_futures)



def _cancel_if_cancelled(inner: Future[Any], outer: Future[Any]) -> None:
    if outer.cancelled() and not inner.done():
        inner.cancel()  # the request already has its -32800 answer (_send_handler_result); the inner task's is dropped


def _read_if_dropped(outer: Future[Any], inner: Future[Any]) -> None:
    if outer.cancelled() and not inner.cancelled() and (exc := inner.exception()) is not None:
        log.debug("a handler ended after its request was cancelled: %s", exc)
