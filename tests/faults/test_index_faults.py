"""The index cache folder deleted, made read-only, or on a full disk while the real server writes to it; and
10,000 files appearing at once followed by a branch switch that rewrites hundreds. The index keeps the workspace's
content through all of it, says so once, and the cache comes back when the cause goes away."""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_lsp import LanguageClient
from tests.faults.common import Typist, cpu_seconds, logged, popups, server_pid, until, write_workspace
from tests.lsp.harness import running_server, stats_of

from codehearth.context.index import CACHE_SCHEMA

pytestmark = pytest.mark.model
BASE_DEFS = 2  # circles.py


async def index_of(client: LanguageClient) -> dict[str, Any]:
    return (await stats_of(client))["index"] or {}


async def settled(client: LanguageClient, files: int, definitions: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        index = await index_of(client)
        done = index.get("files") == files and index.get("definitions") == definitions and not index["pendingEvents"]
        return index if done else None

    return await until(check, f"the index settling at {files} files / {definitions} definitions", timeout=120)


def add_module(ws: Path, name: str, defs: int = 1) -> None:
    body = "".join(f"def {name}_{k}(x):\n    return x + {k}\n\n" for k in range(defs))
    (ws / f"{name}.py").write_text(body)


def cache_folder(cache: Path) -> Path:
    return cache / "index" / CACHE_SCHEMA


def cached_paths(folder: Path) -> set[str]:
    import diskcache

    with diskcache.Cache(str(folder)) as cache:
        return {str(k).split(":", 2)[1] for k in cache.iterkeys() if str(k).startswith("stat:")}


async def test_cache_folder_deleted_while_serving(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    async with running_server(ws, cache) as client:
        await settled(client, 1, BASE_DEFS)
        folder = cache_folder(cache)
        assert folder.is_dir()
        shutil.rmtree(folder)
        add_module(ws, "after_delete")
        await settled(client, 2, BASE_DEFS + 1)
        add_module(ws, "later")  # the folder check runs at most once a second: a second write after that
        await asyncio.sleep(1.2)
        add_module(ws, "later2")
        await settled(client, 4, BASE_DEFS + 3)
        await until(lambda: _async(folder.is_dir() and str(ws / "later2.py") in cached_paths(folder)),
                    "the cache folder recreated with new records")
        assert len(logged(client, "was deleted; recreating it")) == 1
        assert popups(client) == []
        before = (await stats_of(client))["sources"].get("model", 0)
        # completions still work, from the model (at the empty body itself SmolLM2 answers nothing: typed into it)
        assert await Typist(client, ws).type_and_complete("return") != ""
        assert (await stats_of(client))["sources"]["model"] == before + 1


async def test_cache_read_only_then_writable(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is needed to make a folder read-only for root")
    ws = write_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    async with running_server(ws, cache) as client:
        await settled(client, 1, BASE_DEFS)
        folder = cache_folder(cache)
        probe = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {probe.stderr.strip()}")
        try:
            for i in range(3):
                add_module(ws, f"while_read_only_{i}")
                await settled(client, 2 + i, BASE_DEFS + 1 + i)  # the index has it, in memory
            assert (await index_of(client))["cacheProblem"]
            assert len(logged(client, "cannot be written")) == 1
        finally:
            subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
        await asyncio.sleep(2.5)  # past the retry delay of a failed cache
        add_module(ws, "writable_again")
        await settled(client, 5, BASE_DEFS + 4)
        await until(lambda: _has_cached(folder, ws / "writable_again.py"), "the cache written again")
        assert (await index_of(client))["cacheProblem"] is None
        assert len(logged(client, "works again")) == 1
        assert popups(client) == []


async def test_disk_full_while_writing_the_cache(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    async with running_server(ws, cache) as client:
        await settled(client, 1, BASE_DEFS)
        pid = server_pid(client)
        folder = cache_folder(cache)
        # A file-size limit of one byte: every write that grows a file fails (EFBIG), as on a full disk. Python
        # ignores SIGXFSZ, so the server sees the error rather than dying of the signal.
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            for i in range(40):
                add_module(ws, f"full_{i}", defs=20)
            await settled(client, 41, BASE_DEFS + 800)
            assert (await index_of(client))["cacheProblem"]
            assert len(logged(client, "cannot be written")) == 1
            typist = Typist(client, ws)
            before = (await stats_of(client))["sources"].get("model", 0)
            # still answers, from the model, while the cache cannot be written
            assert await typist.type_and_complete("return") != ""
            assert (await stats_of(client))["sources"]["model"] == before + 1
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        await asyncio.sleep(2.5)
        add_module(ws, "space_again")
        await settled(client, 42, BASE_DEFS + 801)
        await until(lambda: _has_cached(folder, ws / "space_again.py"), "the cache written again")
        assert len(logged(client, "works again")) == 1
        assert popups(client) == []


async def test_ten_thousand_files_then_a_branch_switch(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    repo = ws / "pkg"
    repo.mkdir()
    for i in range(300):
        (repo / f"m{i}.py").write_text(f"def old_{i}(x):\n    return x\n")
    async with running_server(ws, tmp_path / "cache") as client:
        await settled(client, 301, BASE_DEFS + 300)
        pid = server_pid(client)

        generated = ws / "generated"  # a code generator or an unpacked archive: 10,000 files at once
        generated.mkdir()
        for i in range(10_000):
            (generated / f"g{i}.py").write_text(f"def gen_{i}():\n    pass\n")
        await settled(client, 10_301, BASE_DEFS + 10_300)

        # A branch switch: 250 files rewritten (two functions each; half in place, half by rename as git and
        # editors do), 50 deleted, 50 new ones in a new folder.
        for i in range(250):
            text = f"def new_{i}(x):\n    return x\n\n\ndef newer_{i}(x):\n    return x * 2\n"
            target = repo / f"m{i}.py"
            if i % 2:
                target.write_text(text)
            else:
                part = repo / f".m{i}.py.tmp"
                part.write_text(text)
                os.replace(part, target)
        for i in range(250, 300):
            (repo / f"m{i}.py").unlink()
        (ws / "feature").mkdir()
        for i in range(50):
            (ws / "feature" / f"f{i}.py").write_text(f"def feature_{i}():\n    pass\n")
        index = await settled(client, 1 + 250 + 10_000 + 50, BASE_DEFS + 500 + 10_000 + 50)

        # Settled means idle: the watcher is not spinning on anything left over.
        before = cpu_seconds(pid)
        await asyncio.sleep(3.0)
        idle_cpu = cpu_seconds(pid) - before
        assert idle_cpu < 0.5, f"the server used {idle_cpu:.2f} s of CPU in 3 s of idleness"
        assert index["pendingEvents"] == 0
        assert popups(client) == []
        assert (await stats_of(client))["state"] == "ready"


async def _async(value: Any) -> Any:
    return value


async def _has_cached(folder: Path, path: Path) -> bool:
    return folder.is_dir() and str(path) in cached_paths(folder)
