"""What travels over HTTP: request bodies for both dialects and the parsing of streamed answers (pure functions,
unit-tested against recorded payload shapes)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import msgspec

from codehearth.engine.base import (
    ChatMessage,
    EngineError,
    GenerationRequest,
    ModelInfo,
    PromptPiece,
    SpecialToken,
    StopReason,
)

RemoteKind = Literal["llama-server", "openai"]
Dialect = Literal["llama", "openai-text", "openai-chat"]
CHAT_MARKER = "\x00codehearth-chat-v1\x00"  # chat_prompt() output: the messages travel to the server as JSON
OPENAI_MAX_STOPS = 4  # the OpenAI API accepts at most four stop sequences

# Stand-ins for FIM tokens when the server takes ``prompt`` + ``suffix`` and builds the FIM prompt itself: private-use
# characters that never reach the server, only mark where fim_prompt() put the prefix, suffix and middle.
SUFFIX_PARAM_TOKENS = {"prefix": SpecialToken("\ue000fim-prefix", -1), "suffix": SpecialToken("\ue000fim-suffix", -1),
                       "middle": SpecialToken("\ue000fim-middle", -1)}



class InfillParts(msgspec.Struct, kw_only=True):
    """A FIM prompt taken apart into llama-server ``/infill`` fields."""

    input_extra: list[dict[str, str]]
    input_prefix: str
    input_suffix: str
    prompt: str  # the typed part of the cursor's line: llama.cpp appends it to the prefix (before the suffix token)


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


def parse_event(data: Mapping[str, Any], dialect: Dialect) -> _Delta:
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


@dataclass
class StreamCheck:
    """What a stream held besides events: lines that are not server-sent events, for a server that answers garbage."""

    events: int = 0
    bad: int = 0
    sample: str = ""

    def note_bad(self, line: str) -> None:
        self.bad += 1
        if not self.sample:
            self.sample = line[:80]


def _sse_events(response: httpx.Response, check: StreamCheck | None = None) -> Iterator[dict[str, Any]]:
    """JSON payloads of a server-sent event stream (``data:`` lines; comments and pings skipped)."""
    check = check if check is not None else StreamCheck()
    done = False
    for line in response.iter_lines():
        # After [DONE], read on to the end of the body: a fully read response keeps its connection for reuse.
        if done or not line or line.startswith(":"):
            continue
        field_name, sep, value = line.partition(":")
        value = value.strip()
        if field_name == "error":  # llama-server sends stream errors as an ``error:`` event
            raise EngineError(f"the inference server reported an error: {_error_message(_loads(value))}")
        if field_name != "data":
            if not sep or field_name not in ("event", "id", "retry"):
                check.note_bad(line)
            continue
        if value == "[DONE]":
            done = True
            continue
        payload = _loads(value)
        if isinstance(payload, dict):
            check.events += 1
            yield payload
        else:
            check.note_bad(line)


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
