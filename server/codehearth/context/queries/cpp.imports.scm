(preproc_include path: (string_literal (string_content) @import.source))
(preproc_include path: (system_lib_string) @import.source)
