(use_declaration argument: (_) @import.source)
(extern_crate_declaration name: (identifier) @import.source)
