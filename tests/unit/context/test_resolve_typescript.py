"""TypeScript/JavaScript cross-file resolution, one cause per test, each on a small workspace written for it.

Every fixture also defines the called name in four unrelated files, so the name-only fallback (which gives up past
three candidates) cannot rescue a wrong resolution: only following the import gives the right file.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.context.workspaces import open_doc, resolve_in, write_workspace

from codehearth.context import languages
from codehearth.context.builder.resolve import Resolver
from codehearth.context.index import WorkspaceIndex, module_keys
from codehearth.context.symbols import extract_symbols


def _workspace(tmp_path: Path, files: dict[str, str], decoy: str) -> WorkspaceIndex:
    decoys = {  # the same name elsewhere: no name-only guess can pick the right one
        f"decoys/d{i}/{decoy}.ts": f"export function {decoy}(x: number) {{ return {i}; }}\n" for i in range(4)
    }
    return write_workspace(tmp_path, {**files, **decoys})


def _resolve(index: WorkspaceIndex, rel: str, name: str) -> list[tuple[str, str, int]]:
    text = (index.roots[0] / rel).read_text()
    line = next(i for i, text in enumerate(text.split("\n")) if f"{name}(" in text)
    defs = resolve_in(index, rel, name, visible=(line, line))
    return [(index.relpath(d.path), d.name, d.start_line) for d in defs]


def test_import_of_a_folder_resolves_to_its_index_file(tmp_path: Path) -> None:
    index = _workspace(
        tmp_path,
        {
            "src/pad/index.ts": "export function pad(s: string) { return ' ' + s; }\n",
            "src/trim/index.js": "export function trim(s) { return s.trim(); }\n",
            "src/app.ts": 'import { pad } from "./pad";\nimport { trim } from "./trim/index.js";\n'
            "export const out = pad(trim('x'));\n",
        },
        decoy="pad",
    )
    assert "src.pad" in module_keys(Path("src/pad/index.ts"))  # the folder stands for its index file
    doc = open_doc(index, "src/app.ts")
    resolver = Resolver(index)
    assert {index.relpath(f) for f in resolver.module_files(doc, "./pad")} == {"src/pad/index.ts"}
    assert {index.relpath(f) for f in resolver.module_files(doc, "./trim/index.js")} == {"src/trim/index.js"}
    assert resolver.module_files(doc, "./missing") == set()  # a relative import never guesses by suffix
    assert _resolve(index, "src/app.ts", "pad") == [("src/pad/index.ts", "pad", 0)]
    index.close()


def test_aliased_import_binds_the_alias(tmp_path: Path) -> None:
    index = _workspace(
        tmp_path,
        {
            "src/format.ts": "export function format(d: Date) { return d.toISOString(); }\n",
            "src/app.ts": 'import { format as fmt } from "./format";\nexport const s = fmt(new Date());\n',
        },
        decoy="format",
    )
    doc = open_doc(index, "src/app.ts")
    assert Resolver(index).import_map(doc) == {"fmt": ("./format", "format")}
    assert _resolve(index, "src/app.ts", "fmt") == [("src/format.ts", "format", 0)]
    index.close()


OVERLOADS = """export function normalize(a: string): string;
export function normalize(a: number): number;
export function normalize(a: Date): Date;
export function normalize(a: any): any {
  return a;
}
export class Parser {
  parse(a: string): void;
  parse(a: number): void;
  parse(a: any) {}
}
"""


def test_overloads_are_one_definition(tmp_path: Path) -> None:
    source = OVERLOADS.encode()
    tree = languages.new_parser("typescript").parse(source)
    defs = extract_symbols(tree, source, "typescript", "n.ts").definitions
    assert [(d.name, d.kind, d.container, d.start_line, d.end_line) for d in defs] == [
        ("normalize", "function", "", 0, 5),
        ("Parser", "class", "", 6, 10),
        ("parse", "method", "Parser", 7, 9),
    ]
    assert defs[0].text == "".join(OVERLOADS.splitlines(keepends=True)[:6])
    index = _workspace(
        tmp_path,
        {"src/normalize.ts": OVERLOADS, "src/app.ts": 'import { normalize } from "./normalize";\nnormalize(1);\n'},
        decoy="normalize",
    )
    assert _resolve(index, "src/app.ts", "normalize") == [("src/normalize.ts", "normalize", 0)]
    index.close()


def test_reexports_are_followed(tmp_path: Path) -> None:
    index = _workspace(
        tmp_path,
        {
            "src/core/index.ts": 'export * from "./schemas.js";\nexport { make as create } from "./factory.js";\n'
            'export * as util from "./util.js";\n',
            "src/core/schemas.ts": "export function object(shape: object) { return shape; }\n",
            "src/core/factory.ts": "export function make() { return {}; }\n",
            "src/core/util.ts": "export function clone<T>(x: T): T { return x; }\n",
            "src/app.ts": 'import * as core from "./core/index.js";\nimport { create, util } from "./core";\n'
            "core.object({});\ncreate();\nutil.clone(1);\n",
        },
        decoy="object",
    )
    assert _resolve(index, "src/app.ts", "object") == [("src/core/schemas.ts", "object", 0)]
    assert _resolve(index, "src/app.ts", "create") == [("src/core/factory.ts", "make", 0)]
    assert _resolve(index, "src/app.ts", "clone") == [("src/core/util.ts", "clone", 0)]
    index.close()
