(function_definition) @scope.function
(struct_specifier body: (_)) @scope.class
