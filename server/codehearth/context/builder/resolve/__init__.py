"""Where a name used in a document is defined: the document itself, its imports, the workspace index.

Modules, by concern: ``resolver`` (the :class:`Resolver`, its caches, the evidence it gathers), ``imports`` (the
names imports bind, the files they name, re-exports and includes), ``keys`` (import sources as module keys),
``golang`` (Go modules and packages), ``ranking`` (choosing among the candidates), ``outline`` (a definition's
text under a budget), ``docsymbols`` (a document's symbols, failures logged once).
"""

from .ranking import MAX_CANDIDATES_PER_NAME
from .resolver import Resolver

__all__ = ["MAX_CANDIDATES_PER_NAME", "Resolver"]
