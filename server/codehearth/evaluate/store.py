"""The resume store: every finished task is one JSON line in ``DIR/results.jsonl``, appended at once.

A second run with the same seed mines the same tasks, finds their keys (model + budget + task id) here and runs
only the others; an interrupted run loses at most the task that was running. Model-level measurements (load time,
peak memory) are lines of their own; the last one per model counts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any

import msgspec

from codehearth.evaluate.scoring import TaskResult

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"


class ModelRun(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="model"):
    model: str
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    name: str = ""  # the engine's own name for the model
    fim: str = ""
    error: str = ""


_decode_task = msgspec.json.Decoder(TaskResult)
_decode_model = msgspec.json.Decoder(ModelRun)
_encode = msgspec.json.Encoder()


class ResultStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RESULTS_FILE
        self.results: dict[str, TaskResult] = {}
        self.models: dict[str, ModelRun] = {}
        self._fh: IO[bytes] | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                line = raw.strip()
                if not line:
                    continue
                try:
                    if line.startswith(b'{"type":"model"'):
                        run = _decode_model.decode(line)
                        self.models[run.model] = _merge(self.models.get(run.model), run)
                    else:
                        row = _decode_task.decode(line)
                        self.results[row.key] = row
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    # a line cut short by a kill; what came before it still counts
                    log.warning("%s:%d unreadable (%s); skipped", self.path, number, exc)

    def _write(self, item: Any) -> None:
        if self._fh is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("ab")
        self._fh.write(_encode.encode(item) + b"\n")
        self._fh.flush()

    def add(self, row: TaskResult) -> None:
        self.results[row.key] = row
        self._write(row)

    def add_model(self, run: ModelRun) -> None:
        self.models[run.model] = _merge(self.models.get(run.model), run)
        self._write(run)

    def has(self, key: str) -> bool:
        return key in self.results

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _merge(old: ModelRun | None, new: ModelRun) -> ModelRun:
    """A later run of the same model keeps its newer figures; a resumed run that measured nothing keeps the old."""
    if old is None:
        return new
    return ModelRun(
        model=new.model,
        load_ms=new.load_ms if new.load_ms is not None else old.load_ms,
        peak_rss_mb=max(x for x in (old.peak_rss_mb, new.peak_rss_mb, 0.0) if x is not None) or None,
        name=new.name or old.name,
        fim=new.fim or old.fim,
        error=new.error,
    )
