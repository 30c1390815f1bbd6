"""The confidence analysis of the editor benchmark (benchmarks/editor/confidence.py), on synthetic readings: a ghost
text is traced to the answer it shows, also while the person types into it, and hiding is simulated per threshold."""

from __future__ import annotations

from benchmarks.editor import passages as passages_mod
from benchmarks.editor.confidence import attach, curve, full_readings, gated, parse_confidences


def test_an_answer_line_is_parsed_with_its_text_and_confidence() -> None:
    log = ('[ERROR][x] rpc "stderr" "DEBUG codehearth: completion model in 120 ms at 98:8 plan=full rung=0 '
           "evaluated=3 generated=5 prompt=600: 'to_rgb(h, l, s):' conf=-0.512/-0.100 held=sd hidden=0\\n\"")
    (answer,) = parse_confidences(log)
    assert (answer["line"], answer["character"], answer["text"]) == (98, 8, "to_rgb(h, l, s):")
    assert (answer["min"], answer["mean"], answer["held"]) == (-0.512, -0.1, "sd")
    assert answer["first_token"] is None  # a log from before the first token's log-probability was logged
    newer = log.replace("conf=-0.512/-0.100", "conf=-0.512/-0.100/-0.050")
    (answer,) = parse_confidences(newer)
    assert (answer["min"], answer["mean"], answer["first_token"]) == (-0.512, -0.1, -0.05)


def test_a_ghost_shown_while_typing_into_a_suggestion_is_traced_to_it_and_hidden_below_the_threshold() -> None:
    passage = passages_mod.load(passages_mod.QUICK)[0]
    line = passage.lines[0]
    key, later, other = passage.keys[3], passage.keys[6], passage.keys[9]
    answers = [  # a right suggestion the model was sure of, and a wrong one it was not
        {"line": passage.row, "character": key.col, "text": line[key.col:], "min": -0.4, "mean": -0.1},
        {"line": passage.row, "character": other.col, "text": "zzz wrong", "min": -3.0, "mean": -1.5},
    ]
    readings = full_readings([passage], [
        [passage.name, 6, line[later.col:], [], 0.1],  # three characters typed into the first suggestion since
        [passage.name, 9, "zzz wrong", [], 0.2],
        [passage.name, 10, "not in the log", [], 0.3],
    ])
    assert attach(readings, answers) == 1  # the last ghost shows no answer of the log: it stays shown
    assert [(r["index"], r["min"]) for r in readings if "min" in r] == [(6, -0.4), (9, -3.0)]
    shown = [r["first"] for r in gated(readings, "min", -1.0) if r["first"]]
    assert shown == [line[later.col:], "not in the log"]
    result = curve(readings, 3.0)
    off = next(p for p in result["points"] if p["measure"] == "min" and p["threshold"] is None)
    assert result["best_point"]["objective"] == off["objective"] + 3.0  # one wrong ghost text fewer
    assert result["best"]["threshold"] is not None
    assert {p["measure"] for p in result["points"]} == {"min", "mean"}  # no first-token figures in these answers


def test_the_first_token_measure_hides_only_ghost_texts_whose_start_was_a_guess() -> None:
    passage = passages_mod.load(passages_mod.QUICK)[0]
    line = passage.lines[0]
    key, other = passage.keys[3], passage.keys[9]
    answers = [  # right at the start, unsure later; and wrong from its first token
        {"line": passage.row, "character": key.col, "text": line[key.col:], "min": -3.0, "mean": -1.2,
         "first_token": -0.05},
        {"line": passage.row, "character": other.col, "text": "zzz wrong", "min": -2.0, "mean": -1.0,
         "first_token": -2.0},
    ]
    readings = full_readings([passage], [[passage.name, 3, line[key.col:], [], 0.1],
                                         [passage.name, 9, "zzz wrong", [], 0.2]])
    assert attach(readings, answers) == 0
    assert [r["first"] for r in gated(readings, "first", -1.0) if r["first"]] == [line[key.col:]]
    assert [r["first"] for r in gated(readings, "min", -1.0) if r["first"]] == []
