(import_declaration (scoped_identifier) @import.source)
(import_declaration (identifier) @import.source)
