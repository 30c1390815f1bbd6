"""Settings: one tree of defaulted msgspec Structs, camelCase on the wire.

Sources are merged in one place (:func:`merge_settings`), lowest first:
defaults < user config file < workspace ``.codehearth.toml`` < initializationOptions
< ``workspace/didChangeConfiguration``. An invalid value is reported once and falls
back to its default; the rest of the tree still applies.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import platformdirs

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
AUTO = "auto"  # per role, the best model in the manifest that is present and fits this machine
ROLES = ("completion", "explanation")
WORKSPACE_CONFIG_NAME = ".codehearth.toml"


# Bounds on the numbers a user or a client may set: a value past them (latencyBudgetMs 10^9, maxTokens 10^7)
# would make one request run for minutes; it is reported once and its default used (found by the fuzz, issue 14).
Ms = Annotated[int, msgspec.Meta(ge=0, le=60_000)]
Tokens = Annotated[int, msgspec.Meta(ge=1, le=8192)]
LogProb = Annotated[float, msgspec.Meta(ge=-50.0, le=0.0)]


class _Base(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=False):
    pass


class EngineSettings(_Base):
    """How text is generated: the embedded llama.cpp engine or a remote server."""

    kind: Literal["embedded", "llama-server", "openai"] = "embedded"
    n_ctx: int = msgspec.field(default=4096)
    n_threads: int = 0  # 0: measured once per machine and model (1, 2, ... threads tried; the fastest kept)
    n_batch: int = 256
    n_gpu_layers: int = 0  # -1: offload every layer
    separate_explain_context: bool = True  # explanations get their own llama context
    # A second completion context where the full prompt is prefilled while requests answer from a smaller one (so
    # they climb back to the full prompt instead of settling on the smallest rung)
    second_context: bool = True
    calibrate: bool = True  # measure this machine's speed at load (cached per machine and model file)
    url: str = ""
    model: str = ""  # the model name the remote server expects
    api_key_env: str = ""  # name of the environment variable holding the API key
    allow_insecure_http: bool = False  # plain http beyond loopback
    timeout_ms: int = 10000  # start-up and explanation calls to a remote server
    # Extra fields merged into every remote generation request, for server-specific sampling options
    # (e.g. {"repeat_penalty": 1.0} for llama-cpp-python's server, {"repetition_penalty": 1.1} for vLLM).
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    # OpenAI-compatible servers only: send fill-in-the-middle as ``prompt`` + ``suffix`` (for servers that build the
    # FIM prompt themselves) when the model's FIM tokens are not known to codehearth.
    openai_suffix: bool = False
    # Remote engines only: every request's metadata (never the prompt, unless auditFullPrompt) goes to this JSON-lines
    # file; empty means remote-audit.jsonl in the user state folder.
    audit_log: str = ""
    audit_full_prompt: bool = False


class ContextSettings(_Base):
    """How the prompt is assembled from the workspace."""

    budget_tokens: int = 1024
    prefix_share: float = 0.55
    suffix_share: float = 0.15
    repo_share: float = 0.30
    max_file_bytes: int = 1_000_000
    exclude: list[str] = msgspec.field(default_factory=list)
    include_secrets: bool = False  # index .env files, keys and credentials (never by default)
    index_workspace: bool = True
    index_workers: int = 0  # parsing processes for the scan; 0: one per core (at most 4); 1: in-process
    similar_files: int = 8  # recently opened/edited files searched for similar chunks


class ExplainSettings(_Base):
    max_tokens: Tokens = 384
    budget_tokens: int = 1536
    # Read the explanation prompt of the function the cursor rests in after this long (a code action asked there),
    # at idle priority, so "Explain this function" starts at once; 0: never. 500, not 1000: at ~50-80 prompt
    # tokens/s a 2 s rest read only ~60 tokens after a 1000 ms wait, less than the median prompt of explain_ahead's
    # functions left to read (104 tokens); a keystroke meanwhile waits for at most one batch (16 tokens)
    read_ahead_ms: Ms = 500


class Settings(_Base):
    # One model for both roles, or "auto"; ``completionModel``/``explanationModel`` win over it per role.
    model: str = AUTO
    completion_model: str = ""  # "" follows ``model``
    explanation_model: str = ""
    memory_budget_mb: int = 0  # what the loaded models may take; 0: from the machine's RAM (see models/selection)
    explain_first_chunk_ms: int = 2500  # auto: an explanation model must start streaming within this
    auto_pull: bool = False  # consent: auto may pull a better model from the manifest (else: present ones only)
    model_dir: str = ""  # where pulled weights live; CODEHEARTH_MODELS_DIR wins
    # 2000 by what people see (issue 22; benchmarks/results/editor-defaults.md, 821 keystrokes typed in Neovim at
    # 150 and 250 ms a character, budgets 250-2000 ms, both offline models): Qwen2.5-Coder-0.5B at 2000 ms led the
    # tuning split at both cadences (useful chars a keystroke - 3 x wrong share: 4.49 and 6.08, against 2.39 and 3.71
    # for SmolLM2 at 400). Most keystrokes are answered long before it: the budget bounds a request, and a newer
    # keystroke cancels it. Under `auto` it also lets a FIM model whose typical keystroke fits 2 s be chosen.
    latency_budget_ms: Ms = 2000
    debounce_ms: Ms = 0
    max_tokens_single_line: Tokens = 32
    max_tokens_multi_line: Tokens = 96
    disabled_languages: list[str] = msgspec.field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    stream_completion_chunks: bool = False  # send codehearth/completionChunk notifications
    keep_generating_ms: Ms = 1500  # in-flight reuse: generation goes on after the deadline answer
    record_acceptance: bool = True  # keep acceptance statistics in the user cache (`codehearth stats`), never sent
    # At the deadline, show also the finished words of the line being written ("word", at least a few characters)
    # or whole lines only ("line"). "word" by measurement (169-keystroke replay at 1000 ms, two runs): useful
    # characters per keystroke 5.34 vs 4.41 and 3.90 vs 3.88 with Qwen2.5-Coder-0.5B, 4.87 vs 5.08 and 4.88 vs 5.10
    # with SmolLM2-135M: a gain where deadlines cut, a small loss (near run-to-run noise) where they rarely do.
    deadline_cut: Literal["word", "line"] = "word"
    prepare_while_paused: bool = True  # prefill the next prompt in the background after Enter, a jump, a file switch
    prefetch_next: bool = True  # after a suggestion is shown, prepare the one that follows it as if accepted
    # After an answer the budget cut short (a glance, or nothing), generate from the full prompt once it is read and
    # tell the client (codehearth/suggestionReady), which asks again if the cursor is still there
    late_suggestions: bool = True
    # When even the smallest prompt cannot be evaluated by the deadline (a file just opened on a slow machine), a
    # short suggestion from the lines right above the cursor, in a small context of its own (embedded engine)
    glance_when_behind: bool = True
    # Complete inside one-line string literals too (messages, keys, paths), as the rest of the line of code.
    # Docstrings, comments and multi-line strings are completed as prose either way. On by measurement
    # (benchmarks/results/editor-strings.md, 1204 keystrokes, 289 inside one-line strings, 250 ms a character):
    # Qwen2.5-Coder-0.5B at 2000 ms 5.90 vs 4.63 useful chars a keystroke on the tuning split (wrong 10% vs 7%), test
    # split 6.32 vs 5.04 (wrong 9% both); SmolLM2-135M 4.56 vs 3.97 (wrong 16% vs 9%), test 5.20 vs 3.96.
    one_line_strings: bool = True
    pause_ms: Ms = 150  # quiet time after an edit before background work starts
    # Show only what is likely right: a suggestion whose first line the model itself found less likely than this (a
    # log-probability per token: the lowest, the mean or the first of the first line's tokens, ``confidenceMeasure``)
    # is hidden; 0 shows everything. Glances pass the same gate.
    # -0.5 (mean), issue 22's rule: a Tab's saved keys - 3 x wrong ghost texts on the editor benchmark's tuning split,
    # with the gate on in typed rows (benchmarks/results/editor-gate.md and editor-final-gate.md): -0.5 against -0.75
    # scored 65 vs 66 in one run and 56 vs 36 in the other, 121 vs 102 in all; -0.3, typed once, scored 99 but showed
    # fewer useful characters a keystroke than the old SmolLM2 defaults at 150 ms (3.64 vs 3.89). At -0.5 wrong ghost
    # text fell to 3.5% / 4.4% of keystrokes (-0.75: 5.8% / 5.7%) for 15% / 12% fewer useful characters.
    min_confidence: LogProb = -0.5
    # Token healing (embedded engine): the end of a half-typed word is taken back from the prompt and the model
    # spells it out again, so it completes the word it would have written rather than the tokenizer's cut
    token_healing: bool = True
    confidence_measure: Literal["min", "mean", "first"] = "mean"
    engine: EngineSettings = msgspec.field(default_factory=EngineSettings)
    context: ContextSettings = msgspec.field(default_factory=ContextSettings)
    explain: ExplainSettings = msgspec.field(default_factory=ExplainSettings)

    def model_id(self) -> str:
        """The one model asked for both roles; under ``auto`` the manifest's default (the offline model)."""
        return DEFAULT_MODEL_ID if self.model in ("", "default", AUTO) else self.model

    def role_model(self, role: str) -> str:
        """The model setting for one role: an id, a path, or ``auto``; the role's own setting wins."""
        own = self.completion_model if role == "completion" else self.explanation_model
        chosen = own or self.model
        return AUTO if chosen in ("", "default", AUTO) else chosen  # "default": older configs and clients

    def language_enabled(self, language: str | None) -> bool:
        return (language or "plaintext") not in self.disabled_languages


class SettingsProblem(msgspec.Struct, frozen=True):
    path: str
    message: str

    def __str__(self) -> str:
        return f"setting {self.path}: {self.message}; using its default"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _drop_path(tree: dict[str, Any], path: str) -> bool:
    """Remove the value at a msgspec error path such as ``$.engine.nGpuLayers``."""
    keys = [k for k in path.removeprefix("$").split(".") if k]
    node: Any = tree
    for key in keys[:-1]:
        key = key.split("[")[0]
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    last = keys[-1].split("[")[0] if keys else ""
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def _error_path(message: str) -> str | None:
    marker = "at `"
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split("`", 1)[0]


def _drop_unencodable(node: Any, path: str) -> list[str]:
    """Remove strings a client sent with lone surrogates (msgspec raises UnicodeEncodeError, not a
    ValidationError, on them); returns their paths."""
    dropped: list[str] = []
    if isinstance(node, dict):
        for key in list(node):
            where = f"{path}.{key}"
            if _unencodable(key) or _unencodable(node[key]):
                del node[key]
                dropped.append(where.encode("utf-8", "replace").decode())
            else:
                dropped += _drop_unencodable(node[key], where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            dropped += _drop_unencodable(item, f"{path}[{i}]")
    return dropped


def _unencodable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    return isinstance(value, list) and any(_unencodable(v) for v in value)


def settings_from_tree(tree: Mapping[str, Any]) -> tuple[Settings, list[SettingsProblem]]:
    """Validate a merged tree; every invalid value falls back to its default."""
    work = deep_merge({}, tree)
    problems: list[SettingsProblem] = [SettingsProblem(path, "not valid Unicode (a lone surrogate)")
                                       for path in _drop_unencodable(work, "$")]
    for _ in range(64):
        try:
            return msgspec.convert(work, Settings, str_keys=True), problems
        except msgspec.ValidationError as exc:
            path = _error_path(str(exc))
            if path is None or not _drop_path(work, path):
                problems.append(SettingsProblem("$", str(exc)))
                return Settings(), problems
            problems.append(SettingsProblem(path, str(exc).split(" - at `")[0]))
    return Settings(), problems


def read_toml(path: Path) -> tuple[dict[str, Any], list[SettingsProblem]]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), []
    except FileNotFoundError:
        return {}, []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, [SettingsProblem(str(path), f"unreadable settings file ({exc})")]


def user_config_path() -> Path:
    override = os.environ.get("CODEHEARTH_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("codehearth")) / "config.toml"


def merge_settings(
    workspace_roots: Iterable[Path] = (),
    init_options: Mapping[str, Any] | None = None,
    client_settings: Mapping[str, Any] | None = None,
    user_config: Path | None = None,
) -> tuple[Settings, list[SettingsProblem]]:
    """Merge every source, lowest priority first, and validate the result once."""
    problems: list[SettingsProblem] = []
    tree: dict[str, Any] = {}
    layers: list[Mapping[str, Any]] = []
    file_tree, file_problems = read_toml(user_config or user_config_path())
    layers.append(file_tree)
    problems += file_problems
    for root in workspace_roots:
        ws_tree, ws_problems = read_toml(Path(root) / WORKSPACE_CONFIG_NAME)
        layers.append(ws_tree)
        problems += ws_problems
    layers.append(_unwrap(init_options))
    layers.append(_unwrap(client_settings))
    for layer in layers:
        if not isinstance(layer, Mapping):
            problems.append(SettingsProblem("$", "settings must be an object"))
            continue
        tree = deep_merge(tree, layer)
    settings, tree_problems = settings_from_tree(tree)
    return settings, problems + tree_problems


def _unwrap(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Clients may nest our tree under a ``codehearth`` key (VS Code's section name)."""
    if not options:
        return {}
    if isinstance(options, Mapping) and isinstance(options.get("codehearth"), Mapping):
        return options["codehearth"]
    return options


def settings_schema() -> dict[str, Any]:
    """JSON schema of the settings tree: the source of the VS Code contributions and the docs."""
    return msgspec.json.schema(Settings)


def cache_dir() -> Path:
    override = os.environ.get("CODEHEARTH_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("codehearth"))


def state_dir() -> Path:
    """Where records worth keeping live (the remote audit log); CODEHEARTH_STATE_DIR overrides it."""
    override = os.environ.get("CODEHEARTH_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir("codehearth"))
