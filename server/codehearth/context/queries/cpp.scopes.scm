(function_definition) @scope.function
(lambda_expression) @scope.function
(class_specifier body: (_)) @scope.class
(struct_specifier body: (_)) @scope.class
(namespace_definition) @scope.class
