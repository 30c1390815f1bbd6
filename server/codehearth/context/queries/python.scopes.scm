; Scopes: @scope.function (functions and methods), @scope.class (containers).
(function_definition) @scope.function
(class_definition) @scope.class
