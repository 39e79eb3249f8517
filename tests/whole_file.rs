//! A save brings the running program in step with the whole file, through `splice-lsp` against
//! real programs: every statement reaches it, or its result says why not.

mod common;

use common::saves::{run_cases, Case};
use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::json;

#[test]
fn every_statement_of_a_save_reaches_the_program_or_says_why() {
    let cases = [
        Case {
            name: "an import added at the top runs before the view that uses it",
            before: "def view():\n    return 'x'\n",
            after: "import json\n\ndef view():\n    return json.dumps([1])\n",
            probe: "view()",
            expected: json!("[1]"),
            reasons: &["import-ran", "code-replaced"],
        },
        Case {
            name: "a changed constant runs, and defaults using it see it",
            before: "LIMIT = 10\n\ndef f(n=LIMIT):\n    return n\n",
            after: "LIMIT = 20\n\ndef f(n=LIMIT + 0):\n    return n\n",
            probe: "[LIMIT, f()]",
            expected: json!([20, 20]),
            reasons: &["statement-ran"],
        },
        Case {
            name: "an unchanged statement never runs again",
            before: "CALLS = []\nCALLS.append(1)\n\ndef f():\n    return 1\n",
            after: "CALLS = []\nCALLS.append(1)\n\ndef f():\n    return 2\n",
            probe: "[CALLS, f()]",
            expected: json!([[1], 2]),
            reasons: &["code-replaced"],
        },
        Case {
            name: "an unedited function keeps its defaults (a memo survives the first save)",
            before: "def fib(n, _memo={}):\n    _memo[n] = n\n    return n\n\nfib(3)\n\ndef g():\n    return 1\n",
            after: "def fib(n, _memo={}):\n    _memo[n] = n\n    return n\n\nfib(3)\n\ndef g():\n    return 2\n",
            probe: "[sorted(fib.__defaults__[0]), g()]",
            expected: json!([[3], 2]),
            reasons: &["code-replaced"],
        },
        Case {
            name: "the first save leaves code another compiler made alone (an unedited function)",
            before: "def f():\n    return 1\n\nf.__code__ = (lambda: 42).__code__\n\ndef g():\n    return 1\n",
            after: "def f():\n    return 1\n\nf.__code__ = (lambda: 42).__code__\n\ndef g():\n    return 2\n",
            probe: "[f(), g()]",
            expected: json!([42, 2]),
            reasons: &["code-replaced"],
        },
        Case {
            name: "an edit of one namesake changes only that one",
            before: "HANDLERS = []\ndef reg(f):\n    HANDLERS.append(f)\n    return f\n\n@reg\ndef _():\n    return 'a'\n\n@reg\ndef _():\n    return 'b'\n",
            after: "HANDLERS = []\ndef reg(f):\n    HANDLERS.append(f)\n    return f\n\n@reg\ndef _():\n    return 'a'\n\n@reg\ndef _():\n    return 'B'\n",
            probe: "[h() for h in HANDLERS]",
            expected: json!(["a", "B"]),
            reasons: &["code-replaced"],
        },
        Case {
            name: "a class attribute change reaches existing instances",
            before: "class A:\n    size = 1\n\na = A()\n",
            after: "class A:\n    size = 2\n\na = A()\n",
            probe: "a.size",
            expected: json!(2),
            reasons: &["attribute-set"],
        },
        Case {
            name: "a removed override lets the base method show through",
            before: "class B:\n    def m(self):\n        return 'base'\n\nclass C(B):\n    def m(self):\n        return 'override'\n",
            after: "class B:\n    def m(self):\n        return 'base'\n\nclass C(B):\n    pass\n",
            probe: "C().m()",
            expected: json!("base"),
            reasons: &["deleted"],
        },
        Case {
            name: "a method moved to its base class is found there",
            before: "class B:\n    pass\n\nclass C(B):\n    def m(self):\n        return 'c'\n\nobj = C()\n",
            after: "class B:\n    def m(self):\n        return 'b'\n\nclass C(B):\n    pass\n\nobj = C()\n",
            probe: "[obj.m(), 'm' in vars(C)]",
            expected: json!(["b", false]),
            reasons: &["created", "deleted"],
        },
        Case {
            name: "a class-level alias follows the method it names",
            before: "class A:\n    def m(self):\n        return 1\n    alias = m\n",
            after: "class A:\n    def m(self):\n        return 2\n    alias = m\n",
            probe: "A().alias()",
            expected: json!(2),
            reasons: &["code-replaced"],
        },
        Case {
            name: "a changed decorator argument is applied again",
            before: "import functools\n\n@functools.lru_cache(maxsize=1)\ndef f():\n    return 1\n",
            after: "import functools\n\n@functools.lru_cache(maxsize=2)\ndef f():\n    return 1\n",
            probe: "f.cache_info().maxsize",
            expected: json!(2),
            reasons: &["redecorated"],
        },
        Case {
            name: "a changed class header is refused",
            before: "class A:\n    pass\n",
            after: "class A(dict):\n    pass\n",
            probe: "A.__bases__[0].__name__",
            expected: json!("object"),
            reasons: &["class-header-changed"],
        },
        Case {
            name: "the entry point is never run again",
            before: "X = 1\nif __name__ == '__main__':\n    X = 2\n",
            after: "X = 1\nif __name__ == '__main__':\n    X = 3\n",
            probe: "X",
            expected: json!(2),
            reasons: &["entry-point"],
        },
        Case {
            name: "a statement that raises is reported and the rest applies",
            before: "def f():\n    return 1\n",
            after: "1 / 0\n\ndef f():\n    return 2\n",
            probe: "f()",
            expected: json!(2),
            reasons: &["statement-raised", "code-replaced"],
        },
        Case {
            name: "a module-level lambda is patched in place",
            before: "double = lambda x: x * 2\nkept = double\n",
            after: "double = lambda x: x * 3\nkept = double\n",
            probe: "kept(2)",
            expected: json!(6),
            reasons: &["lambda-replaced"],
        },
        Case {
            name: "moving a function keeps its code and shifts its lines",
            before: "def f():\n    return f.__code__.co_firstlineno\n",
            after: "\n\ndef f():\n    return f.__code__.co_firstlineno\n",
            probe: "f()",
            expected: json!(3),
            reasons: &["lines-moved"],
        },
        Case {
            name: "moving a function shifts the lines of closures made from it",
            before: "def make():\n    def inner():\n        return inner.__code__.co_firstlineno\n    return inner\n\nmade = make()\n",
            after: "\n\ndef make():\n    def inner():\n        return inner.__code__.co_firstlineno\n    return inner\n\nmade = make()\n",
            probe: "made()",
            expected: json!(4),
            reasons: &["lines-moved"],
        },
        Case {
            name: "a dataclass field default is regenerated",
            before: "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 1\n",
            after: "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 5\n",
            probe: "P().x",
            expected: json!(5),
            reasons: &["attribute-set"],
        },
        Case {
            name: "a dataclass field added mid-class takes its place in the field order",
            before: "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 1\n    z: int = 3\n",
            after: "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 1\n    y: int = 2\n    z: int = 3\n",
            probe: "repr(P(7, 8))",
            expected: json!("P(x=7, y=8, z=3)"),
            reasons: &["attribute-set"],
        },
        Case {
            name: "enum members are refused",
            before: "import enum\n\nclass E(enum.Enum):\n    A = 1\n",
            after: "import enum\n\nclass E(enum.Enum):\n    A = 2\n",
            probe: "E.A.value",
            expected: json!(1),
            reasons: &["enum-member"],
        },
        Case {
            name: "zero-argument super() added to a method reaches existing references",
            before: "class B:\n    def m(self):\n        return 'b'\n\nclass C(B):\n    def m(self):\n        return 'c'\n\nkept = C().m\n",
            after: "class B:\n    def m(self):\n        return 'b'\n\nclass C(B):\n    def m(self):\n        return 'c' + super().m()\n\nkept = C().m\n",
            probe: "kept()",
            expected: json!("cb"),
            reasons: &["code-replaced"],
        },
        Case {
            name: "a script's running top-level loop is not started again",
            before: "import probe\nTICKS = []\nwhile True:\n    TICKS.append(1)\n    if not probe.answer(globals()):\n        break\n",
            after: "import probe\nTICKS = []\nwhile True:\n    TICKS.append(2)\n    if not probe.answer(globals()):\n        break\n",
            probe: "TICKS",
            expected: json!([1]),
            reasons: &["statement-running"],
        },
    ];
    run_cases(&cases);
}

#[test]
fn ask_mode_runs_a_changed_statement_only_from_its_code_action() {
    let ws = Workspace::new();
    let before = format!("LIMIT = 10\n\ndef f():\n    return 1\n{PROBE_TAIL}");
    let after = before.replace("LIMIT = 10", "LIMIT = 20");
    ws.write("app.py", &before);
    let mut program = Program::start(&ws, "app.py");
    let options = json!({"moduleStatements": "ask"});
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], options);
    let uri = ws.uri("app.py");
    lsp.open(&uri, &before);
    ws.write("app.py", &after);
    lsp.change(&uri, 2, json!([{"text": after}]));
    lsp.save(&uri);
    lsp.patch_result(&uri);
    let diagnostics = lsp.diagnostics(&uri, |d| !d.is_empty());
    assert_eq!(
        diagnostics[0]["data"]["reason"], "statement-not-run",
        "{diagnostics:?}"
    );
    assert_eq!(diagnostics[0]["range"]["start"]["line"], 0);
    assert_eq!(
        program.eval("LIMIT"),
        10,
        "a statement ran without being asked to"
    );

    let at = json!({"line": 0, "character": 3});
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": at, "end": at}, "context": {"diagnostics": diagnostics}}),
    );
    let action = &actions[0];
    assert_eq!(action["title"], "Run this statement in the program");
    assert_eq!(action["kind"], "quickfix");
    let command = &action["command"];
    let result = lsp.request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    let reason = &result["agents"][0]["definitions"][0]["reason"];
    assert_eq!(reason, "statement-ran", "{result}");
    lsp.patch_result(&uri);
    assert_eq!(program.eval("LIMIT"), 20);
    lsp.diagnostics(&uri, |d| {
        d.iter().all(|d| d["data"]["reason"] != "statement-not-run")
    });

    // Taken now: the next save does not offer it again.
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert!(
        result["agents"][0]["definitions"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
        "{result}"
    );
    lsp.shutdown();
}

#[test]
fn a_save_the_editor_makes_by_itself_does_not_patch_unless_asked() {
    let ws = Workspace::new();
    let before = format!("def f():\n    return 1\n{PROBE_TAIL}");
    let after = before.replace("return 1", "return 2");
    ws.write("app.py", &before);
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &before);
    ws.write("app.py", &after);
    lsp.change(&uri, 2, json!([{"text": after}]));
    // Auto-save after a delay (reason 2): the file is saved, the program left alone.
    lsp.notify(
        "textDocument/willSave",
        json!({"textDocument": {"uri": uri}, "reason": 2}),
    );
    lsp.save(&uri);
    let listed = lsp.request(
        "workspace/executeCommand",
        json!({"command": "splice.listAgents"}),
    );
    assert!(listed.is_array());
    assert_eq!(program.eval("f()"), 1);
    // Ctrl+S (reason 1): patched.
    lsp.notify(
        "textDocument/willSave",
        json!({"textDocument": {"uri": uri}, "reason": 1}),
    );
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert_eq!(result["trigger"], "save", "{result}");
    assert_eq!(program.eval("f()"), 2);
    lsp.shutdown();
}
