"""The embedded engine: a GGUF model run in-process through llama-cpp-python.

One llama context decodes at a time (the ``DecodeGate``). Completions hold the gate for a whole request;
explanations take it one token at a time and let a waiting completion go first. Explanations run in their
own llama context on the same loaded model (the file is mapped once; see engine/native.py), so they never
evict the completion's KV cache.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codehearth.config import EngineSettings
from codehearth.engine.base import (
    ChatMessage,
    EngineCounters,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PromptCost,
    PromptPiece,
    SpecialToken,
    StopReason,
    Timings,
    common_prefix_length,
)
from codehearth.engine.decode_gate import DecodeGate
from codehearth.engine.gguf import ModelError, check_gguf_file
from codehearth.engine.healing import Healer, Healing
from codehearth.engine.native import NativeContext, NativeModel
from codehearth.engine.speed import Sample, SpeedModel
from codehearth.engine.speedcache import AUTO_THREADS, SpeedCache, SpeedEntry, SpeedKey, speed_key
from codehearth.engine.templates import (
    FILE_SEP_TEXTS,
    REPO_NAME_TEXTS,
    detect_fim_style,
    render_chat,
)

log = logging.getLogger(__name__)

PREFILL_CHUNK = 64  # prompt tokens decoded between deadline checks, until the speed is measured
# Work per prefill batch: a request checks its deadline, and a background prefill lets a waiting request go
# first, between batches, so a batch must be short on a slow machine and may be large on a fast one.
# Small batches cost throughput on a CPU, so a request (whose prefill the plan made fit) takes larger ones than a
# background prefill (which must let a request go first quickly).
CHUNK_S = {"complete": 0.25, "prepare": 0.1, "chat": 0.25, "glance": 0.25, "read-ahead": 0.1}
# The glance context: a few lines above the cursor and a short suggestion, never the full prompt. Small, so its
# KV cache and buffers cost little (17 ms to make for SmolLM2-135M, 5 ms for Qwen2.5-Coder-0.5B, measured here).
GLANCE_N_CTX = 256
GLANCE_ROOM = 48  # tokens kept free in the glance context for the suggestion
MIN_CHUNK = 16


def default_threads() -> int:
    # Half the CPUs, as llama.cpp does: the editor, the language runtime and the browser need the rest, and
    # llama.cpp's worker threads spin at each barrier, so one thread too many is far slower than one too few
    # (measured on 2 busy cores: 1 thread 0.8-1.6 s, 2 threads 5-34 s for the same 32-token completion).
    return max(1, min((os.cpu_count() or 2) // 2, 8))


class LlamaEngine:
    """The embedded engine behind the ``Engine`` protocol."""

    def __init__(self, path: Path | str, settings: EngineSettings | None = None) -> None:
        self.path = Path(path)
        self.settings = settings or EngineSettings()
        check_gguf_file(self.path)
        self._gate = DecodeGate()
        self.threads = self.settings.n_threads or default_threads()
        try:
            self._model = NativeModel(self.path, self.settings.n_gpu_layers)
            self._complete = self._new_context("complete")
            glance_ctx = min(GLANCE_N_CTX, self.settings.n_ctx)
            self._glance = self._model.context("glance", n_ctx=glance_ctx, n_batch=glance_ctx, threads=self.threads)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {self.path}: {exc}") from exc
        self.speed: SpeedModel | None = None
        self._calibrated_as: tuple[SpeedCache, SpeedKey] | None = None  # where a disproved calibration is corrected
        self.thread_trials: dict[str, float] = {}
        self._chat: NativeContext | None = None
        self._chat_lock = threading.Lock()
        # A second completion context (made on first use, settings.secondContext): a background prefill of the full
        # prompt goes where it destroys least, so requests answered from a smaller prompt keep their KV state
        # while the full one is read behind them, and later requests climb back to it.
        self._spare: NativeContext | None = None
        self._last_request: NativeContext | None = None
        self.counters = EngineCounters()
        self.info = self._read_model_info()
        self._eog_cache: dict[int, bool] = {}
        self._closed = False
        self.healer = Healer(self._model)
        self.healer.read_vocabulary()
        if self.settings.calibrate:
            self.calibrate()

    def _new_context(self, label: str) -> NativeContext:
        s = self.settings
        return self._model.context(label, n_ctx=s.n_ctx, n_batch=s.n_batch, threads=self.threads)

    def calibrate(self, fresh: bool = False, cache: SpeedCache | None = None) -> None:
        """Measure this machine's rates (and, when nThreads is 0, the best thread count) or read them back from
        the per-machine speed cache, which model selection reads too. ``fresh`` measures again."""
        from codehearth.engine.calibrate import Probe, calibrate, choose_threads

        s = self.settings
        cache = cache or SpeedCache()
        probe = Probe(self._complete)
        n_ctx = self._complete.n_ctx
        if not s.n_threads and s.n_gpu_layers == 0:
            key = speed_key(self.path, s, n_ctx, AUTO_THREADS)
            self.threads, self.thread_trials = choose_threads(probe, cache, key, fresh=fresh)
        probe.set_threads(self.threads)
        self._glance.set_threads(self.threads)
        if self._spare is not None:
            self._spare.set_threads(self.threads)
        key = speed_key(self.path, s, n_ctx, self.threads)
        self.speed = SpeedModel(calibrate(probe, self.threads, n_ctx, cache, key, fresh=fresh))
        self._calibrated_as = (cache, key)

    # -- metadata -------------------------------------------------------------------------------

    def _read_model_info(self) -> ModelInfo:
        meta: dict[str, Any] = dict(self._model.metadata)
        model = self._model.model
        arch = str(meta.get("general.architecture", "unknown"))
        name = str(meta.get("general.name", self.path.stem))

        def special(token_id: int) -> SpecialToken | None:
            if token_id is None or token_id < 0:
                return None
            return SpecialToken(text=model.token_get_text(token_id), id=int(token_id))

        def by_text(texts: Sequence[str]) -> SpecialToken | None:
            for text in texts:
                ids = self._model.tokenize(text.encode(), add_bos=False, special=True)
                if len(ids) == 1 and model.token_get_text(ids[0]) == text:
                    return SpecialToken(text=text, id=int(ids[0]))
            return None

        fim_prefix = special(model.token_prefix())
        fim_suffix = special(model.token_suffix())
        fim_middle = special(model.token_middle())
        explicit = meta.get("codehearth.fim_style")
        style = detect_fim_style(fim_prefix.text if fim_prefix else None, name, explicit)
        if fim_prefix is None or fim_suffix is None or (style == "psm" and fim_middle is None):
            style = "none"
        family = self._family(arch, name, meta)
        bos_id, eos_id = model.token_bos(), model.token_eos()
        return ModelInfo(
            name=name,
            family=family,
            architecture=arch,
            fim_style=style,
            fim_prefix=fim_prefix,
            fim_suffix=fim_suffix,
            fim_middle=fim_middle,
            repo_name=by_text(REPO_NAME_TEXTS) if style != "none" else None,
            file_sep=by_text(FILE_SEP_TEXTS) if style != "none" else None,
            chat_template=meta.get("tokenizer.chat_template"),
            bos=model.token_get_text(bos_id) if bos_id >= 0 else "",
            eos=model.token_get_text(eos_id) if eos_id >= 0 else "",
            context_length=int(meta.get(f"{arch}.context_length", 0) or 0),
            path=str(self.path),
        )

    @staticmethod
    def _family(arch: str, name: str, meta: dict[str, Any]) -> str:
        lowered = name.lower()
        for hint in ("codestral", "codellama", "mistral", "starcoder", "deepseek"):
            if hint in lowered.replace(" ", "").replace("-", ""):
                return hint
        template = str(meta.get("tokenizer.chat_template", ""))
        if arch == "llama" and "[INST]" in template and "<<SYS>>" not in template:
            return "mistral"
        return arch

    # -- tokens -----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text)) if text else 0

    def prompt_tokens(self, pieces: Sequence[PromptPiece], add_bos: bool = True) -> list[int]:
        model = self._model
        tokens: list[int] = []
        with model.using():  # the planner's thread tokenizes while a reload may close the model
            bos = model.model.token_bos()
            if add_bos and bos >= 0 and self._adds_bos():
                tokens.append(bos)
            for piece in pieces:
                if isinstance(piece, SpecialToken):
                    tokens.append(piece.id)
                elif piece:
                    # Text is never parsed for control tokens: "<|fim_prefix|>" typed in code stays text.
                    tokens += model.tokenize(piece.encode("utf-8"), add_bos=False, special=False)
        return tokens

    def prompt_cost(self, pieces: Sequence[PromptPiece], add_bos: bool = True) -> PromptCost:
        """How many of this prompt's tokens a completion context's KV cache already holds (cheap: a
        tokenization and a comparison; no decode, no lock: an estimate for planning)."""
        tokens = self.prompt_tokens(pieces, add_bos=add_bos)
        held = max(common_prefix_length(ctx.cached_tokens(), tokens) for ctx in self._mains())
        return PromptCost(prompt_tokens=len(tokens), cached_tokens=held)

    @property
    def contexts(self) -> list[str]:
        """The llama contexts made so far: the spare and the explanation context are made on first use."""
        return self._model.context_labels

    @property
    def second_context(self) -> bool:
        """Whether a background prefill may go to a second completion context (see ``choose_context``)."""
        return self.settings.second_context

    def _mains(self) -> list[NativeContext]:
        return [self._complete] if self._spare is None else [self._complete, self._spare]

    def _main_for(self, tokens: list[int], purpose: str) -> NativeContext:
        """The completion context for this prompt (see ``choose_context``); the second one is made on the first
        background prefill that would otherwise overwrite the last request's KV state."""
        mains = self._mains()
        if (purpose == "prepare" and self._spare is None and self.settings.second_context
                and self._last_request is self._complete):
            held = common_prefix_length(self._complete.cached_tokens(), tokens)
            if self._complete.n_tokens - held > 0:  # it would destroy some of the request's state
                with self._gate.hold(urgent=False):  # made while no decode runs
                    if self._closed:
                        raise EngineUnavailable("the model was unloaded")
                    self._spare = self._new_context("complete-2")
                mains = self._mains()
        last = mains.index(self._last_request) if self._last_request in mains else 0
        index = choose_context([ctx.cached_tokens() for ctx in mains], tokens, last, purpose)
        return mains[index]

    def glance_cost(self, pieces: Sequence[PromptPiece]) -> PromptCost | None:
        """``prompt_cost`` in the glance context (see GenerationRequest.purpose); None when the prompt does not fit
        it with room for a suggestion."""
        tokens = self.prompt_tokens(pieces)
        if len(tokens) + GLANCE_ROOM > self._glance.n_ctx:
            return None
        return PromptCost(prompt_tokens=len(tokens),
                          cached_tokens=common_prefix_length(self._glance.cached_tokens(), tokens))

    def _chunk(self, purpose: str) -> int:
        if self.speed is None:
            return PREFILL_CHUNK
        rate = self.speed.calibrated.prompt_tokens_per_s
        return max(MIN_CHUNK, min(int(rate * CHUNK_S.get(purpose, 0.25)), max(MIN_CHUNK, self.settings.n_batch)))

    def _adds_bos(self) -> bool:
        value = self._model.metadata.get("tokenizer.ggml.add_bos_token")
        return value is None or str(value).lower() == "true"

    def _is_eog(self, token: int) -> bool:
        cached = self._eog_cache.get(token)
        if cached is None:
            import llama_cpp

            cached = bool(llama_cpp.llama_vocab_is_eog(self._model.vocab, token))
            self._eog_cache[token] = cached
        return cached

    # -- generation -------------------------------------------------------------------------------

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> list[PromptPiece]:
        text = render_chat(self.info.chat_template, messages, bos=self.info.bos, eos=self.info.eos)
        model = self._model
        # The rendered template holds control tokens as text: parse them here, where we made them.
        ids = model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        # Token ids are kept as they are; each carries its own text (a character split over several tokens
        # lands on the token that completes it) so that prompt_text() shows the real prompt.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return [
            SpecialToken(text=decoder.decode(model.detokenize([i], special=True)), id=int(i)) for i in ids
        ]

    def _chat_context(self) -> NativeContext:
        """The explanations' own context on the same model, made on first use (a KV cache and compute buffers:
        23 MB for Qwen2.5-Coder-0.5B at nCtx 1024, where a second model load cost 558 MB)."""
        if not self.settings.separate_explain_context:
            return self._complete
        with self._chat_lock:
            if self._chat is None:
                # Made while no decode runs: llama.cpp documents no concurrency between contexts of one model.
                with self._gate.hold(urgent=False):
                    if self._closed:
                        raise EngineUnavailable("the model was unloaded")
                    self._chat = self._new_context("chat")
            return self._chat

    def _context_for(self, purpose: str, tokens: list[int]) -> NativeContext:
        if purpose in ("chat", "read-ahead"):
            return self._chat_context()
        return self._glance if purpose == "glance" else self._main_for(tokens, purpose)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if self._closed:
            raise EngineUnavailable("the model was unloaded")
        urgent = request.purpose in ("complete", "glance")
        tokens = self.prompt_tokens(request.prompt, add_bos=request.add_bos)
        tokens, healing = self.healer.heal(request, tokens)
        ctx = self._context_for(request.purpose, tokens)
        if request.purpose == "complete":
            self._last_request = ctx
        if len(tokens) >= ctx.n_ctx:
            raise EngineError(f"prompt of {len(tokens)} tokens does not fit the context of {ctx.n_ctx}")
        if urgent:
            with self._gate.hold(urgent=True):
                result = self._run(ctx, tokens, request, step_gate=None, healing=healing)
        else:
            result = self._run(ctx, tokens, request, step_gate=self._gate, healing=healing)
        self.counters.add(result.timings)
        # A cancelled explanation may have waited for the gate between its steps; a background prefill never waits
        # (it stops instead), so its batches measure the prompt rate even when a request preempted it; a request
        # (urgent) is timed inside the gate it holds throughout, so one the next keystroke cancelled measured clean
        # rates too -- at typing speed most are, and without them a speed probe (complete/service.py) rarely counts.
        measured = result.stop_reason != "cancelled" or request.purpose == "prepare" or urgent
        if ctx in self._mains() and self.speed is not None and measured:
            t = result.timings
            self.speed.update(len(tokens), Sample(evaluated=t.tokens_evaluated, prefill_ms=t.prefill_ms,
                                                  generated=t.tokens_generated, decode_ms=t.decode_ms))
            self._correct_calibration()
        return result

    def _correct_calibration(self) -> None:
        """Once per load: requests disproved a too-low calibration (a moment of load), so the speed cache gets their
        figures instead, for the next start and for `auto` (see ``SpeedModel.disproved_calibration``)."""
        speed = self.speed
        better = speed.disproved_calibration() if speed is not None and self._calibrated_as is not None else None
        if speed is None or better is None or self._calibrated_as is None:
            return
        cache, key = self._calibrated_as
        self._calibrated_as = None
        log.info("the calibration (%.1f generated tokens/s) caught a moment of load: requests measure %.1f, cached",
                 speed.calibrated.generated_tokens_per_s, better.generated_tokens_per_s)
        cache.put(SpeedEntry(key=key, figures=better, measured_at=time.time()))

    def _run(
        self, ctx: NativeContext, tokens: list[int], req: GenerationRequest, step_gate: DecodeGate | None,
        healing: Healing | None = None,
    ) -> GenerationResult:
        """Prefill what the KV cache lacks, then decode greedily, checking stop conditions after each token."""
        start = time.monotonic()
        timings = Timings(prompt_tokens=len(tokens))

        @contextlib.contextmanager
        def gated() -> Iterator[None]:
            with step_gate.hold(urgent=False) if step_gate is not None else contextlib.nullcontext():
                if self._closed:  # unloaded while this explanation waited for its turn
                    raise EngineUnavailable("the model was unloaded")
                yield

        # 1. Prefill: keep the longest common prefix, evaluate the rest in chunks (deadline between chunks).
        # What a chunk evaluated stays in the KV cache when the deadline cuts the prefill: the next request
        # continues from there.
        preparing = req.purpose in ("prepare", "read-ahead")
        chunk_size = self._chunk(req.purpose)
        if preparing and self._gate.urgent_waiting:
            return GenerationResult(text="", stop_reason="cancelled", timings=timings)
        with gated():
            keep = common_prefix_length(ctx.cached_tokens(), tokens)
            if keep == len(tokens):
                keep -= 1  # re-evaluate the last prompt token to get fresh logits
            keep = ctx.keep(keep)  # 0 when llama.cpp could not cut its cache there and emptied it
            timings.tokens_reused = keep
        pending = tokens[keep:]
        reason: StopReason | None = None
        while pending:
            reason = req.interruption()
            if reason is None and preparing and self._gate.urgent_waiting:
                reason = "cancelled"  # a real request preempts a background prefill between batches
            if reason is not None:
                break
            chunk, pending = pending[:chunk_size], pending[chunk_size:]
            with gated():
                if step_gate is not None and ctx.n_tokens != len(tokens) - len(pending) - len(chunk):
                    if preparing:  # a completion used the context meanwhile: its state is the newer one
                        reason = "cancelled"
                        break
                    # Someone else used this context while we waited (shared-context mode): start over.
                    return self._run(ctx, tokens, req, step_gate)
                ctx.eval(chunk)
            timings.tokens_evaluated += len(chunk)
        timings.prefill_ms = (time.monotonic() - start) * 1000
        if reason is not None:
            timings.total_ms = timings.prefill_ms
            return GenerationResult(text="", stop_reason=reason, timings=timings)

        # 2. Decode.
        decode_start = time.monotonic()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        generated: list[int] = []
        reason = "length"
        for _ in range(max(0, req.max_tokens)):
            interrupted = req.interruption()
            if interrupted is not None:
                reason = interrupted
                break
            with gated():
                if healing is not None and healing.active:
                    token, logprob = healing.pick(ctx.logits())
                else:
                    token, logprob = self._pick(ctx, generated, req)
                if self._is_eog(token):
                    reason = "eos"
                    break
                if ctx.n_tokens >= ctx.n_ctx:
                    reason = "length"
                    break
                ctx.eval([token])
            generated.append(token)
            piece = self._model.detokenize([token], special=False)
            if healing is not None:
                piece = healing.consume(piece)  # the taken-back text is the prompt's, not the answer's
                if not piece:
                    continue
            text += decoder.decode(piece)
            req.token_logprobs.append((len(text), logprob))
            text, stopped = req.check_text(text, req.stop)
            if stopped:
                reason = "stop"
                break
        timings.tokens_generated = len(generated)
        timings.decode_ms = (time.monotonic() - decode_start) * 1000
        timings.total_ms = (time.monotonic() - start) * 1000
        return GenerationResult(text=text, stop_reason=reason, timings=timings,
                                token_logprobs=list(req.token_logprobs))

    def _pick(self, ctx: NativeContext, generated: list[int], req: GenerationRequest) -> tuple[int, float]:
        """The greedy token and its log-probability under the model (the completion's confidence is made of
        these: one log-sum-exp over the vocabulary per token, well under a millisecond)."""
        logits = ctx.logits()
        if req.repeat_penalty != 1.0 and generated:
            logits = logits.copy()
            recent = np.unique(np.array(generated[-64:], dtype=np.intc))
            values = logits[recent]
            logits[recent] = np.where(values > 0, values / req.repeat_penalty, values * req.repeat_penalty)
        token = int(np.argmax(logits))
        return token, token_logprob(logits, token)

    def forget_cache(self) -> None:
        """Drop the completion context's KV cache (the no-reuse baseline of the benchmarks)."""
        with self._gate.hold(urgent=True):
            for ctx in self._mains():
                ctx.forget()

    def close(self) -> None:
        """Free the contexts once no decode is running; later calls raise EngineUnavailable."""
        with self._gate.hold(urgent=True):
            if self._closed:
                return
            self._closed = True
            self._model.close()  # its contexts first, then the weights




def choose_context(cached: Sequence[Sequence[int]], tokens: Sequence[int], last_request: int, purpose: str) -> int:
    """Which of the completion contexts (their cached tokens) takes this prompt.

    A request takes the one that holds most of its prompt (the least to evaluate); on a tie the last request's.
    A background prefill counts, besides the tokens it must evaluate, the tokens of the last request's KV state it
    would destroy (the next keystroke needs them): so the full prompt is read in the other context while requests go
    on from a smaller one, and continues there across keystrokes; on a tie it takes the other one.
    """
    def cost(i: int) -> int:
        held = common_prefix_length(cached[i], tokens)
        destroyed = len(cached[i]) - held if purpose == "prepare" and i == last_request else 0
        return len(tokens) - held + destroyed

    def preference(i: int) -> tuple[int, bool]:
        on_last = i == last_request
        return cost(i), (on_last if purpose == "prepare" else not on_last)

    return min(range(len(cached)), key=preference)


def token_logprob(logits: np.ndarray[Any, np.dtype[np.float32]], token: int) -> float:
    """log softmax(logits)[token], computed stably."""
    top = float(np.max(logits))
    return float(logits[token]) - top - float(np.log(np.sum(np.exp(logits - top, dtype=np.float64))))


__all__ = ["DecodeGate", "LlamaEngine", "choose_context", "default_threads", "token_logprob"]
