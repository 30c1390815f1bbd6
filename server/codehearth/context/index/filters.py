"""What the index never reads: default-excluded folders, secrets by name or content, and git-ignored paths."""

from __future__ import annotations

import fnmatch
import re
import threading
from pathlib import Path

import pathspec

DEFAULT_EXCLUDED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "_darcs",
        ".jj",
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".venv",
        "venv",
        "virtualenv",
        ".virtualenv",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        "build",
        "dist",
        "target",
        "out",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".turbo",
        ".parcel-cache",
        "coverage",
        ".nyc_output",
        ".gradle",
        ".idea",
        ".vscode",
        ".cache",
        ".terraform",
        "CMakeFiles",
        ".direnv",
    }
)
_EXCLUDED_DIR_GLOBS = ("*.egg-info",)

# Never indexed, never put in a prompt unless includeSecrets is set (matched on the file name).
SECRET_NAME_GLOBS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.crt",
    "*.cer",
    "*.der",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "*.gpg",
    "*.asc",
    "*.tfvars",
    "*.tfstate",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials",
    "credentials.*",
    "*credentials*.json",
    "service-account*.json",
    "client_secret*.json",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
    "secrets.toml",
    ".secrets*",
)
_SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".docker", ".kube"})


_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")


def looks_secret(data: bytes) -> bool:
    """Content that is a secret whatever the file is called (PEM / PGP / OpenSSH private keys)."""
    return b"PRIVATE KEY" in data and _PRIVATE_KEY_RE.search(data) is not None


def is_secret_path(path: str | Path) -> bool:
    """True for files that look like secrets (.env files, private keys, credential files)."""
    p = Path(path)
    name = p.name.lower()
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_NAME_GLOBS):
        return True
    return any(part in _SECRET_DIRS for part in p.parts[:-1])


class _IgnoreRules:
    """.gitignore files found along the way, per folder (pathspec, git's own semantics)."""

    def __init__(self) -> None:
        self._specs: dict[Path, pathspec.PathSpec | None] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()

    def spec_for(self, folder: Path) -> pathspec.PathSpec | None:
        with self._lock:
            if folder in self._specs:
                return self._specs[folder]
        spec: pathspec.PathSpec | None = None
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (OSError, ValueError):
            spec = None
        with self._lock:
            self._specs[folder] = spec
        return spec

    def ignored(self, root: Path, path: Path, is_dir: bool) -> bool:
        try:
            rel = path.relative_to(root)
        except ValueError:
            return True
        folder = root
        parts = rel.parts
        for i in range(len(parts)):
            spec = self.spec_for(folder)
            if spec is not None:
                sub = "/".join(parts[i:]) + ("/" if is_dir else "")
                if spec.match_file(sub):
                    return True
            folder = folder / parts[i]
        return False
