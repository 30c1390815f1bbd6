(function_declaration) @scope.function
(method_declaration) @scope.function
(func_literal) @scope.function
(type_declaration) @scope.class
