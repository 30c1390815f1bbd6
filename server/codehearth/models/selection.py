"""Which model does what on this machine: per role, the best manifest model that is present and fits.

Two roles: completions want a fast fill-in-the-middle model (a typical keystroke must finish within
``latencyBudgetMs``); explanations want the best instruct model that fits the memory budget and starts
streaming within ``explainFirstChunkMs``, because a reader waits seconds anyway. An explicit setting wins.

Speed comes as :class:`~codehearth.engine.speed.SpeedFigures`: measured on this machine where a figure
exists (the per-machine speed cache of ``engine/speedcache.py``, which calibration at load and
``models recommend --measure`` fill), otherwise estimated from the file size, scaled from a measured model when
there is one (generation on a CPU is bound by reading the weights once per token, so tokens/s scale with
1/size). Every estimate says so. Tests feed fixed figures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import msgspec

from codehearth.config import AUTO, Settings
from codehearth.engine.speed import SpeedFigures, typical_keystroke_ms
from codehearth.engine.speedcache import SpeedCache
from codehearth.models.registry import ModelEntry, ModelError, Registry

log = logging.getLogger(__name__)

Role = Literal["completion", "explanation"]
ROLES: tuple[Role, Role] = ("completion", "explanation")
FiguresLookup = Callable[[ModelEntry, Path], "SpeedFigures | None"]


def measured_lookup(settings: Settings, cache: SpeedCache | None = None) -> FiguresLookup:
    """A FiguresLookup reading this machine's speed cache, at the thread count the engine would run with."""
    speed_cache = cache or SpeedCache()

    def lookup(entry: ModelEntry, path: Path) -> SpeedFigures | None:
        return speed_cache.figures_for(path, settings.engine) if path.is_file() else None

    return lookup

MB = 1024 * 1024
# An explanation prompt: the function, its class header and a few callees (explain.budgetTokens caps it).
EXPLAIN_PROMPT_TOKENS = 400
# When nothing starts within explainFirstChunkMs: the best model that starts within this many times it.
EXPLAIN_PATIENCE = 4
# Faithful first: a model at least this many times as faithful as the one that starts within explainFirstChunkMs
# wins when it starts within FAITHFUL_WAIT_MS (a reader waits a few seconds for a right explanation; a wrong one
# costs the tool their trust). On this machine SmolLM2-135M starts in ~1.5 s and is 23% faithful, Qwen2.5-Coder-0.5B
# ~3 s and 47% (benchmarks/results/explain.json).
FAITHFUL_RATIO = 2.0
FAITHFUL_WAIT_MS = 6000
# Without any measurement on this machine: bytes of weights read per second while generating, per thread,
# and prompt tokens evaluated per generated token. Measured here (2 busy cores, 1 thread, load ~2:
# SmolLM2 34 tokens/s x 98 MB = 3.3 GB/s, Qwen 0.5B 12.9 x 491 MB = 6.3 GB/s; prompt 2.4-3.7x generation),
# taken at the low end on purpose.
UNMEASURED_BYTES_PER_S_PER_THREAD = 3.0e9
UNMEASURED_PROMPT_FACTOR = 2.5
# A llama context's KV cache and scratch buffers, per 1024 tokens of context (small models; estimate).
CONTEXT_MB_PER_1K = 24


class Candidate(msgspec.Struct, kw_only=True, rename="camel"):
    """One manifest model seen for one role on this machine."""

    id: str
    name: str
    family: str
    fim: str
    kind: str
    quality: int
    faithfulness: float  # measured share of faithful explanations (0: not measured)
    size_mb: int
    size_estimated: bool
    present: bool
    pull: str  # the command that fetches it
    figures: SpeedFigures
    keystroke_ms: float  # a typical keystroke (engine/speed.py) at these figures
    first_chunk_ms: float  # an explanation prompt evaluated and one token generated
    memory_mb: int  # weights plus this role's context
    fits_memory: bool
    fast_enough: bool

    @property
    def speed_source(self) -> str:
        return "measured" if self.figures.source != "estimate" else "estimate"


class Choice(msgspec.Struct, kw_only=True, rename="camel"):
    role: str
    model: str  # a manifest id or a path
    path: str
    auto: bool
    reason: str
    fim: str = ""
    kind: str = ""
    present: bool = True
    memory_mb: int = 0


class Plan(msgspec.Struct, kw_only=True, rename="camel"):
    """The models for both roles, or the one message saying why the set-up cannot fit."""

    completion: Choice | None
    explanation: Choice | None
    memory_budget_mb: int
    memory_mb: int = 0
    error: str = ""

    def choice(self, role: str) -> Choice | None:
        return self.completion if role == "completion" else self.explanation


# -- the machine ---------------------------------------------------------------------------------------------------


def total_ram_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB)
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest laptop
        return 8192


def memory_budget_mb(settings: Settings, ram_mb: int | None = None) -> int:
    """The explicit budget, else half the RAM: the editor, the build and the browser need the rest."""
    if settings.memory_budget_mb > 0:
        return settings.memory_budget_mb
    return max(512, (ram_mb if ram_mb is not None else total_ram_mb()) // 2)


def threads(settings: Settings) -> int:
    return settings.engine.n_threads or max(1, min((os.cpu_count() or 2) // 2, 8))


def context_mb(settings: Settings) -> int:
    return max(16, CONTEXT_MB_PER_1K * settings.engine.n_ctx // 1024)


# -- figures -------------------------------------------------------------------------------------------------------


def estimate_figures(size: int, reference: tuple[int, SpeedFigures] | None, n_threads: int) -> SpeedFigures:
    """Rates for a model not measured here: scaled by size from a measured one, or from a per-thread guess."""
    size = max(size, 1)
    if reference is not None:
        ref_size, ref = reference
        scale = ref_size / size
        return SpeedFigures(prompt_tokens_per_s=ref.prompt_tokens_per_s * scale,
                            generated_tokens_per_s=ref.generated_tokens_per_s * scale,
                            threads=ref.threads, n_ctx=ref.n_ctx, source="estimate")
    generated = UNMEASURED_BYTES_PER_S_PER_THREAD * n_threads / size
    return SpeedFigures(prompt_tokens_per_s=generated * UNMEASURED_PROMPT_FACTOR, generated_tokens_per_s=generated,
                        threads=n_threads, source="estimate")


def first_chunk_ms(figures: SpeedFigures) -> float:
    return figures.cost_ms(EXPLAIN_PROMPT_TOKENS, 1)


# -- candidates ----------------------------------------------------------------------------------------------------


def _size_of(entry: ModelEntry, path: Path) -> tuple[int, bool]:
    if path.is_file():
        return path.stat().st_size, False
    return entry.expected_size(), not entry.size


def candidates(
    role: Role,
    registry: Registry,
    settings: Settings,
    lookup: FiguresLookup,
    budget_mb: int | None = None,
) -> list[Candidate]:
    """Every manifest model offered for this role, best first, with its speed and memory here."""
    budget = budget_mb if budget_mb is not None else memory_budget_mb(settings)
    entries = [e for e in registry.entries() if role in e.quality]
    sizes = {e.id: _size_of(e, registry.directory / e.file) for e in entries}
    measured: dict[str, SpeedFigures] = {}
    for entry in registry.entries():
        path = registry.directory / entry.file
        figures = lookup(entry, path)
        if figures is not None:
            measured[entry.id] = figures
            sizes.setdefault(entry.id, _size_of(entry, path))
    # The reference for estimates: the largest measured model (closest to the bigger candidates).
    reference = max(((sizes[i][0], f) for i, f in measured.items()), default=None, key=lambda r: r[0])
    out: list[Candidate] = []
    for entry in entries:
        size, estimated = sizes[entry.id]
        figures = measured.get(entry.id) or estimate_figures(size, reference, threads(settings))
        keystroke = typical_keystroke_ms(figures)
        first = first_chunk_ms(figures)
        memory = size // MB + context_mb(settings)
        fast = keystroke <= settings.latency_budget_ms if role == "completion" else first <= settings.explain_first_chunk_ms
        out.append(Candidate(
            id=entry.id, name=entry.name, family=entry.family, fim=entry.fim, kind=entry.kind,
            quality=entry.quality[role], faithfulness=entry.faithfulness, size_mb=size // MB, size_estimated=estimated,
            present=(registry.directory / entry.file).is_file(), pull=f"codehearth models pull {entry.id}",
            figures=figures, keystroke_ms=round(keystroke, 1), first_chunk_ms=round(first, 1), memory_mb=memory,
            fits_memory=memory <= budget, fast_enough=fast,
        ))
    out.sort(key=lambda c: -c.quality)
    return out


# -- choosing ------------------------------------------------------------------------------------------------------


def _speed_words(c: Candidate, role: Role, settings: Settings) -> str:
    if role == "completion":
        return (f"typical keystroke {c.keystroke_ms:.0f} ms ({c.speed_source}, "
                f"{c.figures.generated_tokens_per_s:.0f} tokens/s) vs latencyBudgetMs {settings.latency_budget_ms}")
    return (f"first chunk {c.first_chunk_ms:.0f} ms ({c.speed_source}, "
            f"{c.figures.prompt_tokens_per_s:.0f} prompt tokens/s) vs explainFirstChunkMs "
            f"{settings.explain_first_chunk_ms}")


def pick(role: Role, cands: list[Candidate], settings: Settings, memory_left_mb: int) -> tuple[Candidate, str] | None:
    """The best usable candidate and why; None when none fits the memory left."""
    usable = [c for c in cands if (c.present or settings.auto_pull) and c.memory_mb <= memory_left_mb]
    if not usable:
        return None
    fast = [c for c in usable if c.fast_enough]
    if fast and role == "explanation":
        faithful = _more_faithful(fast[0], usable, settings)
        if faithful is not None:
            return faithful, (f"{FAITHFUL_RATIO:g}x as faithful as {fast[0].id} ({faithful.faithfulness:.0%} vs "
                              f"{fast[0].faithfulness:.0%} on the explanation benchmark) and starts within "
                              f"{max(settings.explain_first_chunk_ms, FAITHFUL_WAIT_MS)} ms: "
                              f"{_speed_words(faithful, role, settings)}")
    if fast:
        best = fast[0]  # cands are best first
        better = [c for c in cands if c.quality > best.quality]
        why = f"the best {'FIM ' if best.fim != 'none' else ''}model present that fits: {_speed_words(best, role, settings)}"
        if better:
            slow = [c.id for c in better if c.present and not c.fast_enough][:2]
            absent = [c.id for c in better if not c.present][:2]
            if slow:
                why += f"; too slow here: {', '.join(slow)}"
            if absent and not settings.auto_pull:
                why += f"; better but not downloaded: {', '.join(absent)}"
        return best, why
    if role == "explanation":
        # Nothing starts within the target here. A reader waits seconds, not minutes, and a wrong explanation
        # costs more than a slower right one: take the best model that starts within EXPLAIN_PATIENCE x target.
        patient = [c for c in usable if c.first_chunk_ms <= EXPLAIN_PATIENCE * settings.explain_first_chunk_ms]
        if patient:
            best = patient[0]
            return best, (f"no model present starts within explainFirstChunkMs here; the best that starts within "
                          f"{EXPLAIN_PATIENCE}x: {_speed_words(best, role, settings)}")
    key = (lambda c: c.keystroke_ms) if role == "completion" else (lambda c: c.first_chunk_ms)
    best = min(usable, key=key)
    return best, f"no model present is fast enough here; the fastest: {_speed_words(best, role, settings)}"


def _more_faithful(fast: Candidate, usable: list[Candidate], settings: Settings) -> Candidate | None:
    """The most faithful usable model that is FAITHFUL_RATIO x as faithful as ``fast`` and starts within a few
    seconds; None when there is none (or faithfulness is not measured for them)."""
    wait = max(settings.explain_first_chunk_ms, FAITHFUL_WAIT_MS)
    better = [c for c in usable if fast.faithfulness > 0 and c.faithfulness >= FAITHFUL_RATIO * fast.faithfulness
              and c.first_chunk_ms <= wait]
    return max(better, key=lambda c: c.faithfulness) if better else None


def _explicit(role: Role, model: str, registry: Registry, settings: Settings) -> Choice:
    try:
        path = registry.resolve(model)
    except ModelError:
        path = Path(model) if model.endswith(".gguf") else registry.directory / _file_for(registry, model)
    entry = _entry_or_none(registry, model)
    size = path.stat().st_size if path.is_file() else (entry.expected_size() if entry else 0)
    setting = "completionModel" if role == "completion" else "explanationModel"
    own = settings.completion_model if role == "completion" else settings.explanation_model
    return Choice(role=role, model=model, path=str(path), auto=False,
                  reason=f"set explicitly ({setting if own else 'model'} = {model!r})",
                  fim=entry.fim if entry else "", kind=entry.kind if entry else "",
                  present=path.is_file(), memory_mb=size // MB + context_mb(settings))


def _file_for(registry: Registry, model: str) -> str:
    entry = _entry_or_none(registry, model)
    return entry.file if entry else model


def _entry_or_none(registry: Registry, model: str) -> ModelEntry | None:
    try:
        return registry.entry(model)
    except ModelError:
        return None


def _from_candidate(role: Role, c: Candidate, why: str, registry: Registry, settings: Settings) -> Choice:
    entry = registry.entry(c.id)
    return Choice(role=role, model=c.id, path=str(registry.directory / entry.file), auto=True, reason=why,
                  fim=c.fim, kind=c.kind, present=c.present, memory_mb=c.size_mb + context_mb(settings))


def plan(
    settings: Settings,
    registry: Registry,
    lookup: FiguresLookup | None = None,
    ram_mb: int | None = None,
) -> Plan:
    """Both roles' models: explicit settings first, then ``auto`` within the memory the other role leaves."""
    lookup = lookup or (lambda entry, path: None)
    budget = memory_budget_mb(settings, ram_mb)
    chosen: dict[str, Choice] = {}
    for role in ROLES:
        model = settings.role_model(role)
        if model != AUTO:
            chosen[role] = _explicit(role, model, registry, settings)
    for role in ROLES:  # completions first: they decide whether the editor feels fast
        if role in chosen:
            continue
        loaded = {c.model for c in chosen.values()}
        # A model already chosen for the other role costs only one more context (the file is mapped once).
        cands = [msgspec.structs.replace(c, memory_mb=context_mb(settings)) if c.id in loaded else c
                 for c in candidates(role, registry, settings, lookup, budget)]
        left = budget - _weights_mb(chosen.values(), settings)
        picked = pick(role, cands, settings, left)
        if picked is None:
            return Plan(completion=chosen.get("completion"), explanation=chosen.get("explanation"),
                        memory_budget_mb=budget, error=_no_fit(role, cands, settings, budget, left))
        best, why = picked
        chosen[role] = _from_candidate(role, best, why, registry, settings)
    total = _weights_mb(chosen.values(), settings)
    result = Plan(completion=chosen["completion"], explanation=chosen["explanation"], memory_budget_mb=budget,
                  memory_mb=total)
    if total > budget:
        parts = ", ".join(f"{c.model} for {c.role}s" for c in chosen.values())
        result.error = (f"the models need about {total} MB ({parts}) but memoryBudgetMb is {budget} MB: raise "
                        "memoryBudgetMb, or set completionModel/explanationModel to smaller models "
                        "(see `codehearth models recommend`)")
    for choice in chosen.values():
        log.info("%s model: %s (%s)", choice.role, choice.model, choice.reason)
    return result


def _weights_mb(choices: Iterable[Choice], settings: Settings) -> int:
    """Memory of the chosen set: each distinct file is mapped once; every role has its own context."""
    seen: dict[str, int] = {}
    roles = 0
    for c in choices:
        roles += 1
        seen[c.path] = c.memory_mb - context_mb(settings)
    return sum(seen.values()) + roles * context_mb(settings)


def _no_fit(role: Role, cands: list[Candidate], settings: Settings, budget: int, left: int) -> str:
    present = [c for c in cands if c.present or settings.auto_pull]
    if not present:
        offline = "; offline, auto chooses among downloaded models only" if not settings.auto_pull else ""
        return (f"no model for {role}s is downloaded: run `codehearth models pull smollm2-135m-instruct` "
                f"(or see `codehearth models recommend`){offline}")
    smallest = min(present, key=lambda c: c.memory_mb)
    return (f"no model for {role}s fits memoryBudgetMb {budget} MB ({left} MB left for it): the smallest, "
            f"{smallest.id}, needs about {smallest.memory_mb} MB; raise memoryBudgetMb or free memory")


def role_warnings(role: str, fim_style: str, has_chat_template: bool, kind: str, model: str) -> list[str]:
    """Base vs instruct matters: say so once when a model is used for the role it is bad at."""
    if role == "completion" and fim_style == "none":
        return [f"{model} has no fill-in-the-middle tokens: completions continue the text before the cursor "
                "and ignore the code after it; a FIM model (e.g. qwen2.5-coder-0.5b-instruct) fills gaps better"]
    if role == "explanation" and (kind == "base" or not has_chat_template):
        return [f"{model} is a base (FIM) model without a chat template: explanations from it are often poor; "
                "set explanationModel to an instruct model (e.g. qwen2.5-coder-0.5b-instruct)"]
    return []


__all__ = [
    "ROLES", "Candidate", "Choice", "Plan", "candidates", "estimate_figures", "memory_budget_mb", "pick", "plan",
    "role_warnings", "total_ram_mb",
]
