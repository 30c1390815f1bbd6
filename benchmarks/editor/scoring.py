"""What the person got from the ghost text they saw: per keystroke, then per row (and per split and class).

- useful characters: the common prefix of the ghost text's first line and the rest of the line typed next;
- shown: the ghost text's first line holds something other than whitespace;
- wrong: shown, and not one character of it is right;
- exact: the first line equals the rest of the line (trailing whitespace aside);
- saved characters: a simulated Tab at the first keystroke of a line where the first line is exact saves the rest
  of the line minus the Tab itself. What is typed does not change (the person types on; later keystrokes of that
  line are not counted again), so every row is scored on the same keystrokes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CLASSES = ("code", "string", "comment")


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def judge(reading: dict[str, Any]) -> dict[str, Any]:
    first, rest = reading["first"], reading["rest"]
    shown = first.strip() != ""
    useful = common_prefix(first, rest) if shown else 0
    exact = shown and rest != "" and first.rstrip() == rest.rstrip()
    return {"shown": shown, "useful": useful, "wrong": shown and useful == 0, "exact": exact}


def savings(readings: list[dict[str, Any]]) -> int:
    """Keystrokes saved by accepting, once per line, at the first keystroke where the ghost text is exact."""
    saved = 0
    accepted: set[tuple[str, int]] = set()
    for r in readings:
        where = (r["passage"], r["line"])
        if where not in accepted and judge(r)["exact"]:
            saved += len(r["rest"].rstrip()) - 1  # the Tab is a keystroke too
            accepted.add(where)
    return max(saved, 0)


def summarise(readings: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(readings)
    if not n:
        return {"keystrokes": 0}
    judged = [judge(r) for r in readings]
    useful = sum(j["useful"] for j in judged)
    return {
        "keystrokes": n,
        "useful_chars": useful,
        "useful_per_keystroke": round(useful / n, 3),
        "shown_share": round(sum(j["shown"] for j in judged) / n, 3),
        "wrong_share": round(sum(j["wrong"] for j in judged) / n, 3),
        "exact_share": round(sum(j["exact"] for j in judged) / n, 3),
        "saved_per_100": round(100 * savings(readings) / n, 1),
        "untrusted": sum(not r.get("trusted", True) for r in readings),
    }


def breakdown(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary over all keystrokes, per split (tuning/test) and per class (code/string/comment)."""
    out: dict[str, Any] = {"all": summarise(readings)}
    for split in ("tuning", "test"):
        out[split] = summarise([r for r in readings if r["split"] == split])
    out["by_class"] = {k: summarise([r for r in readings if r["kind"] == k]) for k in CLASSES}
    return out


def with_indices(readings: Iterable[dict[str, Any]], keep: set[tuple[str, int]]) -> list[dict[str, Any]]:
    return [r for r in readings if (r["passage"], r["index"]) in keep]
