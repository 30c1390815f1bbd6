from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "server", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# Loop-owned objects (documents, the services' dicts, background state) assert they are changed only on the event
# loop's thread (codehearth.threads), in this process and in every server a test starts (they inherit it).
os.environ["CODEHEARTH_DEBUG_THREADS"] = "1"

import pytest  # noqa: E402

# Records a test run makes (the remote audit log) never land in the user's own state folder; servers started by
# tests inherit this through their environment.
os.environ.setdefault("CODEHEARTH_STATE_DIR", tempfile.mkdtemp(prefix="codehearth-test-state-"))


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The real default model, fetched and verified by the project's own registry (cached after the first run)."""
    from codehearth.models.registry import Registry

    return Registry().pull("default")


@pytest.fixture(scope="session")
def engine(default_model: Path):  # type: ignore[no-untyped-def]
    from codehearth.config import EngineSettings
    from codehearth.engine.llama import LlamaEngine

    eng = LlamaEngine(default_model, EngineSettings(n_ctx=2048))
    yield eng
    eng.close()
