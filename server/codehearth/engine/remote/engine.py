"""The remote engine: a shared llama.cpp server or any OpenAI-compatible server, behind the same ``Engine`` protocol.

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
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

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
from codehearth.engine.remote.audit import AuditLog, AuditRecord, audit_path
from codehearth.engine.remote.breaker import CircuitBreaker
from codehearth.engine.remote.redact import prompt_of, redact, redact_body
from codehearth.engine.remote.urls import _is_loopback, check_url, read_api_key
from codehearth.engine.remote.watchdog import _Watchdog
from codehearth.engine.remote.wire import (
    SUFFIX_PARAM_TOKENS,
    Dialect,
    RemoteKind,
    StreamCheck,
    _error_message,
    _find_stop,
    _finish_to_reason,
    _json_or_text,
    _sse_events,
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

PROBE_TIMEOUT_S = 2.0
STARTUP_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)  # back-off for idempotent start-up calls only
CALIBRATION_TEXT = (
    "def read_config(path: str) -> dict[str, object]:\n"
    '    """Read a TOML file; missing files give an empty mapping."""\n'
    "    try:\n"
    "        with open(path, 'rb') as fh:\n"
    "            return tomllib.load(fh)\n"
    "    except FileNotFoundError:\n"
    "        return {}\n"
)


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
        self.audit = AuditLog(audit_path(settings), full_prompt=settings.audit_full_prompt)
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
    def redactions(self) -> int:
        """Secrets replaced in outgoing prompts since start-up (``codehearth/stats``)."""
        return self.audit.redactions

    @property
    def unavailable_reason(self) -> str | None:
        return self.breaker.reason

    # -- tokens ----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        if self._tokenizer is None:
            raise EngineError(f"the server at {self.base_url} offers no tokenizer endpoint")
        try:
            return self._tokenizer(redact(text)[0])
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
        body, found = redact_body(body)  # after extra_body: nothing reaches the wire unredacted
        record = AuditRecord(engine=self.base_url, kind=self.kind, model=self.model, purpose=request.purpose,
                             endpoint=path, document=request.document, prompt=prompt_of(body),
                             redactions=dict(found))
        record.prompt_tokens = self.count_tokens(record.prompt)  # replaced by the server's count when it has one
        try:
            result = self._stream(path, body, dialect, request, start)
        except EngineError as exc:
            record.outcome, record.error = "error", str(exc)
            raise
        else:
            if result.stop_reason in ("cancelled", "deadline"):
                record.outcome = result.stop_reason
            record.prompt_tokens = result.timings.prompt_tokens or record.prompt_tokens
            record.completion_tokens = result.timings.tokens_generated
            record.completion_bytes = len(result.text.encode("utf-8", "surrogatepass"))
        finally:
            self.audit.write(record)
        self.counters.add(result.timings)
        return result

    def _route(self, request: GenerationRequest) -> tuple[str, dict[str, Any], Dialect]:
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
        dialect: Dialect,
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
        check = StreamCheck()
        with self._watchdog.watch(request) as watched:
            try:
                with self._client.stream("POST", path, json=body, timeout=self._timeout(request),
                                         headers={"Accept": "text/event-stream"}) as response:
                    watched.response = response
                    if response.status_code >= 400:
                        response.read()
                        self._fail_status(response, path)
                    for data in _sse_events(response, check):
                        try:
                            delta = parse_event(data, dialect)
                        except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                            check.note_bad(json.dumps(data)[:80])  # JSON, but not the shape of an event
                            continue
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
        if check.bad and not chunks and reason is None:
            # A proxy's login page, a wrong endpoint, a server speaking another protocol: not an inference server.
            self.breaker.failure(f"the inference server at {self.base_url} answered {path} with something that is "
                                 f"not an event stream ({check.sample!r})")
            raise EngineUnavailable(self.breaker.reason or "garbage")
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
