"""Issue 21: a test run keeps away from the user's own cache, state and config folders."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.user_folders import REAL_USER_FOLDERS, folder_listing, listing_changes


def test_every_folder_of_the_run_is_a_temporary_one() -> None:
    from codehearth.config import cache_dir, state_dir, user_config_path
    from codehearth.engine.speedcache import SpeedCache

    real = [folder.resolve() for folder in REAL_USER_FOLDERS]
    temporary = Path(tempfile.gettempdir()).resolve()
    for path in (cache_dir(), state_dir(), user_config_path(), SpeedCache().path):
        resolved = path.resolve()
        assert not any(folder == resolved or folder in resolved.parents for folder in real), path
        assert temporary in resolved.parents, path


def test_a_write_under_the_watched_folders_is_seen(tmp_path: Path) -> None:
    cache, models = tmp_path / "cache", tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    (cache / "speed.json").write_text("{}")
    before = folder_listing((cache,), models)
    (models / "weights.gguf").write_text("x")  # the weights folder is not watched
    assert listing_changes(before, folder_listing((cache,), models)) == []
    (cache / "speed.json").write_text('{"a": 1}')
    (cache / "index").mkdir()
    assert listing_changes(before, folder_listing((cache,), models)) == [
        str(cache), str(cache / "index"), str(cache / "speed.json")]
