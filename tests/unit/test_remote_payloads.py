"""Remote engines without a server: request bodies against recorded llama-server /infill and OpenAI payload shapes,
stream parsing, start-up, API keys, URLs and the circuit breaker (httpx.MockTransport stands in for the server).

The shapes in tests/fixtures/remote/ are written from the public API references (llama.cpp's server README, the
OpenAI API reference); each file names its source. llama-cpp-python's server, which the tests in tests/remote/ run
for real, speaks only the OpenAI dialect, so /infill and /completion are covered here.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from codehearth.config import EngineSettings, Settings
from codehearth.engine import remote
from codehearth.engine.base import (
    CancelToken,
    ChatMessage,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    ModelInfo,
    SpecialToken,
)
from codehearth.engine.remote import (
    CircuitBreaker,
    RemoteEngine,
    check_url,
    decode_chat,
    encode_chat,
    infill_parts,
    make_remote_engine,
    parse_event,
)
from codehearth.engine.templates import OtherFile, fim_prompt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "remote"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


QWEN = ModelInfo(
    name="qwen2.5-coder-0.5b",
    family="qwen2",
    architecture="remote",
    fim_style="psm",
    fim_prefix=SpecialToken("<|fim_prefix|>", -1),
    fim_suffix=SpecialToken("<|fim_suffix|>", -1),
    fim_middle=SpecialToken("<|fim_middle|>", -1),
    repo_name=SpecialToken("<|repo_name|>", -1),
    file_sep=SpecialToken("<|file_sep|>", -1),
)


def qwen_pieces(info: ModelInfo = QWEN) -> list:
    return fim_prompt(
        info,
        prefix="import math\n\ndef area(c):\n",
        suffix="\n\ndef main():\n    pass\n",
        middle_start="    return ",
        path="geometry/area.py",
        language="python",
        other_files=[OtherFile("geometry/shapes.py", "class Circle:\n    radius: float\n")],
        repo="myproject",
    )


def sse(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def assert_same_shape(ours: Any, recorded: Any, where: str = "$") -> None:
    """Same keys and the same JSON types, recursively (values may differ)."""
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(recorded), f"{where}: {sorted(set(ours) ^ set(recorded))}"
        for key in recorded:
            assert_same_shape(ours[key], recorded[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(ours, list), where
        for item in ours:
            if recorded:
                assert_same_shape(item, recorded[0], f"{where}[]")
    elif isinstance(recorded, bool):
        assert isinstance(ours, bool), where
    elif isinstance(recorded, int | float):
        assert isinstance(ours, int | float) and not isinstance(ours, bool), where
    else:
        assert type(ours) is type(recorded), where


class StubServer:
    """Routes of a llama-server or an OpenAI-compatible server, served from the recorded shapes."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        handler = self.routes.get(request.url.path)
        if handler is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        return handler(request)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def llama_server(fim: bool = True, stream_fixture: str = "llama_server_infill.json") -> StubServer:
    startup = fixture("llama_server_startup.json")
    special = {"<|fim_prefix|>": 151659, "<|fim_suffix|>": 151661, "<|fim_middle|>": 151660,
               "<|repo_name|>": 151663, "<|file_sep|>": 151664} if fim else {}

    def tokenize(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert set(body) == set(startup["tokenize_request"])
        text = body["content"]
        if text in special:
            return httpx.Response(200, json={"tokens": [special[text]]})
        # Plain text: about one token per three characters, never fewer than one per 3-character run.
        return httpx.Response(200, json={"tokens": list(range((len(text) + 2) // 3)) if len(text) > 5 else
                                         list(range(len(text)))})

    def stream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=sse(fixture(stream_fixture)["stream"]))

    return StubServer({
        "/health": lambda r: httpx.Response(200, json=startup["health_ok"]),
        "/props": lambda r: httpx.Response(200, json=startup["props"]),
        "/tokenize": tokenize,
        "/infill": stream,
        "/completion": lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                content=sse(fixture("llama_server_completion.json")["stream"])),
    })


def openai_server(models: dict[str, Any] | None = None) -> StubServer:
    chat = fixture("openai_chat.json")

    def completions(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=sse(fixture("openai_completions.json")["stream"]))

    def chat_route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(chat["stream"]))

    return StubServer({
        "/v1/models": lambda r: httpx.Response(200, json=models or chat["models"]),
        "/v1/completions": completions,
        "/v1/chat/completions": chat_route,
    })


def engine_for(stub: StubServer, **settings: Any) -> RemoteEngine:
    values: dict[str, Any] = {"kind": "llama-server", "url": "http://127.0.0.1:8080"}
    values.update(settings)
    return RemoteEngine(EngineSettings(**values), transport=stub.transport())


# -- bodies ----------------------------------------------------------------------------------------


def test_infill_parts_recover_the_fim_layout() -> None:
    parts = infill_parts(qwen_pieces(), QWEN)
    assert parts.input_extra == [{"filename": "geometry/shapes.py", "text": "class Circle:\n    radius: float\n"}]
    assert parts.input_prefix == "import math\n\ndef area(c):\n"
    assert parts.input_suffix == "\n\ndef main():\n    pass\n"
    assert parts.prompt == "    return "  # the typed part of the line goes after the middle token, as in our layout


def test_infill_parts_without_repo_tokens_keep_the_header_in_the_prefix() -> None:
    info = ModelInfo(name="codellama", family="codellama", architecture="remote", fim_style="psm",
                     fim_prefix=SpecialToken("<PRE>", -1), fim_suffix=SpecialToken("<SUF>", -1),
                     fim_middle=SpecialToken("<MID>", -1))
    parts = infill_parts(qwen_pieces(info), info)
    assert parts.input_extra == []
    assert parts.input_prefix.startswith("# Path: geometry/shapes.py\n# class Circle:")
    assert parts.input_prefix.endswith("def area(c):\n")
    assert parts.prompt == "    return "


def test_infill_request_matches_the_recorded_shape() -> None:
    stub = llama_server()
    engine = engine_for(stub)
    assert engine.info.has_fim and engine.info.fim_style == "psm"
    assert engine.info.file_sep is not None and engine.info.file_sep.text == "<|file_sep|>"
    assert engine.info.context_length == 4096 and engine.info.name == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    seen: list[str] = []
    result = engine.generate(GenerationRequest(prompt=qwen_pieces(engine.info), max_tokens=32,
                                               stop=["<|file_sep|>"], on_text=seen.append))
    recorded = fixture("llama_server_infill.json")["request"]
    (body,) = stub.bodies("/infill")
    assert body == recorded
    assert result.text == "math.pi * c.radius ** 2"
    assert seen == ["math", "math.pi", "math.pi * c.radius ** 2"]
    assert result.stop_reason == "eos"
    assert result.timings.tokens_reused == 58 and result.timings.tokens_evaluated == 3
    assert result.timings.tokens_generated == 8 and result.timings.prompt_tokens == 61
    assert engine.counters.calls == 1 and engine.counters.tokens_reused == 58
    assert all(r.headers.get("authorization") is None for r in stub.requests)
    engine.close()


def test_prefix_only_model_uses_completion() -> None:
    stub = llama_server(fim=False)
    engine = engine_for(stub)
    assert not engine.info.has_fim
    pieces = fim_prompt(engine.info, prefix="def add(a, b):\n", suffix="", middle_start="    return",
                        path="app.py", language="python")
    result = engine.generate(GenerationRequest(prompt=pieces, max_tokens=16))
    (body,) = stub.bodies("/completion")
    recorded = fixture("llama_server_completion.json")["request"]
    assert body == recorded
    assert result.text == " a + b" and result.stop_reason == "length"
    assert not stub.bodies("/infill")
    engine.close()


def test_openai_completion_request_matches_the_recorded_shape() -> None:
    stub = openai_server()
    engine = engine_for(stub, kind="openai", url="http://localhost:8000/v1")
    # No tokenizer endpoint on this server: the FIM tokens come from the model's name.
    assert engine.info.has_fim and engine.info.fim_prefix == SpecialToken("<|fim_prefix|>", -1)
    pieces = fim_prompt(engine.info, prefix="def area(c):\n", suffix="\n", middle_start="    return ")
    result = engine.generate(GenerationRequest(prompt=pieces, max_tokens=32, stop=["<|file_sep|>"]))
    (body,) = stub.bodies("/v1/completions")
    assert body == fixture("openai_completions.json")["request"]
    assert result.text == "math.pi * c.r ** 2" and result.stop_reason == "eos"
    assert result.timings.prompt_tokens == 21 and result.timings.tokens_reused == 16
    assert result.timings.tokens_generated == 6
    engine.close()


def test_openai_stops_are_capped_at_four() -> None:
    stub = openai_server()
    engine = engine_for(stub, kind="openai")
    engine.generate(GenerationRequest(prompt=["x"], stop=["a", "b", "c", "d", "e"]))
    (body,) = stub.bodies("/v1/completions")
    assert body["stop"] == ["a", "b", "c", "d"]
    assert_same_shape(body, fixture("openai_completions.json")["request"])


def test_chat_request_matches_the_recorded_shape_and_streams() -> None:
    stub = openai_server()
    engine = engine_for(stub, kind="openai", model="Qwen/Qwen2.5-Coder-0.5B")
    messages = [ChatMessage("system", "You are a senior software engineer."),
                ChatMessage("user", "Explain what `area` does.")]
    prompt = engine.chat_prompt(messages)
    assert decode_chat(prompt) == [{"role": m.role, "content": m.content} for m in messages]
    seen: list[str] = []
    result = engine.generate(GenerationRequest(prompt=prompt, max_tokens=384, purpose="chat", add_bos=False,
                                               repeat_penalty=1.15, on_text=seen.append))
    (body,) = stub.bodies("/v1/chat/completions")
    assert body == fixture("openai_chat.json")["request"]  # only standard fields go to an OpenAI server
    assert result.text == "`area` returns the area of a circle."
    assert seen[-1] == result.text and len(seen) == 2
    assert result.timings.prompt_tokens == 40 and result.timings.tokens_generated == 9
    engine.close()


def test_llama_server_chat_adds_its_own_options() -> None:
    stub = llama_server()
    stub.routes["/v1/chat/completions"] = lambda r: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=sse(fixture("openai_chat.json")["stream"]))
    engine = engine_for(stub)
    prompt = engine.chat_prompt([ChatMessage("user", "hi")])
    engine.generate(GenerationRequest(prompt=prompt, purpose="chat", repeat_penalty=1.15))
    (body,) = stub.bodies("/v1/chat/completions")
    assert body["repeat_penalty"] == 1.15 and body["cache_prompt"] is True
    assert body["model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"


def test_parse_event_dialects_and_errors() -> None:
    assert parse_event({"content": "x", "stop": False}, "llama").text == "x"
    final = parse_event({"content": "", "stop": True, "stop_type": "word"}, "llama")
    assert final.finish == "word"
    chunk = parse_event({"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}, "openai-chat")
    assert chunk.text == "" and chunk.finish is None
    with pytest.raises(EngineError, match="context size"):
        parse_event({"error": {"code": 400, "message": "the request exceeds the context size"}}, "llama")


def test_chat_marker_round_trip_and_plain_prompts() -> None:
    encoded = encode_chat([ChatMessage("user", "a \x00 b")])
    assert decode_chat([encoded]) == [{"role": "user", "content": "a \x00 b"}]
    assert decode_chat(["plain text"]) is None


# -- stops, cancellation, errors -------------------------------------------------------------------


def test_stop_strings_and_should_stop_end_the_stream() -> None:
    stub = llama_server()
    engine = engine_for(stub)
    result = engine.generate(GenerationRequest(prompt=qwen_pieces(engine.info), stop=[" * c"]))
    assert result.text == "math.pi" and result.stop_reason == "stop"
    result = engine.generate(GenerationRequest(prompt=qwen_pieces(engine.info),
                                               should_stop=lambda text: "." in text))
    assert result.text == "math.pi" and result.stop_reason == "stop"


def test_cancelled_or_expired_requests_do_not_reach_the_server() -> None:
    stub = llama_server()
    engine = engine_for(stub)
    cancel = CancelToken()
    cancel.cancel()
    assert engine.generate(GenerationRequest(prompt=["x"], cancel=cancel)).stop_reason == "cancelled"
    expired = GenerationRequest(prompt=["x"], deadline=time.monotonic() - 1)
    assert engine.generate(expired).stop_reason == "deadline"
    assert not stub.bodies("/completion") and not stub.bodies("/infill")


def test_server_error_status_is_one_line() -> None:
    stub = llama_server()
    stub.routes["/infill"] = lambda r: httpx.Response(
        400, json={"error": {"code": 400, "message": "the request exceeds the available context size"}})
    engine = engine_for(stub)
    with pytest.raises(EngineError, match="HTTP 400: the request exceeds") as info:
        engine.generate(GenerationRequest(prompt=qwen_pieces(engine.info)))
    assert "\n" not in str(info.value)
    assert not engine.breaker.is_open  # a bad request is not a dead server


def test_server_dying_mid_stream_is_a_clear_error_and_opens_the_breaker() -> None:
    stub = llama_server()

    def dying(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            yield sse(fixture("llama_server_infill.json")["stream"][:2])
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    stub.routes["/infill"] = dying
    engine = engine_for(stub)
    seen: list[str] = []
    with pytest.raises(EngineUnavailable, match="closed the stream mid-generation"):
        engine.generate(GenerationRequest(prompt=qwen_pieces(engine.info), on_text=seen.append))
    assert seen == ["math"]
    assert engine.status()["state"] == "unavailable" and "mid-generation" in engine.status()["error"]


def test_circuit_breaker_fails_fast_then_recovers_by_itself() -> None:
    now = [1000.0]
    stub = llama_server()
    breaker = CircuitBreaker(base_delay=2.0, clock=lambda: now[0])
    engine = RemoteEngine(EngineSettings(kind="llama-server", url="http://127.0.0.1:8080"),
                          transport=stub.transport(), breaker=breaker)
    stub.down = True
    with pytest.raises(EngineUnavailable, match="cannot be reached"):
        engine.generate(GenerationRequest(prompt=["x"]))
    calls = len(stub.requests)
    # Open: every call fails at once, without touching the network, and the status says why.
    for _ in range(5):
        with pytest.raises(EngineUnavailable, match=r"127\.0\.0\.1:8080"):
            engine.generate(GenerationRequest(prompt=["x"]))
    assert len(stub.requests) == calls
    assert engine.unavailable_reason and "Connection refused" in engine.unavailable_reason
    # A probe is due after the back-off; the server is still down: one /health, then open again (longer wait).
    now[0] += 2.1
    with pytest.raises(EngineUnavailable):
        engine.generate(GenerationRequest(prompt=["x"]))
    assert [r.url.path for r in stub.requests[calls:]] == ["/health"]
    now[0] += 2.1
    with pytest.raises(EngineUnavailable):
        engine.generate(GenerationRequest(prompt=["x"]))
    assert len(stub.requests) == calls + 1  # the second back-off is 4 s
    # The server returns: the next probe closes the breaker and the request goes through.
    stub.down = False
    now[0] += 2.0
    result = engine.generate(GenerationRequest(prompt=["x"], max_tokens=16))
    assert result.text == " a + b"
    assert engine.status() == {"kind": "llama-server", "url": "http://127.0.0.1:8080",
                               "model": "qwen2.5-coder-0.5b-instruct-q4_k_m", "state": "ok", "error": None}


# -- start-up, URLs and keys -----------------------------------------------------------------------


def test_startup_retries_while_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote.engine, "STARTUP_RETRY_DELAYS", (0.01, 0.01, 0.01))
    stub = llama_server()
    loading = fixture("llama_server_startup.json")["health_loading"]
    answers = iter([503, 503])

    def health(request: httpx.Request) -> httpx.Response:
        code = next(answers, 200)
        return httpx.Response(code, json=loading if code == 503 else {"status": "ok"})

    stub.routes["/health"] = health
    engine = engine_for(stub)
    assert [r.url.path for r in stub.requests[:3]] == ["/health"] * 3
    engine.close()


def test_startup_gives_up_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote.engine, "STARTUP_RETRY_DELAYS", (0.01, 0.01))
    stub = llama_server()
    stub.down = True
    with pytest.raises(EngineUnavailable, match=r"cannot reach the inference server at http://127.0.0.1:8080"):
        engine_for(stub)
    assert len(stub.requests) == 3  # the first try and two retries, GET only
    assert {r.method for r in stub.requests} == {"GET"}


def test_wrong_api_key_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_LLM_KEY", "wrong-key")
    unauthorized = fixture("openai_chat.json")["unauthorized"]
    stub = StubServer({"/v1/models": lambda r: httpx.Response(401, json=unauthorized)})
    with pytest.raises(EngineUnavailable) as info:
        engine_for(stub, kind="openai", api_key_env="TEAM_LLM_KEY")
    message = str(info.value)
    assert message.startswith("the server rejected the API key") and "$TEAM_LLM_KEY" in message
    assert "\n" not in message and "wrong-key" not in message
    assert stub.requests[0].headers["authorization"] == "Bearer wrong-key"
    assert len(stub.requests) == 1  # a rejected key is not retried


def test_api_key_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEAM_LLM_KEY", raising=False)
    with pytest.raises(EngineError, match="TEAM_LLM_KEY, which is not set"):
        engine_for(openai_server(), kind="openai", api_key_env="TEAM_LLM_KEY")
    monkeypatch.setenv("TEAM_LLM_KEY", "s3cret")
    stub = openai_server()
    engine = engine_for(stub, kind="openai", api_key_env="TEAM_LLM_KEY")
    engine.generate(GenerationRequest(prompt=["x"]))
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in stub.requests)


@pytest.mark.parametrize(
    ("url", "insecure", "expected"),
    [
        ("http://127.0.0.1:8080/", False, "http://127.0.0.1:8080"),
        ("http://localhost:8000/v1", False, "http://localhost:8000"),
        ("http://[::1]:8000", False, "http://[::1]:8000"),
        ("https://llm.example.com/v1/", False, "https://llm.example.com"),
        ("http://gpu-box.lan:8080", True, "http://gpu-box.lan:8080"),
    ],
)
def test_urls_accepted(url: str, insecure: bool, expected: str) -> None:
    assert check_url(url, insecure) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "engine.url is empty"),
        ("http://gpu-box.lan:8080", "refusing plain http to gpu-box.lan"),
        ("http://10.0.0.5:8080", "allowInsecureHttp"),
        ("ftp://127.0.0.1/", "not an http"),
    ],
)
def test_urls_refused(url: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        check_url(url, False)


def test_make_remote_engine_takes_the_settings_tree() -> None:
    settings = Settings(engine=EngineSettings(kind="openai", url="http://127.0.0.1:9"))
    engine = make_remote_engine(settings, transport=openai_server().transport())
    assert engine.kind == "openai" and engine.model == "Qwen/Qwen2.5-Coder-0.5B"
    assert engine.count_tokens("") == 0 and engine.count_tokens("abcdef") == 2
    with pytest.raises(EngineError, match="no tokenizer"):
        engine.tokenize("x")
    engine.close()


def test_token_counts_are_calibrated_from_the_server_tokenizer() -> None:
    engine = engine_for(llama_server())  # the stub's tokenizer: about one token per three characters
    text = "x" * 300
    assert 100 <= engine.count_tokens(text) <= 115
    assert engine.tokenize("abcdef") == [0, 1]


def test_extra_body_reaches_every_generation_request() -> None:
    stub = openai_server()
    engine = engine_for(stub, kind="openai", extra_body={"repeat_penalty": 1.0, "top_k": 1})
    engine.generate(GenerationRequest(prompt=["x"]))
    engine.generate(GenerationRequest(prompt=engine.chat_prompt([ChatMessage("user", "hi")]), purpose="chat"))
    for path in ("/v1/completions", "/v1/chat/completions"):
        (body,) = stub.bodies(path)
        assert body["repeat_penalty"] == 1.0 and body["top_k"] == 1


# -- a real socket: cancellation and deadlines close a silent stream at once ---------------------------


class _StallingHandler(BaseHTTPRequestHandler):
    """Lists one model; answers completions with one event, then goes silent until the client hangs up."""

    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps(fixture("openai_chat.json")["models"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/completions":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(sse(fixture("openai_completions.json")["stream"][:2]))
        self.wfile.flush()
        self.connection.settimeout(10)
        with contextlib.suppress(OSError):
            while self.connection.recv(1024):  # until the client closes (or 10 s pass)
                pass


@pytest.fixture
def stalling_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StallingHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _generate_within(engine: RemoteEngine, request: GenerationRequest, hang_s: float = 120.0) -> Any:
    """The engine's answer; the stream stalls for ever and the read timeout is 10 minutes, so only closing the
    stream at the cancel or the deadline ends the call before the hang detector gives up."""
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(engine.generate(request)), daemon=True)
    worker.start()
    worker.join(hang_s)
    assert results, "the silent stream was not closed"
    return results[0]


def test_cancel_closes_a_silent_stream_at_once(stalling_server: str) -> None:
    engine = RemoteEngine(EngineSettings(kind="openai", url=stalling_server, timeout_ms=600_000))
    cancel = CancelToken()
    seen: list[str] = []
    threading.Timer(0.3, cancel.cancel).start()
    result = _generate_within(engine, GenerationRequest(prompt=["x"], cancel=cancel, on_text=seen.append))
    assert result.stop_reason == "cancelled" and result.text == "math.pi" and seen == ["math.pi"]
    assert not engine.breaker.is_open  # our own hang-up is not a server failure
    engine.close()


def test_deadline_closes_a_silent_stream_at_once(stalling_server: str) -> None:
    engine = RemoteEngine(EngineSettings(kind="openai", url=stalling_server, timeout_ms=600_000))
    result = _generate_within(engine, GenerationRequest(prompt=["x"], deadline=time.monotonic() + 0.4))
    assert result.stop_reason == "deadline" and result.text == "math.pi"  # the text before the stall, kept
    assert not engine.breaker.is_open
    engine.close()


def test_a_url_that_is_not_an_inference_server_is_one_line() -> None:
    stub = StubServer({"/v1/models": lambda r: httpx.Response(200, text="<html>router login</html>")})
    with pytest.raises(EngineUnavailable, match=r"did not answer with a JSON object: is engine\.url"):
        engine_for(stub, kind="openai")
    stub = StubServer({"/health": lambda r: httpx.Response(200, text="")})  # vLLM has /health but no /props
    with pytest.raises(EngineUnavailable, match=r"HTTP 404.*is engine.kind 'llama-server' right"):
        engine_for(stub)


def test_openai_suffix_for_servers_that_build_the_fim_prompt() -> None:
    stub = openai_server(models={"object": "list", "data": [{"id": "gpt-3.5-turbo-instruct", "object": "model"}]})
    engine = engine_for(stub, kind="openai", openai_suffix=True)
    assert engine.info.has_fim  # stand-in tokens: they only mark the parts and never reach the server
    pieces = fim_prompt(engine.info, prefix="import math\n\ndef area(c):\n", suffix="\n\ndef main():\n    pass\n",
                        middle_start="    return ", path="geometry/area.py", language="python")
    stops = [t.text for t in (engine.info.fim_prefix, engine.info.fim_suffix) if t is not None]
    engine.generate(GenerationRequest(prompt=pieces, max_tokens=32, stop=stops))
    (body,) = stub.bodies("/v1/completions")
    assert body == fixture("openai_completions.json")["request_with_suffix"]
    assert "\ue000" not in json.dumps(body)
    # Without the setting, the same server gets a plain prefix (the model's FIM tokens are unknown).
    plain = engine_for(openai_server(models={"object": "list", "data": [{"id": "gpt-3.5-turbo-instruct"}]}),
                       kind="openai")
    assert not plain.info.has_fim


def test_llama_server_chat_uses_the_servers_model_id() -> None:
    stub = llama_server()
    stub.routes["/v1/models"] = lambda r: httpx.Response(200, json={"object": "list", "data": [
        {"id": "qwen-coder", "object": "model", "owned_by": "llamacpp"}]})
    stub.routes["/v1/chat/completions"] = lambda r: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=sse(fixture("openai_chat.json")["stream"]))
    engine = engine_for(stub)
    assert engine.info.name == "qwen2.5-coder-0.5b-instruct-q4_k_m" and engine.model == "qwen-coder"
    engine.generate(GenerationRequest(prompt=engine.chat_prompt([ChatMessage("user", "hi")]), purpose="chat"))
    (body,) = stub.bodies("/v1/chat/completions")
    assert body["model"] == "qwen-coder"
