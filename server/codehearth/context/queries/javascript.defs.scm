(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (identifier) @name) @definition.class
(method_definition name: (property_identifier) @name) @definition.method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @definition.function
(program (lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable))
(program (export_statement (lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable)))
; CommonJS: exports.f = function () {}, module.exports.f = (x) => x
(expression_statement (assignment_expression left: (member_expression object: (identifier) @_obj property: (property_identifier) @name) right: [(function_expression) (arrow_function)]) @definition.function (#eq? @_obj "exports"))
(expression_statement (assignment_expression left: (member_expression object: (member_expression object: (identifier) @_m property: (property_identifier) @_e) property: (property_identifier) @name) right: [(function_expression) (arrow_function)]) @definition.function (#eq? @_m "module") (#eq? @_e "exports"))
