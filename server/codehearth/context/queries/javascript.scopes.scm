(function_declaration) @scope.function
(generator_function_declaration) @scope.function
(method_definition) @scope.function
(variable_declarator value: [(arrow_function) (function_expression)]) @scope.function
(class_declaration) @scope.class
