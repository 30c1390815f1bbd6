"""The speed model: calibration figures, the moving average per context length, the per-machine cache and the
measured choice of thread count (with a fake probe: no model, no clock)."""

from __future__ import annotations

from pathlib import Path

from codehearth.engine.calibrate import calibrate, choose_threads
from codehearth.engine.speed import (
    Sample,
    SpeedFigures,
    SpeedModel,
    context_bucket,
    typical_keystroke_ms,
)
from codehearth.engine.speedcache import AUTO_THREADS, SpeedCache, SpeedEntry, SpeedKey

BASE = SpeedFigures(prompt_tokens_per_s=100.0, generated_tokens_per_s=10.0, threads=1, n_ctx=4096)


def key(threads: int, model: str = "model.gguf|1000") -> SpeedKey:
    return SpeedKey(machine="machine", model=model, n_ctx=2048, n_batch=256, n_gpu_layers=0, threads=threads,
                    llama="0.3")


def test_requests_update_their_context_bucket_only() -> None:
    model = SpeedModel(BASE)
    model.update(300, Sample(evaluated=200, prefill_ms=1000.0, generated=10, decode_ms=500.0))  # 200/s, 20/s
    near = model.figures(100)
    assert near.source == "requests"
    assert near.prompt_tokens_per_s == 0.8 * 100 + 0.2 * 200
    assert near.generated_tokens_per_s == 0.8 * 10 + 0.2 * 20
    assert model.figures(3000) is BASE  # another context length: still the calibration
    assert context_bucket(300) == 512 and context_bucket(3000) == 4096
    assert model.updates == 1


def test_tiny_samples_measure_overhead_and_are_ignored() -> None:
    model = SpeedModel(BASE)
    model.update(100, Sample(evaluated=2, prefill_ms=50.0, generated=1, decode_ms=80.0))
    assert model.figures(100) is BASE and model.updates == 0


def test_describe_for_stats() -> None:
    d = SpeedModel(BASE).describe()
    assert d["promptTokensPerS"] == 100.0 and d["generatedTokensPerS"] == 10.0 and d["threads"] == 1
    assert d["typicalKeystrokeMs"] == round(typical_keystroke_ms(BASE), 1) == 1280.0


class FakeProbe:
    """Rates per thread count, as a busy 2-core laptop shows them: two threads far slower to decode."""

    def __init__(self) -> None:
        self.threads = 0
        self.calls: list[int] = []
        self.rates = {1: (37.0, 14.0), 2: (40.0, 2.0)}

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def measure(self, prefill_tokens: int = 16, box_s: float | None = None) -> tuple[float, float]:
        self.calls.append(self.threads)
        return self.rates[self.threads]


def test_thread_count_is_measured_once_and_cached(tmp_path: Path) -> None:
    cache = SpeedCache(tmp_path / "speed.json")
    probe = FakeProbe()
    threads, trials = choose_threads(probe, cache, key(AUTO_THREADS), cpus=2)  # type: ignore[arg-type]
    assert threads == 1 and sorted(trials) == ["1", "2"] and probe.calls == [1, 2]
    again = FakeProbe()
    assert choose_threads(again, cache, key(AUTO_THREADS), cpus=2)[0] == 1  # type: ignore[arg-type]
    assert again.calls == []  # a restart does not measure again
    fresh = FakeProbe()
    fresh.rates = {1: (40.0, 10.0), 2: (80.0, 20.0)}  # `recommend --measure` measures again, and is kept
    assert choose_threads(fresh, cache, key(AUTO_THREADS), cpus=2, fresh=True)[0] == 2  # type: ignore[arg-type]
    assert fresh.calls == [1, 2]
    entry = cache.get(key(AUTO_THREADS))
    assert entry is not None and entry.chosen_threads == 2 and entry.figures is None


def test_more_threads_win_only_when_clearly_faster(tmp_path: Path) -> None:
    probe = FakeProbe()
    probe.rates = {1: (40.0, 10.0), 2: (80.0, 20.0)}
    assert choose_threads(probe, None, key(AUTO_THREADS), cpus=2)[0] == 2  # type: ignore[arg-type]
    probe.rates = {1: (40.0, 10.0), 2: (42.0, 10.5)}
    assert choose_threads(probe, None, key(AUTO_THREADS), cpus=2)[0] == 1  # type: ignore[arg-type]


def test_calibration_is_cached_per_key(tmp_path: Path) -> None:
    cache = SpeedCache(tmp_path / "speed.json")
    probe = FakeProbe()
    first = calibrate(probe, 1, 2048, cache, key(1), clock=lambda: 5.0)  # type: ignore[arg-type]
    assert (first.prompt_tokens_per_s, first.generated_tokens_per_s, first.source) == (37.0, 14.0, "calibration")
    second = calibrate(FakeProbe(), 1, 2048, cache, key(1))  # type: ignore[arg-type]
    assert second.source == "cache" and second.prompt_tokens_per_s == 37.0
    assert probe.calls == [1]
    assert cache.get(key(1)) == SpeedEntry(key=key(1), figures=first, measured_at=5.0)
    assert cache.get(key(2)) is None and cache.get(key(1, model="other.gguf|1000")) is None
    third = calibrate(FakeProbe(), 1, 2048, cache, key(1), fresh=True)  # type: ignore[arg-type]
    assert third.source == "calibration"  # `recommend --measure` measures again
