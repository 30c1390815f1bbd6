"""Remote engines: a shared llama.cpp server or any OpenAI-compatible server, behind the same ``Engine`` protocol.

One module per concern: ``urls`` (settings checks), ``connection`` (the HTTP client and its one-line errors),
``discovery`` (what the server runs, found at start-up), ``wire`` (request bodies and stream parsing), ``streaming``
(one generation over HTTP), ``breaker`` (the circuit breaker), ``health`` (failing fast and probing while it is open),
``watchdog`` (closing silent streams), ``redact`` (secrets out of outgoing prompts), ``audit`` (the local record of what
left the machine) and ``engine`` (the ``RemoteEngine`` that ties them together).
"""

from codehearth.engine.remote.breaker import CircuitBreaker
from codehearth.engine.remote.engine import RemoteEngine, make_remote_engine
from codehearth.engine.remote.urls import check_url, read_api_key
from codehearth.engine.remote.wire import (
    CHAT_MARKER,
    InfillParts,
    chat_body,
    completion_body,
    decode_chat,
    encode_chat,
    infill_body,
    infill_parts,
    openai_completion_body,
    openai_suffix_body,
    parse_event,
)

__all__ = [
    "CHAT_MARKER",
    "CircuitBreaker",
    "InfillParts",
    "RemoteEngine",
    "chat_body",
    "check_url",
    "completion_body",
    "decode_chat",
    "encode_chat",
    "infill_body",
    "infill_parts",
    "make_remote_engine",
    "openai_completion_body",
    "openai_suffix_body",
    "parse_event",
    "read_api_key",
]
