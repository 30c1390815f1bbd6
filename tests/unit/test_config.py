from __future__ import annotations

from pathlib import Path

from codehearth.config import Settings, merge_settings, settings_from_tree, settings_schema


def test_defaults_are_complete() -> None:
    s = Settings()
    assert s.model_id() == "smollm2-135m-instruct"
    assert s.latency_budget_ms > 0 and s.engine.kind == "embedded"


def test_invalid_values_fall_back_one_by_one() -> None:
    s, problems = settings_from_tree(
        {"latencyBudgetMs": "fast", "engine": {"nGpuLayers": "all", "nCtx": 2048}, "logLevel": "loud", "model": "x"}
    )
    assert s.latency_budget_ms == Settings().latency_budget_ms
    assert s.engine.n_gpu_layers == 0 and s.engine.n_ctx == 2048
    assert s.log_level == "info" and s.model == "x"
    paths = sorted(p.path for p in problems)
    assert paths == ["$.engine.nGpuLayers", "$.latencyBudgetMs", "$.logLevel"]
    assert all("using its default" in str(p) for p in problems)


def test_sources_merge_in_priority_order(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('model = "from-user"\nlatencyBudgetMs = 100\ndebounceMs = 7\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".codehearth.toml").write_text('latencyBudgetMs = 200\n[engine]\nnCtx = 1024\n')
    s, problems = merge_settings(
        [ws],
        init_options={"codehearth": {"latencyBudgetMs": 300, "engine": {"nGpuLayers": -1}}},
        client_settings={"latencyBudgetMs": 400},
        user_config=user,
    )
    assert not problems
    assert s.model == "from-user" and s.debounce_ms == 7
    assert s.engine.n_ctx == 1024 and s.engine.n_gpu_layers == -1
    assert s.latency_budget_ms == 400


def test_broken_settings_file_is_reported_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    s, problems = merge_settings([], user_config=bad)
    assert s == Settings()
    assert problems and "unreadable settings file" in str(problems[0])


def test_schema_has_wire_names() -> None:
    schema = settings_schema()
    props = schema["$defs"]["Settings"]["properties"]
    assert "latencyBudgetMs" in props and "engine" in props


def test_numbers_past_their_bounds_fall_back_with_one_message_each() -> None:
    # latencyBudgetMs 10^9 or maxTokens 10^7 would make one request run for minutes (issue 14's fuzz).
    settings, problems = settings_from_tree({"latencyBudgetMs": 10**9, "debounceMs": -1, "maxTokensMultiLine": 10**7,
                                             "explain": {"maxTokens": 0}, "keepGeneratingMs": 100})
    assert (settings.latency_budget_ms, settings.debounce_ms, settings.max_tokens_multi_line,
            settings.explain.max_tokens, settings.keep_generating_ms) == (2000, 0, 96, 384, 100)
    assert [str(p) for p in problems] == [
        "setting $.latencyBudgetMs: Expected `int` <= 60000; using its default",
        "setting $.debounceMs: Expected `int` >= 0; using its default",
        "setting $.maxTokensMultiLine: Expected `int` <= 8192; using its default",
        "setting $.explain.maxTokens: Expected `int` >= 1; using its default",
    ]


def test_a_lone_surrogate_in_a_setting_falls_back() -> None:
    settings, problems = settings_from_tree({"model": "\ud800", "disabledLanguages": ["go", "\udc80"],
                                             "explain": {"maxTokens": 9}})
    assert (settings.model, settings.disabled_languages, settings.explain.max_tokens) == (Settings().model, [], 9)
    assert [str(p) for p in problems] == [
        "setting $.model: not valid Unicode (a lone surrogate); using its default",
        "setting $.disabledLanguages: not valid Unicode (a lone surrogate); using its default",
    ]
