"""The model file deleted or replaced while the real server serves from it (a copy of the default model in a
temporary folder, never the user's own file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.faults.common import Typist, log_seen, logged, popups, until, write_workspace
from tests.lsp.harness import running_server, stats_of

pytestmark = pytest.mark.model


@pytest.fixture
def model_copy(default_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    copy = folder / "smollm2-copy.gguf"
    shutil.copyfile(default_model, copy)
    return copy


def replace_atomically(target: Path, data: bytes | Path) -> None:
    """What a careful tool does (``models pull``, an editor's save): write beside, then rename over."""
    part = target.with_name(target.name + ".part")
    if isinstance(data, Path):
        shutil.copyfile(data, part)
    else:
        part.write_bytes(data)
    os.replace(part, target)


async def test_model_file_deleted_then_replaced_badly_then_restored(
        model_copy: Path, default_model: Path, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    async with running_server(ws, tmp_path / "cache", {"model": str(model_copy), "latencyBudgetMs": 20000, "minConfidence": 0}) as client:
        typist = Typist(client, ws)
        assert (await stats_of(client))["state"] == "ready"
        # Mid-line, where the small prefix-only model continues code (on the empty body it writes a Markdown fence,
        # which is junk by rule); the confidence gate is off: this test is about the model file, not quality.
        first = await typist.type_and_complete("return 2 * math.pi")
        assert first.strip()

        # Deleted: the weights are mapped, so the loaded model keeps answering; the user is told once, in the log.
        model_copy.unlink()
        await until(lambda: log_seen(client, "was deleted"), "the deletion noticed")
        assert (await typist.type_and_complete(" ")).strip()
        assert (await stats_of(client))["state"] == "ready"
        assert len(logged(client, "was deleted")) == 1 and popups(client) == []

        # Replaced by something that is not a model: the reload fails, one pop-up says why, requests still answered.
        replace_atomically(model_copy, b"GGUF" + b"\0" * 64)

        async def errored() -> bool:
            return (await stats_of(client))["state"] == "error"

        await until(errored, "the bad replacement noticed")
        assert await typist.type_and_complete("+") == ""  # answered (empty), not left hanging (no cache matches "+")
        stats = await stats_of(client)
        assert stats["state"] == "error" and str(model_copy) in (stats["error"] or "")
        assert len(popups(client)) == 1 and str(model_copy) in popups(client)[0]

        # The real file comes back: reloaded by itself, completions return, no second pop-up.
        replace_atomically(model_copy, default_model)

        async def ready() -> bool:
            return (await stats_of(client))["state"] == "ready"

        await until(ready, "the restored model reloaded")
        assert (await typist.type_and_complete(" ")).strip()
        assert len(popups(client)) == 1
        # Each change said once: the bad file (after the deletion, "is back") and the good one.
        assert len(logged(client, "is back; loading")) == 1 and len(logged(client, "changed on disk")) == 1
