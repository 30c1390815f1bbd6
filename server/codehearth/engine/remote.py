"""Remote engines: a shared llama.cpp server or any OpenAI-compatible server, behind the same ``Engine`` protocol.

Two dialects over one HTTP client (httpx, connections reused):

- ``llama-server`` (llama.cpp's own server): ``/infill`` for FIM models, with the repository snippets in
  ``input_extra``, the text above and left of the cursor in ``input_prefix``/``input_suffix`` and the typed part of
  the cursor's line in ``prompt`` (llama.cpp puts it after the middle token, as our own layout does, so typing only
  appends tokens and ``cache_prompt`` keeps the rest); ``/completion`` for prefix-only models; ``/health`` and
  ``/props`` at start-up; ``/v1/chat/completions`` for explanations (the server applies the model's template).
- ``openai`` (vLLM, TGI, llama-cpp-python's server, ...): ``/v1/completions`` with our FIM prompt as text when the
  model has FIM tokens (plain prefix otherwise), ``/v1/chat/completions`` for explanations; both streamed (SSE).

Generation streams like the embedded engine: ``on_text`` after every chunk, ``stop``/``should_stop``/cancellation/
deadline checked after every chunk; a watchdog closes the socket at once when a request is cancelled or expires
while the server is still silent (prefill). A circuit breaker turns a dead server into an immediate
``EngineUnavailable`` (the reason is in :meth:`RemoteEngine.status`) and probes it again every few seconds, so
completions recover by themselves when it returns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import msgspec

from codehearth.config import EngineSettings, Settings
from codehearth.engine.base import (
    ChatMessage,
    EngineCounters,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PromptPiece,
    SpecialToken,
    StopReason,
    Timings,
)
from codehearth.engine.templates import (
    FILE_SEP_TEXTS,
    FIM_MIDDLE_TEXTS,
    FIM_PREFIX_TEXTS,
    FIM_SUFFIX_TEXTS,
    REPO_NAME_TEXTS,
    detect_fim_style,
    prompt_text,
)

log = logging.getLogger(__name__)

RemoteKind = Literal["llama-server", "openai"]
CHAT_MARKER = "\x00codehearth-chat-v1\x00"  # chat_prompt() output: the messages travel to the server as JSON
OPENAI_MAX_STOPS = 4  # the OpenAI API accepts at most four stop sequences
PROBE_TIMEOUT_S = 2.0
STARTUP_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)  # back-off for idempotent start-up calls only
WATCH_INTERVAL_S = 0.02
CALIBRATION_TEXT = (
    "def read_config(path: str) -> dict[str, object]:\n"
    '    """Read a TOML file; missing files give an empty mapping."""\n'
    "    try:\n"
    "        with open(path, 'rb') as fh:\n"
    "            return tomllib.load(fh)\n"
    "    except FileNotFoundError:\n"
    "        return {}\n"
)

# Stand-ins for FIM tokens when the server takes ``prompt`` + ``suffix`` and builds the FIM prompt itself: private-use
# characters that never reach the server, only mark where fim_prompt() put the prefix, suffix and middle.
SUFFIX_PARAM_TOKENS = {"prefix": SpecialToken("\ue000fim-prefix", -1), "suffix": SpecialToken("\ue000fim-suffix", -1),
                       "middle": SpecialToken("\ue000fim-middle", -1)}

# FIM token texts by model-name hint, for servers that offer no tokenizer endpoint to ask.
_NAME_HINTS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("qwen", "coder"), {"prefix": "<|fim_prefix|>", "suffix": "<|fim_suffix|>", "middle": "<|fim_middle|>",
                         "repo": "<|repo_name|>", "sep": "<|file_sep|>"}),
    (("codestral",), {"prefix": "[PREFIX]", "suffix": "[SUFFIX]", "middle": "[MIDDLE]"}),
    (("codellama",), {"prefix": "<PRE>", "suffix": "<SUF>", "middle": "<MID>"}),
    (("code-llama",), {"prefix": "<PRE>", "suffix": "<SUF>", "middle": "<MID>"}),
    (("starcoder",), {"prefix": "<fim_prefix>", "suffix": "<fim_suffix>", "middle": "<fim_middle>",
                      "repo": "<repo_name>", "sep": "<file_sep>"}),
    (("deepseek", "coder"), {"prefix": "<｜fim▁begin｜>", "suffix": "<｜fim▁hole｜>", "middle": "<｜fim▁end｜>"}),
)


# -- settings and URLs ---------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure_http: bool) -> str:
    """The server's base URL, normalised (no trailing ``/`` or ``/v1``); one-line errors for unusable ones."""
    url = url.strip()
    if not url:
        raise EngineError("engine.url is empty: set it to the inference server, e.g. http://127.0.0.1:8080")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(f"engine.url {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise EngineError(
            f"refusing plain http to {parts.hostname}: use https, or set engine.allowInsecureHttp "
            "for a trusted network"
        )
    base = url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base


def read_api_key(env_name: str) -> str | None:
    """The API key from the environment variable the settings name (never from a file)."""
    if not env_name:
        return None
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise EngineError(f"engine.apiKeyEnv names {env_name}, which is not set in the environment")
    return value


# -- the circuit breaker -------------------------------------------------------------------------


class CircuitBreaker:
    """Closed while the server answers; open (fail at once) after a failure, with a probe every few seconds."""

    def __init__(self, base_delay: float = 1.0, max_delay: float = 8.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.failures = 0
        self._next_probe = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def failure(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                log.warning("inference server unavailable: %s", reason)
            self.reason = reason
            self.failures += 1
            delay = min(self.max_delay, self.base_delay * 2 ** min(self.failures - 1, 8))
            self._next_probe = self.clock() + delay
            self._probing = False

    def success(self) -> None:
        with self._lock:
            if self.reason is not None:
                log.info("inference server is back")
            self.reason = None
            self.failures = 0
            self._probing = False

    def try_probe(self) -> bool:
        """True for exactly one caller when a half-open probe is due."""
        with self._lock:
            if self.reason is None or self._probing or self.clock() < self._next_probe:
                return False
            self._probing = True
            return True


# -- the watchdog: cancellation and deadlines close silent streams at once -------------------------


@dataclass
class _Watched:
    request: GenerationRequest
    response: httpx.Response | None = None
    reason: StopReason | None = None


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: set[int] = set()
        self._by_id: dict[int, _Watched] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def watch(self, request: GenerationRequest) -> Iterator[_Watched]:
        item = _Watched(request)
        if request.cancel is None and request.deadline is None:
            yield item
            return
        with self._cond:
            self._by_id[id(item)] = item
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="remote-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        try:
            yield item
        finally:
            with self._cond:
                self._by_id.pop(id(item), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._by_id and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                items = list(self._by_id.values())
            for item in items:
                if item.reason is not None or item.response is None:
                    continue
                if item.request.cancelled():
                    item.reason = "cancelled"
                elif item.request.expired():
                    item.reason = "deadline"
                else:
                    continue
                _abort(item.response)
            time.sleep(WATCH_INTERVAL_S)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _abort(response: httpx.Response) -> None:
    """Close a response from another thread: shut the socket down so a blocked read returns at once."""
    stream = response.extensions.get("network_stream")
    sock = None
    if stream is not None:
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# -- request bodies (pure functions, unit-tested against recorded payload shapes) -------------------


class InfillParts(msgspec.Struct, kw_only=True):
    """A FIM prompt taken apart into llama-server ``/infill`` fields."""

    input_extra: list[dict[str, str]]
    input_prefix: str
    input_suffix: str
    prompt: str  # the typed part of the cursor's line: llama.cpp puts it after the middle token


def infill_parts(pieces: Sequence[PromptPiece], info: ModelInfo) -> InfillParts:
    """Recover ``input_extra``/``input_prefix``/``input_suffix``/``prompt`` from the pieces ``fim_prompt`` built.

    PSM layout: [repo, name, (sep, "path\\ntext")*, sep, "path\\n"] pre, prefix, suf, suffix, mid, typed.
    SPM layouts put the typed part at the end of the prefix, as ``fim_prompt`` does.
    """

    def is_token(piece: PromptPiece, token: SpecialToken | None) -> bool:
        return token is not None and isinstance(piece, SpecialToken) and piece.text == token.text

    extra: list[dict[str, str]] = []
    i = 0
    # Repository-level header: <repo_name>repo\n (<file_sep>path\ntext\n)* <file_sep>path\n
    if i < len(pieces) and is_token(pieces[i], info.repo_name):
        i += 2
    while i < len(pieces) and is_token(pieces[i], info.file_sep):
        body = pieces[i + 1] if i + 1 < len(pieces) and isinstance(pieces[i + 1], str) else ""
        assert isinstance(body, str)
        name, _, text = body.partition("\n")
        if text:
            extra.append({"filename": name, "text": text})
        i += 2
    sections: dict[str, str] = {"pre": "", "suf": "", "mid": ""}
    current: str | None = None
    for piece in pieces[i:]:
        if is_token(piece, info.fim_prefix):
            current = "pre"
        elif is_token(piece, info.fim_suffix):
            current = "suf"
        elif is_token(piece, info.fim_middle):
            current = "mid"
        elif isinstance(piece, str) and current is not None:
            sections[current] += piece
        elif isinstance(piece, str):
            sections["pre"] += piece
    return InfillParts(input_extra=extra, input_prefix=sections["pre"], input_suffix=sections["suf"],
                       prompt=sections["mid"])


def infill_body(parts: InfillParts, request: GenerationRequest) -> dict[str, Any]:
    return {
        "input_extra": parts.input_extra,
        "input_prefix": parts.input_prefix,
        "input_suffix": parts.input_suffix,
        "prompt": parts.prompt,
        **_llama_sampling(request),
    }


def completion_body(prompt: str, request: GenerationRequest) -> dict[str, Any]:
    """llama-server's native ``/completion`` (prefix-only models)."""
    return {"prompt": prompt, **_llama_sampling(request)}


def _llama_sampling(request: GenerationRequest) -> dict[str, Any]:
    return {
        "n_predict": max(0, request.max_tokens),
        "temperature": request.temperature,
        "top_k": 1 if request.temperature <= 0 else 40,
        "repeat_penalty": request.repeat_penalty,
        "stop": [s for s in request.stop if s],
        "stream": True,
        "cache_prompt": True,
    }


def _openai_stream_fields(model: str, request: GenerationRequest) -> dict[str, Any]:
    """What every streamed OpenAI request carries: model, limits, sampling, stop strings."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max(1, request.max_tokens),
        "temperature": request.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    stops = [s for s in request.stop if s][:OPENAI_MAX_STOPS]
    if stops:
        body["stop"] = stops
    return body


def openai_completion_body(model: str, prompt: str, request: GenerationRequest) -> dict[str, Any]:
    return {**_openai_stream_fields(model, request), "prompt": prompt}


def openai_suffix_body(model: str, parts: InfillParts, request: GenerationRequest) -> dict[str, Any]:
    """``/v1/completions`` with ``suffix``: the server builds the FIM prompt (repository snippets stay as comments)."""
    body = openai_completion_body(model, parts.input_prefix + parts.prompt, request)
    body["suffix"] = parts.input_suffix
    body.pop("stop", None)
    stops = [s for s in request.stop if s and "\ue000" not in s][:OPENAI_MAX_STOPS]
    if stops:
        body["stop"] = stops
    return body


def chat_body(model: str, messages: Sequence[Mapping[str, str]], request: GenerationRequest,
              kind: RemoteKind) -> dict[str, Any]:
    body = _openai_stream_fields(model, request)
    body["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
    if kind == "llama-server":  # llama.cpp's OpenAI routes accept its own options too
        body["repeat_penalty"] = request.repeat_penalty
        body["cache_prompt"] = True
    return body


def encode_chat(messages: Sequence[ChatMessage]) -> str:
    return CHAT_MARKER + json.dumps([{"role": m.role, "content": m.content} for m in messages])


def decode_chat(pieces: Sequence[PromptPiece]) -> list[dict[str, str]] | None:
    if len(pieces) != 1 or not isinstance(pieces[0], str) or not pieces[0].startswith(CHAT_MARKER):
        return None
    data = json.loads(pieces[0][len(CHAT_MARKER):])
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in data]


# -- stream parsing ------------------------------------------------------------------------------


@dataclass
class _Delta:
    text: str = ""
    finish: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


def parse_event(data: Mapping[str, Any], dialect: Literal["llama", "openai-text", "openai-chat"]) -> _Delta:
    """One SSE event's JSON, in any of the three dialects, as text + finish reason + usage/timings."""
    if data.get("error"):
        raise EngineError(f"the inference server reported an error: {_error_message(data)}")
    if dialect == "llama":
        delta = _Delta(text=str(data.get("content") or ""))
        if data.get("stop"):
            delta.finish = str(data.get("stop_type") or "eos")
            timings = data.get("timings") or {}
            processed = int(timings.get("prompt_n", 0) or 0)
            reused = int(timings.get("cache_n", 0) or 0)  # prompt tokens taken from the KV cache
            delta.usage = {
                "prompt_tokens": int(data.get("tokens_evaluated", 0) or 0) or processed + reused,
                "tokens_evaluated": processed,
                "tokens_reused": reused,
                "completion_tokens": int(timings.get("predicted_n", data.get("tokens_predicted", 0)) or 0),
            }
        return delta
    delta = _Delta()
    choices = data.get("choices") or []
    if choices:
        choice = choices[0]
        if dialect == "openai-chat":
            delta.text = str((choice.get("delta") or {}).get("content") or "")
        else:
            delta.text = str(choice.get("text") or "")
        if choice.get("finish_reason"):
            delta.finish = str(choice["finish_reason"])
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens", 0) or 0) if isinstance(details, Mapping) else 0
        delta.usage = {
            "prompt_tokens": int(usage.get("prompt_tokens", 0) or 0),
            "tokens_evaluated": int(usage.get("prompt_tokens", 0) or 0) - cached,
            "tokens_reused": cached,
            "completion_tokens": int(usage.get("completion_tokens", 0) or 0),
        }
    return delta


def _finish_to_reason(finish: str | None) -> StopReason:
    return {"length": "length", "limit": "length", "word": "stop"}.get(finish or "", "eos")  # type: ignore[return-value]


def _error_message(data: Any) -> str:
    if isinstance(data, Mapping):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, Mapping):
            return str(err.get("message") or err.get("detail") or err)
        return str(err)
    return str(data)


def _find_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [p for p in (text.find(s) for s in stops if s) if p >= 0]
    return min(found) if found else None


# -- the engine ----------------------------------------------------------------------------------


class RemoteEngine:
    """A llama.cpp server or an OpenAI-compatible server behind the ``Engine`` protocol."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if settings.kind not in ("llama-server", "openai"):
            raise EngineError(f"engine.kind {settings.kind!r} is not a remote engine")
        self.kind: RemoteKind = settings.kind
        self.settings = settings
        self.base_url = check_url(settings.url, settings.allow_insecure_http)
        self.api_key_env = settings.api_key_env
        api_key = read_api_key(settings.api_key_env)
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        host = urlsplit(self.base_url).hostname or ""
        self.timeout_s = max(0.1, settings.timeout_ms / 1000)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30),
            verify=True,  # TLS verification is never turned off
            trust_env=not _is_loopback(host),  # no proxy between us and a server on this machine
            transport=transport,
            follow_redirects=False,
        )
        self.breaker = breaker or CircuitBreaker()
        self._watchdog = _Watchdog()
        self.counters = EngineCounters()
        self.model = settings.model
        self._chars_per_token = 3.0
        self._tokenizer: Callable[[str], list[int]] | None = None
        try:
            self.info = self._start()
        except BaseException:
            self.close()
            raise

    # -- start-up ----------------------------------------------------------------------------------

    def _start(self) -> ModelInfo:
        if self.kind == "llama-server":
            self._get_with_retries("/health")
            props = self._get_json("/props")
            name = self.model or _basename(str(props.get("model_path") or props.get("model_alias") or "remote"))
            self.model = self.model or self._first_model_id() or name
            settings = props.get("default_generation_settings") or {}
            n_ctx = int(settings.get("n_ctx", 0) or props.get("n_ctx", 0) or 0)
            chat_template = props.get("chat_template") or None
            bos, eos = str(props.get("bos_token") or ""), str(props.get("eos_token") or "")
        else:
            models = self._get_json("/v1/models")
            ids = [str(m.get("id")) for m in models.get("data") or [] if isinstance(m, Mapping)]
            if not self.model:
                if not ids:
                    raise EngineUnavailable(f"the server at {self.base_url} lists no models: set engine.model")
                self.model = ids[0]
            elif ids and self.model not in ids:
                log.warning("engine.model %s is not among the server's models %s", self.model, ids)
            name = self.model
            n_ctx, chat_template, bos, eos = 0, None, "", ""
        self._tokenizer = self._find_tokenizer()
        tokens = self._detect_fim_tokens(name)
        if self.kind == "openai" and self.settings.openai_suffix and "prefix" not in tokens:
            tokens = dict(SUFFIX_PARAM_TOKENS)
        style = detect_fim_style(tokens["prefix"].text if tokens.get("prefix") else None, name)
        if "prefix" not in tokens or "suffix" not in tokens or (style == "psm" and "middle" not in tokens):
            style = "none"
        self._calibrate()
        info = ModelInfo(
            name=name,
            family=_family(name),
            architecture="remote",
            fim_style=style,
            fim_prefix=tokens.get("prefix"),
            fim_suffix=tokens.get("suffix"),
            fim_middle=tokens.get("middle"),
            repo_name=tokens.get("repo") if style != "none" else None,
            file_sep=tokens.get("sep") if style != "none" else None,
            chat_template=chat_template,
            bos=bos,
            eos=eos,
            context_length=n_ctx,
            path=f"{self.base_url} ({self.kind})",
        )
        log.info("remote engine %s at %s: model %s, FIM %s", self.kind, self.base_url, name, style)
        return info

    def _first_model_id(self) -> str | None:
        """The id llama-server's OpenAI routes expect (its alias or path); best effort, no retries."""
        try:
            response = self._client.get("/v1/models", timeout=PROBE_TIMEOUT_S)
            data = response.json().get("data") if response.status_code == 200 else None
            if isinstance(data, list) and data and isinstance(data[0], Mapping) and data[0].get("id"):
                return str(data[0]["id"])
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        return None

    def _get_json(self, path: str) -> dict[str, Any]:
        response = self._get_with_retries(path)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise EngineUnavailable(
                f"{self.base_url}{path} did not answer with a JSON object: is engine.url an inference server?"
            )
        return data

    def _get_with_retries(self, path: str) -> httpx.Response:
        """GET an idempotent start-up endpoint, retrying with back-off while the server starts or loads."""
        deadline = time.monotonic() + self.timeout_s
        last = ""
        for delay in (*STARTUP_RETRY_DELAYS, None):
            try:
                response = self._client.get(path)
            except httpx.TransportError as exc:
                last = f"cannot reach the inference server at {self.base_url} ({_describe(exc)})"
            else:
                self._raise_for_auth(response)
                if response.status_code == 503:
                    last = f"the inference server at {self.base_url} is still loading its model"
                elif response.status_code >= 400:
                    raise EngineUnavailable(
                        f"the inference server at {self.base_url} answered {path} with HTTP "
                        f"{response.status_code}: {_error_message(_json_or_text(response))} "
                        f"(is engine.kind {self.kind!r} right?)"
                    )
                else:
                    return response
            if delay is None or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        raise EngineUnavailable(last)

    def _raise_for_auth(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            where = (f"the key from ${self.api_key_env}" if self.api_key_env
                     else "no key (set engine.apiKeyEnv to the environment variable holding it)")
            raise EngineUnavailable(
                f"the server rejected the API key: {self.base_url} answered HTTP {response.status_code} "
                f"to {where}"
            )

    def _find_tokenizer(self) -> Callable[[str], list[int]] | None:
        """The server's tokenizer endpoint, if it has one (llama-server, llama-cpp-python, vLLM)."""
        candidates: list[tuple[str, Callable[[str], dict[str, Any]]]]
        if self.kind == "llama-server":
            candidates = [("/tokenize", lambda t: {"content": t, "add_special": False, "parse_special": True})]
        else:
            candidates = [
                ("/extras/tokenize", lambda t: {"input": t, "model": self.model}),  # llama-cpp-python
                ("/tokenize", lambda t: {"model": self.model, "prompt": t, "add_special_tokens": False}),  # vLLM
            ]
        for path, body in candidates:
            def call(text: str, path: str = path, body: Callable[[str], dict[str, Any]] = body) -> list[int]:
                response = self._client.post(path, json=body(text), timeout=PROBE_TIMEOUT_S)
                response.raise_for_status()
                tokens = response.json().get("tokens")
                if not isinstance(tokens, list):
                    raise EngineError(f"{path} gave no token list")
                return [int(t["id"]) if isinstance(t, Mapping) else int(t) for t in tokens]

            try:
                call("x")
            except (httpx.HTTPError, EngineError, ValueError, TypeError, KeyError):
                continue
            return call
        return None

    def _detect_fim_tokens(self, name: str) -> dict[str, SpecialToken]:
        """Ask the server's tokenizer which control texts are single tokens; else go by the model's name."""
        groups = {"prefix": FIM_PREFIX_TEXTS, "suffix": FIM_SUFFIX_TEXTS, "middle": FIM_MIDDLE_TEXTS,
                  "repo": REPO_NAME_TEXTS, "sep": FILE_SEP_TEXTS}
        found: dict[str, SpecialToken] = {}
        tokenize = self._tokenizer
        if tokenize is not None:
            try:
                baseline = len(tokenize(""))  # a BOS some servers add on their own
                for key, texts in groups.items():
                    for text in texts:
                        ids = tokenize(text)
                        if len(ids) - baseline == 1:
                            found[key] = SpecialToken(text=text.lstrip("▁"), id=ids[-1])
                            break
                return found  # the server's own tokenizer is the authority
            except (httpx.HTTPError, EngineError, ValueError, TypeError, KeyError) as exc:
                log.debug("FIM token probe failed, going by the model's name: %s", exc)
                found = {}
        lowered = name.lower().replace("_", "-")
        for hints, texts_by_key in _NAME_HINTS:
            if all(h in lowered or h in lowered.replace("-", "") for h in hints):
                return {key: SpecialToken(text=text, id=-1) for key, text in texts_by_key.items()}
        return found

    def _calibrate(self) -> None:
        """Characters per token of this model, so that count_tokens needs no round trip per call."""
        if self._tokenizer is None:
            return
        try:
            n = len(self._tokenizer(CALIBRATION_TEXT))
        except (httpx.HTTPError, EngineError, ValueError, TypeError, KeyError):
            return
        if n > 0:
            # A little under the measured ratio, so that budgets err on the safe side.
            self._chars_per_token = max(1.5, 0.9 * len(CALIBRATION_TEXT) / n)

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.base_url,
            "model": self.model,
            "state": "unavailable" if self.breaker.is_open else "ok",
            "error": self.breaker.reason,
        }

    @property
    def unavailable_reason(self) -> str | None:
        return self.breaker.reason

    # -- tokens ----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        if self._tokenizer is None:
            raise EngineError(f"the server at {self.base_url} offers no tokenizer endpoint")
        try:
            return self._tokenizer(text)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"tokenize failed at {self.base_url}: {_describe(exc)}") from exc

    def count_tokens(self, text: str) -> int:
        """An estimate from the calibrated ratio: the context builder counts often, a round trip each is too slow."""
        return math.ceil(len(text) / self._chars_per_token) if text else 0

    # -- generation ------------------------------------------------------------------------------

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> list[PromptPiece]:
        return [encode_chat(messages)]

    def generate(self, request: GenerationRequest) -> GenerationResult:
        self._check_breaker()
        start = time.monotonic()
        if request.cancelled():
            return GenerationResult(text="", stop_reason="cancelled", timings=Timings())
        if request.expired():
            return GenerationResult(text="", stop_reason="deadline", timings=Timings())
        path, body, dialect = self._route(request)
        if self.settings.extra_body:
            body = {**body, **self.settings.extra_body}
        result = self._stream(path, body, dialect, request, start)
        self.counters.add(result.timings)
        return result

    def _route(self, request: GenerationRequest) -> tuple[str, dict[str, Any], Literal["llama", "openai-text",
                                                                                        "openai-chat"]]:
        messages = decode_chat(request.prompt) if request.purpose == "chat" else None
        if messages is not None:
            return "/v1/chat/completions", chat_body(self.model, messages, request, self.kind), "openai-chat"
        text = prompt_text(request.prompt)
        if self.kind == "llama-server":
            fim = self.info.fim_prefix
            if (request.purpose == "complete" and self.info.has_fim and self.info.fim_style == "psm"
                    and any(isinstance(p, SpecialToken) and fim is not None and p.text == fim.text
                            for p in request.prompt)):
                return "/infill", infill_body(infill_parts(request.prompt, self.info), request), "llama"
            return "/completion", completion_body(text, request), "llama"
        prefix_token = self.info.fim_prefix
        if (request.purpose == "complete" and prefix_token is not None
                and prefix_token.text == SUFFIX_PARAM_TOKENS["prefix"].text):
            parts = infill_parts(request.prompt, self.info)
            return "/v1/completions", openai_suffix_body(self.model, parts, request), "openai-text"
        return "/v1/completions", openai_completion_body(self.model, text, request), "openai-text"

    def _check_breaker(self) -> None:
        if not self.breaker.is_open:
            return
        if self.breaker.try_probe():
            try:
                path = "/health" if self.kind == "llama-server" else "/v1/models"
                response = self._client.get(path, timeout=PROBE_TIMEOUT_S)
                self._raise_for_auth(response)
                if response.status_code >= 400:
                    raise EngineUnavailable(
                        f"the inference server at {self.base_url} answered HTTP {response.status_code}"
                    )
            except httpx.TransportError as exc:
                self.breaker.failure(f"cannot reach the inference server at {self.base_url} ({_describe(exc)})")
            except EngineUnavailable as exc:
                self.breaker.failure(str(exc))
            else:
                self.breaker.success()
                return
        raise EngineUnavailable(self.breaker.reason or "the inference server is unavailable")

    def _timeout(self, request: GenerationRequest) -> httpx.Timeout:
        if request.deadline is None:
            return httpx.Timeout(self.timeout_s)
        remaining = max(0.05, request.deadline - time.monotonic())
        return httpx.Timeout(connect=min(remaining, self.timeout_s), read=remaining, write=remaining,
                             pool=remaining)

    def _stream(
        self,
        path: str,
        body: dict[str, Any],
        dialect: Literal["llama", "openai-text", "openai-chat"],
        request: GenerationRequest,
        start: float,
    ) -> GenerationResult:
        timings = Timings()
        text = ""
        chunks = 0
        reason: StopReason | None = None
        first_chunk_at: float | None = None
        usage: dict[str, Any] = {}
        stops = [s for s in request.stop if s]
        with self._watchdog.watch(request) as watched:
            try:
                with self._client.stream("POST", path, json=body, timeout=self._timeout(request),
                                         headers={"Accept": "text/event-stream"}) as response:
                    watched.response = response
                    if response.status_code >= 400:
                        response.read()
                        self._fail_status(response, path)
                    for data in _sse_events(response):
                        delta = parse_event(data, dialect)
                        usage.update(delta.usage)
                        if delta.text:
                            if first_chunk_at is None:
                                first_chunk_at = time.monotonic()
                            chunks += 1
                            text += delta.text
                            stop_at = _find_stop(text, stops)
                            if stop_at is not None:
                                text = text[:stop_at]
                                reason = "stop"
                                break
                            if request.on_text is not None:
                                request.on_text(text)
                            if request.should_stop is not None and request.should_stop(text):
                                reason = "stop"
                                break
                        if delta.finish is not None:
                            # Read on to the end (usage may follow): a drained stream keeps its connection.
                            reason = _finish_to_reason(delta.finish)
                            continue
                        interrupted = request.interruption()
                        if interrupted is not None:
                            reason = interrupted
                            break
            except httpx.TimeoutException as exc:
                reason = watched.reason or ("deadline" if request.expired() else None)
                if reason is None:
                    self.breaker.failure(f"the inference server at {self.base_url} did not answer in time "
                                         f"({_describe(exc)})")
                    raise EngineUnavailable(self.breaker.reason or "timeout") from exc
            except httpx.TransportError as exc:
                reason = watched.reason
                if reason is None and (request.cancelled() or request.expired()):
                    reason = "cancelled" if request.cancelled() else "deadline"
                if reason is None:
                    what = "closed the stream mid-generation" if chunks else "cannot be reached"
                    self.breaker.failure(f"the inference server at {self.base_url} {what} ({_describe(exc)})")
                    raise EngineUnavailable(self.breaker.reason or "unavailable") from exc
            if watched.reason is not None and reason is None:
                reason = watched.reason
        self.breaker.success()
        end = time.monotonic()
        timings.prompt_tokens = int(usage.get("prompt_tokens", 0))
        timings.tokens_evaluated = int(usage.get("tokens_evaluated", timings.prompt_tokens))
        timings.tokens_reused = int(usage.get("tokens_reused", 0))
        timings.tokens_generated = int(usage.get("completion_tokens", 0)) or chunks
        timings.prefill_ms = ((first_chunk_at or end) - start) * 1000
        timings.decode_ms = (end - (first_chunk_at or end)) * 1000
        timings.total_ms = (end - start) * 1000
        return GenerationResult(text=text, stop_reason=reason or "eos", timings=timings)

    def _fail_status(self, response: httpx.Response, path: str) -> None:
        self._raise_for_auth_runtime(response)
        message = _error_message(_json_or_text(response))
        if response.status_code in (502, 503, 504):
            self.breaker.failure(f"the inference server at {self.base_url} is unavailable "
                                 f"(HTTP {response.status_code}: {message})")
            raise EngineUnavailable(self.breaker.reason or message)
        raise EngineError(f"the inference server answered {path} with HTTP {response.status_code}: {message}")

    def _raise_for_auth_runtime(self, response: httpx.Response) -> None:
        try:
            self._raise_for_auth(response)
        except EngineUnavailable as exc:
            self.breaker.failure(str(exc))
            raise

    def close(self) -> None:
        self._watchdog.close()
        with contextlib.suppress(Exception):
            self._client.close()


def _sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """JSON payloads of a server-sent event stream (``data:`` lines; comments and pings skipped)."""
    done = False
    for line in response.iter_lines():
        # After [DONE], read on to the end of the body: a fully read response keeps its connection for reuse.
        if done or not line or line.startswith(":"):
            continue
        field_name, _, value = line.partition(":")
        value = value.strip()
        if field_name == "error":  # llama-server sends stream errors as an ``error:`` event
            raise EngineError(f"the inference server reported an error: {_error_message(_loads(value))}")
        if field_name != "data":
            continue
        if value == "[DONE]":
            done = True
            continue
        payload = _loads(value)
        if isinstance(payload, dict):
            yield payload


def _loads(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:200]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _basename(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def _family(name: str) -> str:
    lowered = name.lower().replace(" ", "").replace("-", "").replace("_", "")
    for hint in ("codestral", "codellama", "mistral", "starcoder", "deepseek", "qwen", "llama", "smollm"):
        if hint in lowered:
            return hint
    return "remote"


def make_remote_engine(settings: Settings | EngineSettings, **kwargs: Any) -> RemoteEngine:
    """The remote engine ``engine.kind`` asks for; one-line ``EngineError``/``EngineUnavailable`` when it cannot start."""
    engine_settings = settings.engine if isinstance(settings, Settings) else settings
    return RemoteEngine(engine_settings, **kwargs)


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
