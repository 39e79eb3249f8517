"""The words results are made of, typed once: statuses and reasons. They cross the socket as
these strings; `crates/splice-protocol/src/messages.rs` defines the same (`Status`, `Reason`) and
a test keeps the two lists equal. Programs decide on these, never on a result's message."""

# Statuses
PATCHED = "patched"
UNCHANGED = "unchanged"
ADDED = "added"
REFUSED = "refused"
ERROR = "error"
NOT_LOADED = "not-loaded"
REVERTED_STATUS = "reverted"  # the reason of a revert is REVERTED

# Reasons

# Taken.
# A function's code replaced in place.
CODE_REPLACED = "code-replaced"
# Same text at other lines: line numbers updated, code otherwise untouched.
LINES_MOVED = "lines-moved"
# Decorators changed: the function got the new code and was decorated and bound anew.
REDECORATED = "redecorated"
# A method's kind changed (plain, classmethod, staticmethod): the class attribute rebound.
REBOUND = "rebound"
# A definition that did not exist was created.
CREATED = "created"
# A statement ran in the module's namespace.
STATEMENT_RAN = "statement-ran"
# An import ran in the module's namespace.
IMPORT_RAN = "import-ran"
# Class attributes were set on the live class.
ATTRIBUTE_SET = "attribute-set"
# A part removed from the file was removed from the program (a method, a class attribute, a function).
DELETED = "deleted"
# A module-level lambda's body replaced in place.
LAMBDA_REPLACED = "lambda-replaced"
# Nothing differs from what runs.
SAME_CODE = "same-code"

# Not taken, by a rule.
# A function became a generator or coroutine, or the reverse.
KIND_CHANGED = "kind-changed"
# A closure's free variables changed where live closures cannot provide them.
CLOSURE_CHANGED = "closure-changed"
# A class's bases, metaclass, keywords or decorators changed.
CLASS_HEADER_CHANGED = "class-header-changed"
# Attributes of a class built by a metaclass or framework (Django, SQLAlchemy, pydantic).
METACLASS_OWNS_ATTRIBUTES = "metaclass-owns-attributes"
# A dataclass field that cannot be changed in place.
DATACLASS_FIELD = "dataclass-field"
# Enum members cannot change in place.
ENUM_MEMBER = "enum-member"
# The `if __name__ == "__main__":` block is never run again.
ENTRY_POINT = "entry-point"
# The program is executing this statement now (a top-level loop).
STATEMENT_RUNNING = "statement-running"
# The module's body has not reached this statement yet.
NOT_REACHED = "not-reached"
# A block that defines functions or classes is not run again.
BLOCK_WITH_DEFINITIONS = "block-with-definitions"
# Module statements are not run (`moduleStatements` is `ask` or `off`).
STATEMENT_NOT_RUN = "statement-not-run"
# A removed module-level statement: what it did stays in the program.
STATEMENT_NOT_UNDONE = "statement-not-undone"
# A definition in a branch the program did not take, or never executed.
NOT_DEFINED = "not-defined"
# The program holds several functions by this name and none is at this definition's line.
AMBIGUOUS = "ambiguous"
# An accessor added to a live property.
PROPERTY_CHANGED = "property-changed"
# The enclosing class or function is not in the program.
CONTAINER_MISSING = "container-missing"
# A name the module's machinery owns (`__file__`, `__name__`, `__spec__`...).
RESERVED_NAME = "reserved-name"
# A part larger than a patch takes.
PART_TOO_LARGE = "part-too-large"

# Not taken: broken or raised.
SYNTAX_ERROR = "syntax-error"
COMPILE_ERROR = "compile-error"
# A statement or import raised.
STATEMENT_RAISED = "statement-raised"
# A decorator raised (registering decorators refuse late registration).
DECORATOR_RAISED = "decorator-raised"
# Evaluating defaults or annotations raised.
DEFAULTS_RAISED = "defaults-raised"
# Creating a definition raised.
DEFINITION_RAISED = "definition-raised"
# The atomic commit failed and was undone.
COMMIT_FAILED = "commit-failed"
# No module of the program is loaded from the file.
FILE_NOT_LOADED = "file-not-loaded"
# Revert: nothing to undo.
NOTHING_TO_REVERT = "nothing-to-revert"
REVERTED = "reverted"
# An engine bug; the program is unaffected.
INTERNAL = "internal"
