"""Cross-file call sites and their ground truth, mined with tree-sitter, one miner per language.

The ground truth is worked out here from the language's own rules, independently of the resolver under test:
TypeScript module resolution (``./x`` → ``x.ts`` or ``x/index.ts``, ``.js`` written for ``.ts``, re-exports
followed), Go packages (``go.mod``'s module path, a folder is a package, methods by receiver type), Rust modules
(``crate::``/``super::`` paths, ``use`` trees, ``Type::f`` in ``impl`` blocks), Java classes (a class per file,
``Class.method(`` and ``new Class(``) and C/C++ linkage (the one non-static definition of a function; a header that
declares it and that the calling file includes counts as its declaration).

A site is a call whose callee is defined in another file of the workspace; the cursor goes right after its ``(``.
"""

from __future__ import annotations

from .clike import CMiner
from .common import Site, Workspace
from .go import GoMiner
from .java import JavaMiner
from .rust import RustMiner
from .typescript import TypeScriptMiner

MINERS = {
    "typescript": TypeScriptMiner,
    "go": GoMiner,
    "rust": RustMiner,
    "java": JavaMiner,
    "c": CMiner,
    "cpp": CMiner,
}

__all__ = ["MINERS", "Site", "Workspace"]
