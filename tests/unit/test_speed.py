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
    # a longer context not measured yet plans with the nearest shorter bucket, never the (stale) calibration
    assert model.figures(3000) is near
    model.update(3000, Sample(evaluated=100, prefill_ms=1000.0, generated=10, decode_ms=1000.0))  # 100/s, 10/s
    far = model.figures(3000)
    assert far.prompt_tokens_per_s == 0.8 * near.prompt_tokens_per_s + 0.2 * 100  # continues from the nearest
    assert model.figures(100) is near  # a longer context's rates never speak for a shorter one
    assert context_bucket(300) == 512 and context_bucket(3000) == 4096
    assert model.updates == 2


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


def test_requests_that_disprove_a_calibration_made_under_load_replace_it_in_the_cache(tmp_path: Path) -> None:
    # The editor benchmark's server calibrated 3.8 generated tokens/s under load; the machine does 80 when quiet.
    loaded = SpeedFigures(prompt_tokens_per_s=27.8, generated_tokens_per_s=3.8, threads=2, n_ctx=4096)
    model = SpeedModel(loaded)
    quiet = Sample(evaluated=40, prefill_ms=400.0, generated=8, decode_ms=100.0)  # 100/s, 80/s
    model.update(600, quiet)
    model.update(600, quiet)
    assert model.disproved_calibration() is None  # two samples: maybe a fluke
    model.update(600, quiet)
    better = model.disproved_calibration()
    assert better is not None and better.generated_tokens_per_s > 3 * 3.8 and better.prompt_tokens_per_s > 27.8
    assert (better.threads, better.n_ctx, better.source) == (2, 4096, "requests")
    # what the engine writes back under the calibration's key; the next load reads it instead of 3.8
    cache = SpeedCache(tmp_path / "speed.json")
    cache.put(SpeedEntry(key=key(2), figures=better, measured_at=6.0))
    again = calibrate(FakeProbe(), 2, 4096, cache, key(2))  # type: ignore[arg-type]
    assert again.source == "cache" and again.generated_tokens_per_s == better.generated_tokens_per_s


def test_requests_slower_than_the_calibration_never_replace_it() -> None:
    model = SpeedModel(BASE)  # 10 generated tokens/s
    for _ in range(10):
        model.update(600, Sample(evaluated=40, prefill_ms=4000.0, generated=8, decode_ms=4000.0))  # 2/s: a busy day
    assert model.disproved_calibration() is None
    model = SpeedModel(BASE)
    for _ in range(10):
        model.update(600, Sample(evaluated=40, prefill_ms=400.0, generated=8, decode_ms=400.0))  # 20/s: within 3x
    assert model.disproved_calibration() is None


def test_the_engine_writes_a_disproved_calibration_back_once(tmp_path: Path) -> None:
    from codehearth.engine.llama import LlamaEngine

    cache = SpeedCache(tmp_path / "speed.json")
    engine = LlamaEngine.__new__(LlamaEngine)  # no model: only the speed bookkeeping
    engine.speed = SpeedModel(SpeedFigures(prompt_tokens_per_s=27.8, generated_tokens_per_s=3.8, threads=2))
    engine._calibrated_as = (cache, key(2))
    engine._correct_calibration()
    assert cache.get(key(2)) is None  # nothing measured yet
    for _ in range(3):
        engine.speed.update(600, Sample(evaluated=40, prefill_ms=400.0, generated=8, decode_ms=100.0))
        engine._correct_calibration()
    entry = cache.get(key(2))
    assert entry is not None and entry.figures is not None and entry.figures.generated_tokens_per_s > 3 * 3.8
    cache.put(SpeedEntry(key=key(2), figures=BASE, measured_at=7.0))
    engine.speed.update(600, Sample(evaluated=40, prefill_ms=400.0, generated=8, decode_ms=100.0))
    engine._correct_calibration()
    assert cache.get(key(2)) == SpeedEntry(key=key(2), figures=BASE, measured_at=7.0)  # once per load
