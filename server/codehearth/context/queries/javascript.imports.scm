(import_statement (import_clause (identifier) @import.name) source: (string (string_fragment) @import.source))
(import_statement (import_clause (named_imports (import_specifier name: (identifier) @import.name !alias))) source: (string (string_fragment) @import.source))
(import_statement (import_clause (named_imports (import_specifier name: (identifier) @import.name alias: (identifier) @import.alias))) source: (string (string_fragment) @import.source))
(import_statement (import_clause (namespace_import (identifier) @import.alias)) source: (string (string_fragment) @import.source))
(call_expression function: (identifier) @_req arguments: (arguments (string (string_fragment) @import.source)) (#eq? @_req "require"))
; re-exports: export { a, b as c } from "./x"; export * from "./x"; export * as ns from "./x"
(export_statement (export_clause (export_specifier name: (_) @import.name !alias)) source: (string (string_fragment) @import.source)) @import.reexport
(export_statement (export_clause (export_specifier name: (_) @import.name alias: (_) @import.alias)) source: (string (string_fragment) @import.source)) @import.reexport
(export_statement "*" source: (string (string_fragment) @import.source)) @import.reexport
(export_statement (namespace_export (_) @import.alias) source: (string (string_fragment) @import.source)) @import.reexport
