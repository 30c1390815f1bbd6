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

# No test touches the user's own folders (issue 21): before anything reads a folder or calibrates, this run's cache,
# state and config live in a temporary folder, for this process and every server and editor a test starts (they
# inherit the environment). The model weights stay where `make model` put them (read, or pulled there if missing).
# ``pytest_sessionfinish`` fails the run if anything was written under the real folders all the same.
from tests.user_folders import REAL_USER_FOLDERS, folder_listing, listing_changes  # noqa: E402

REAL_MODELS = REAL_USER_FOLDERS[0] / "models"
os.environ.setdefault("CODEHEARTH_MODELS_DIR", str(REAL_MODELS))
TEST_HOME = Path(tempfile.mkdtemp(prefix="codehearth-test-home-"))
for _name in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
    (TEST_HOME / _name.lower()).mkdir()
    os.environ[_name] = str(TEST_HOME / _name.lower())
os.environ["CODEHEARTH_STATE_DIR"] = str(TEST_HOME / "codehearth-state")
os.environ.pop("CODEHEARTH_CACHE_DIR", None)  # the cache follows XDG_CACHE_HOME (a Neovim test gives each its own)
os.environ.pop("CODEHEARTH_CONFIG", None)
USER_FOLDERS_AT_START = folder_listing(REAL_USER_FOLDERS, REAL_MODELS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that wrote under the user's real cache, state or config folder fails, naming what it wrote."""
    changed = listing_changes(USER_FOLDERS_AT_START, folder_listing(REAL_USER_FOLDERS, REAL_MODELS))
    if changed:
        message = f"FAILED: the run wrote under the user's own folders: {changed[:20]}"
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:  # pragma: no cover
            sys.stderr.write(message + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The real default model, fetched and verified by the project's own registry (cached after the first run)."""
    from codehearth.models.registry import Registry

    return Registry().pull("default")


@pytest.fixture(scope="session")
def qwen_model() -> Path:
    """The real FIM model (Qwen2.5-Coder-0.5B), fetched and verified by the project's own registry."""
    from codehearth.models.registry import Registry

    return Registry().pull("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def engine(default_model: Path):  # type: ignore[no-untyped-def]
    from codehearth.config import EngineSettings
    from codehearth.engine.llama import LlamaEngine

    eng = LlamaEngine(default_model, EngineSettings(n_ctx=2048))
    yield eng
    eng.close()
