(import_statement (import_clause (identifier) @import.name) source: (string (string_fragment) @import.source))
(import_statement (import_clause (named_imports (import_specifier name: (identifier) @import.name))) source: (string (string_fragment) @import.source))
(import_statement (import_clause (namespace_import (identifier) @import.alias)) source: (string (string_fragment) @import.source))
(call_expression function: (identifier) @_req arguments: (arguments (string (string_fragment) @import.source)) (#eq? @_req "require"))
