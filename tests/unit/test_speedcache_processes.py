"""speed.json is updated atomically across processes: two processes writing at once lose no entry."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from codehearth.engine.speedcache import SpeedCache, SpeedEntry, SpeedKey

WRITES = 40


def key(writer: int, n: int) -> SpeedKey:
    return SpeedKey(machine="m", model=f"w{writer}-{n}.gguf|1", n_ctx=2048, n_batch=256, n_gpu_layers=0, threads=1,
                    llama="x")


def write_many(path: str, writer: int, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    cache = SpeedCache(path)
    start.wait(30)
    for n in range(WRITES):
        cache.put(SpeedEntry(key=key(writer, n), measured_at=float(n)))


def test_two_processes_writing_at_once_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "speed.json"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    writers = [ctx.Process(target=write_many, args=(str(path), w, start)) for w in (1, 2)]
    for p in writers:
        p.start()
    start.set()
    for p in writers:
        p.join(120)
        assert p.exitcode == 0
    entries = SpeedCache(path).entries()
    assert len(entries) == 2 * WRITES
    assert {e.key for e in entries} == {key(w, n) for w in (1, 2) for n in range(WRITES)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speed.json", "speed.json.lock"]  # no temp file left

