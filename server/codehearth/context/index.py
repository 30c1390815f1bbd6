"""Workspace symbol index: definitions, imports and exports per file, cached on disk, kept live.

- The scan walks every root (never following symlinks), prunes default-excluded folders, git-ignored
  paths and the ``exclude`` setting, skips secrets, binary and oversized files, and parses the rest
  with tree-sitter (in a small process pool when there is a lot to parse).
- Records are msgspec Structs stored in diskcache under ``rec:<path>:<content hash>``; a stat entry per
  path lets a restart skip even reading unchanged files. A corrupted cache folder is deleted and
  rebuilt; if that fails too the index runs in memory.
- Live updates come from watchdog (see :meth:`WorkspaceIndex.start_watching`) or from the server
  calling :meth:`update_text` / :meth:`refresh` / :meth:`remove`; open documents use their in-memory text.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import multiprocessing
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import pathspec

from . import languages
from .symbols import Definition, FileSymbols, Import, extract_symbols

if TYPE_CHECKING:
    from codehearth.config import ContextSettings

    from .document import Document

__all__ = ["Definition", "FileRecord", "Import", "ScanStats", "WorkspaceIndex", "is_secret_path"]

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = 3  # bump when symbols.py changes what a record holds


def _schema() -> str:
    """Cache folder name: changes with the extractor version and with any query file."""
    digest = hashlib.blake2b(str(EXTRACTOR_VERSION).encode(), digest_size=6)
    for path in sorted(languages.QUERY_DIR.glob("*.scm")):
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + path.read_bytes())
    return f"index-{digest.hexdigest()}"


CACHE_SCHEMA = _schema()
BINARY_SNIFF_BYTES = 8192
POOL_THRESHOLD = 64  # parse in a process pool when at least this many files need parsing
WATCH_DEBOUNCE_S = 0.05
OVERLAY_DEBOUNCE_S = 0.3
PROGRESS_INTERVAL_S = 0.1

DEFAULT_EXCLUDED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "_darcs",
        ".jj",
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".venv",
        "venv",
        "virtualenv",
        ".virtualenv",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        "build",
        "dist",
        "target",
        "out",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".turbo",
        ".parcel-cache",
        "coverage",
        ".nyc_output",
        ".gradle",
        ".idea",
        ".vscode",
        ".cache",
        ".terraform",
        "CMakeFiles",
        ".direnv",
    }
)
_EXCLUDED_DIR_GLOBS = ("*.egg-info",)

# Never indexed, never put in a prompt unless includeSecrets is set (matched on the file name).
SECRET_NAME_GLOBS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.crt",
    "*.cer",
    "*.der",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "*.gpg",
    "*.asc",
    "*.tfvars",
    "*.tfstate",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials",
    "credentials.*",
    "*credentials*.json",
    "service-account*.json",
    "client_secret*.json",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
    "secrets.toml",
    ".secrets*",
)
_SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".docker", ".kube"})


_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")


def looks_secret(data: bytes) -> bool:
    """Content that is a secret whatever the file is called (PEM / PGP / OpenSSH private keys)."""
    return b"PRIVATE KEY" in data and _PRIVATE_KEY_RE.search(data) is not None


def is_secret_path(path: str | Path) -> bool:
    """True for files that look like secrets (.env files, private keys, credential files)."""
    p = Path(path)
    name = p.name.lower()
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_NAME_GLOBS):
        return True
    return any(part in _SECRET_DIRS for part in p.parts[:-1])


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
    tree = parser.parse(data)
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
    return keys


class _IgnoreRules:
    """.gitignore files found along the way, per folder (pathspec, git's own semantics)."""

    def __init__(self) -> None:
        self._specs: dict[Path, pathspec.PathSpec | None] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()

    def spec_for(self, folder: Path) -> pathspec.PathSpec | None:
        with self._lock:
            if folder in self._specs:
                return self._specs[folder]
        spec: pathspec.PathSpec | None = None
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (OSError, ValueError):
            spec = None
        with self._lock:
            self._specs[folder] = spec
        return spec

    def ignored(self, root: Path, path: Path, is_dir: bool) -> bool:
        try:
            rel = path.relative_to(root)
        except ValueError:
            return True
        folder = root
        parts = rel.parts
        for i in range(len(parts)):
            spec = self.spec_for(folder)
            if spec is not None:
                sub = "/".join(parts[i:]) + ("/" if is_dir else "")
                if spec.match_file(sub):
                    return True
            folder = folder / parts[i]
        return False


class WorkspaceIndex:
    """Definitions across the workspace roots, searchable by name."""

    def __init__(self, roots: list[Path], cache_dir: Path, settings: ContextSettings) -> None:
        self.roots: list[Path] = []
        for root in roots:
            try:
                self.roots.append(Path(root).resolve())
            except (OSError, RuntimeError):
                log.warning("workspace root %s cannot be resolved; skipped", root)
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self._lock = threading.RLock()
        self._records: dict[str, FileRecord] = {}
        self._by_name: dict[str, list[Definition]] = {}
        self._by_module: dict[str, set[str]] = {}
        self._overlay: set[str] = set()
        self._relpaths: dict[str, str] = {}
        self._overlay_updated: dict[str, float] = {}
        self._pending: dict[str, tuple[Path, str, bytes]] = {}
        self._pending_timer: threading.Timer | None = None
        self._ignore = _IgnoreRules()
        self._exclude = pathspec.GitIgnoreSpec.from_lines(list(settings.exclude or []))
        self._cache: Any = None
        self._cache_failed = False
        self._observer: Any = None
        self._events: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.generation = 0  # bumped on every change, for callers that memoise

    # ------------------------------------------------------------- the cache
    def _open_cache(self) -> Any:
        if self._cache is not None or self._cache_failed:
            return self._cache
        import diskcache

        folder = self.cache_dir / CACHE_SCHEMA
        for attempt in range(2):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                cache = diskcache.Cache(str(folder), size_limit=2**31)
                cache.get("probe")  # touches the database: corrupt files fail here
                self._cache = cache
                return cache
            except Exception as exc:
                if attempt == 0:
                    log.warning("index cache at %s is unusable (%s); rebuilding it", folder, exc)
                    shutil.rmtree(folder, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        if folder.exists() or folder.is_symlink():
                            folder.unlink()
                else:
                    log.warning("index cache unavailable (%s); indexing in memory only", exc)
        self._cache_failed = True
        return None

    def _cache_get(self, key: str) -> bytes | None:
        cache = self._open_cache()
        if cache is None:
            return None
        try:
            value = cache.get(key)
        except Exception as exc:
            log.debug("cache read %s failed: %s", key, exc)
            return None
        return value if isinstance(value, bytes) else None

    def _cache_set(self, key: str, value: bytes) -> None:
        cache = self._open_cache()
        if cache is None:
            return
        try:
            cache.set(key, value)
        except Exception as exc:
            log.debug("cache write %s failed: %s", key, exc)

    def _cache_delete(self, key: str) -> None:
        cache = self._open_cache()
        if cache is None:
            return
        with contextlib.suppress(Exception):
            cache.delete(key)

    def _cached_symbols(self, path: str, digest: str) -> FileSymbols | None:
        raw = self._cache_get(f"rec:{path}:{digest}")
        if raw is None:
            return None
        try:
            return _decode_symbols(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def _cached_stat(self, path: str) -> _StatEntry | None:
        raw = self._cache_get(f"stat:{path}")
        if raw is None:
            return None
        try:
            return _decode_stat(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def close(self) -> None:
        self.stop()
        if self._cache is not None:
            with contextlib.suppress(Exception):
                self._cache.close()
            self._cache = None

    # ---------------------------------------------------------- the filters
    def root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return root
        return None

    def relpath(self, path: str | Path) -> str:
        """Workspace-relative posix path (the path itself when outside every root)."""
        key = str(path)
        cached = self._relpaths.get(key)
        if cached is not None:
            return cached
        p = Path(path)
        root = self.root_of(p)
        rel = str(p) if root is None else p.relative_to(root).as_posix()
        if len(self._relpaths) > 50_000:
            self._relpaths.clear()
        self._relpaths[key] = rel
        return rel

    def _name_allowed(self, root: Path, path: Path, is_dir: bool) -> bool:
        rel = path.relative_to(root)
        for part in rel.parts[:-1] if not is_dir else rel.parts:
            if part in DEFAULT_EXCLUDED_DIRS or any(
                fnmatch.fnmatchcase(part, g) for g in _EXCLUDED_DIR_GLOBS
            ):
                return False
        if not is_dir and not self.settings.include_secrets and is_secret_path(rel):
            return False
        rel_posix = rel.as_posix() + ("/" if is_dir else "")
        if self._exclude.match_file(rel_posix):
            return False
        return not self._ignore.ignored(root, path, is_dir)

    def is_allowed(self, path: Path) -> bool:
        """Inside a root, not git-ignored/excluded, not a secret, not binary or too big."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):  # symlink loop
            return False
        root = self.root_of(resolved)
        if root is None:
            return False
        if not self._name_allowed(root, resolved, is_dir=False):
            return False
        if not self.settings.include_secrets and is_secret_path(Path(path).name):
            return False  # the link's own name counts too
        try:
            st = resolved.stat()
        except FileNotFoundError:
            return True  # not on disk (yet): an unsaved buffer; names were checked
        except OSError:
            return False
        if st.st_size > self.settings.max_file_bytes:
            return False
        try:
            with open(resolved, "rb") as fh:
                head = fh.read(BINARY_SNIFF_BYTES)
        except OSError:
            return False
        return b"\0" not in head

    # ---------------------------------------------------------------- query
    def definitions(self, name: str) -> list[Definition]:
        with self._lock:
            return list(self._by_name.get(name, ()))

    def file_symbols(self, path: str | Path) -> FileSymbols | None:
        with self._lock:
            rec = self._records.get(str(path))
            return rec.symbols if rec is not None else None

    def definitions_in(self, path: str | Path) -> list[Definition]:
        with self._lock:
            rec = self._records.get(str(path))
            return list(rec.symbols.definitions) if rec is not None else []

    def files_for_module(self, key: str) -> set[str]:
        """Files an import of ``key`` (dotted: ``json.decoder``, ``pkg.util``) may refer to."""
        with self._lock:
            return set(self._by_module.get(key, ()))

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def stats(self) -> tuple[int, int]:
        with self._lock:
            return len(self._records), sum(len(v) for v in self._by_name.values())

    # ------------------------------------------------------------- mutation
    def _store(self, record: FileRecord) -> None:
        with self._lock:
            self._drop(record.path)
            self._records[record.path] = record
            for d in record.symbols.definitions:
                self._by_name.setdefault(d.name, []).append(d)
            for key in record.module_keys:
                self._by_module.setdefault(key, set()).add(record.path)
            self.generation += 1

    def _drop(self, path: str) -> bool:
        old = self._records.pop(path, None)
        if old is None:
            return False
        for d in old.symbols.definitions:
            bucket = self._by_name.get(d.name)
            if bucket:
                bucket[:] = [x for x in bucket if x.path != path]
                if not bucket:
                    del self._by_name[d.name]
        for key in old.module_keys:
            files = self._by_module.get(key)
            if files:
                files.discard(path)
                if not files:
                    del self._by_module[key]
        self.generation += 1
        return True

    def _record(self, path: Path, digest: str, language: str, symbols: FileSymbols) -> FileRecord:
        root = self.root_of(path)
        keys = module_keys(path.relative_to(root)) if root is not None else []
        return FileRecord(path=str(path), hash=digest, language=language, symbols=symbols, module_keys=keys)

    def remove(self, path: Path) -> None:
        """Forget a file (deleted, or no longer allowed)."""
        key = str(Path(path).resolve()) if Path(path).is_absolute() else str(path)
        with self._lock:
            self._overlay.discard(key)
            removed = self._drop(key)
            # a folder: everything under it
            prefix = key.rstrip(os.sep) + os.sep
            for other in [p for p in self._records if p.startswith(prefix)]:
                self._drop(other)
                removed = True
        if removed:
            log.debug("index: removed %s", key)

    def update_text(self, path: Path, text: str) -> None:
        """Index an open document from its in-memory text (disk events are ignored until closed).

        Cheap enough to call on every keystroke: the first update of a file is applied at once;
        while updates keep coming, parsing happens at most every :data:`OVERLAY_DEBOUNCE_S` seconds
        on a background timer (:meth:`flush` applies what is pending now).
        """
        self._update_bytes(Path(path), text.encode("utf-8", "replace"))

    def update_document(self, doc: Document) -> None:
        """:meth:`update_text` for a :class:`Document` (uses a snapshot of its buffer)."""
        if doc.path is not None:
            self._update_bytes(Path(doc.path), doc.source)

    def _update_bytes(self, path: Path, data: bytes) -> None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return
        key = str(resolved)
        language = languages.language_for_path(resolved)
        if language is None or len(data) > self.settings.max_file_bytes:
            return
        with self._lock:
            known = key in self._overlay
        if not known and not self.is_allowed(resolved):
            return
        now = time.monotonic()
        with self._lock:
            self._overlay.add(key)
            recent = now - self._overlay_updated.get(key, -1e9) < OVERLAY_DEBOUNCE_S
            if recent:
                self._pending[key] = (resolved, language, data)
                if self._pending_timer is None:
                    timer = threading.Timer(OVERLAY_DEBOUNCE_S, self.flush)
                    timer.daemon = True
                    self._pending_timer = timer
                    timer.start()
                return
            self._overlay_updated[key] = now
            self._pending.pop(key, None)
        self._index_bytes(resolved, language, data)

    def flush(self) -> None:
        """Apply pending in-memory updates now."""
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            self._pending_timer = None
            now = time.monotonic()
            for resolved, _language, _data in pending:
                self._overlay_updated[str(resolved)] = now
        for resolved, language, data in pending:
            try:
                self._index_bytes(resolved, language, data)
            except Exception as exc:
                log.warning("index: in-memory update of %s failed: %s", resolved, exc)

    def _index_bytes(self, resolved: Path, language: str, data: bytes) -> None:
        if looks_secret(data) and not self.settings.include_secrets:
            with self._lock:
                self._drop(str(resolved))
            return
        digest = content_hash(data)
        with self._lock:
            if str(resolved) not in self._overlay:
                return  # closed meanwhile
            current = self._records.get(str(resolved))
            if current is not None and current.hash == digest:
                return
        symbols = parse_source(data, language, str(resolved))
        with self._lock:
            if str(resolved) in self._overlay:
                self._store(self._record(resolved, digest, language, symbols))

    def close_document(self, path: Path) -> None:
        """The editor closed the document: go back to what is on disk."""
        with contextlib.suppress(OSError, RuntimeError):
            resolved = Path(path).resolve()
            with self._lock:
                self._overlay.discard(str(resolved))
                self._overlay_updated.pop(str(resolved), None)
                self._pending.pop(str(resolved), None)
            self.refresh(resolved)

    def refresh(self, path: Path) -> bool:
        """Re-index one file from disk (or drop it when gone / not allowed). True when it changed."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):
            return False
        key = str(resolved)
        with self._lock:
            if key in self._overlay:
                return False
        language = languages.language_for_path(resolved)
        if (
            language is None
            or Path(path).is_symlink()
            or not resolved.is_file()
            or not self.is_allowed(resolved)
        ):
            with self._lock:
                had = key in self._records
                self._drop(key)
            return had
        try:
            data = resolved.read_bytes()
            st = resolved.stat()
        except OSError:
            with self._lock:
                return self._drop(key)
        if looks_secret(data) and not self.settings.include_secrets:
            with self._lock:
                return self._drop(key)
        digest = content_hash(data)
        with self._lock:
            current = self._records.get(key)
            if current is not None and current.hash == digest:
                return False
        symbols = self._cached_symbols(key, digest)
        if symbols is None:
            try:
                symbols = parse_source(data, language, key)
            except Exception as exc:
                log.warning("index: parsing %s failed: %s", key, exc)
                return False
            self._cache_set(f"rec:{key}:{digest}", _encode(symbols))
        self._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
        self._store(self._record(resolved, digest, language, symbols))
        return True

    # ----------------------------------------------------------------- scan
    def _walk(self) -> Iterable[tuple[Path, str, os.stat_result]]:
        """Candidate source files: (resolved path, language, stat)."""
        seen: set[str] = set()
        for root in self.roots:
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=_log_walk_error):
                folder = Path(dirpath)
                keep = []
                for d in dirnames:
                    sub = folder / d
                    if sub.is_symlink():
                        continue
                    if (sub / "pyvenv.cfg").exists():
                        continue  # a virtual environment, whatever its name
                    if self._name_allowed(root, sub, is_dir=True):
                        keep.append(d)
                dirnames[:] = sorted(keep)
                for name in sorted(filenames):
                    language = languages.language_for_path(name)
                    if language is None:
                        continue
                    path = folder / name
                    key = str(path)
                    if key in seen:
                        continue
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue  # deleted meanwhile
                    if not _is_regular(st):
                        continue  # symlinks (never followed), fifos, sockets
                    if st.st_size > self.settings.max_file_bytes:
                        continue
                    if not self._name_allowed(root, path, is_dir=False):
                        continue
                    seen.add(key)
                    yield path, language, st

    def scan(self, progress: Callable[[int, int], None] | None = None) -> ScanStats:
        """Walk every root and bring the index up to date. Safe to call from a background thread."""
        started = time.perf_counter()
        if self._observer is None:
            self._stopping.clear()  # a scan after stop() runs again; stop() during a scan ends it
        candidates = list(self._walk())
        total = len(candidates)
        done = 0
        parsed = 0
        present: set[str] = set()
        to_parse: list[tuple[Path, str, os.stat_result, str]] = []
        workers = self._worker_count()

        last_report = 0.0

        def tick(n: int = 1) -> None:
            nonlocal done, last_report
            done += n
            if progress is None:
                return
            now = time.monotonic()
            if done >= total or now - last_report >= PROGRESS_INTERVAL_S:  # spare the client a flood
                last_report = now
                with contextlib.suppress(Exception):
                    progress(done, total)

        if progress is not None:
            progress(0, total)
        for path, language, st in candidates:
            key = str(path)
            present.add(key)
            with self._lock:
                if key in self._overlay:
                    tick()
                    continue
            stat = self._cached_stat(key)
            digest = ""
            if stat is not None and stat.size == st.st_size and stat.mtime_ns == st.st_mtime_ns:
                digest = stat.hash
            else:
                data = _read_text_file(path)
                if data is None:
                    present.discard(key)
                    tick()
                    continue
                digest = content_hash(data)
            with self._lock:
                current = self._records.get(key)
            if current is not None and current.hash == digest:
                tick()
                continue
            symbols = self._cached_symbols(key, digest)
            if symbols is not None:
                self._store(self._record(path, digest, language, symbols))
                if stat is None or stat.hash != digest or stat.mtime_ns != st.st_mtime_ns:
                    self._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
                tick()
                continue
            to_parse.append((path, language, st, digest))

        if to_parse:
            parsed = self._parse_many(to_parse, workers, tick)

        # files that disappeared since the last scan
        with self._lock:
            gone = [p for p in self._records if p not in present and p not in self._overlay]
            for p in gone:
                self._drop(p)
        files, n_symbols = self.stats()
        seconds = time.perf_counter() - started
        log.info("index: %d files, %d symbols, %d parsed in %.1fs", files, n_symbols, parsed, seconds)
        return ScanStats(files=files, symbols=n_symbols, parsed=parsed, seconds=seconds)

    def _worker_count(self) -> int:
        wanted = int(getattr(self.settings, "index_workers", 0) or 0)
        if wanted > 0:
            return wanted
        return max(1, min(os.cpu_count() or 1, 4))

    def _parse_many(
        self,
        jobs: list[tuple[Path, str, os.stat_result, str]],
        workers: int,
        tick: Callable[[int], None],
    ) -> int:
        by_path = {str(p): (p, lang, st, digest) for p, lang, st, digest in jobs}
        parsed = 0

        def accept(key: str, digest: str, raw: bytes | None) -> None:
            nonlocal parsed
            path, language, st, expected = by_path[key]
            if raw is None:
                return
            try:
                symbols = _decode_symbols(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            if digest != expected:
                with contextlib.suppress(OSError):
                    st = os.stat(path)  # changed while we looked: store what we parsed
            parsed += 1
            self._cache_set(f"rec:{key}:{digest}", raw)
            self._cache_set(f"stat:{key}", _encode(_StatEntry(st.st_size, st.st_mtime_ns, digest)))
            self._store(self._record(path, digest, language, symbols))

        work = [(str(p), lang) for p, lang, _st, _d in jobs]
        remaining = list(work)
        if workers > 1 and len(work) >= POOL_THRESHOLD:
            try:
                ctx = multiprocessing.get_context("spawn")
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
                try:
                    for key, digest, raw in pool.map(_parse_job, work, chunksize=16):
                        if self._stopping.is_set():
                            break
                        accept(key, digest, raw)
                        tick(1)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)  # stop(): do not parse the rest
                remaining = []
            except Exception as exc:  # no processes here (sandbox, frozen app): parse in-process
                log.warning("index: process pool unavailable (%s); parsing in this process", exc)
                with self._lock:
                    remaining = [w for w in work if w[0] not in self._records]
        for job in remaining:
            if self._stopping.is_set():
                break
            key, digest, raw = _parse_job(job)
            accept(key, digest, raw)
            tick(1)
        return parsed

    # ------------------------------------------------------------- watching
    def start_watching(self) -> None:
        """Re-index created, changed, moved and deleted files as they happen (watchdog)."""
        if self._observer is not None:
            return
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency
            log.warning("watchdog unavailable; the index will not follow file changes")
            return
        events = self._events

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write", "closed"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a file inside changed: that file has its own event
                src = os.fsdecode(event.src_path)
                dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else None
                events.put((event.event_type, src, dest))

        observer = Observer()
        handler = _Handler()
        for root in self.roots:
            try:
                observer.schedule(handler, str(root), recursive=True)
            except OSError as exc:
                log.warning("cannot watch %s: %s", root, exc)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._stopping.clear()
        self._worker = threading.Thread(target=self._drain_events, name="codehearth-index-watch", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            timer, self._pending_timer = self._pending_timer, None
            self._pending.clear()
        if timer is not None:
            timer.cancel()
        observer, self._observer = self._observer, None
        if observer is not None:
            with contextlib.suppress(Exception):
                observer.stop()
                observer.join(timeout=2)
        worker, self._worker = self._worker, None
        if worker is not None:
            self._events.put(("stop", "", None))
            worker.join(timeout=2)

    def _drain_events(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            time.sleep(WATCH_DEBOUNCE_S)
            while True:
                try:
                    batch.append(self._events.get_nowait())
                except queue.Empty:
                    break
            paths: dict[str, None] = {}
            rules_changed = False
            for kind, src, dest in batch:
                if kind == "stop":
                    return
                for p in (src, dest):
                    if p:
                        if os.path.basename(p) == ".gitignore":
                            rules_changed = True
                        paths[p] = None
            if rules_changed:
                self._ignore.clear()
                try:
                    self.scan()  # what is ignored changed: bring the whole index in line
                except Exception as exc:
                    log.warning("index: rescan after a .gitignore change failed: %s", exc)
            for p in paths:
                try:
                    self._apply_path_change(Path(p))
                except Exception as exc:
                    log.warning("index: update for %s failed: %s", p, exc)

    def _apply_path_change(self, path: Path) -> None:
        if path.is_dir() and not path.is_symlink():
            try:
                resolved = path.resolve()
            except (OSError, RuntimeError):
                return
            root = self.root_of(resolved)
            if root is None or not self._name_allowed(root, resolved, is_dir=True):
                return
            for dirpath, dirnames, filenames in os.walk(resolved, followlinks=False):
                folder = Path(dirpath)
                dirnames[:] = [
                    d
                    for d in dirnames
                    if not (folder / d).is_symlink() and self._name_allowed(root, folder / d, is_dir=True)
                ]
                for name in filenames:
                    if languages.language_for_path(name) is not None:
                        self.refresh(folder / name)
            return
        if not path.exists() and not path.is_symlink():
            self.remove(path)
            return
        if languages.language_for_path(path) is not None:
            self.refresh(path)


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


def _log_walk_error(exc: OSError) -> None:
    log.debug("index: walk error %s", exc)
