"""The one per-machine speed cache: calibration at load feeds `auto`, `recommend --measure` seeds calibration,
and a file in an old or broken shape never crashes (fake probes and sparse model files: no model is loaded)."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest

from codehearth.config import EngineSettings, Settings
from codehearth.engine import calibrate as calibrate_module
from codehearth.engine import llama as llama_module
from codehearth.engine import speedcache
from codehearth.engine.base import ModelInfo
from codehearth.engine.calibrate import calibrate, choose_threads
from codehearth.engine.speed import SpeedFigures
from codehearth.engine.speedcache import AUTO_THREADS, SpeedCache, SpeedEntry, SpeedKey, speed_key
from codehearth.models.recommend import measure_present
from codehearth.models.registry import Registry
from codehearth.models.selection import measured_lookup, plan

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
N_CTX = 4096  # EngineSettings' default: the context the engine would open


class FakeProbe:
    """(prompt tokens/s, generated tokens/s) per thread count; records what it measured."""

    def __init__(self, rates: dict[int, tuple[float, float]]) -> None:
        self.rates = rates
        self.threads = 0
        self.calls: list[int] = []

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def measure(self, prefill_tokens: int = 16, box_s: float | None = None) -> tuple[float, float]:
        self.calls.append(self.threads)
        return self.rates[self.threads]


@pytest.fixture(autouse=True)
def no_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the user's own speed cache: fake figures there would steer real loads and `auto`."""
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """The real manifest with the offline pair present: GGUF-headed sparse files of their real sizes."""
    directory = tmp_path / "models"
    directory.mkdir()
    reg = Registry(directory=directory)
    for model_id in (SMOL, QWEN):
        entry = reg.entry(model_id)
        with (directory / entry.file).open("wb") as fh:
            fh.write(b"GGUF" + bytes(28))
            fh.truncate(entry.size)
    return reg


def load_calibration(path: Path, cache: SpeedCache, probe: FakeProbe, fresh: bool = False) -> SpeedFigures:
    """What LlamaEngine.calibrate does at load with default settings (nThreads 0), on a fake probe."""
    settings = EngineSettings()
    threads, _ = choose_threads(probe, cache, speed_key(path, settings, N_CTX, AUTO_THREADS),  # type: ignore[arg-type]
                                cpus=2, fresh=fresh)
    return calibrate(probe, threads, N_CTX, cache, speed_key(path, settings, N_CTX, threads),  # type: ignore[arg-type]
                     fresh=fresh)


def test_a_calibration_at_load_feeds_auto(registry: Registry, tmp_path: Path) -> None:
    cache = SpeedCache(tmp_path / "speed.json")
    settings = Settings(model_dir=str(registry.directory), latency_budget_ms=400, explain_first_chunk_ms=4000)
    smol, qwen = (registry.directory / registry.entry(m).file for m in (SMOL, QWEN))
    # Nothing measured yet: `auto` goes by estimates from the file sizes.
    before = plan(settings, registry, measured_lookup(settings, cache), ram_mb=24000)
    assert before.completion is not None and "(estimate," in before.completion.reason
    # A slow machine: one thread is far faster than two; Qwen's keystroke 8/250 + 12/18 s = 699 ms > 400 ms.
    load_calibration(smol, cache, FakeProbe({1: (800.0, 90.0), 2: (900.0, 9.0)}))
    load_calibration(qwen, cache, FakeProbe({1: (250.0, 18.0), 2: (260.0, 2.0)}))
    slow = plan(settings, registry, measured_lookup(settings, cache), ram_mb=24000)
    assert slow.completion is not None and slow.completion.model == SMOL
    assert "typical keystroke 143 ms (measured, 90 tokens/s)" in slow.completion.reason
    # The same files measured again faster (a `recommend --measure` on a quieter machine): Qwen now fits.
    load_calibration(qwen, cache, FakeProbe({1: (2500.0, 120.0), 2: (2600.0, 12.0)}), fresh=True)
    fast = plan(settings, registry, measured_lookup(settings, cache), ram_mb=24000)
    assert fast.completion is not None and fast.completion.model == QWEN
    assert "typical keystroke 103 ms (measured, 120 tokens/s)" in fast.completion.reason


def test_figures_follow_the_thread_count_the_engine_would_use(tmp_path: Path) -> None:
    cache = SpeedCache(tmp_path / "speed.json")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    auto = EngineSettings()
    one = SpeedFigures(prompt_tokens_per_s=40.0, generated_tokens_per_s=14.0, threads=1, n_ctx=N_CTX)
    two = SpeedFigures(prompt_tokens_per_s=45.0, generated_tokens_per_s=2.0, threads=2, n_ctx=N_CTX)
    cache.put(SpeedEntry(key=speed_key(model, auto, N_CTX, 2), figures=two, measured_at=2.0))
    assert cache.figures_for(model, auto) == two  # no thread choice cached yet: whatever was measured
    cache.put(SpeedEntry(key=speed_key(model, auto, N_CTX, 1), figures=one, measured_at=1.0))
    assert cache.figures_for(model, auto) == two  # still no choice: the newest measurement
    cache.put(SpeedEntry(key=speed_key(model, auto, N_CTX, AUTO_THREADS), chosen_threads=1, measured_at=3.0))
    assert cache.figures_for(model, auto) == one  # the count calibration chose for this file
    assert cache.figures_for(model, EngineSettings(n_threads=2)) == two  # an explicit nThreads wins
    assert cache.figures_for(model, EngineSettings(n_threads=4)) is None  # never measured at 4
    # Another context size is still this file measured here (far better than an estimate from its size).
    assert cache.figures_for(model, EngineSettings(n_ctx=1024)) == one
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(60))
    assert cache.figures_for(other, auto) is None
    elsewhere = msgspec.structs.replace(speed_key(other, auto, N_CTX, 1), machine="another laptop|cpu|8")
    cache.put(SpeedEntry(key=elsewhere, figures=one, measured_at=4.0))
    assert cache.figures_for(other, auto) is None  # a shared cache folder: another machine's figures don't count


class FakeContext:
    """Stands in for a llama.cpp context on the shared model in LlamaEngine (the probe is faked too)."""

    def __init__(self, n_ctx: int) -> None:
        self.n_ctx = n_ctx

    def set_threads(self, threads: int) -> None:
        pass

    def close(self) -> None:
        pass


class FakeNativeModel:
    """Stands in for the one llama.cpp model both roles' contexts share."""

    def __init__(self, path: Path, n_gpu_layers: int = 0) -> None:
        self.path = path

    def context(self, label: str, n_ctx: int, n_batch: int, threads: int) -> FakeContext:
        return FakeContext(n_ctx)

    def close(self) -> None:
        pass


def test_recommend_measure_seeds_the_calibration_at_load(registry: Registry, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[FakeProbe] = []

    def new_probe(llm: object) -> FakeProbe:
        probes.append(FakeProbe({1: (300.0, 30.0), 2: (320.0, 3.0)}))
        return probes[-1]

    monkeypatch.setattr(llama_module, "NativeModel", FakeNativeModel)
    monkeypatch.setattr(llama_module.LlamaEngine, "_read_model_info",
                        lambda self: ModelInfo(name="m", family="llama", architecture="llama"))
    monkeypatch.setattr(calibrate_module, "Probe", new_probe)
    monkeypatch.setattr(calibrate_module.os, "cpu_count", lambda: 2)
    settings = Settings(model_dir=str(registry.directory))
    out = io.StringIO()
    measure_present(registry, settings, out)  # `codehearth models recommend --measure`
    assert [p.calls for p in probes] == [[1, 2, 1], [1, 2, 1]]  # per model: thread trials, then calibration
    assert f"measuring {SMOL}...\n  300.0 prompt tokens/s, 30.0 generated tokens/s on 1 threads\n" in out.getvalue()
    assert (tmp_path / "cache" / "speed.json").is_file()
    # The server's load of the same file reads it back: no measurement, the same rates and thread count.
    qwen = registry.directory / registry.entry(QWEN).file
    engine = llama_module.LlamaEngine(qwen, settings.engine)
    assert probes[-1].calls == [] and engine.threads == 1
    assert engine.speed is not None and engine.speed.calibrated.source == "cache"
    assert engine.speed.calibrated.prompt_tokens_per_s == 300.0
    # And `auto` reads the same figures.
    figures = measured_lookup(settings)(registry.entry(QWEN), qwen)
    assert figures is not None and (figures.generated_tokens_per_s, figures.threads) == (30.0, 1)


OLD_SHAPES = [
    # the engine's speed.json before the caches were one: a dict of "machine|model|ctx..." strings
    b'{"host|cpu|2|m.gguf|100|1700000000|ctx4096|batch256|gpu0|threads1|llama0.3.36": '
    b'{"figures": {"promptTokensPerS": 37.0, "generatedTokensPerS": 14.0}, "measured_at": 1.0}}',
    b"{not json",
    b'{"version": 2, "entries": [{"key": 5}]}',
    b'{"version": 3, "entries": []}',
    b"[]",
    b"",
    b"\xff\xfe\x00",
]


@pytest.mark.parametrize("content", OLD_SHAPES)
def test_an_old_or_broken_cache_file_reads_as_empty_and_is_replaced(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "speed.json"
    path.write_bytes(content)
    cache = SpeedCache(path)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    assert cache.entries() == [] and cache.figures_for(model, EngineSettings()) is None
    probe = FakeProbe({1: (37.0, 14.0), 2: (40.0, 2.0)})
    first = load_calibration(model, cache, probe)  # measures as if nothing were cached, and writes the new format
    assert first.source == "calibration" and first.threads == 1 and probe.calls == [1, 2, 1]
    assert load_calibration(model, cache, FakeProbe({})).source == "cache"
    assert cache.figures_for(model, EngineSettings()) == first


def test_the_old_figures_file_of_model_selection_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "speed-figures.json").write_text('{"m.gguf:64:t1": {"promptTokensPerS": 1, "generatedTokensPerS": 1}}')
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    assert SpeedCache(tmp_path / "speed.json").figures_for(model, EngineSettings()) is None


def test_an_unwritable_cache_costs_a_measurement_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    cache = SpeedCache(tmp_path / "not-a-folder" / "speed.json")
    key = SpeedKey(machine="m", model="f|1", n_ctx=N_CTX, n_batch=256, n_gpu_layers=0, threads=1, llama="x")
    figures = calibrate(FakeProbe({1: (37.0, 14.0)}), 1, N_CTX, cache, key)  # type: ignore[arg-type]
    assert figures.source == "calibration" and cache.get(key) is None


def test_the_oldest_entries_go_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speedcache, "MAX_ENTRIES", 3)
    cache = SpeedCache(tmp_path / "speed.json")
    keys = [SpeedKey(machine="m", model=f"f{i}|1", n_ctx=N_CTX, n_batch=256, n_gpu_layers=0, threads=1, llama="x")
            for i in range(4)]
    for i, key in enumerate(keys):
        cache.put(SpeedEntry(key=key, chosen_threads=1, measured_at=float(i)))
    assert [e.key for e in cache.entries()] == keys[1:]


def test_gpu_figures_for_a_gpu_setting(tmp_path: Path) -> None:
    cache = SpeedCache(tmp_path / "speed.json")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    cpu, gpu = EngineSettings(), EngineSettings(n_gpu_layers=-1)
    on_cpu = SpeedFigures(prompt_tokens_per_s=40.0, generated_tokens_per_s=14.0, threads=1, n_ctx=N_CTX)
    on_gpu = SpeedFigures(prompt_tokens_per_s=4000.0, generated_tokens_per_s=140.0, threads=2, n_ctx=N_CTX)
    cache.put(SpeedEntry(key=speed_key(model, cpu, N_CTX, AUTO_THREADS), chosen_threads=1, measured_at=1.0))
    cache.put(SpeedEntry(key=speed_key(model, cpu, N_CTX, 1), figures=on_cpu, measured_at=2.0))
    cache.put(SpeedEntry(key=speed_key(model, gpu, N_CTX, 2), figures=on_gpu, measured_at=3.0))
    # the CPU's thread choice does not make a GPU set-up read CPU figures, nor the other way round
    assert cache.figures_for(model, gpu) == on_gpu
    assert cache.figures_for(model, cpu) == on_cpu
