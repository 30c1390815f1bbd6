"""The index against real files on disk: bad input, secrets, live updates, warm restarts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codehearth.config import ContextSettings
from codehearth.context import index as index_module
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex, is_secret_path
from codehearth.context.index import records as index_records

SECRET = "sk-PLANTED-SECRET-7f3a9c1e"


def count_tokens(text: str) -> int:
    return len(text) // 3 + 1


def settings(**kw: object) -> ContextSettings:
    return ContextSettings(index_workers=1, **kw)  # type: ignore[arg-type]


def make_index(root: Path, cache: Path, **kw: object) -> WorkspaceIndex:
    return WorkspaceIndex([root], cache, settings(**kw))


def names(index: WorkspaceIndex) -> set[str]:
    return {Path(p).name for p in index.paths()}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text(
        'def slugify(text: str) -> str:\n    """Lower-case words joined by dashes."""\n'
        '    return "-".join(text.lower().split())\n'
    )
    (root / "main.py").write_text(
        "from pkg.util import slugify\n\n\ndef run(title):\n    return slugify(title)\n"
    )
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def closing() -> Iterator[Callable[[WorkspaceIndex], WorkspaceIndex]]:
    opened: list[WorkspaceIndex] = []

    def track(index: WorkspaceIndex) -> WorkspaceIndex:
        opened.append(index)
        return index

    yield track
    for index in opened:
        index.close()


def test_scan_finds_definitions_and_restart_parses_nothing(workspace: Path, cache: Path, closing) -> None:
    first = closing(make_index(workspace, cache))
    reports: list[tuple[int, int]] = []
    stats = first.scan(progress=lambda done, total: reports.append((done, total)))
    assert stats.parsed == stats.files == 3
    assert reports[0] == (0, 3) and reports[-1] == (3, 3)
    [slug] = first.definitions("slugify")
    assert slug.signature.startswith("def slugify(text: str) -> str:")
    assert slug.doc == "Lower-case words joined by dashes."
    assert Path(slug.path) == (workspace / "pkg" / "util.py").resolve()
    assert (slug.start_line, slug.end_line) == (0, 2)
    first.close()

    second = closing(make_index(workspace, cache))
    again = second.scan()
    assert again.parsed == 0
    assert (again.files, again.symbols) == (stats.files, stats.symbols)
    assert second.definitions("slugify") == [slug]

    (workspace / "pkg" / "util.py").write_text("def slugify2(x):\n    return x\n")
    third = closing(make_index(workspace, cache))
    changed = third.scan()
    assert changed.parsed == 1
    assert third.definitions("slugify") == []
    assert len(third.definitions("slugify2")) == 1


def test_bad_input_is_skipped_not_fatal(workspace: Path, cache: Path, tmp_path: Path, closing) -> None:
    root = workspace
    (root / "binary.py").write_bytes(b"def looks_like_code():\n    pass\n\x00\x01\x02" * 10)
    (root / "latin1.py").write_bytes(
        b"def caf\xe9_menu():\n    return '\xff\xfe'\n\ndef plain_after():\n    pass\n"
    )
    with open(root / "huge.py", "wb") as fh:  # 50 MB, sparse
        fh.truncate(50 * 1024 * 1024)
    (root / "loop_a.py").symlink_to(root / "loop_b.py")
    (root / "loop_b.py").symlink_to(root / "loop_a.py")
    (root / "pkg" / "again").symlink_to(root, target_is_directory=True)  # a folder loop
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "elsewhere.py").write_text("def outside_function():\n    pass\n")
    (root / "link_out.py").symlink_to(outside / "elsewhere.py")
    (root / "link_dir").symlink_to(outside, target_is_directory=True)
    (root / "unreadable.py").write_text("def hidden_function():\n    pass\n")
    (root / "unreadable.py").chmod(0)
    (root / "doomed.py").write_text("def doomed_function():\n    pass\n")

    real_open = open

    def fake_open(file, *args, **kwargs):  # unreadable even for root (tests may run as root)
        if str(file).endswith("unreadable.py"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    index = closing(make_index(root, cache))
    try:
        index_records.open = fake_open  # type: ignore[attr-defined]

        def delete_during_scan(done: int, total: int) -> None:
            if done == 0:
                (root / "doomed.py").unlink()

        stats = index.scan(progress=delete_during_scan)
    finally:
        del index_records.open  # type: ignore[attr-defined]
        (root / "unreadable.py").chmod(0o644)

    indexed = names(index)
    assert {"main.py", "util.py", "latin1.py"} <= indexed
    assert not indexed & {
        "binary.py",
        "huge.py",
        "loop_a.py",
        "loop_b.py",
        "link_out.py",
        "unreadable.py",
        "doomed.py",
    }
    assert index.definitions("plain_after"), "a file with invalid UTF-8 is still indexed"
    assert index.definitions("outside_function") == []
    assert index.definitions("looks_like_code") == []
    assert not any("again" in Path(p).parts or "link_dir" in Path(p).parts for p in index.paths())
    assert stats.files == len(indexed)
    assert not index.is_allowed(root / "link_out.py")
    assert not index.is_allowed(root / "loop_a.py")
    assert not index.is_allowed(root / "huge.py")
    assert not index.is_allowed(root / "binary.py")
    assert not index.is_allowed(outside / "elsewhere.py")
    assert index.is_allowed(root / "main.py")


def test_excludes_gitignore_and_default_folders(workspace: Path, cache: Path, closing) -> None:
    root = workspace
    (root / ".gitignore").write_text("generated/\n*.gen.py\n!keep.gen.py\n")
    for rel in [
        "generated/a.py",
        "x.gen.py",
        "keep.gen.py",
        "node_modules/lib/index.js",
        ".venv/lib/site.py",
        "myenv/bin/tool.py",
        "build/out.py",
        ".git/hooks/hook.py",
        "vendored/skip_me.py",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("def f():\n    pass\n")
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    index = closing(make_index(root, cache, exclude=["vendored/"]))
    index.scan()
    assert names(index) == {"__init__.py", "util.py", "main.py", "keep.gen.py"}
    assert not index.is_allowed(root / "generated" / "a.py")
    assert not index.is_allowed(root / "vendored" / "skip_me.py")
    assert index.is_allowed(root / "keep.gen.py")


def test_corrupted_cache_is_rebuilt(workspace: Path, cache: Path, closing) -> None:
    folder = cache / index_module.CACHE_SCHEMA
    folder.mkdir(parents=True)
    (folder / "cache.db").write_bytes(b"this is not a sqlite database" * 100)
    index = closing(make_index(workspace, cache))
    stats = index.scan()
    assert stats.files == 3 and index.definitions("slugify")
    index.close()
    warm = closing(make_index(workspace, cache))
    assert warm.scan().parsed == 0, "the rebuilt cache works"

    # garbage values under the right keys are misses, not crashes
    warm.close()
    import diskcache

    with diskcache.Cache(str(folder)) as raw:
        for key in list(raw.iterkeys()):
            raw.set(key, b"\xc1garbage")
    again = closing(make_index(workspace, cache))
    assert again.scan().files == 3
    assert again.definitions("slugify")


def test_planted_secret_never_reaches_any_context(workspace: Path, cache: Path, closing) -> None:
    root = workspace
    (root / ".env").write_text(f"API_KEY={SECRET}\nslugify_token={SECRET}\n")
    (root / ".env.production").write_text(f"API_KEY={SECRET}\n")
    (root / "deploy.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    (root / "id_rsa").write_text(SECRET)
    (root / "config").mkdir()
    (root / "config" / "credentials.py").write_text(f"def get_key():\n    return '{SECRET}'\n")
    (root / "settings_local.py").write_text(
        f'KEY = """-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n-----END OPENSSH PRIVATE KEY-----"""\n'
        "def key_holder():\n    return KEY\n"
    )
    index = closing(make_index(root, cache))
    index.scan()
    for p in index.paths():
        assert SECRET not in Path(p).read_text()
    for name in (".env", ".env.production", "deploy.pem", "id_rsa"):
        assert not index.is_allowed(root / name)
        assert is_secret_path(root / name)
    assert index.definitions("get_key") == []
    assert index.definitions("key_holder") == [], "a private key inside a source file keeps it out"

    builder = ContextBuilder(index, index.settings, count_tokens)
    env_doc = Document((root / ".env").as_uri(), (root / ".env").read_text(), path=root / ".env")
    cred_doc = Document(
        (root / "config" / "credentials.py").as_uri(),
        (root / "config" / "credentials.py").read_text(),
        path=root / "config" / "credentials.py",
    )
    pasted = Document(
        "untitled:Untitled-2", f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET}\nslugify_token API_KEY\n"
    )
    builder.note_document(env_doc)
    builder.note_document(cred_doc)
    builder.note_document(pasted)
    text = "from pkg.util import slugify\nAPI_KEY = get_key()\nslugify_token = slugify(API_KEY)\n"
    doc = Document((root / "use.py").as_uri(), text + "\n", path=root / "use.py")
    for point in (Point(2, 10), Point(3, 0), Point(1, 5)):
        ctx = builder.build(doc, point, 2048)
        assert all(SECRET not in s.text for s in ctx.sections)
        assert SECRET not in ctx.prefix + ctx.line_prefix + ctx.suffix
    # even with the secret file itself open, nothing of it is put in a prompt
    for secret_doc in (env_doc, pasted):
        ctx = builder.build(secret_doc, Point(1, 8), 2048)
        assert all(SECRET not in s.text for s in ctx.sections)
        assert SECRET not in ctx.prefix + ctx.line_prefix + ctx.suffix


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until ``predicate`` holds; fails after ``timeout`` (a hang detector on a shared runner, not the
    two-second promise, which is a measurement, not a test)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not reflected in the index after {timeout}s")


def test_live_updates_reach_the_index(workspace: Path, cache: Path, closing) -> None:
    index = closing(make_index(workspace, cache))
    index.scan()
    index.start_watching()
    time.sleep(0.2)  # let the watcher settle

    new = workspace / "pkg" / "fresh.py"
    new.write_text("def brand_new_helper():\n    pass\n")
    _wait_for(lambda: bool(index.definitions("brand_new_helper")))

    new.write_text("def renamed_inside():\n    pass\n")
    _wait_for(lambda: bool(index.definitions("renamed_inside")) and not index.definitions("brand_new_helper"))

    moved = workspace / "pkg" / "moved.py"
    os.rename(new, moved)
    expected = str(moved.resolve())
    _wait_for(lambda: [d.path for d in index.definitions("renamed_inside")] == [expected])

    moved.unlink()
    _wait_for(lambda: not index.definitions("renamed_inside"))

    sub = workspace / "newpkg"
    sub.mkdir()
    (sub / "mod.py").write_text("class InNewFolder:\n    pass\n")
    _wait_for(lambda: bool(index.definitions("InNewFolder")))

    (workspace / ".gitignore").write_text("main.py\n")
    _wait_for(lambda: not index.definitions("run"))  # newly ignored files leave the index

    (workspace / ".env").write_text(f"TOKEN={SECRET}\n")
    (workspace / "late_secret.pem").write_text(SECRET)
    time.sleep(0.3)
    assert not any(Path(p).name in (".env", "late_secret.pem") for p in index.paths())
    index.stop()


def test_open_documents_use_in_memory_text(workspace: Path, cache: Path, closing) -> None:
    index = closing(make_index(workspace, cache))
    index.scan()
    util = workspace / "pkg" / "util.py"
    index.update_text(
        util, "def slugify(text, sep='-'):\n    return sep.join(text.split())\n\ndef unsaved():\n    pass\n"
    )
    assert index.definitions("unsaved")
    # a scan does not overwrite the open document with the disk version
    index.scan()
    assert index.definitions("unsaved")
    index.close_document(util)
    assert not index.definitions("unsaved")
    assert index.definitions("slugify")[0].signature == "def slugify(text: str) -> str:"


def test_update_document_reuses_the_tree(workspace: Path, cache: Path, closing) -> None:
    index = closing(make_index(workspace, cache))
    index.scan()
    util = workspace / "pkg" / "util.py"
    doc = Document(util.as_uri(), util.read_text(), path=util)
    doc.apply_edit(Point(3, 0), Point(3, 0), "def typed_just_now(a):\n    return a\n")
    index.update_document(doc)
    [typed] = index.definitions("typed_just_now")
    assert typed.path == str(util.resolve()) and typed.start_line == 3
    index.scan()  # the open buffer wins over the disk
    assert index.definitions("typed_just_now")
    secret = workspace / ".env"
    secret.write_text(f"K={SECRET}\n")
    index.update_document(Document(secret.as_uri(), secret.read_text(), language="python", path=secret))
    assert all(SECRET not in d.text for p in index.paths() for d in index.definitions_in(p))


def test_keystroke_updates_are_debounced_but_land(workspace: Path, cache: Path, closing) -> None:
    index = closing(make_index(workspace, cache))
    index.scan()
    util = workspace / "pkg" / "util.py"
    base = util.read_text()
    for i in range(30):  # typing fast: at most one parse per debounce period, the last text wins
        index.update_text(util, base + f"\ndef typed_{i}():\n    pass\n")
    _wait_for(lambda: bool(index.definitions("typed_29")))
    assert not index.definitions("typed_28")
    index.update_text(util, base + "\ndef final_name():\n    pass\n")
    index.flush()
    assert index.definitions("final_name") and not index.definitions("typed_29")
    index.close_document(util)
    assert not index.definitions("final_name") and index.definitions("slugify")


def test_refresh_follows_client_file_events(workspace: Path, cache: Path, tmp_path: Path, closing) -> None:
    """What the server calls for workspace/didChangeWatchedFiles (no watchdog involved)."""
    index = closing(make_index(workspace, cache))
    index.scan()
    added = workspace / "added.py"
    added.write_text("def from_client_event():\n    pass\n")
    assert index.refresh(added)
    assert index.definitions("from_client_event")
    assert not index.refresh(added), "unchanged content is not parsed again"
    added.unlink()
    assert index.refresh(added)
    assert not index.definitions("from_client_event")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def not_ours():\n    pass\n")
    (workspace / "via_link.py").symlink_to(outside)
    index.refresh(workspace / "via_link.py")
    index.refresh(outside)
    assert not index.definitions("not_ours")
