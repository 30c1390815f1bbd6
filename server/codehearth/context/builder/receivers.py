"""Who a call is made on: ``obj`` in ``obj.name(``, and ``obj``'s class when it was assigned from a constructor.

Linear-time scanners: a regular expression finds the short tail of each pattern (``.name(`` and
``= Class(``), which cannot backtrack over a long identifier run, and the receiver or assigned name is then
read backwards from there, at most ``MAX_NAME_CHARS`` characters. The old single regular expressions took time
quadratic in the length of an identifier run (a minified line, a base64 blob: 32 KB took 36 s on the event loop).
"""

from __future__ import annotations

import re

MAX_NAME_CHARS = 256  # a dotted receiver or assigned name longer than this is not code anyone calls through
MAX_SPACE_CHARS = 64  # blanks read backwards between a name and its dot or `=`

SELF_NAMES = frozenset({"self", "cls", "this", "super()", "Self"})

# `.name(` — the regex starts at a literal dot, and each dot's attempt ends within the word that follows it
_CALL_TAIL = re.compile(r"\.\s*([A-Za-z_$][\w$]*)\s*\(")  # `$` starts and continues JS names
# `Type::name(` (Rust, C++): the path's last part before the name is the receiver
_PATH_TAIL = re.compile(r"::\s*([A-Za-z_]\w*)\s*\(")
# `= Class(`, `:= Class(`, `= new Class(`, `= &Class{`, `= Class::new(`
_ASSIGN_TAIL = re.compile(r"(:?)=\s*(?:new\s+|&)?([A-Z]\w*)\s*(?:::new\s*)?[({]")


def _is_word(ch: str) -> bool:
    return ch in "_$" or ch.isalnum()


def _is_ascii_start(ch: str) -> bool:
    return ch in "_$" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _skip_space_back(text: str, end: int, floor: int) -> int:
    """The start of the blanks that end at ``end`` (at most MAX_SPACE_CHARS of them)."""
    stop = max(floor, end - MAX_SPACE_CHARS)
    i = end
    while i > stop and text[i - 1].isspace():
        i -= 1
    return i


def _dotted_run_back(text: str, end: int, floor: int) -> int | None:
    """The start of the ``[\\w.]`` run that ends at ``end``; None when longer than MAX_NAME_CHARS."""
    i = end
    stop = max(floor, end - MAX_NAME_CHARS - 1)
    while i > stop and (text[i - 1] == "." or _is_word(text[i - 1])):
        i -= 1
    if i == stop and i > floor and (text[i - 1] == "." or _is_word(text[i - 1])):
        return None  # the run goes on: too long to be a name
    return i


def _receiver_at(text: str, start: int, end: int) -> str:
    """The receiver in ``text[start:end]``: from its first ASCII letter or underscore (as ``[A-Za-z_][\\w.]*``)."""
    for k in range(start, end):
        if _is_ascii_start(text[k]):
            return text[k:end]
    return ""


def _name_at(text: str, start: int, end: int) -> str:
    """An assigned name in ``text[start:end]``: starts at a word boundary (as ``\\b[A-Za-z_][\\w.]*``)."""
    for k in range(start, end):
        if _is_ascii_start(text[k]) and (k == start or text[k - 1] == "."):
            return text[k:end]
    return ""


def assigned_types(text: str) -> dict[str, str]:
    """Name -> class for names assigned from a constructor (``sq = Square(...)``, ``x: T = T(...)``)."""
    out: dict[str, str] = {}
    floor = 0
    for m in _ASSIGN_TAIL.finditer(text):
        at = m.start()
        p = _skip_space_back(text, at, floor)
        q = _dotted_run_back(text, p, floor)
        if q is None or q == p:
            floor = m.end()
            continue
        name = ""
        if not m.group(1):  # `name: Type = ...`: the run just read may be the annotation
            c = _skip_space_back(text, q, floor)
            if c > floor and text[c - 1] == ":" and (c - 1 == floor or text[c - 2] != ":"):
                e = _skip_space_back(text, c - 1, floor)
                s = _dotted_run_back(text, e, floor)
                if s is not None and s < e:
                    name = _name_at(text, s, e)
        name = name or _name_at(text, q, p)
        if name:
            out[name] = m.group(2)
        floor = m.end()
    return out


def receivers(text: str) -> dict[str, set[str]]:
    """Called name -> receivers (``obj`` in ``obj.name(``), plus the class of receivers assigned
    from a constructor in the same text (``sq = Square(...)``)."""
    types = assigned_types(text)
    out: dict[str, set[str]] = {}
    floor = 0
    for m in _CALL_TAIL.finditer(text):
        dot = m.start()
        p = _skip_space_back(text, dot, floor)
        q = _dotted_run_back(text, p, floor)
        receiver = _receiver_at(text, q, p) if q is not None else ""
        floor = m.end()
        if not receiver:
            continue
        found = out.setdefault(m.group(1), set())
        found.add(receiver)
        if receiver in types:
            found.add(types[receiver])
    if "::" in text:
        for m in _PATH_TAIL.finditer(text):
            end = m.start()
            start = end
            while start > max(0, end - MAX_NAME_CHARS) and _is_word(text[start - 1]):
                start -= 1
            receiver = _receiver_at(text, start, end)
            if receiver:
                out.setdefault(m.group(1), set()).add(receiver)
    return out


def receiver_fits(names: set[str], container: str) -> bool:
    """Could ``receiver.name()`` be a method of ``container``? (``self._loop`` ~ ``BaseEventLoop``)"""
    owner = container.lower()
    for receiver in names:
        last = receiver.split(".")[-1].strip("_").lower()
        if receiver in SELF_NAMES or receiver == container:
            return True
        if len(last) >= 2 and (last in owner or owner in last):
            return True
    return False
