"""A model file's cheap checks before llama.cpp sees it, and the error a user can act on.

Here, below ``models/``, because the engine checks the files it loads and the registry checks the files it pulls:
``models/`` imports ``engine/`` (speed figures, this module), never the other way.
"""

from __future__ import annotations

from pathlib import Path

GGUF_MAGIC = b"GGUF"


class ModelError(Exception):
    """A problem with a model the user can act on; the message is one line naming it."""


def check_gguf_file(path: Path) -> None:
    """Cheap checks before llama.cpp sees the file, so the error names the actual problem."""
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as fh:
            head = fh.read(24)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from exc
    if head[:4] != GGUF_MAGIC:
        raise ModelError(f"not a GGUF file (bad magic {head[:4]!r}): {path}")
    if len(head) < 24:
        raise ModelError(f"truncated GGUF file (header incomplete): {path}")
