(import_spec name: (package_identifier) @import.alias path: (interpreted_string_literal) @import.source)
(import_spec !name path: (interpreted_string_literal) @import.source)
