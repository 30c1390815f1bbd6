"""Ranking the index's definitions of a name by what the document says about it.

Import evidence (a file the imports, includes or package point at; the receiver's own type) wins; without it only
unambiguous names are taken, since a wrong definition in the prompt costs more than none.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from codehearth.context.symbols import Definition

from ..receivers import receiver_fits

MAX_CANDIDATES_PER_NAME = 2
IMPLICIT_THIS = frozenset({"java", "cpp"})  # a bare call may be a method of the enclosing class


@dataclass(frozen=True)
class Evidence:
    """What the document says about where a name is defined."""

    preferred: set[str]  # files its imports, includes or package point at
    receivers: set[str]  # what it is called on (``obj`` in ``obj.name(``)
    module_receiver: bool  # one of those is an imported module (its files are in ``preferred``)
    focus: frozenset[str]  # the receivers at the cursor's own call
    focus_files: set[str]  # the files of those that are modules


def rank(
    name: str,
    candidates: list[Definition],
    ev: Evidence,
    *,
    doc_path: str,
    language: str | None,
    called: bool,
    rel: Callable[[str], str],
) -> list[Definition]:
    """The best of ``candidates`` (at most :data:`MAX_CANDIDATES_PER_NAME` places), or none when unsure."""
    doc_dir = os.path.dirname(doc_path)
    is_test = "test" in os.path.basename(doc_path)
    has_receiver = bool(ev.receivers) and not ev.module_receiver
    scored: list[tuple[float, int, Definition]] = []
    evidence = {i for i, d in enumerate(candidates) if d.path in ev.preferred}
    for i, d in enumerate(candidates):
        score = 0.0
        if d.path in ev.preferred:
            score += 10
        elif os.path.dirname(d.path) == doc_dir:
            score += 2
        if d.exported:
            score += 0.5
        if has_receiver:
            if d.container and not receiver_fits(ev.receivers, d.container):
                continue  # text.rfind() is not UserString.rfind
            score += 0.5 if d.container else -0.5
            if d.container in ev.receivers:
                score += 10  # Type::new(), Class.method(), sq.scale() with sq = Square(): that very type
                evidence.add(i)
        elif d.container:
            if d.path not in ev.preferred and language not in IMPLICIT_THIS:
                continue  # a bare call never reaches another file's method
            score -= 1
        where = "/" + rel(d.path)  # the workspace's own folders, not those above its root
        if not is_test and ("/test" in where or "tests/" in where):
            score -= 1.5
        if d.kind in ("variable", "declaration", "constant"):
            score -= 0.5
        elif d.kind == "macro":
            score -= 0.75  # `#define f _crypt_f` renames; the prototype says more
        if d.path in ev.focus_files or (d.container and d.container in ev.focus):
            score += 0.25  # the call at the cursor, among others of the same name nearby
        scored.append((score, i, d))
    if not scored:
        return []
    scored.sort(key=lambda t: (-t[0], t[1]))
    if scored[0][1] not in evidence:
        # no import evidence: only take unambiguous names that are called (or look like types)
        if not called and not (name[:1].isupper() and len(scored) == 1):
            return []
        exact = [t for t in scored if t[2].container and t[2].container in ev.receivers]
        if exact:  # the receiver names the type: its methods (overloads, impl blocks in a few files)
            scored = exact
            if len({t[2].path for t in exact}) > 3:
                return []
        elif len({(t[2].path, t[2].container) for t in scored}) > (1 if has_receiver else 3):
            return []  # overloads in one file are one candidate
    best = scored[0][0]
    out: list[Definition] = []
    places: set[tuple[str, str]] = set()
    for sc, _i, d in scored:
        if len(out) >= MAX_CANDIDATES_PER_NAME or sc < best - 1e-9:
            break
        if (d.path, d.container) not in places:  # overloads of one method are one place
            places.add((d.path, d.container))
            out.append(d)
    return out
