"""The VS Code extension's contributed settings match the server's settings schema (no editor needed).

Every ``codehearth.*`` setting in editors/vscode-client/package.json, except the client-only ``server.*`` and
``trace.*``, must exist in ``codehearth.config.settings_schema()`` with the same type, default and enum.
Server settings the extension does not contribute are listed as a warning (they still work from
``.codehearth.toml``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from codehearth.config import settings_schema

PACKAGE_JSON = Path(__file__).resolve().parents[3] / "editors" / "vscode-client" / "package.json"
CLIENT_ONLY = ("server", "trace")
REQUIRED = ("model", "latencyBudgetMs", "engine.nGpuLayers", "disabledLanguages", "logLevel")


def _deref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].split("/")[-1]]
    return node


def _leaves(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in _deref(node, root).get("properties", {}).items():
            value = _deref(value, root)
            if "properties" in value:
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk(root, "")
    return out


def _contributed() -> dict[str, dict[str, Any]]:
    props = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    out = {}
    for full, spec in props.items():
        key = full.removeprefix("codehearth.")
        if key.split(".")[0] not in CLIENT_ONLY:
            out[key] = spec
    return out


def _type(schema: dict[str, Any]) -> str | None:
    if isinstance(schema.get("type"), str):
        return schema["type"]
    if schema.get("enum") and all(isinstance(v, str) for v in schema["enum"]):
        return "string"
    return None


def test_contributed_settings_match_the_server_schema() -> None:
    leaves = _leaves(settings_schema())
    contributed = _contributed()
    problems = []
    for key, spec in contributed.items():
        schema = leaves.get(key)
        if schema is None:
            problems.append(f"codehearth.{key}: not a server setting")
            continue
        if spec.get("type") != _type(schema):
            problems.append(f"codehearth.{key}: type {spec.get('type')!r}, server {_type(schema)!r}")
        if spec.get("default") != schema.get("default"):
            problems.append(
                f"codehearth.{key}: default {spec.get('default')!r}, server {schema.get('default')!r}"
            )
        if ("enum" in spec or "enum" in schema) and sorted(spec.get("enum", [])) != sorted(
            schema.get("enum", [])
        ):
            problems.append(f"codehearth.{key}: enum {spec.get('enum')!r}, server {schema.get('enum')!r}")
        if _type(schema) == "array" and spec.get("items", {}).get("type") != schema.get("items", {}).get(
            "type"
        ):
            problems.append(f"codehearth.{key}: array items differ from the server's")
    assert not problems, "package.json is out of sync with the server's settings:\n" + "\n".join(problems)
    missing = [k for k in REQUIRED if k not in contributed]
    assert not missing, f"package.json must contribute {missing}"
    not_contributed = sorted(set(leaves) - set(contributed))
    if not_contributed:
        warnings.warn(
            f"server settings not contributed to VS Code (settable in .codehearth.toml): {not_contributed}",
            stacklevel=1,
        )
