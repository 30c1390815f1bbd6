"""Per-language queries: definitions, imports and cross-file resolution in every supported language."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.config import ContextSettings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex, module_keys

# language -> (library file, library source, user file, user source, called name, expected kind)
CASES = {
    "typescript": (
        "src/util/strings.ts",
        "/** Pads a string on the left. */\nexport function padLeft(s: string, n: number): string {\n"
        "  return s.padStart(n);\n}\nexport interface Shape { area(): number }\n",
        "src/app.ts",
        'import { padLeft } from "./util/strings";\n\nexport function show(x: string) {\n'
        "  return padLeft(x, 4);\n}\n",
        "padLeft",
        "function",
    ),
    "tsx": (
        "web/components/Button.tsx",
        "export function Button(props: { label: string }) {\n  return <button>{props.label}</button>;\n}\n",
        "web/App.tsx",
        'import { Button } from "./components/Button";\nexport const App = () => <div>{Button({ label: "x" })}</div>;\n',
        "Button",
        "function",
    ),
    "javascript": (
        "lib/math.js",
        "// Adds two numbers.\nexport const add = (a, b) => a + b;\nexport class Vec { len() { return 0; } }\n",
        "lib/main.js",
        'import { add, Vec } from "./math.js";\nfunction go() {\n  return add(1, 2);\n}\n',
        "add",
        "function",
    ),
    "go": (
        "pkg/geo/area.go",
        "package geo\n\n// Circle returns the area of a circle.\nfunc Circle(r float64) float64 {\n\treturn 3.14 * r * r\n}\n",
        "cmd/main.go",
        'package main\n\nimport "example.com/pkg/geo"\n\nfunc main() {\n\tx := geo.Circle(2)\n\t_ = x\n}\n',
        "Circle",
        "function",
    ),
    "rust": (
        "src/util.rs",
        "/// Doubles a number.\npub fn double(x: i32) -> i32 {\n    x * 2\n}\npub struct Meter(pub f64);\n",
        "src/main.rs",
        "mod util;\nuse crate::util::double;\n\nfn main() {\n    let y = double(21);\n}\n",
        "double",
        "function",
    ),
    "java": (
        "src/com/acme/Greeter.java",
        "package com.acme;\n\n/** Greets people. */\npublic class Greeter {\n  public String greet(String n) {\n"
        '    return "hi " + n;\n  }\n}\n',
        "src/com/acme/App.java",
        "package com.acme;\n\nimport com.acme.Greeter;\n\npublic class App {\n  void run() {\n"
        "    Greeter g = new Greeter();\n  }\n}\n",
        "Greeter",
        "class",
    ),
    "c": (
        "src/buf.h",
        "/* Growable buffer. */\nstruct buf { char *data; int len; };\nint buf_push(struct buf *b, char c);\n",
        "src/main.c",
        '#include "buf.h"\n\nint main(void) {\n  struct buf b;\n  buf_push(&b, 1);\n  return 0;\n}\n',
        "buf_push",
        "declaration",
    ),
    "cpp": (
        "src/shapes.hpp",
        "namespace geo {\n// A circle.\nclass Circle {\n public:\n  double area() const { return 3.14; }\n};\n}\n",
        "src/main.cpp",
        '#include "shapes.hpp"\n\nint main() {\n  geo::Circle c;\n  auto a = c.area();\n  return 0;\n}\n',
        "Circle",
        "class",
    ),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_definitions_and_cross_file_resolution(language: str, tmp_path: Path) -> None:
    lib_rel, lib_src, user_rel, user_src, name, kind = CASES[language]
    root = tmp_path / "ws"
    for rel, src in ((lib_rel, lib_src), (user_rel, user_src)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src)
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    try:
        stats = index.scan()
        assert stats.files == 2
        defs = index.definitions(name)
        assert [d.kind for d in defs] == [kind], [(d.name, d.kind, d.path) for d in defs]
        d = defs[0]
        assert d.language == language and Path(d.path) == (root / lib_rel).resolve()
        assert name in d.signature
        symbols = index.file_symbols(str((root / user_rel).resolve()))
        assert symbols is not None
        assert symbols.imports, "imports are extracted"

        user = root / user_rel
        doc = Document(user.as_uri(), user_src, path=user)
        assert doc.language == language
        row = next(i for i, line in enumerate(user_src.splitlines()) if name in line and i > 0)
        line = doc.line(row)
        point = Point(row, len(line[: line.index(name) + len(name)].encode()))
        ctx = ContextBuilder(index, index.settings, lambda s: len(s) // 3 + 1).build(doc, point, 1024)
        paths = {s.path for s in ctx.snippets if name in s.text}
        assert lib_rel in paths, [(s.label, s.path) for s in ctx.snippets]
    finally:
        index.close()


def test_docstrings_from_comments_and_docstrings(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    for rel, (_lib, src, *_rest) in ((c[0], (c[0], c[1])) for c in CASES.values()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src)
    index = WorkspaceIndex([root], tmp_path / "cache", ContextSettings(index_workers=1))
    try:
        index.scan()
        docs = {
            d.name: d.doc
            for n in ("padLeft", "add", "Circle", "double", "Greeter")
            for d in index.definitions(n)
        }
        assert docs["padLeft"] == "Pads a string on the left."
        assert docs["add"] == "Adds two numbers."
        assert docs["double"] == "Doubles a number."
        assert docs["Greeter"] == "Greets people."
        assert docs["Circle"] in ("Circle returns the area of a circle.", "A circle.")
        methods = [d for d in index.definitions("area") if d.container]
        assert {d.container for d in methods} == {"Circle", "Shape"}
    finally:
        index.close()


def test_module_keys() -> None:
    assert module_keys(Path("Lib/json/decoder.py"))[:3] == ["Lib.json.decoder", "json.decoder", "decoder"]
    assert module_keys(Path("pkg/__init__.py"))[0] == "pkg"
    assert "util" in module_keys(Path("src/util/index.ts"))
    assert "geo" in module_keys(Path("pkg/geo/area.go"))


def test_commonjs_exports_are_definitions() -> None:
    from codehearth.context.document import Document

    doc = Document(
        "u", "exports.parse = function (s) { return s; };\nmodule.exports.fmt = (x) => x;\n", "javascript"
    )
    assert [(d.name, d.kind) for d in doc.symbols().definitions] == [
        ("parse", "function"),
        ("fmt", "function"),
    ]
