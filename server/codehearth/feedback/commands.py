"""``codehearth stats``: print or erase the local acceptance statistics."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import msgspec

from codehearth.feedback.stats import acceptance_summary, write_table
from codehearth.feedback.store import Store


def run_stats(path: Path, days: float | None, as_json: bool, erase: bool, out: TextIO) -> int:
    if erase:
        store = Store(path)
        try:
            erased = store.erase()
        finally:
            store.close()
        if as_json:
            out.write(msgspec.json.encode({"erased": erased, "store": str(path)}).decode() + "\n")
        else:
            out.write(f"erased {erased} suggestion records from {path}\n")
        return 0
    if days is not None and days <= 0:
        raise SystemExit("codehearth: --days must be positive")
    summary = acceptance_summary(days, path)
    if as_json:
        out.write(msgspec.json.format(msgspec.json.encode(summary)).decode() + "\n")
    else:
        write_table(summary, out)
    return 0
