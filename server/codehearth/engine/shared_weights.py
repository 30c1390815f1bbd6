"""A second llama context on weights already loaded: one mapping of the model file, two KV caches.

llama-cpp-python's ``Llama`` loads its own model for every instance, so two instances on one file map it
twice, and each mapping counts its touched pages in resident memory again. llama.cpp itself allows many
contexts per model; this builds a ``Llama`` that shares the first one's model and owns only its context,
batch and buffers. The first instance must outlive the twin (closing the twin frees only what it owns).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import numpy as np


def twin_context(llm: Any) -> Any:
    """A ``Llama`` with its own context on ``llm``'s model (same n_ctx, n_batch and threads)."""
    from llama_cpp import _internals as internals

    twin = copy.copy(llm)  # shares _model, the tokenizer, metadata and the parameters
    twin._stack = contextlib.ExitStack()
    twin._ctx = twin._stack.enter_context(
        contextlib.closing(internals.LlamaContext(model=llm._model, params=llm.context_params, verbose=False))
    )
    twin._batch = twin._stack.enter_context(
        contextlib.closing(
            internals.LlamaBatch(n_tokens=llm.n_batch, embd=0, n_seq_max=llm.context_params.n_ctx, verbose=False)
        )
    )
    twin._candidates = internals.LlamaTokenDataArray(n_vocab=llm._n_vocab)
    twin.n_tokens = 0
    twin._requires_eval = True
    twin.input_ids = np.ndarray((llm._n_ctx,), dtype=np.intc)
    twin.scores = np.ndarray(llm.scores.shape, dtype=np.single)
    return twin
