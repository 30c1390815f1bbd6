"""Documents with odd URIs (untitled, outside the workspace, not a file) and prompts that look like paths."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from tests.fakes import CachingFakeEngine

from codehearth.app import uri_to_path
from codehearth.complete.background import _common
from codehearth.complete.service import CompletionService
from codehearth.config import ContextSettings, Settings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex
from codehearth.engine.speed import SpeedFigures

SLOW = SpeedFigures(prompt_tokens_per_s=5.0, generated_tokens_per_s=1000.0, source="fixed")


def test_common_prefix_of_prompts_is_counted_in_characters() -> None:
    # prompts are not paths: "// a.js" (absolute-looking) against "# b.py" raised "Can't mix absolute and
    # relative paths" in os.path.commonpath
    assert _common("// a.js\nconst x", "# b.py\nx = 1") == 0
    assert _common("// a.js\nconst x = 1", "// a.js\nconst y") == len("// a.js\nconst ")
    assert _common("abc", "abd") == 2
    assert _common("", "/x") == 0


async def test_requests_in_untitled_and_outside_documents_after_a_prefill() -> None:
    engine = CachingFakeEngine(["x * 2\n", "1;\n", "2;\n"], figures=SLOW)
    builder = ContextBuilder(None, ContextSettings(), lambda s: len(s) // 3 + 1)
    settings = Settings(latency_budget_ms=300, keep_generating_ms=0, pause_ms=10)  # type: ignore[call-arg]
    svc = CompletionService(settings, builder, lambda: engine)  # type: ignore[arg-type]
    release = threading.Event()
    engine.before_chunk = lambda request, index: release.wait(10)
    py = Document("file:///t/double.py", "import os\n\n\ndef double(x):\n    return \n", "python")
    first = await svc.complete(py, Point(4, 11))  # no plan fits: the prompt is prefilled in the background
    assert first.plan == "none"
    release.set()
    for _ in range(2000):
        if engine.log:
            break
        await asyncio.sleep(0.005)
    for uri in ("untitled:Untitled-1", "file:///nowhere/x.js", "x.js"):
        doc = Document(uri, "// header\nconst a = \n", "javascript", path=uri_to_path(uri))
        result = await svc.complete(doc, Point(1, 10))
        assert not result.reason.startswith("prompt:"), (uri, result.reason)
    assert svc.stats.errors == 0


def test_only_local_absolute_file_uris_have_a_path() -> None:
    assert uri_to_path("file:///nowhere/x%20y.py") == Path("/nowhere/x y.py")
    assert uri_to_path("file://localhost/a/b.py") == Path("/a/b.py")
    for uri in ("untitled:Untitled-1", "x.py", "file:x.py", "file://x.py", "file://host/share/x.py", "vscode-notebook-cell:/a#b"):
        assert uri_to_path(uri) is None, uri


def test_prompt_path_of_odd_documents(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "util.py").write_text("def helper():\n    return 1\n")
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    try:
        index.scan()
        builder = ContextBuilder(index, index.settings, lambda s: len(s) // 3 + 1)
        expected = {
            (root / "pkg" / "a.py").as_uri(): "pkg/a.py",  # inside: workspace-relative
            "file:///nowhere/x.py": "x.py",  # outside: no workspace-relative path, the name only
            "untitled:Untitled-1": "untitled:Untitled-1",  # no path at all
            "file://x.py": "file://x.py",
        }
        for uri, path in expected.items():
            doc = Document(uri, "from util import helper\nhelper()\n", "python", path=uri_to_path(uri))
            ctx = builder.build(doc, Point(1, 8), 512)
            assert ctx.path == path, uri
            assert ctx.line_prefix == "helper()"
    finally:
        index.close()
