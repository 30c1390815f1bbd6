(method_declaration) @scope.function
(constructor_declaration) @scope.function
(lambda_expression) @scope.function
(class_declaration) @scope.class
(interface_declaration) @scope.class
(enum_declaration) @scope.class
(record_declaration) @scope.class
