"""The audit trail of prompts that leave the machine: one JSON line per remote request, on the user's disk.

What was sent, where, for which file and how big, with the sha256 of the prompt as sent (after redaction) so that a
prompt can be matched against a server's logs without keeping it; the full prompt only when
``engine.auditFullPrompt`` asks for it. Writing never fails a request: a log that cannot be written is reported once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from codehearth.config import EngineSettings, state_dir

log = logging.getLogger(__name__)

AUDIT_FILE_NAME = "remote-audit.jsonl"


def audit_path(settings: EngineSettings) -> Path:
    """Where the audit log goes: ``engine.auditLog``, or the user state folder."""
    if settings.audit_log:
        return Path(os.path.expanduser(settings.audit_log))
    return state_dir() / AUDIT_FILE_NAME


@dataclass
class AuditRecord:
    """One remote request, filled in as it goes and written when it ends (whatever the outcome)."""

    engine: str
    kind: str
    model: str
    purpose: str
    endpoint: str
    document: str
    prompt: str  # as sent, after redaction
    redactions: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0  # the server's count when it reports one, else our estimate
    completion_tokens: int = 0
    completion_bytes: int = 0
    outcome: str = "ok"  # ok | cancelled | deadline | error
    error: str = ""
    started: float = field(default_factory=time.time)

    def to_json(self, full_prompt: bool) -> dict[str, Any]:
        data = self.prompt.encode("utf-8", "surrogatepass")
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started))
            + f".{int(self.started * 1000) % 1000:03d}Z",
            "engine": self.engine,
            "kind": self.kind,
            "model": self.model,
            "purpose": self.purpose,
            "endpoint": self.endpoint,
            "document": document_path(self.document),
            "promptBytes": len(data),
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "completionBytes": self.completion_bytes,
            "promptSha256": hashlib.sha256(data).hexdigest(),
            "redactions": sum(self.redactions.values()),
            "redactionKinds": dict(sorted(self.redactions.items())),
            "outcome": self.outcome,
            "durationMs": round((time.time() - self.started) * 1000, 1),
        }
        if self.error:
            entry["error"] = self.error
        if full_prompt:
            entry["prompt"] = self.prompt
        return entry


def document_path(uri: str) -> str:
    """A file URI as the path a person reads; other URIs (untitled:, vscode-notebook-cell:) as they are."""
    if uri.startswith("file://"):
        return unquote(urlsplit(uri).path)
    return uri


class AuditLog:
    """Appends records to a JSON-lines file; thread-safe; created (0600) on the first record, not before."""

    def __init__(self, path: Path, full_prompt: bool = False) -> None:
        self.path = path
        self.full_prompt = full_prompt
        self._lock = threading.Lock()
        self.records = 0
        self.redactions = 0
        self._failed_reason: str | None = None

    def write(self, record: AuditRecord) -> None:
        line = json.dumps(record.to_json(self.full_prompt), ensure_ascii=False) + "\n"
        with self._lock:
            self.records += 1
            self.redactions += sum(record.redactions.values())
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # O_APPEND: each line lands whole at the end even with two servers writing the same log.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8", "surrogatepass"))
                finally:
                    os.close(fd)
            except OSError as exc:
                reason = f"{type(exc).__name__}: {exc.strerror or exc}"
                if reason != self._failed_reason:  # once per distinct problem, not once per request
                    log.warning("audit log %s cannot be written (%s); requests go on unrecorded", self.path, reason)
                self._failed_reason = reason
            else:
                if self._failed_reason is not None:
                    log.info("audit log %s is writable again", self.path)
                self._failed_reason = None

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "records": self.records, "redactions": self.redactions,
                "error": self._failed_reason}


__all__ = ["AUDIT_FILE_NAME", "AuditLog", "AuditRecord", "audit_path"]
