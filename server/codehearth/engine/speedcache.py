"""The one per-machine cache of measured model speed: what calibration at load writes and `auto` reads.

One JSON file, ``speed.json`` in the user cache folder. Each entry is keyed by everything that changes the rates —
this machine, the model file, context size, batch size, GPU layers, thread count and llama.cpp version — and
holds either the rates measured at that thread count or, under thread count 0, the thread count that measured
fastest (with the trials). Calibration at model load (``engine/calibrate.py``) and
``codehearth models recommend --measure`` (which runs the same calibration) write it; calibration reads its own
exact key back, so a restart does not measure again; model selection (``models/selection.py``) reads the best
entry for a model file on this machine through :meth:`SpeedCache.figures_for`. So a load feeds `auto` and a
``--measure`` seeds the next load.

Writers in several processes (every benchmark row spawns a server that calibrates) take an exclusive ``fcntl`` lock
on ``speed.json.lock`` around the read-modify-write, and the new file replaces the old atomically (a temp file
and ``os.replace``), so no entry is lost and no reader sees half a file.

A file in any other shape (an older format, a truncated write, not JSON) reads as empty and is replaced on the
next write: it is a cache, a lost entry costs one calibration of well under a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec

from codehearth.config import EngineSettings, cache_dir
from codehearth.engine.speed import SpeedFigures

log = logging.getLogger(__name__)

FILE_NAME = "speed.json"
FORMAT_VERSION = 2
MAX_ENTRIES = 256  # the oldest go first: every model file, setting and llama.cpp upgrade adds entries
AUTO_THREADS = 0  # the key's thread count for the entry that holds the measured choice of thread count


def machine_key() -> str:
    """What makes one machine's speed differ from another's: host name, CPU model, core count."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}|{cpu}|{os.cpu_count()}"


def model_identity(path: Path | str) -> str:
    """A model file by name and size: a copy or a re-download of the same quantized file keeps its figures,
    another quantization (another size) or another file name does not. Hashing would read the whole file."""
    p = Path(path)
    try:
        return f"{p.name}|{p.stat().st_size}"
    except OSError:
        return f"{p.name}|?"


def llama_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "?"


class SpeedKey(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    machine: str
    model: str  # model_identity()
    n_ctx: int
    n_batch: int
    n_gpu_layers: int
    threads: int  # AUTO_THREADS: the entry holds the measured thread choice, not rates
    llama: str


def speed_key(path: Path | str, settings: EngineSettings, n_ctx: int, threads: int) -> SpeedKey:
    """The key of a measurement of ``path`` run with ``settings`` in a context of ``n_ctx`` tokens."""
    return SpeedKey(machine=machine_key(), model=model_identity(path), n_ctx=n_ctx, n_batch=settings.n_batch,
                    n_gpu_layers=settings.n_gpu_layers, threads=threads, llama=llama_version())


class SpeedEntry(msgspec.Struct, kw_only=True, rename="camel"):
    key: SpeedKey
    figures: SpeedFigures | None = None  # the rates at key.threads
    chosen_threads: int = 0  # under AUTO_THREADS: the thread count that measured fastest
    thread_trials: dict[str, float] = msgspec.field(default_factory=dict)  # thread count -> typical keystroke ms
    measured_at: float = 0.0


class _SpeedFile(msgspec.Struct, kw_only=True):
    version: int
    entries: list[SpeedEntry] = msgspec.field(default_factory=list)


_write_lock = threading.Lock()  # two engines of one process calibrating at once must not lose an entry


class SpeedCache:
    """The cache file; every call reads it afresh (it is small), so other processes' measurements count."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME

    def entries(self) -> list[SpeedEntry]:
        try:
            data = msgspec.json.decode(self.path.read_bytes(), type=_SpeedFile)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return []  # missing, truncated, not JSON, or an older format (a dict of string keys)
        return data.entries if data.version == FORMAT_VERSION else []

    def get(self, key: SpeedKey) -> SpeedEntry | None:
        return next((e for e in self.entries() if e.key == key), None)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads (a lock) and other processes (``flock`` on a side file) one at a time."""
        with _write_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    def put(self, entry: SpeedEntry) -> None:
        try:
            with self._locked():
                self._put(entry)
        except OSError:  # a read-only cache folder costs a calibration next time, nothing more
            log.warning("cannot write speed figures to %s", self.path, exc_info=True)

    def _put(self, entry: SpeedEntry) -> None:
        """Under the lock: read, add, write a temp file, replace (readers see the old file or the new one)."""
        entries = [e for e in self.entries() if e.key != entry.key]
        entries.append(entry)
        entries.sort(key=lambda e: e.measured_at)
        data = _SpeedFile(version=FORMAT_VERSION, entries=entries[-MAX_ENTRIES:])
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=1))
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def figures_for(self, path: Path | str, settings: EngineSettings) -> SpeedFigures | None:
        """This machine's measured rates for a model file, as model selection wants them.

        Only this machine and this file count, and with an explicit ``nThreads`` only that thread count. Then,
        in order: the same GPU offload, the thread count the engine would run with (``nThreads``, else the count
        calibration chose for this file), the same context size, batch size and llama.cpp version, the newest.
        A figure measured at another context size is still far better than an estimate from the file size.
        """
        machine, model = machine_key(), model_identity(path)
        mine = [e for e in self.entries() if e.key.machine == machine and e.key.model == model]
        version = llama_version()

        def closeness(e: SpeedEntry) -> tuple[bool, bool, bool, bool, float]:
            k = e.key
            return (k.n_gpu_layers == settings.n_gpu_layers, k.n_ctx == settings.n_ctx,
                    k.n_batch == settings.n_batch, k.llama == version, e.measured_at)

        threads = settings.n_threads
        if not threads:
            choices = [e for e in mine if e.key.threads == AUTO_THREADS and e.chosen_threads > 0]
            threads = max(choices, key=closeness).chosen_threads if choices else 0
        measured = [e for e in mine if e.figures is not None and e.key.threads > 0
                    and (not settings.n_threads or e.key.threads == settings.n_threads)]
        if not measured:
            return None
        best = max(measured, key=lambda e: (e.key.n_gpu_layers == settings.n_gpu_layers, e.key.threads == threads,
                                            *closeness(e)[1:]))
        return best.figures
