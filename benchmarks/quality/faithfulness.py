"""Faithfulness of a function explanation, checked against the function's code and its removed docstring.

Three checks per explanation (the definitions, and why these, are in benchmarks/README.md, "Explanations"):

- every parameter is named (as a whole word, any case);
- the return value is described: a return word ("return", "returns", "yields", ...) and either a content word of
  the docstring's return description or a name the function returns (only where the function returns a value);
- no invented identifiers: code spans and snake_case words of the explanation all occur in the module's text
  (code, docstrings, comments), among Python's builtins and keywords, or look like hex digits;
- no wrong parameter count: "takes two parameters" and the like, where said, fit the signature.

Pure functions on strings, so that the scoring can be tested on hand-written explanations.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\w.]*")  # numbers (0xffff, 1e3) are matched to be left out
RETURN_WORD = re.compile(r"\b(return|returns|returned|returning|yield|yields|yielded|yielding)\b", re.IGNORECASE)
# Google/numpy-style section headers; "For example:" starts an example block in the standard library.
SECTION = re.compile(
    r"^\s*(Args?|Arguments|Parameters|Returns?|Yields?|Raises?|Examples?|For example|Notes?|Attributes)\s*:\s*(.*)$",
    re.IGNORECASE,
)
RETURN_SECTIONS = {"return", "returns", "yield", "yields"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
STEM = 5  # words match when their first five letters do ("address" ~ "addresses", "integer" ~ "integers")
MIN_CONTENT = 4
_STOP_TEXT = """
    return returns returned yield yields that this these those with from which will into given object objects value
    values type types true false none either their there them they then than when where what have been being should
    would could must also only such each some more most other otherwise same just like based according whether
    function method argument arguments parameter parameters result results instance instances
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
FENCE = re.compile(r"```[^\n]*\n?(.*?)(?:```|$)", re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
STRING = re.compile(r"""(?:[rbuf]{0,2})('[^'\n]*'|"[^"\n]*")""", re.IGNORECASE)
FILENAME = re.compile(r"\b[\w./-]+\.(?:py|pyi|txt|md|json|toml)\b")
EMPHASIS = re.compile(r"(?<!\w)(_{1,2})([A-Za-z][A-Za-z ]*?)\1(?!\w)")  # _italic_ / __bold__ in markdown prose
NUMBERS = {"no": 0, "zero": 0, "one": 1, "a single": 1, "two": 2, "three": 3, "four": 4,
           "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
COUNT_CLAIM = re.compile(
    r"\b(?:takes|accepts|has|receives|requires|expects|needs)\s+(?:in\s+)?(\d+|" + "|".join(NUMBERS) + r")\s+"
    r"(?:parameters?|arguments?|args|inputs?)\b", re.IGNORECASE)
HEX = re.compile(r"^[0-9a-fA-F]+$")
ALWAYS_KNOWN = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if not w[0].isdigit()]


def _stem(word: str) -> str:
    return word.lower()[:STEM]


def mentions(text: str, name: str) -> bool:
    """``name`` occurs in ``text`` as a whole word, any case (``ip_str`` does not match inside ``ip_string``)."""
    pattern = r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def sections(docstring: str) -> tuple[str, dict[str, str]]:
    """The docstring's prose (before any section header) and its sections by lower-cased header."""
    prose: list[str] = []
    found: dict[str, list[str]] = {}
    current: list[str] = prose
    for line in docstring.splitlines():
        m = SECTION.match(line)
        if m:
            current = found.setdefault(m.group(1).lower(), [])
            if m.group(2).strip():
                current.append(m.group(2))
            continue
        current.append(line)
    return "\n".join(prose).strip(), {k: "\n".join(v).strip() for k, v in found.items()}


def return_description(docstring: str) -> str:
    """What the docstring says about the result: its Returns/Yields section; else the sentences of the prose that
    speak of returning; else the first sentence (the summary line, "Return the ..." by the stdlib's convention)."""
    prose, found = sections(docstring)
    described = [text for name, text in found.items() if name in RETURN_SECTIONS and text]
    if described:
        return "\n".join(described)
    sentences = [s.strip() for s in SENTENCE_END.split(prose) if s.strip()]
    speaking = [s for s in sentences if RETURN_WORD.search(s)]
    if speaking:
        return " ".join(speaking)
    return sentences[0] if sentences else ""


def content_words(text: str) -> list[str]:
    """Lower-cased words of at least four letters that are not stop words, first occurrence order."""
    out: dict[str, None] = {}
    for w in words(text):
        lw = w.lower()
        if len(lw.strip("_")) >= MIN_CONTENT and lw not in STOPWORDS:
            out[lw] = None
    return list(out)


def describes_return(explanation: str, description: str, returned: list[str]) -> bool:
    """A return word, and a content word of the description (matched on its first five letters) or a returned
    name (whole word)."""
    if not RETURN_WORD.search(explanation):
        return False
    stems = {_stem(w) for w in words(explanation) if len(w) >= MIN_CONTENT}
    if any(_stem(w) in stems for w in content_words(description)):
        return True
    return any(mentions(explanation, name) for name in returned)


def _strip_strings(code: str) -> str:
    return STRING.sub(" ", FILENAME.sub(" ", code))


def code_identifiers(explanation: str) -> list[str]:
    """Identifiers the explanation uses as code: every word of fenced blocks and `inline code` (string literals and
    file names left out), and snake_case words of the prose (a word with an underscore inside)."""
    found: dict[str, None] = {}
    prose = explanation
    for block in FENCE.findall(explanation):
        for w in words(_strip_strings(block)):
            found[w] = None
    prose = FENCE.sub(" ", prose)
    for span in INLINE.findall(prose):
        for w in words(_strip_strings(span)):
            found[w] = None
    prose = INLINE.sub(" ", prose)
    prose = EMPHASIS.sub(r"\2", FILENAME.sub(" ", prose))
    for w in words(prose):
        if "_" in w.strip("_"):
            found[w] = None
    return list(found)


def invented_identifiers(explanation: str, known: set[str]) -> list[str]:
    """Identifiers used as code that occur nowhere in ``known`` (the module's words), are no Python builtin or
    keyword, and are not hex digits (parts of IPv6 addresses such as ``db8``)."""
    return [w for w in code_identifiers(explanation)
            if w not in known and w not in ALWAYS_KNOWN and not HEX.match(w)]


def parameter_counts(explanation: str) -> list[int]:
    """The numbers of parameters the explanation says the function takes ("takes two arguments" -> 2)."""
    return [int(n) if n.isdigit() else NUMBERS[n.lower()] for n in COUNT_CLAIM.findall(explanation)]


def wrong_counts(explanation: str, fewest: int, most: int) -> list[int]:
    """Stated parameter counts outside [fewest, most]: the required parameters up to all of them (``self``
    included for a method, which some explanations count)."""
    return [n for n in parameter_counts(explanation) if not fewest <= n <= most]


def known_words(*texts: str) -> set[str]:
    out: set[str] = set()
    for text in texts:
        out.update(words(text))
    return out


@dataclass
class Check:
    params: list[str]
    params_named: list[str]
    return_applicable: bool
    return_described: bool
    invented: list[str] = field(default_factory=list)
    wrong_counts: list[int] = field(default_factory=list)

    @property
    def param_share(self) -> float:
        return len(self.params_named) / len(self.params) if self.params else 1.0

    @property
    def all_params(self) -> bool:
        return len(self.params_named) == len(self.params)

    @property
    def return_ok(self) -> bool:
        return self.return_described or not self.return_applicable

    @property
    def passed(self) -> bool:
        return self.all_params and self.return_ok and not self.invented and not self.wrong_counts

    def as_dict(self) -> dict[str, Any]:
        return {"params": self.params, "params_named": self.params_named, "param_share": round(self.param_share, 3),
                "return_applicable": self.return_applicable, "return_described": self.return_described,
                "invented": self.invented, "wrong_counts": self.wrong_counts, "passed": self.passed}


def check(explanation: str, params: list[str], returns_value: bool, description: str, returned: list[str],
          known: set[str], arity: tuple[int, int] | None = None) -> Check:
    """All checks of one explanation; ``arity``: the parameter counts a statement may give (default: exactly
    ``len(params)``)."""
    fewest, most = arity if arity is not None else (len(params), len(params))
    return Check(
        params=list(params),
        params_named=[p for p in params if mentions(explanation, p)],
        return_applicable=returns_value,
        return_described=describes_return(explanation, description, returned) if returns_value else False,
        invented=invented_identifiers(explanation, known),
        wrong_counts=wrong_counts(explanation, fewest, most),
    )


def summarize(checks: list[Check]) -> dict[str, Any]:
    """Share of explanations passing every check (the score), and the share passing each check."""
    n = len(checks)
    if n == 0:
        return {"explanations": 0, "faithful": None, "all_params_named": None, "mean_param_share": None,
                "return_described": None, "return_applicable": 0, "no_invented_identifiers": None,
                "no_wrong_parameter_count": None}
    applicable = [c for c in checks if c.return_applicable]
    return {
        "explanations": n,
        "faithful": round(sum(c.passed for c in checks) / n, 3),
        "all_params_named": round(sum(c.all_params for c in checks) / n, 3),
        "mean_param_share": round(sum(c.param_share for c in checks) / n, 3),
        "return_described": round(sum(c.return_described for c in applicable) / len(applicable), 3)
        if applicable else None,
        "return_applicable": len(applicable),
        "no_invented_identifiers": round(sum(not c.invented for c in checks) / n, 3),
        "no_wrong_parameter_count": round(sum(not c.wrong_counts for c in checks) / n, 3),
    }
