"""The explanation benchmark's scoring and task selection, on hand-written explanations and a hand-written module."""

from __future__ import annotations

import ast

from benchmarks.quality.explain import measure, speed_summary
from benchmarks.quality.explain_tasks import build_tasks, strip_docstrings, walk_functions
from benchmarks.quality.faithfulness import (
    check,
    code_identifiers,
    content_words,
    describes_return,
    invented_identifiers,
    known_words,
    mentions,
    parameter_counts,
    return_description,
    summarize,
    wrong_counts,
)

MODULE = '''"""Shapes."""

import math

SCALE = 2


def area(radius, *, precise=False):
    """Area of a circle.

    Args:
        radius: the circle's radius.
        precise: keep every digit.

    Returns:
        The area as a float, rounded to two digits unless precise.
    """
    value = math.pi * radius ** 2
    if precise:
        return value
    return round(value, 2)


def tiny(x):
    """Too short to ask about."""
    return x


class Box:
    def __init__(self, width):
        """Dunder: left out."""
        self.width = width
        self.height = width
        self.depth = width

    def scaled(self, factor):
        """Return a new box whose width is multiplied by factor."""
        width = self.width * factor
        box = Box(width)
        return box

    def log(self, message):
        """Print the message; gives nothing back."""
        text = f"{self.width}: {message}"
        print(text)
        print("done")
'''

AREA_DOC = (
    "Area of a circle.\n\nArgs:\n    radius: the circle's radius.\n    precise: keep every digit.\n\n"
    "Returns:\n    The area as a float, rounded to two digits unless precise."
)


def test_selection_order_params_and_positions() -> None:
    stripped, tasks = build_tasks(MODULE, 10)
    assert [t.qualname for t in tasks] == ["area", "Box.scaled", "Box.log"]
    assert [t.params for t in tasks] == [["radius", "precise"], ["factor"], ["message"]]
    lines = stripped.splitlines()
    assert [lines[t.line] for t in tasks] == [
        "    value = math.pi * radius ** 2",
        "        width = self.width * factor",
        '        text = f"{self.width}: {message}"',
    ]
    assert [t.character for t in tasks] == [4, 8, 8]
    assert '"""Area of a circle.' not in stripped and "Return a new box" not in stripped
    assert '"""Too short to ask about."""' in stripped and '"""Dunder: left out."""' in stripped
    assert [(t.returns_value, t.returned_names) for t in tasks] == [
        (True, ["round", "value"]), (True, ["box"]), (False, [])]
    assert [t.arity for t in tasks] == [(1, 2), (1, 2), (1, 2)]  # area: precise has a default; methods: + self
    assert tasks[0].return_description == "The area as a float, rounded to two digits unless precise."
    assert tasks[1].return_description == "Return a new box whose width is multiplied by factor."
    assert build_tasks(MODULE, 1)[1][0].qualname == "area"


def test_strip_leaves_pass_when_only_the_docstring_was_there() -> None:
    source = 'def f(a):\n    """Doc\n    more."""\n'
    node = next(n for _, n in walk_functions(ast.parse(source).body))
    assert strip_docstrings(source, [node]) == "def f(a):\n    pass\n"


def test_return_description_fallbacks() -> None:
    assert return_description(AREA_DOC) == "The area as a float, rounded to two digits unless precise."
    assert return_description("Take a string and return its length. Spaces count.") == (
        "Take a string and return its length.")
    assert return_description("Split the netmask. Raise if needed.") == "Split the netmask."
    assert return_description("Sum.\n\nReturns:\n    The total.\n\nRaise:\n    TypeError: bad input.") == "The total."
    assert return_description("") == ""


def test_content_words_and_mentions() -> None:
    assert content_words("An IPv4Address or IPv6Address object, the value.") == ["ipv4address", "ipv6address"]
    assert mentions("Takes `ip_str` and parses it.", "ip_str")
    assert not mentions("Parses the ip_string.", "ip_str")
    assert mentions("The RADIUS is squared.", "radius")


def test_describes_return() -> None:
    desc = "The area as a float, rounded to two digits unless precise."
    assert describes_return("It returns the rounded area.", desc, [])
    assert not describes_return("It computes the rounded area.", desc, [])  # no return word
    assert not describes_return("It returns something useful.", desc, [])  # nothing from the description
    assert describes_return("Returns `box`, a copy.", "Make a copy.", ["box"])
    assert describes_return("It returns a list of addresses.", "Collapsed address ranges.", [])  # 5-letter stems


def test_identifiers_in_code_and_snake_case() -> None:
    text = ("Calls `math.pi * radius` and `round(value, 'two_digits')` in shapes.py.\n"
            "```python\nresult = area(r)\n```\nThe new_width is _private_ and __init__ runs; see db8.")
    assert code_identifiers(text) == ["result", "area", "r", "math", "pi", "radius", "round", "value", "new_width"]
    known = known_words(MODULE)
    assert invented_identifiers(text, known) == ["result", "r", "new_width"]
    assert invented_identifiers("See `2001:db8::1`, `len(x)`, `0xffff`, `1e3` and `True`.", {"x"}) == []


def test_stated_parameter_counts() -> None:
    text = "It takes two parameters. Then it accepts 3 arguments, has a single input and has a parameter `x`."
    assert parameter_counts(text) == [2, 3, 1]
    assert wrong_counts(text, 1, 2) == [3]
    assert wrong_counts("Takes no arguments.", 1, 1) == [0]
    assert wrong_counts("It takes the address.", 1, 1) == []


def test_check_and_summary_exact() -> None:
    known = known_words(MODULE)
    good = check("`area` takes `radius` and `precise` and returns the area as a float.",
                 ["radius", "precise"], True, AREA_DOC.split("Returns:")[1], ["round", "value"], known)
    assert good.passed and good.param_share == 1.0 and good.invented == []
    partial = check("It returns the area of a circle given its radius; see `compute_area`.",
                    ["radius", "precise"], True, "The area as a float.", ["round", "value"], known)
    assert (partial.params_named, partial.return_described, partial.invented, partial.passed) == (
        ["radius"], True, ["compute_area"], False)
    no_result = check("Prints the message.", ["message"], False, "", [], known)
    assert no_result.passed and not no_result.return_described and no_result.return_ok
    missing_return = check("Uses factor.", ["factor"], True, "A new box.", ["box"], known)
    assert missing_return.all_params and not missing_return.return_ok and not missing_return.passed
    miscounted = check("It takes two parameters, `factor` and a name, and returns the new box.", ["factor"], True,
                       "A new box.", ["box"], known, (1, 2))
    assert miscounted.passed and miscounted.wrong_counts == []
    miscounted = check("It takes three parameters: `factor` and more; returns the new box.", ["factor"], True,
                       "A new box.", ["box"], known, (1, 2))
    assert (miscounted.wrong_counts, miscounted.passed) == ([3], False)
    assert summarize([good, partial, no_result, missing_return]) == {
        "explanations": 4, "faithful": 0.5, "all_params_named": 0.75, "mean_param_share": 0.875,
        "return_described": 0.667, "return_applicable": 3, "no_invented_identifiers": 0.75,
        "no_wrong_parameter_count": 1.0}
    assert summarize([])["faithful"] is None
    assert good.as_dict()["param_share"] == 1.0


def test_timings_and_rates() -> None:
    one = measure(10.0, 13.0, [(10.5, "Hi"), (10.6, ""), (11.0, " there"), (12.5, ".")], 9)
    assert one == {"first_chunk_ms": 500.0, "total_ms": 3000.0, "chunks": 3, "tokens": 9, "stream_s": 2.0}
    two = {**measure(0.0, 1.0, [(0.2, "a"), (0.7, "b")], 4), "error": None}
    failed = {"error": "TimeoutError", "total_ms": 600000.0}
    s = speed_summary([{**one, "error": None}, two, failed])
    assert (s["answered"], s["errors"], s["chunks_per_s"], s["tokens_per_s"]) == (2, 1, 1.2, 4.4)
    assert s["first_chunk_ms"] == {"p50": 500.0, "p95": 500.0} and s["total_s"] == 4.0
