"""Workspace context: documents with syntax trees, the symbol index and prompt assembly.

Pure Python plus tree-sitter; no LSP types here (the ``lsp`` package converts positions).
"""

from .document import Document, FunctionSpan, Point
from .languages import SUPPORTED_LANGUAGES, language_for_path, language_from_lsp_id

__all__ = [
    "SUPPORTED_LANGUAGES",
    "Document",
    "FunctionSpan",
    "Point",
    "language_for_path",
    "language_from_lsp_id",
]
