"""The command line on the real default model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

SAMPLE = '''import math


def circle_area(radius):
    """Return the area of a circle."""
    return math.pi * radius ** 2


def describe(radius):
    area = circle_area(radius)
    return f"r={radius} area={area:.2f}"


def perimeter(radius):
    return 2 * math.
'''


# The default model for both roles: `auto` would choose per machine (tests/model/test_roles_real_models.py covers it).
PINNED = Path(tempfile.mkdtemp(prefix="codehearth-cli-")) / "config.toml"
PINNED.write_text('model = "smollm2-135m-instruct"\n')


def run(*args: str, cwd: Path | None = None, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CODEHEARTH_CONFIG": str(PINNED), **(env_extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "server"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "codehearth", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "geo.py"
    path.write_text(SAMPLE)
    return path


def test_complete_json(sample: Path, default_model: Path, tmp_path: Path) -> None:
    # At the end of a half-written line. (At 10:12, after `area = `, the model now writes `circle_area(radius)`,
    # which is already the rest of that line: the suggestion that repeats it is trimmed to nothing, rightly.)
    result = run("complete", f"{sample}:15:20", "--json", env_extra={"CODEHEARTH_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"text", "timings"}
    assert data["timings"]["promptTokens"] > 0 and data["timings"]["tokensGenerated"] > 0
    assert data["text"].strip()


def test_explain_streams_and_reports(sample: Path, default_model: Path, tmp_path: Path) -> None:
    result = run("explain", f"{sample}:10", env_extra={"CODEHEARTH_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "function=describe" in result.stderr and "chunks=" in result.stderr


def test_explain_outside_a_function_fails_clearly(sample: Path, default_model: Path, tmp_path: Path) -> None:
    result = run("explain", f"{sample}:1", env_extra={"CODEHEARTH_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 1 and "no function or method at this position" in result.stderr


def test_bad_location_argument(sample: Path) -> None:
    result = run("complete", f"{sample}:ten")
    assert result.returncode != 0 and "expected FILE:LINE:COL" in result.stderr


def test_models_list_path_verify(default_model: Path) -> None:
    listed = json.loads(run("models", "list", "--json").stdout)
    default = next(m for m in listed if m["id"] == "smollm2-135m-instruct")
    assert default["present"] is True
    assert run("models", "path", "default").stdout.strip() == str(default_model)
    verify = run("models", "verify", "default")
    assert verify.returncode == 0 and "b179c952" in verify.stdout
    unknown = run("models", "verify", "no-such-model")
    assert unknown.returncode == 2 and "unknown model id" in unknown.stderr


def test_doctor_json(default_model: Path, tmp_path: Path) -> None:
    result = run("doctor", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"]["family"] == "llama" and report["model"]["fim"] == "none"
    assert report["roles"]["completion"].startswith("smollm2-135m-instruct (explicit: set explicitly")
    assert isinstance(report["llamaCpp"]["gpuOffload"], bool)
    assert report["python"].startswith("3.")
    assert report["acceptanceStats"] == str(Path(report["cacheDir"]) / "acceptance.sqlite3")
    # the measured speed of this machine and model (calibrated at load, or read back from the cache)
    assert report["speed"]["promptTokensPerS"] > 0 and report["speed"]["generatedTokensPerS"] > 0
    assert report["speed"]["threads"] == report["model"]["threads"] >= 1


def test_context_and_index(sample: Path, default_model: Path, tmp_path: Path) -> None:
    env = {"CODEHEARTH_CACHE_DIR": str(tmp_path / "c")}
    indexed = run("index", str(sample.parent), env_extra=env)
    assert indexed.returncode == 0, indexed.stderr
    assert "symbols" in indexed.stdout
    ctx = run("context", f"{sample}:10:12", "--json", env_extra=env)
    assert ctx.returncode == 0, ctx.stderr
    assert "circle_area" in ctx.stdout


def test_models_recommend_json(default_model: Path) -> None:
    result = run("models", "recommend", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"machine", "roles", "auto"}
    completion = {row["id"]: row for row in data["roles"]["completion"]}
    assert completion["smollm2-135m-instruct"]["present"] is True
    assert completion["codestral-22b"]["pull"] == "codehearth models pull codestral-22b"
    assert completion["codestral-22b"]["figures"]["source"] == "estimate"
    assert "deepseek-coder-6.7b-base" not in {row["id"] for row in data["roles"]["explanation"]}  # a base model
    assert data["auto"]["completion"]["model"] == "smollm2-135m-instruct"  # pinned by the config file


def test_settings_schema() -> None:
    schema = json.loads(run("settings-schema").stdout)
    assert "latencyBudgetMs" in schema["$defs"]["Settings"]["properties"]
