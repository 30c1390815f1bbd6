"""What the server runs, found once at start-up: the model and its id, context size, chat template, FIM tokens (from the
server's own tokenizer where it has one, else from the model's name) and characters per token.

llama-server answers ``/health`` and ``/props``; an OpenAI-compatible server lists ``/v1/models``. Only idempotent GETs
are retried (with the back-off the caller passes); the tokenizer probes are best effort and never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from codehearth.config import EngineSettings
from codehearth.engine.base import EngineError, EngineUnavailable, ModelInfo, SpecialToken
from codehearth.engine.remote.connection import PROBE_TIMEOUT_S, Connection
from codehearth.engine.remote.wire import SUFFIX_PARAM_TOKENS
from codehearth.engine.templates import (
    FILE_SEP_TEXTS,
    FIM_MIDDLE_TEXTS,
    FIM_PREFIX_TEXTS,
    FIM_SUFFIX_TEXTS,
    REPO_NAME_TEXTS,
    detect_fim_style,
)

log = logging.getLogger(__name__)

Tokenizer = Callable[[str], list[int]]

CALIBRATION_TEXT = (
    "def read_config(path: str) -> dict[str, object]:\n"
    '    """Read a TOML file; missing files give an empty mapping."""\n'
    "    try:\n"
    "        with open(path, 'rb') as fh:\n"
    "            return tomllib.load(fh)\n"
    "    except FileNotFoundError:\n"
    "        return {}\n"
)
DEFAULT_CHARS_PER_TOKEN = 3.0  # when the server has no tokenizer endpoint to calibrate against

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

# Errors a best-effort tokenizer call may end in; any of them means "no usable tokenizer here".
_PROBE_ERRORS = (httpx.HTTPError, EngineError, ValueError, TypeError, KeyError)


@dataclass(frozen=True)
class Discovery:
    info: ModelInfo
    model: str  # the id requests name (engine.model, else the server's first model)
    tokenizer: Tokenizer | None
    chars_per_token: float


def discover(conn: Connection, settings: EngineSettings, retry_delays: Sequence[float]) -> Discovery:
    """Ask the server what it runs; ``EngineUnavailable`` in one line when it cannot say."""
    model = settings.model
    if conn.kind == "llama-server":
        conn.get_with_retries("/health", retry_delays)
        props = conn.get_json("/props", retry_delays)
        name = model or _basename(str(props.get("model_path") or props.get("model_alias") or "remote"))
        model = model or _first_model_id(conn) or name
        generation = props.get("default_generation_settings") or {}
        n_ctx = int(generation.get("n_ctx", 0) or props.get("n_ctx", 0) or 0)
        chat_template = props.get("chat_template") or None
        bos, eos = str(props.get("bos_token") or ""), str(props.get("eos_token") or "")
    else:
        models = conn.get_json("/v1/models", retry_delays)
        ids = [str(m.get("id")) for m in models.get("data") or [] if isinstance(m, Mapping)]
        if not model:
            if not ids:
                raise EngineUnavailable(f"the server at {conn.base_url} lists no models: set engine.model")
            model = ids[0]
        elif ids and model not in ids:
            log.warning("engine.model %s is not among the server's models %s", model, ids)
        name = model
        n_ctx, chat_template, bos, eos = 0, None, "", ""
    tokenizer = _find_tokenizer(conn, model)
    tokens = _detect_fim_tokens(tokenizer, name)
    if conn.kind == "openai" and settings.openai_suffix and "prefix" not in tokens:
        tokens = dict(SUFFIX_PARAM_TOKENS)
    style = detect_fim_style(tokens["prefix"].text if tokens.get("prefix") else None, name)
    if "prefix" not in tokens or "suffix" not in tokens or (style == "psm" and "middle" not in tokens):
        style = "none"
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
        path=f"{conn.base_url} ({conn.kind})",
    )
    log.info("remote engine %s at %s: model %s, FIM %s", conn.kind, conn.base_url, name, style)
    return Discovery(info=info, model=model, tokenizer=tokenizer, chars_per_token=_calibrate(tokenizer))


def _first_model_id(conn: Connection) -> str | None:
    """The id llama-server's OpenAI routes expect (its alias or path); best effort, no retries."""
    try:
        response = conn.client.get("/v1/models", timeout=PROBE_TIMEOUT_S)
        data = response.json().get("data") if response.status_code == 200 else None
        if isinstance(data, list) and data and isinstance(data[0], Mapping) and data[0].get("id"):
            return str(data[0]["id"])
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    return None


def _find_tokenizer(conn: Connection, model: str) -> Tokenizer | None:
    """The server's tokenizer endpoint, if it has one (llama-server, llama-cpp-python, vLLM)."""
    candidates: list[tuple[str, Callable[[str], dict[str, Any]]]]
    if conn.kind == "llama-server":
        candidates = [("/tokenize", lambda t: {"content": t, "add_special": False, "parse_special": True})]
    else:
        candidates = [
            ("/extras/tokenize", lambda t: {"input": t, "model": model}),  # llama-cpp-python
            ("/tokenize", lambda t: {"model": model, "prompt": t, "add_special_tokens": False}),  # vLLM
        ]
    for path, body in candidates:
        def call(text: str, path: str = path, body: Callable[[str], dict[str, Any]] = body) -> list[int]:
            response = conn.client.post(path, json=body(text), timeout=PROBE_TIMEOUT_S)
            response.raise_for_status()
            tokens = response.json().get("tokens")
            if not isinstance(tokens, list):
                raise EngineError(f"{path} gave no token list")
            return [int(t["id"]) if isinstance(t, Mapping) else int(t) for t in tokens]

        try:
            call("x")
        except _PROBE_ERRORS:
            continue
        return call
    return None


def _detect_fim_tokens(tokenize: Tokenizer | None, name: str) -> dict[str, SpecialToken]:
    """Ask the server's tokenizer which control texts are single tokens; else go by the model's name."""
    groups = {"prefix": FIM_PREFIX_TEXTS, "suffix": FIM_SUFFIX_TEXTS, "middle": FIM_MIDDLE_TEXTS,
              "repo": REPO_NAME_TEXTS, "sep": FILE_SEP_TEXTS}
    found: dict[str, SpecialToken] = {}
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
        except _PROBE_ERRORS as exc:
            log.debug("FIM token probe failed, going by the model's name: %s", exc)
            found = {}
    lowered = name.lower().replace("_", "-")
    for hints, texts_by_key in _NAME_HINTS:
        if all(h in lowered or h in lowered.replace("-", "") for h in hints):
            return {key: SpecialToken(text=text, id=-1) for key, text in texts_by_key.items()}
    return found


def _calibrate(tokenize: Tokenizer | None) -> float:
    """Characters per token of this model, so that count_tokens needs no round trip per call."""
    if tokenize is None:
        return DEFAULT_CHARS_PER_TOKEN
    try:
        n = len(tokenize(CALIBRATION_TEXT))
    except _PROBE_ERRORS:
        return DEFAULT_CHARS_PER_TOKEN
    if n <= 0:
        return DEFAULT_CHARS_PER_TOKEN
    # A little under the measured ratio, so that budgets err on the safe side.
    return max(1.5, 0.9 * len(CALIBRATION_TEXT) / n)


def _basename(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def _family(name: str) -> str:
    lowered = name.lower().replace(" ", "").replace("-", "").replace("_", "")
    for hint in ("codestral", "codellama", "mistral", "starcoder", "deepseek", "qwen", "llama", "smollm"):
        if hint in lowered:
            return hint
    return "remote"
