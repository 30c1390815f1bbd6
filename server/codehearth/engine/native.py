"""One GGUF file loaded once by llama.cpp, and any number of contexts on it (llama-cpp-python's low-level API).

``llama_cpp.Llama`` loads a llama_model of its own for every context it makes, so two ``Llama`` objects on one
file map the file twice and hold two vocabularies and two repacked weight buffers. Measured with
Qwen2.5-Coder-0.5B Q4_K_M (463 MiB mapped, nCtx 1024): a second ``Llama`` added 558 MB resident (462 MB of it
the second mapping of the same file pages, 96 MB anonymous); a second context on the same model adds 23 MB
(its KV cache and compute buffers). Nothing here locks: the engine runs one decode at a time across all contexts
(its ``DecodeGate``), because concurrent decodes on contexts of one model are not documented as safe and have been
reported to crash (e.g. LLamaSharp#595, nobodywho#82); on a CPU they would only compete for the same cores.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codehearth.engine.base import EngineUnavailable

_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            import llama_cpp
            from llama_cpp._logger import set_verbose

            set_verbose(False)  # llama.cpp's own log lines only at error level (they go to stderr)
            llama_cpp.llama_backend_init()
            _backend_ready = True


class NativeModel:
    """One llama_model: the weights (mmapped, shared by every context), the vocabulary and the metadata."""

    def __init__(self, path: Path, n_gpu_layers: int = 0) -> None:
        import llama_cpp
        from llama_cpp import _internals

        _init_backend()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers == -1 else n_gpu_layers  # -1: every layer
        params.split_mode = llama_cpp.LLAMA_SPLIT_MODE_LAYER
        params.main_gpu = 0
        params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP
        self.path = path
        self.model: Any = _internals.LlamaModel(path_model=str(path), params=params, verbose=False)
        self.vocab: Any = self.model.vocab
        self.metadata: dict[str, str] = self.model.metadata()
        self.n_vocab: int = self.model.n_vocab()
        self._contexts: list[NativeContext] = []
        self._closed = False
        # Tokenizing runs outside the decode gate (prompts are planned on their own thread); once the model is
        # freed its vocabulary pointer dangles, and a tokenization racing a reload crashed the process (SIGSEGV,
        # the 20,000-message fuzz). Every use of the vocabulary and the close take this lock.
        self._use = threading.RLock()

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        """Hold the model alive for a tokenization; EngineUnavailable once it is closed."""
        with self._use:
            if self._closed:
                raise EngineUnavailable("the model was unloaded")
            yield

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        with self.using():
            return [int(t) for t in self.model.tokenize(text, add_bos=add_bos, special=special)]

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        return b"".join(self.pieces(tokens, special))

    def pieces(self, tokens: Sequence[int], special: bool = False) -> list[bytes]:
        """Each token's own bytes. Not llama-cpp-python's detokenize: its 32-byte buffer drops every longer token
        (Qwen2.5's runs of 33+ spaces of indentation, its '-' * 64 separator) from the text; llama.cpp says how
        much room a longer piece needs, and gets it."""
        import llama_cpp

        to_piece, size = llama_cpp.llama_token_to_piece, 64
        buffer = ctypes.create_string_buffer(size)
        out: list[bytes] = []
        with self.using():  # one lock and one buffer for many tokens (a vocabulary read is 150k of them)
            for token in tokens:
                n = to_piece(self.vocab, token, buffer, size, 0, special)
                if n < 0:
                    longer = ctypes.create_string_buffer(-n)
                    n = to_piece(self.vocab, token, longer, -n, 0, special)
                    out.append(longer.raw[:n])
                else:
                    out.append(buffer.raw[:n])
        return out

    def context(self, label: str, n_ctx: int, n_batch: int, threads: int) -> NativeContext:
        """A new context (its own KV cache) on these weights."""
        ctx = NativeContext(self, label, n_ctx, n_batch, threads)
        self._contexts.append(ctx)
        return ctx

    @property
    def context_labels(self) -> list[str]:
        """The contexts made so far (some are made on first use, so resident memory depends on which exist)."""
        return [ctx.label for ctx in self._contexts]

    def close(self) -> None:
        """Free the contexts, then the model (llama.cpp needs that order)."""
        with self._use:
            if self._closed:
                return
            self._closed = True
            for ctx in self._contexts:
                ctx.close()
            with contextlib.suppress(Exception):
                self.model.close()


class NativeContext:
    """One llama context: a KV cache on a shared model, and the tokens it holds (one sequence)."""

    def __init__(self, model: NativeModel, label: str, n_ctx: int, n_batch: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.model = model
        self.label = label
        self.n_batch = min(n_ctx, n_batch)
        # The parameters llama_cpp.Llama used for our contexts, so speeds measured before still hold.
        p = llama_cpp.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = self.n_batch
        p.n_ubatch = min(self.n_batch, 512)
        p.n_threads = p.n_threads_batch = threads
        p.rope_scaling_type = llama_cpp.LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED
        p.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
        p.attention_type = llama_cpp.LLAMA_ATTENTION_TYPE_UNSPECIFIED
        p.rope_freq_base = p.rope_freq_scale = 0.0
        p.yarn_ext_factor, p.yarn_attn_factor, p.yarn_beta_fast, p.yarn_beta_slow = -1.0, 1.0, 32.0, 1.0
        p.yarn_orig_ctx = 0
        p.embeddings = False
        p.offload_kqv = True
        p.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        p.no_perf = False
        self._ctx: Any = _internals.LlamaContext(model=model.model, params=p, verbose=False)
        self._batch: Any = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self.n_ctx: int = self._ctx.n_ctx()
        self.n_vocab = model.n_vocab
        self._tokens: list[int] = []

    @property
    def n_tokens(self) -> int:
        return len(self._tokens)

    def cached_tokens(self) -> list[int]:
        return list(self._tokens)

    def keep(self, n: int) -> int:
        """Keep the first ``n`` cached tokens and drop the rest; returns how many are kept (0 when llama.cpp
        could not cut the cache there and cleared it)."""
        n = max(0, n)
        if n >= len(self._tokens):
            return len(self._tokens)
        if not self._ctx.kv_cache_seq_rm(-1, n, -1):
            self.forget()
            return 0
        del self._tokens[n:]
        return n

    def eval(self, tokens: Sequence[int]) -> None:
        """Decode ``tokens`` after the cached ones; the logits of the last one are then available."""
        for i in range(0, len(tokens), self.n_batch):
            batch = [int(t) for t in tokens[i : i + self.n_batch]]
            self._batch.set_batch(batch=batch, n_past=len(self._tokens), logits_all=False)
            try:
                self._ctx.decode(self._batch)
            except Exception:
                # What a failed decode left in the KV cache is not in our list: drop it so both agree.
                self._ctx.kv_cache_seq_rm(-1, len(self._tokens), -1)
                raise
            self._tokens += batch

    def logits(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The last decoded token's logits (a view into llama.cpp's buffer, valid until the next decode)."""
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def set_threads(self, threads: int) -> None:
        self._ctx.set_n_threads(threads, threads)

    def forget(self) -> None:
        """Empty the KV cache."""
        self._ctx.kv_cache_clear()
        self._tokens = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._batch.close()
        with contextlib.suppress(Exception):
            self._ctx.close()


__all__ = ["NativeContext", "NativeModel"]
