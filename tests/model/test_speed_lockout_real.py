"""The speed lock-out of 4e92ff8, with the real model and the real server over stdio.

A speed figure cached in speed.json from a calibration in a moment of load (SmolLM2 at 3.8 generated tokens/s where
it does 50-100) made every plan "none" at the default 400 ms budget: no generation ran, so nothing measured the rate
again, and the figure came back at every start. Here the poisoned entry is written under the exact key the server
reads back (``engine.nThreads`` pinned to 1, so no thread search), then a user types into a small file. The server
must measure again (a probe, or a late suggestion's generation from the full prompt), answer from the model again
within a bounded number of keystrokes, and write a corrected figure back to speed.json. Before 4e92ff8 the same 40
keystrokes were all empty "no-plan" answers (plan "none") and the figure stayed at 3.8. Counts and sources only (no wall-clock thresholds beyond the harness's timeouts).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.lsp.harness import inline, insert, open_doc, running_server, stats_of

from codehearth.config import EngineSettings
from codehearth.engine.speed import SpeedFigures
from codehearth.engine.speedcache import SpeedCache, SpeedEntry, SpeedKey, speed_key

pytestmark = pytest.mark.model

MODEL_ID = "smollm2-135m-instruct"
POISONED = SpeedFigures(prompt_tokens_per_s=27.8, generated_tokens_per_s=3.8, threads=1, n_ctx=4096,
                        source="calibration")  # the editor benchmark's figure under load
MAX_KEYSTROKES = 40
KEYSTROKE_GAP_S = 0.25  # between an answer and the next keystroke: a steady typist

SOURCE = '''import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius * radius


def circle_circumference(radius):
    """Return the circumference of a circle."""
    return 2 * math.pi * radius


def ring_area(outer, inner):
    """Return the area of a ring."""
'''
TYPED = "    total = circle_area(outer) - circle_area(inner)\n    return total\n"  # more than MAX_KEYSTROKES


def poisoned_key(model: Path) -> SpeedKey:
    """The key the server's calibration reads back: this machine, the model file, the server's n_ctx (the default
    4096), batch size and GPU layers, one thread, this llama.cpp."""
    return speed_key(model, EngineSettings(n_threads=1), 4096, 1)


async def type_along(client: Any, uri: str, cache: SpeedCache, key: SpeedKey) -> list[dict[str, Any]]:
    """One character, then one inline completion, per keystroke; stops once a normally planned model answer came
    and the corrected figure reached speed.json, or after MAX_KEYSTROKES. The per-answer records, in order."""
    line, col, version = SOURCE.count("\n"), 0, 1
    since = (await stats_of(client))["answerSeq"]
    answers: list[dict[str, Any]] = []
    for ch in TYPED[:MAX_KEYSTROKES]:
        version += 1
        insert(client, uri, version, line, col, ch)
        line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
        await inline(client, uri, line, col)
        result = await client.protocol.send_request_async("codehearth/stats", {"answersSince": since})
        records = list(result["answers"])
        answers.extend(records)
        since = max([since, *(r["seq"] for r in records)])
        entry = cache.get(key)
        resumed = any(a["source"] == "model" and a["text"] and a["plan"] != "probe" for a in answers)
        if resumed and entry is not None and entry.figures is not None and entry.figures.source == "requests":
            break
        await asyncio.sleep(KEYSTROKE_GAP_S)
    return answers


@pytest.mark.parametrize("late_suggestions", [False, True], ids=["probe-only", "late-suggestions"])
async def test_a_poisoned_speed_figure_recovers_with_the_real_model(tmp_path: Path, late_suggestions: bool) -> None:
    from codehearth.models.registry import Registry

    model = Registry().pull(MODEL_ID)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "rings.py").write_text(SOURCE)
    server_cache = tmp_path / "cache"
    cache = SpeedCache(server_cache / "speed.json")
    key = poisoned_key(model)
    cache.put(SpeedEntry(key=key, figures=POISONED, measured_at=1.0))

    options = {"latencyBudgetMs": 400, "model": MODEL_ID, "minConfidence": 0.0,  # show whatever the model says
               "lateSuggestions": late_suggestions,
               "engine": {"nThreads": 1, "calibrate": True}}
    uri = (workspace / "rings.py").as_uri()
    async with running_server(workspace, server_cache, init_options=options) as client:
        start = await stats_of(client)
        assert start["state"] == "ready", start
        # the server planned with the poisoned figure read back from speed.json, not with a fresh measurement
        assert start["speed"]["source"] == "cache", start["speed"]
        assert start["speed"]["generatedTokensPerS"] == 3.8 and start["threads"] == 1, start["speed"]
        open_doc(client, uri, SOURCE)
        answers = await type_along(client, uri, cache, key)
        end = await stats_of(client)

    seen = [(a["source"], a["plan"], a["text"]) for a in answers]
    plans = [a["plan"] for a in answers]
    # At 3.8 tokens/s no plan affords the 4 tokens a suggestion needs: until a generation measured the real rate,
    # every answer was an empty "no-plan". Two things generate then: a rate-limited probe, and a late suggestion (the
    # full prompt read and generated from behind a no-plan answer); whichever ran first measured.
    late_started = end["background"]["lateStarted"]
    assert "probe" in plans or late_started > 0, (seen, end["plans"], end["background"], end["speed"])
    if not late_suggestions:  # then only the probe can have measured
        assert "probe" in plans and late_started == 0, (seen, end["background"])
    first_other = next((i for i, a in enumerate(answers) if a["source"] != "no-plan"), len(answers))
    assert 0 < first_other < len(answers), seen
    assert all(not a["text"] and a["plan"] == "none" for a in answers[:first_other]), seen
    # Model answers resume, normally planned (not only the rate-limited probes), within MAX_KEYSTROKES.
    resumed = [i for i, a in enumerate(answers) if a["source"] == "model" and a["text"] and a["plan"] != "probe"]
    assert resumed and resumed[0] >= first_other, (seen, end["speed"])
    assert end["speed"]["updates"] > 0 and end["speed"]["byContext"], end["speed"]
    # The corrected figure replaced the poisoned one in speed.json (only upwards, from >= 3 generation samples), so
    # the next start does not begin locked out again.
    entry = cache.get(key)
    assert entry is not None and entry.figures is not None, cache.entries()
    assert entry.figures.source == "requests", entry
    assert entry.figures.generated_tokens_per_s > POISONED.generated_tokens_per_s, entry
