"""``codehearth eval`` logic on a fake engine: task mining, scoring, resume, --from-stats, the report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes import FakeEngine

from codehearth.config import Settings
from codehearth.evaluate.pipeline import collect_tasks, evaluate
from codehearth.evaluate.runner import StopEval
from codehearth.evaluate.scoring import TaskResult, common_prefix, score
from codehearth.evaluate.store import RESULTS_FILE, ResultStore
from codehearth.evaluate.tasks import KINDS, read_source
from codehearth.evaluate.weights import AcceptanceProfile, KindCounts, StatsError, load_profile, recommend
from codehearth.models.registry import Registry

UTIL = '''"""Helpers used across the package."""


def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value


def scale(values, factor):
    return [v * factor for v in values]


class Counter:
    def __init__(self):
        self.count = 0

    def bump(self, by=1):
        self.count += by
        return self.count
'''

MAIN = '''from pkg.util import Counter, clamp, scale


def normalise(values, low, high):
    clamped = [clamp(v, low, high) for v in values]
    span = high - low
    return scale(clamped, 1 / span)


def tally(items):
    counter = Counter()
    for item in items:
        counter.bump(len(item))
    total = counter.count
    return total
'''

SECRET_CODE = '''def leaked_token(user):
    token = compute_secret(user)
    return token + "x"


def compute_secret(user):
    return user.upper() + user.lower()
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text(UTIL)
    (root / "pkg" / "main.py").write_text(MAIN)
    (root / ".gitignore").write_text("generated/\nscratch.py\n")
    (root / "generated").mkdir()
    (root / "generated" / "gen.py").write_text(SECRET_CODE)
    (root / "scratch.py").write_text(SECRET_CODE)
    (root / "credentials.py").write_text(SECRET_CODE)
    (root / ".env").write_text("API_KEY=sk-live-123456\nPASSWORD=hunter2\n")
    return root


def fake_factory(*_: object) -> FakeEngine:
    return FakeEngine(token_seconds=0.0)


FAKE_A, FAKE_B = "smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"


def fake_models(tmp_path: Path) -> Settings:
    """Settings whose model folder holds the offline pair as sparse GGUF-headed files: enough for the registry and
    the role planner, never for llama.cpp (the fake factory stands in for it)."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    registry = Registry(directory=folder)
    for model_id in (FAKE_A, FAKE_B):
        entry = registry.entry(model_id)
        with (folder / entry.file).open("wb") as fh:
            fh.write(b"GGUF" + bytes(20))
            fh.truncate(entry.size)
    return Settings(model_dir=str(folder))


def test_mining_is_deterministic_and_spreads_over_kinds(repo: Path, tmp_path: Path) -> None:
    settings = Settings()
    first = collect_tasks(repo, settings, 12, seed=7, data_dir=tmp_path / "cache")
    again = collect_tasks(repo, settings, 12, seed=7, data_dir=tmp_path / "cache2")
    other = collect_tasks(repo, settings, 12, seed=8, data_dir=tmp_path / "cache")
    assert [t.id for t in first] == [t.id for t in again]
    assert len(first) == 12
    assert [t.id for t in first] != [t.id for t in other]
    assert {t.kind for t in first} == set(KINDS)
    assert len({(t.path, t.row) for t in first}) == 12  # one task per row
    # the hidden text put back at the cursor gives the file again
    for t in first:
        original = read_source(repo / t.path)
        masked = t.masked_text(original)
        lines = masked.split("\n")
        restored = "\n".join([*lines[: t.row], lines[t.row] + t.hidden, *lines[t.row + 1 :]])
        assert restored.split("\n") == [line.rstrip() if t.row <= i < t.row + t.span else line
                                        for i, line in enumerate(original.split("\n"))]
        assert t.hidden.strip()


def test_cross_file_and_block_tasks_are_what_they_say(repo: Path, tmp_path: Path) -> None:
    tasks = collect_tasks(repo, Settings(), 40, seed=1, data_dir=tmp_path / "cache")
    cross = [t for t in tasks if t.kind == "cross-file"]
    assert cross and all(t.path == "pkg/main.py" and t.callee in {"clamp", "scale", "Counter", "bump"} for t in cross)
    blocks = [t for t in tasks if t.kind == "block"]
    assert blocks
    for t in blocks:
        header = read_source(repo / t.path).split("\n")[t.row - 1]
        assert header.rstrip().endswith(":") and "def " in header


def test_mining_never_picks_ignored_or_secret_files(repo: Path, tmp_path: Path) -> None:
    for seed in range(5):
        tasks = collect_tasks(repo, Settings(), 60, seed=seed, data_dir=tmp_path / "cache")
        assert tasks
        assert {t.path for t in tasks} <= {"pkg/util.py", "pkg/main.py"}
        assert not any("secret" in t.hidden or "hunter2" in t.hidden for t in tasks)


def test_scoring() -> None:
    assert common_prefix("abc + d", "abc - d") == 4
    assert score("x + 1)", "x + 1)", 120.0, 1000) == (True, 6, True)
    assert score("x + 1)\nmore", "x + 2)", 120.0, 1000) == (True, 4, False)
    assert score("x + 1)", "x + 1)", 1200.0, 1000) == (False, 0, False)  # too late to be shown
    assert score("", "x", 10.0, 1000) == (False, 0, False)


@pytest.mark.parametrize("stop", [StopEval, KeyboardInterrupt])
def test_eval_resumes_after_an_interruption(repo: Path, tmp_path: Path, stop: type[BaseException]) -> None:
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_after_three(row: TaskResult) -> None:
        seen.append(row.key)
        if len(seen) == 3:
            raise stop  # as Ctrl-C would, in the middle of the first model

    kwargs = dict(models=[FAKE_A, FAKE_B], budgets=[5000, 9000], count=5, seed=3, out=out,
                  settings=fake_models(tmp_path),
                  engine_factory=fake_factory, data_dir=tmp_path / "cache", progress=False)
    first = evaluate(repo, on_result=stop_after_three, **kwargs)  # type: ignore[arg-type]
    assert first.outcome.interrupted and first.outcome.ran == 3
    assert first.results["complete"] is False
    assert (out / "report.md").exists() and "incomplete run" in (out / "report.md").read_text()

    later: list[str] = []
    second = evaluate(repo, on_result=lambda row: later.append(row.key), **kwargs)  # type: ignore[arg-type]
    total = 2 * 2 * 5
    assert not second.outcome.interrupted
    assert second.outcome.skipped == 3 and second.outcome.ran == total - 3
    assert set(later).isdisjoint(seen) and len(set(later) | set(seen)) == total
    assert ResultStore(out).results.keys() == set(later) | set(seen)
    lines = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
    assert sum(1 for x in lines if x.get("type") != "model") == total

    third = evaluate(repo, on_result=lambda row: later.append(row.key), **kwargs)  # type: ignore[arg-type]
    assert third.outcome.ran == 0 and third.outcome.skipped == total
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is True
    assert [(r["model"], r["budget_ms"], r["tasks"]) for r in results["results"]] == [
        (FAKE_A, 5000, 5), (FAKE_A, 9000, 5), (FAKE_B, 5000, 5), (FAKE_B, 9000, 5)]
    assert results["models"][FAKE_A]["load_ms"] is not None


def test_eval_report_files_on_a_fake_engine(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = evaluate(repo, [FAKE_A], [2000], 8, 0, out, fake_models(tmp_path), engine_factory=fake_factory,
                   data_dir=tmp_path / "cache", progress=False)
    assert (out / "report.md").exists() and (out / "results.json").exists()
    r = run.results["results"][0]
    assert r["tasks"] == 8 and r["shown"] == 1.0  # the fake always answers "pass" at once
    assert sum(s["tasks"] for s in r["by_kind"].values()) == 8
    assert r["by_language"]["python"]["tasks"] == 8
    assert 0.0 <= r["exact"] <= 1.0 and r["latency_p50_ms"] is not None


def test_from_stats_weights_and_recommendation(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({"kinds": {"mid-line": {"shown": 10, "accepted": 5, "acceptedChars": 300},
                                          "block": {"shown": 10, "accepted": 1, "acceptedChars": 100}},
                                "toleratedMs": 1500}))
    profile = load_profile(path)
    assert profile.weights() == {"mid-line": 0.75, "line-start": 0.0, "block": 0.25, "cross-file": 0.0}
    results = [
        {"model": "a", "budget_ms": 1000, "by_kind": {"mid-line": {"useful_chars": 10.0},
                                                       "block": {"useful_chars": 0.0}}},
        {"model": "b", "budget_ms": 1000, "by_kind": {"mid-line": {"useful_chars": 4.0},
                                                       "block": {"useful_chars": 40.0}}},
        {"model": "a", "budget_ms": 3000, "by_kind": {"mid-line": {"useful_chars": 1.0}}},
        {"model": "b", "budget_ms": 3000, "by_kind": {"mid-line": {"useful_chars": 90.0}}},
    ]
    rec = recommend(results, profile)
    assert rec["budget_ms"] == 1000  # 3000 ms is beyond what this user waits for
    assert rec["ranking"] == [{"model": "b", "expected_accepted_chars": 13.0},
                              {"model": "a", "expected_accepted_chars": 7.5}]
    assert rec["best"] == "b"
    assert AcceptanceProfile(kinds={"block": KindCounts()}).weights()["block"] == 0.25
    path.write_text(json.dumps({"kinds": {"everything": {"shown": 1}}}))
    with pytest.raises(StatsError, match="unknown task kinds everything"):
        load_profile(path)


def test_from_stats_reads_the_json_of_codehearth_stats(tmp_path: Path) -> None:
    # the shape `codehearth stats --json` writes: more fields than the profile needs, no cross-file kind
    summary = {"store": "/x/acceptance.sqlite3", "days": None, "total": {"shown": 30},
               "kinds": {"mid-line": {"shown": 20, "accepted": 8, "acceptedChars": 120, "acceptanceRate": 0.4},
                         "line-start": {"shown": 10, "accepted": 2, "acceptedChars": 40},
                         "block": {"shown": 0, "accepted": 0, "acceptedChars": 0}},
               "toleratedMs": 640.0}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(summary))
    profile = load_profile(path)
    assert profile.tolerated_ms == 640.0
    # cross-file lines are line starts to the editor: they share its weight
    assert profile.weights() == {"mid-line": 0.6, "line-start": 0.2, "block": 0.0, "cross-file": 0.2}


def test_from_stats_without_statistics_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEHEARTH_CACHE_DIR", str(tmp_path / "empty-cache"))
    try:
        import codehearth.feedback.stats  # noqa: F401
    except ImportError:
        expected = "this build keeps no acceptance statistics"
    else:
        expected = "no suggestions recorded yet"
    with pytest.raises(StatsError, match=expected):
        load_profile(None)
