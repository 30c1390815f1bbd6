"""Rust, Java and C/C++ cross-file resolution, one cause per test (found by benchmarks/context/recall_repos.py).

Each fixture defines the called name in four more places, so the name-only fallback (which gives up past three
candidates) cannot rescue a wrong resolution.
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
from codehearth.context.symbols import Import, extract_symbols


def _resolve(index: WorkspaceIndex, rel: str, name: str, focus: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    return [(index.relpath(d.path), d.container) for d in resolve_in(index, rel, name, focus=focus)]


def _definitions(language: str, text: str) -> list[tuple[str, str, str]]:
    source = text.encode()
    tree = languages.new_parser(language).parse(source)
    return [(d.name, d.kind, d.container) for d in extract_symbols(tree, source, language, "x").definitions]


def test_rust_use_trees_are_one_import_per_name() -> None:
    source = b"use crate::ast::{self, Ast, Position as Pos, visit::*};\nuse super::Parser;\n"
    tree = languages.new_parser("rust").parse(source)
    assert extract_symbols(tree, source, "rust", "x.rs").imports == [
        Import(source="crate", name="ast"),
        Import(source="crate::ast", name="Ast"),
        Import(source="crate::ast", name="Position", alias="Pos"),
        Import(source="crate::ast::visit", name="*"),
        Import(source="super", name="Parser"),
    ]


def test_rust_impl_methods_belong_to_the_base_type() -> None:
    assert _definitions("rust", "impl<K, V> From<V> for Map<K, V> { fn from(v: V) -> Self { todo!() } }\n") == [
        ("from", "method", "Map")
    ]


def test_rust_type_path_call_reaches_that_types_impl(tmp_path: Path) -> None:
    decoys = {f"src/d{i}.rs": f"pub struct D{i};\nimpl D{i} {{ pub fn new() -> Self {{ D{i} }} }}\n" for i in range(4)}
    index = write_workspace(
        tmp_path,
        {
            **decoys,
            "src/ast.rs": "pub struct Position;\nimpl Position { pub fn new(o: usize) -> Position { Position } }\n",
            "src/parse.rs": "use crate::ast::Position;\npub struct Parser;\n"
            "impl Parser { pub fn new() -> Parser { Parser } }\n"
            "fn npos(o: usize) -> Position {\n    Position::new(o)\n}\nfn p() -> Parser { Parser::new() }\n",
        },
    )
    # the cursor's line calls Position::new: not this file's Parser::new
    assert _resolve(index, "src/parse.rs", "new", frozenset({"Position"})) == [("src/ast.rs", "Position")]
    index.close()


def test_java_class_method_through_its_import_overloads_as_one(tmp_path: Path) -> None:
    decoys = {
        f"p/d{i}/Other{i}.java": f"package p.d{i};\npublic class Other{i} {{\n"
        f"  public static Object observableArrayList() {{ return null; }}\n}}\n"
        for i in range(4)
    }
    index = write_workspace(
        tmp_path,
        {
            **decoys,
            "javafx/collections/FXCollections.java": "package javafx.collections;\npublic class FXCollections {\n"
            "  public static Object observableArrayList() { return null; }\n"
            "  public static Object observableArrayList(Object a) { return a; }\n}\n",
            "app/Main.java": "package app;\nimport javafx.collections.FXCollections;\npublic class Main {\n"
            "  Object f() { return FXCollections.observableArrayList(); }\n}\n",
        },
    )
    assert Resolver(index).import_map(open_doc(index, "app/Main.java"))["FXCollections"] == (
        "javafx.collections.FXCollections",
        "",
    )
    assert _resolve(index, "app/Main.java", "observableArrayList") == [
        ("javafx/collections/FXCollections.java", "FXCollections")  # one place for both overloads
    ]
    index.close()


def test_c_included_header_declares_the_call(tmp_path: Path) -> None:
    decoys = {f"other{i}.c": "void yescrypt_r(int x) { (void)x; }\n" for i in range(4)}
    index = write_workspace(
        tmp_path,
        {
            **decoys,
            "port.h": "#define yescrypt_r _crypt_yescrypt_r\n",
            "alg.h": '#include "port.h"\nextern int yescrypt_r(const char *passwd, int len);\n',
            "crypt.c": '#include "alg.h"\nint f(void) { return yescrypt_r("x", 1); }\n',
        },
    )
    # through alg.h (and what it includes): the prototype, not the renaming macro nor the four bodies elsewhere
    assert _resolve(index, "crypt.c", "yescrypt_r") == [("alg.h", "")]
    index.close()


def test_cpp_out_of_class_definitions_name_their_class() -> None:
    assert _definitions("cpp", "void Widget::PrivateData::show() {}\nint ns::Foo<int>::bar(int x) { return x; }\n") == [
        ("show", "method", "PrivateData"),
        ("bar", "method", "Foo"),
    ]


def test_cpp_qualified_call_reaches_the_out_of_class_definition(tmp_path: Path) -> None:
    index = write_workspace(
        tmp_path,
        {
            "Standalone.hpp": "#define GETW getWidth\nuint getWidth();\n",  # a container-less stand-in
            "Window.cpp": "unsigned Window::getWidth() const { return 1; }\n",
            "Widget.cpp": "unsigned Widget::getWidth() const { return 2; }\n",
            "NanoVG.cpp": '#include "Standalone.hpp"\nvoid draw() { unsigned w = Window::getWidth(); }\n',
        },
    )
    assert _resolve(index, "NanoVG.cpp", "getWidth") == [("Window.cpp", "Window")]
    index.close()


def test_template_string_substitutions_are_code(tmp_path: Path) -> None:
    index = write_workspace(
        tmp_path,
        {
            "core/util.ts": "export function joinValues(v: string[]) { return v.join(', '); }\n",
            "locale.ts": 'import * as util from "./core/util.js";\n'
            "export const msg = (v: string[]) => `one of ${util.joinValues(v)}`;\n",
        },
    )
    doc = open_doc(index, "locale.ts")
    ctx = ContextBuilder(index, ContextSettings(), lambda t: len(t) // 3 + 1).build(
        doc, Point(1, doc.line(1).index("joinValues(") + len("joinValues(")), 1024
    )
    assert [(s.path, s.label) for s in ctx.snippets if s.label.startswith("definition")] == [
        ("core/util.ts", "definition joinValues")
    ]
    index.close()
