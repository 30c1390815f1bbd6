"""``shutdown`` while requests are in flight answers null, not -32603.

Found by the external zzuf fuzz (benchmarks/reliability/external_fuzz.py, real server and model): pygls's
``lsp_shutdown`` cancels every in-flight future while iterating ``_request_futures``; the future of a generator
handler's request (workspace/executeCommand -> codehearth.explain) is a concurrent Future, whose done callbacks
(taking it out of the table) run inside ``cancel()``, so the loop raised "dictionary changed size during
iteration", shutdown answered -32603 and the client's ``exit`` then ended the process with code 1.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future
from typing import Any

from tests.unit.test_protocol import ask, out, server  # noqa: F401  (the fixture)


async def test_shutdown_with_a_generator_request_in_flight_answers_null(server: Any) -> None:  # noqa: F811
    assert "result" in await ask(server, "init", "initialize", {"capabilities": {}})
    protocol = server.protocol
    pending: list[Future[Any]] = []
    for msg_id in ("explain-1", "explain-2"):  # filed as _execute_handler files a generator handler's future
        future: Future[Any] = Future()
        protocol._request_futures[msg_id] = future
        future.add_done_callback(functools.partial(protocol._forget_handler, msg_id))
        pending.append(future)
    answer = await ask(server, 9, "shutdown")
    assert answer.get("result", "missing") is None, answer  # before the fix: -32603 dictionary changed size
    assert all(f.cancelled() for f in pending)
    assert protocol._shutdown
    assert out(server).pop_ups() == []
