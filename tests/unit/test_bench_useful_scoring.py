"""The useful-characters replay's scoring and the recall benchmarks' sampling, without a model; and the names that
other benchmarks import from ``benchmarks.latency.useful`` since it was split into modules."""

from __future__ import annotations

from benchmarks.context.recall import spread
from benchmarks.latency.keystrokes import Answer, Keystroke
from benchmarks.latency.useful_scoring import TRANSPORT_MS, score


def _key(truth: str, line_prefix: str = "    x = ") -> Keystroke:
    return Keystroke("f.py", 3, len(line_prefix), "= ", line_prefix, truth, line_prefix, "")


def test_a_suggestion_counts_only_within_budget_plus_transport_and_is_worth_its_common_prefix() -> None:
    keys = [_key("foo(bar)"), _key("foo(bar)"), _key("foo(bar)"), _key("baz")]
    answers = [
        Answer(400 + TRANSPORT_MS, "foo(bar)\nmore"),  # at the limit: counted, exact, 8 characters
        Answer(401 + TRANSPORT_MS, "foo(bar)"),  # too late
        Answer(10, "foo(x)"),  # shown, 4 characters right
        Answer(None, "baz"),  # no answer
    ]
    got = score(keys, answers, 400)
    assert got == {"useful_chars_per_keystroke": 3.0, "useful_chars": 12, "shown_share": 0.5,
                   "exact_rest_of_line": 0.25}


def test_spread_takes_evenly_and_keeps_a_short_list_whole() -> None:
    items = list(range(10))
    assert spread(items, 20) is items
    assert spread(items, 5) == [0, 2, 4, 6, 8]


def test_useful_keeps_the_names_other_benchmarks_import() -> None:
    import benchmarks.latency.useful as useful

    for name in ("FILES", "SERVER_PRESET", "Answer", "attach_trace", "choose_threads", "llama_server",
                 "markdown", "run_useful", "sent_tokens", "trace_records"):
        assert hasattr(useful, name), name
    assert useful.SERVER_PRESET[:4] == ["-ub", "1024", "-b", "1024"]
