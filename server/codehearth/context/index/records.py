"""What the index stores per file, and how a file becomes a record (also in worker processes)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import NamedTuple

import msgspec

from .. import languages, parsing
from ..symbols import FileSymbols, extract_symbols
from .filters import looks_secret

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = 4  # bump when symbols.py changes what a record holds


def _schema() -> str:
    """Cache folder name: changes with the extractor version and with any query file."""
    digest = hashlib.blake2b(str(EXTRACTOR_VERSION).encode(), digest_size=6)
    for path in sorted(languages.QUERY_DIR.glob("*.scm")):
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + path.read_bytes())
    return f"index-{digest.hexdigest()}"


CACHE_SCHEMA = _schema()
BINARY_SNIFF_BYTES = 8192


class ScanStats(NamedTuple):
    files: int  # source files in the index
    symbols: int  # definitions in the index
    parsed: int  # files parsed by this scan (0 on a warm restart with nothing changed)
    seconds: float


class FileRecord(msgspec.Struct, kw_only=True):
    path: str
    hash: str
    language: str
    symbols: FileSymbols
    module_keys: list[str] = msgspec.field(default_factory=list)


class _StatEntry(msgspec.Struct, array_like=True):
    size: int
    mtime_ns: int
    hash: str


_encode = msgspec.msgpack.Encoder().encode
_decode_symbols = msgspec.msgpack.Decoder(FileSymbols).decode
_decode_stat = msgspec.msgpack.Decoder(_StatEntry).decode


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_source(data: bytes, language: str, path: str) -> FileSymbols:
    """Parse one file's bytes and extract its symbols (runs in worker processes too)."""
    parser = languages.new_parser(language)
    if parser is None:
        return FileSymbols(definitions=[], imports=[], exports=[])
    tree = parsing.parse(parser, data, language=language)  # None past its budget: no symbols rather than a stuck worker
    return extract_symbols(tree, data, language, path)


def _parse_job(job: tuple[str, str]) -> tuple[str, str, bytes | None]:
    """Worker: read, hash and parse one file; returns (path, hash, encoded FileSymbols or None)."""
    path, language = job
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return path, "", None
    if looks_secret(data):
        return path, content_hash(data), None
    try:
        return path, content_hash(data), _encode(parse_source(data, language, path))
    except Exception:  # a grammar crash on one file must not end the scan
        return path, content_hash(data), None


def module_keys(rel: Path) -> list[str]:
    """Names an import could use for this file: dotted suffixes of its path, without the extension.

    ``pkg/json/decoder.py`` → ``pkg.json.decoder``, ``json.decoder``, ``decoder``; package files
    (``__init__``, ``index``, ``mod``) stand for their folder.
    """
    parts = list(rel.parts)
    if not parts:
        return []
    stem = parts[-1]
    for ext in sorted(
        languages.extensions_for(languages.language_for_path(stem) or ""), key=len, reverse=True
    ):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    parts[-1] = stem
    if stem in ("__init__", "index", "mod", "lib") and len(parts) > 1:
        parts = parts[:-1]
    keys = [".".join(parts[i:]) for i in range(len(parts))]
    if len(parts) > 1:
        keys.append(parts[-2])  # Go: a package is its folder
    if rel.suffix == ".go":
        keys.append(go_dir_key(rel.parent.as_posix()))  # every file of the folder (a Go package)
    return keys


def go_dir_key(rel_dir: str) -> str:
    """The module key shared by every Go file of one workspace folder (``""`` or ``"."``: the root)."""
    return "go:" + ("" if rel_dir in ("", ".") else rel_dir.strip("/"))


def _is_regular(st: os.stat_result) -> bool:
    import stat as stat_mod

    return stat_mod.S_ISREG(st.st_mode)


def _read_text_file(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:  # deleted during the scan, unreadable
        log.debug("index: cannot read %s: %s", path, exc)
        return None
    if b"\0" in data[:BINARY_SNIFF_BYTES] or looks_secret(data):
        return None
    return data
