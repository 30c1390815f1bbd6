"""Go cross-file resolution, one cause per test, each on a small module written for it.

Each fixture also defines the called name in four unrelated packages, so the name-only fallback (which gives up past
three candidates) cannot rescue a wrong resolution: only the package rules give the right file.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.context.workspaces import open_doc, resolve_in, write_workspace

from codehearth.config import ContextSettings
from codehearth.context import languages
from codehearth.context.builder import ContextBuilder
from codehearth.context.builder.resolve import Resolver
from codehearth.context.document import Point
from codehearth.context.index import WorkspaceIndex
from codehearth.context.symbols import extract_symbols


def _module(tmp_path: Path, module: str, files: dict[str, str], decoy: str) -> WorkspaceIndex:
    files = {"go.mod": f"module {module}\n\ngo 1.21\n", **files}
    for i in range(4):
        files[f"decoys/d{i}/d.go"] = f"package d{i}\n\nfunc {decoy}() int {{ return {i} }}\n"
    return write_workspace(tmp_path, files, folder="mod")


def _resolve(index: WorkspaceIndex, rel: str, name: str) -> list[tuple[str, str, str]]:
    return [(index.relpath(d.path), d.kind, d.container) for d in resolve_in(index, rel, name)]


def test_methods_are_keyed_by_their_receiver_type() -> None:
    source = b"package chi\n\nfunc (x *Context) URLParam(k string) string { return k }\n" \
        b"func (m Mux[T]) Use() {}\nfunc URLParam(k string) string { return k }\n"
    tree = languages.new_parser("go").parse(source)
    symbols = extract_symbols(tree, source, "go", "context.go")
    assert [(d.name, d.kind, d.container) for d in symbols.definitions] == [
        ("URLParam", "method", "Context"),
        ("Use", "method", "Mux"),
        ("URLParam", "function", ""),
    ]
    assert symbols.package == "chi"


def test_package_name_comes_from_the_package_clause(tmp_path: Path) -> None:
    index = _module(
        tmp_path,
        "example.com/tool",
        {
            "internal/textutil/wrap.go": "package text\n\nfunc Wrap(s string) string { return s }\n",
            "cmd/run.go": 'package cmd\n\nimport "example.com/tool/internal/textutil"\n\n'
            'func Run() string { return text.Wrap("x") }\n',
        },
        decoy="Wrap",
    )
    doc = open_doc(index, "cmd/run.go")
    assert Resolver(index).import_map(doc)["text"] == ("example.com/tool/internal/textutil", "")
    assert _resolve(index, "cmd/run.go", "Wrap") == [("internal/textutil/wrap.go", "function", "")]
    index.close()


def test_major_version_suffix_and_the_module_root_package(tmp_path: Path) -> None:
    index = _module(
        tmp_path,
        "github.com/go-chi/chi/v5",
        {
            "chi.go": "package chi\n\nfunc NewRouter() *Mux { return nil }\n",
            "context.go": "package chi\n\ntype Context struct{}\n\n"
            "func (x *Context) URLParam(key string) string { return key }\n\n"
            "func URLParam(r int, key string) string { return key }\n",
            "middleware/strip.go": 'package middleware\n\nimport "github.com/go-chi/chi/v5"\n\n'
            'func Strip() string { return chi.URLParam(0, "path") }\n',
        },
        decoy="URLParam",
    )
    resolver = Resolver(index)
    doc = open_doc(index, "middleware/strip.go")
    assert resolver.import_map(doc)["chi"] == ("github.com/go-chi/chi/v5", "")
    assert {index.relpath(f) for f in resolver.module_files(doc, "github.com/go-chi/chi/v5")} == {
        "chi.go",
        "context.go",
    }
    # the package's function, not the method of the same name
    assert _resolve(index, "middleware/strip.go", "URLParam") == [("context.go", "function", "")]
    index.close()


def test_bare_call_resolves_within_the_package(tmp_path: Path) -> None:
    index = _module(
        tmp_path,
        "example.com/tool",
        {
            "args.go": "package tool\n\nfunc parseArgs() []string { return nil }\n",
            "main.go": "package tool\n\nfunc Main() { parseArgs() }\n",
            "main_test.go": "package tool_test\n\nfunc parseArgs() {}\n",
        },
        decoy="parseArgs",
    )
    assert _resolve(index, "main.go", "parseArgs") == [("args.go", "function", "")]
    index.close()


def test_call_on_the_methods_receiver_reaches_its_type(tmp_path: Path) -> None:
    index = _module(
        tmp_path,
        "example.com/tool",
        {
            "lexer.go": "package tool\n\ntype lexer struct{}\n\nfunc (l *lexer) next() rune { return 0 }\n",
            "parser.go": "package tool\n\ntype parser struct{}\n\nfunc (q *parser) next() rune { return 1 }\n",
            "parse.go": "package tool\n\nfunc (p *parser) run() {\n\tp.next()\n}\n",
        },
        decoy="next",
    )
    doc = open_doc(index, "parse.go")
    builder = ContextBuilder(index, ContextSettings(), lambda text: len(text) // 3 + 1)
    ctx = builder.build(doc, Point(3, len("\tp.next(")), 1024)
    assert [(s.path, s.label) for s in ctx.snippets if s.label.startswith("definition")] == [
        ("parser.go", "definition parser"),  # the receiver's type, named near the cursor
        ("parser.go", "definition parser.next"),  # not lexer.next, nor the four functions named next
    ]
    index.close()


def test_bare_call_inside_a_method_of_the_same_name(tmp_path: Path) -> None:
    index = _module(
        tmp_path,
        "example.com/tool",
        {
            "decode.go": "package tool\n\nfunc decode(b []byte) int { return len(b) }\n",
            "spec.go": "package tool\n\ntype BlockSpec struct{}\n\n"
            "func (s *BlockSpec) decode(b []byte) int {\n\treturn decode(b)\n}\n",
        },
        decoy="decode",
    )
    doc = open_doc(index, "spec.go")
    builder = ContextBuilder(index, ContextSettings(), lambda text: len(text) // 3 + 1)
    ctx = builder.build(doc, Point(5, len("\treturn decode(")), 1024)
    assert [(s.path, s.label) for s in ctx.snippets if s.label.startswith("definition")] == [
        ("decode.go", "definition decode")  # the package's function, not the method we are in
    ]
    index.close()
