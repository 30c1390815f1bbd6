"""The kinds of completion position an eval task can be (the acceptance statistics record the first three)."""

from __future__ import annotations

from typing import Literal

TaskKind = Literal["mid-line", "line-start", "block", "cross-file"]
KINDS: tuple[TaskKind, ...] = ("mid-line", "line-start", "block", "cross-file")
