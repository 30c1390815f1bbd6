"""The user's own codehearth folders, and a listing of them to tell whether a run wrote there (issue 21)."""

from __future__ import annotations

from pathlib import Path

import platformdirs


def real_user_folders() -> tuple[Path, ...]:
    """Cache, state and config folders as the user's environment names them (read before a test run moves them)."""
    return (Path(platformdirs.user_cache_dir("codehearth")), Path(platformdirs.user_state_dir("codehearth")),
            Path(platformdirs.user_config_dir("codehearth")))


# As the user's environment names them: conftest imports this module before it moves the run's folders away.
REAL_USER_FOLDERS = real_user_folders()


def folder_listing(folders: tuple[Path, ...], skip: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folders`` (but ``skip``, the weights) with its size and modification time."""
    listing: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in [folder, *folder.rglob("*")]:
            if path == skip or skip in path.parents:
                continue
            try:
                st = path.lstat()
            except OSError:
                continue
            listing[str(path)] = (st.st_size if path.is_file() else 0, st.st_mtime_ns)
    return listing


def listing_changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Paths created, removed or changed between two listings."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
