"""The README's editor tables say how each codehearth row ran: a first start, or speeds measured first."""

from __future__ import annotations

from typing import Any

from benchmarks.readme_tables import editor_table


def _row(kind: str, model: str | None, budget: int | None) -> dict[str, Any]:
    summary = {"useful_per_keystroke": 5.0, "shown_share": 0.5, "wrong_share": 0.1, "exact_share": 0.4,
               "saved_per_100": 30.0}
    return {"kind": kind, "model": model, "budget_ms": budget, "model_used": model or "smollm2-135m-instruct",
            "threads": 1, "settings": {}, "summary": {"all": summary, "test": summary, "tuning": summary}}


def test_rows_are_labelled_by_how_the_server_started() -> None:
    result = {"started": "2026-12-07T16:00:00Z", "git_commit": "0123456789abc", "threads": 1,
              "machine": {"cpu": "AMD EPYC", "cores": 2, "loadavg_start": [0.5]},
              "config": {"default_budget_ms": 2000},
              "cadences": {"250": {"rows": {
                  "measured": _row("codehearth", None, None) | {"model_used": "qwen2.5-coder-0.5b-instruct"},
                  "defaults@400": _row("codehearth", None, 400),
                  "qwen2.5-coder-0.5b-instruct@1000": _row("codehearth", "qwen2.5-coder-0.5b-instruct", 1000)}}}}
    table = editor_table(result, "editor-measured")
    assert ("| codehearth defaults (`auto` → qwen2.5-coder-0.5b-instruct, default 2000 ms, 1 thread(s), speeds "
            "measured first as `make run` does) | 250 ms |") in table
    assert "| codehearth `auto` → smollm2-135m-instruct at 400 ms (1 thread(s)) | 250 ms |" in table
    assert "| codehearth qwen2.5-coder-0.5b-instruct at 1000 ms (1 thread(s)) | 250 ms |" in table
