"""Workspace symbol index: definitions, imports and exports per file, cached on disk, kept live.

One module per concern: ``filters`` (what is never read), ``records`` (what is stored per file and how it is
parsed), ``cache`` (the disk cache and its failures), ``watcher`` (following the disk) and ``workspace`` (the
:class:`WorkspaceIndex` that ties them together).

- The scan walks every root (never following symlinks), prunes default-excluded folders, git-ignored
  paths and the ``exclude`` setting, skips secrets, binary and oversized files, and parses the rest
  with tree-sitter (in a small process pool when there is a lot to parse).
- Records are msgspec Structs stored in diskcache under ``rec:<path>:<content hash>``; a stat entry per
  path lets a restart skip even reading unchanged files. A corrupted cache folder is deleted and
  rebuilt; one that cannot be written runs the index in memory until it can.
- Live updates come from watchdog (see :mod:`.watcher`) or from the server
  calling :meth:`update_text` / :meth:`refresh` / :meth:`remove`; open documents use their in-memory text.
"""

from ..symbols import Definition, Import
from .filters import DEFAULT_EXCLUDED_DIRS, SECRET_NAME_GLOBS, is_secret_path, looks_secret
from .records import (
    CACHE_SCHEMA,
    EXTRACTOR_VERSION,
    FileRecord,
    ScanStats,
    content_hash,
    go_dir_key,
    module_keys,
    parse_source,
)
from .workspace import WorkspaceIndex

__all__ = [
    "CACHE_SCHEMA",
    "DEFAULT_EXCLUDED_DIRS",
    "EXTRACTOR_VERSION",
    "SECRET_NAME_GLOBS",
    "Definition",
    "FileRecord",
    "Import",
    "ScanStats",
    "WorkspaceIndex",
    "content_hash",
    "go_dir_key",
    "is_secret_path",
    "looks_secret",
    "module_keys",
    "parse_source",
]
