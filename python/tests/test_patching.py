"""What the patch engine does to a running program, case by case.

Each case is a program before and after an edit, expressions evaluated inside the program
before and after the patch, and the status expected for each definition sent.
"""

from __future__ import annotations

import textwrap

import pytest

from conftest import ProgramError
from splice.source import definitions

SERVE = "\nimport probe\nprobe.serve(globals())\n"


def app(text: str) -> str:
    """A test program: `text` followed by the probe loop."""
    return textwrap.dedent(text) + SERVE


# name: (before, after, [(expression, value before, value after)], {qualname: status})
CASES = {
    "from_import_alias_sees_new_body": (
        """
        from lib import greet as hello
        """,
        None,
        [("hello('a')", "hello a", "bye a")],
        {"greet": "patched"},
    ),
    "callback_in_list_sees_new_body": (
        """
        def on_event():
            return 1
        callbacks = [on_event]
        """,
        """
        def on_event():
            return 2
        callbacks = [on_event]
        """,
        [("callbacks[0]()", 1, 2)],
        {"on_event": "patched"},
    ),
    "bound_method_copy_sees_new_body": (
        """
        class A:
            def m(self):
                return "old"
        bound = A().m
        """,
        """
        class A:
            def m(self):
                return "new"
        bound = A().m
        """,
        [("bound()", "old", "new")],
        {"A.m": "patched"},
    ),
    "classmethod_staticmethod_property": (
        """
        class A:
            @classmethod
            def c(cls):
                return cls.__name__ + "1"
            @staticmethod
            def s():
                return 1
            @property
            def p(self):
                return 1
        """,
        """
        class A:
            @classmethod
            def c(cls):
                return cls.__name__ + "2"
            @staticmethod
            def s():
                return 2
            @property
            def p(self):
                return 2
        """,
        [("A.c()", "A1", "A2"), ("A.s()", 1, 2), ("A().p", 1, 2)],
        {"A.c": "patched", "A.s": "patched", "A.p": "patched"},
    ),
    "property_setter_patched_apart_from_getter": (
        """
        class A:
            def __init__(self):
                self._v = 0
            @property
            def v(self):
                return self._v
            @v.setter
            def v(self, value):
                self._v = value
        def set_and_get(value):
            a = A()
            a.v = value
            return a.v
        """,
        """
        class A:
            def __init__(self):
                self._v = 0
            @property
            def v(self):
                return self._v
            @v.setter
            def v(self, value):
                self._v = value * 10
        def set_and_get(value):
            a = A()
            a.v = value
            return a.v
        """,
        [("set_and_get(2)", 2, 20)],
        {"A.v": "patched"},
    ),
    "functools_wraps_decorated": (
        """
        import functools
        def logged(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return ("logged", fn(*args))
            return wrapper
        @logged
        def work(x):
            return x + 1
        """,
        """
        import functools
        def logged(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return ("logged", fn(*args))
            return wrapper
        @logged
        def work(x):
            return x + 100
        """,
        [("work(1)", ["logged", 2], ["logged", 101])],
        {"work": "patched"},
    ),
    "decorator_without_wraps_found_by_code": (
        """
        def plain(fn):
            def inner(*args):
                return fn(*args)
            return inner
        @plain
        def work():
            return 1
        """,
        """
        def plain(fn):
            def inner(*args):
                return fn(*args)
            return inner
        @plain
        def work():
            return 2
        """,
        [("work()", 1, 2)],
        {"work": "patched"},
    ),
    "lru_cache_cleared": (
        """
        import functools
        @functools.lru_cache(maxsize=None)
        def compute(x):
            return x * 2
        """,
        """
        import functools
        @functools.lru_cache(maxsize=None)
        def compute(x):
            return x * 3
        """,
        [("compute(5)", 10, 15)],
        {"compute": "patched"},
    ),
    "live_and_future_closures_see_new_body": (
        """
        def make(n):
            def add(x):
                return x + n
            return add
        made_before = make(1)
        """,
        """
        def make(n):
            def add(x):
                return x + n * 100
            return add
        made_before = make(1)
        """,
        [("made_before(1)", 2, 101), ("make(2)(1)", 3, 201)],
        {"make.<locals>.add": "patched"},
    ),
    "nested_patched_through_enclosing_definition": (
        """
        def make(n):
            def add(x):
                return x + n
            return add
        made_before = make(1)
        """,
        """
        def make(n):
            def add(x):
                return x - n
            return add
        made_before = make(1)
        """,
        [("made_before(5)", 6, 4), ("make(2)(5)", 7, 3)],
        {"make": "patched", "make.<locals>.add": "patched"},
    ),
    "free_variable_change_refused_for_live_closures": (
        """
        def make(n):
            m = 10
            def add(x):
                return x + n
            return add
        made_before = make(1)
        """,
        """
        def make(n):
            m = 10
            def add(x):
                return x + m
            return add
        made_before = make(1)
        """,
        [("made_before(1)", 2, 2), ("make(1)(1)", 2, 11)],
        {"make.<locals>.add": "refused"},
    ),
    "a_closure_whose_new_body_needs_fewer_cells_runs_through_a_trampoline": (
        """
        def make(n, m):
            def add(x):
                return x + n + m
            return add
        made_before = make(1, 10)
        """,
        """
        def make(n, m):
            def add(x):
                return x + m
            return add
        made_before = make(1, 10)
        """,
        [("made_before(1)", 12, 11), ("make(1, 10)(1)", 12, 11)],
        {"make.<locals>.add": "patched"},
    ),
    "defaults_and_keyword_only_defaults": (
        """
        def f(a, b=1, *, c=2):
            return (a, b, c)
        """,
        """
        def f(a, b=10, *, c=20):
            return (a, b, c)
        """,
        [("f(0)", [0, 1, 2], [0, 10, 20])],
        {"f": "patched"},
    ),
    "defaults_evaluated_in_module_namespace": (
        """
        LIMIT = 7
        def f(x=3):
            return x
        """,
        """
        LIMIT = 7
        def f(x=LIMIT):
            return x
        """,
        [("f()", 3, 7)],
        {"f": "patched"},
    ),
    "docstring_and_annotations_updated": (
        """
        def f(x: int) -> int:
            "old doc"
            return x
        """,
        """
        def f(x: str) -> str:
            "new doc"
            return x
        """,
        [("f.__doc__", "old doc", "new doc"), ("f.__annotations__['x'].__name__", "int", "str")],
        {"f": "patched"},
    ),
    "name_mangling_in_class_context": (
        """
        class A:
            def __init__(self):
                self.__secret = 1
            def reveal(self):
                return 0
        """,
        """
        class A:
            def __init__(self):
                self.__secret = 1
            def reveal(self):
                return self.__secret + 1
        """,
        [("A().reveal()", 0, 2)],
        {"A.reveal": "patched"},
    ),
    "zero_argument_super": (
        """
        class Base:
            def hello(self):
                return "base"
        class Child(Base):
            def hello(self):
                return "child " + super().hello()
        """,
        """
        class Base:
            def hello(self):
                return "base"
        class Child(Base):
            def hello(self):
                return "CHILD " + super().hello()
        """,
        [("Child().hello()", "child base", "CHILD base")],
        {"Child.hello": "patched"},
    ),
    "async_function_patched": (
        """
        import asyncio
        async def fetch():
            return 1
        """,
        """
        import asyncio
        async def fetch():
            return 2
        """,
        [("asyncio.run(fetch())", 1, 2)],
        {"fetch": "patched"},
    ),
    "new_function_created_in_module": (
        """
        def f():
            return 1
        """,
        """
        def f():
            return 1
        def g(x=f):
            return x() + 1
        """,
        [("'g' in globals() and g()", False, 2)],
        {"f": "unchanged", "g": "added"},
    ),
    "new_method_seen_by_existing_instances": (
        """
        class A:
            def m(self):
                return 1
        existing = A()
        """,
        """
        class A:
            def m(self):
                return 1
            def extra(self):
                return self.m() + 41
        existing = A()
        """,
        [("hasattr(existing, 'extra')", False, True)],
        {"A.m": "unchanged", "A.extra": "added"},
    ),
    "new_class_created": (
        """
        def f():
            return 1
        """,
        """
        def f():
            return 1
        class Fresh:
            def m(self):
                return "fresh"
        """,
        [("'Fresh' in globals()", False, True)],
        {"Fresh": "added", "Fresh.m": "added"},
    ),
    "code_calling_an_imported_module_compares_unchanged": (
        """
        import time
        def wait():
            time.sleep(0)
            return 1
        def other():
            return 1
        """,
        """
        import time
        def wait():
            time.sleep(0)
            return 1
        def other():
            return 2
        """,
        [("other()", 1, 2)],
        {"wait": "unchanged", "other": "patched"},
    ),
    "function_becoming_generator_refused": (
        """
        def numbers():
            return [1, 2]
        """,
        """
        def numbers():
            yield 1
        """,
        [("numbers()", [1, 2], [1, 2])],
        {"numbers": "refused"},
    ),
    "method_becoming_property_refused": (
        """
        class A:
            def size(self):
                return 1
        """,
        """
        class A:
            @property
            def size(self):
                return 2
        """,
        [("A().size()", 1, 1)],
        {"A.size": "refused"},
    ),
    "adding_zero_argument_super_runs_through_a_trampoline": (
        """
        import inspect
        class Base:
            def m(self, n=1):
                return n
        class A(Base):
            def m(self, n=1):
                return 10
        bound = A().m
        """,
        """
        import inspect
        class Base:
            def m(self, n=1):
                return n
        class A(Base):
            def m(self, n=1):
                return 100 + super().m(n)
        bound = A().m
        """,
        [("A().m()", 10, 101), ("bound(5)", 10, 105), ("str(inspect.signature(A.m))", "(self, n=1)", "(self, n=1)")],
        {"A.m": "patched"},
    ),
    "removing_zero_argument_super_runs_through_a_trampoline": (
        """
        class Base:
            def m(self):
                return 1
        class A(Base):
            def m(self):
                return super().m() + 1
        """,
        """
        class Base:
            def m(self):
                return 1
        class A(Base):
            def m(self):
                return 7
        """,
        [("A().m()", 2, 7)],
        {"A.m": "patched"},
    ),
    "zero_argument_super_added_to_a_classmethod_and_a_coroutine": (
        """
        import asyncio
        class Base:
            @classmethod
            def make(cls):
                return "base"
            async def fetch(self, *args, key=None, **extra):
                return [args, key, extra]
        class A(Base):
            @classmethod
            def make(cls):
                return "a"
            async def fetch(self, *args, key=None, **extra):
                return None
        """,
        """
        import asyncio
        class Base:
            @classmethod
            def make(cls):
                return "base"
            async def fetch(self, *args, key=None, **extra):
                return [args, key, extra]
        class A(Base):
            @classmethod
            def make(cls):
                return "a+" + super().make()
            async def fetch(self, *args, key=None, **extra):
                return await super().fetch(*args, key=key, **extra)
        """,
        [
            ("A.make()", "a", "a+base"),
            ("asyncio.run(A().fetch(1, key=2, x=3))", None, [[1], 2, {"x": 3}]),
            ("asyncio.iscoroutinefunction(A.fetch)", True, True),
        ],
        {"A.make": "patched", "A.fetch": "patched"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_patch(program, name):
    before, after, probes, statuses = CASES[name]
    lib_before = "def greet(name):\n    return 'hello ' + name\n"
    lib_after = "def greet(name):\n    return 'bye ' + name\n"
    prog = program(app(before), lib=lib_before)
    for expression, expected, _ in probes:
        assert prog.eval(expression) == expected, expression
    if after is None:
        result = prog.patch(lib_after, name="lib.py")
    else:
        result = prog.patch(app(after), list(statuses))
    assert {q: r["status"] for q, r in result.items()} == statuses, result
    for expression, _, expected in probes:
        assert prog.eval(expression) == expected, expression


def test_refused_closure_names_the_variable(program):
    before, after, _, _ = CASES["free_variable_change_refused_for_live_closures"]
    prog = program(app(before))
    result = prog.patch(app(after), ["make.<locals>.add"])["make.<locals>.add"]
    assert "now uses m" in result["message"]
    assert "no longer uses n" in result["message"]
    assert "1 live closure made before this edit keeps the old body" in result["message"]
    assert "calls of make() from now on get the new one" in result["message"]
    assert result["span"]["line"] == 4


def test_suspended_generator_keeps_old_code_new_ones_get_new(program):
    source = """
        def count():
            yield {a}
            yield {b}
        started = count()
        first = next(started)
    """
    prog = program(app(source.format(a=1, b=2)))
    prog.patch(app(source.format(a=10, b=20)), ["count"])
    assert prog.eval("next(started)") == 2
    assert prog.eval("list(count())") == [10, 20]


def test_unchanged_neighbour_keeps_its_code_object(program):
    source = """
        def a():
            return {a}
        def b():
            return 2
        code_of_b = b.__code__
    """
    prog = program(app(source.format(a=1)))
    result = prog.patch(app(source.format(a=100)), ["a", "b"])
    assert result["a"]["status"] == "patched"
    assert result["b"]["status"] == "unchanged"
    assert prog.eval("b.__code__ is code_of_b") is True


def test_traceback_points_at_new_lines_after_insertion_above(program):
    prog = program(app('def fail():\n    raise ValueError("boom")\n'))
    new_text = '# one\n# two\n\n\ndef fail():\n    raise ValueError("new boom")\n'
    result = prog.patch(app(new_text), ["fail"])
    assert result["fail"]["status"] == "patched"
    with pytest.raises(ProgramError) as raised:
        prog.eval("fail()")
    assert 'line 6, in fail\n    raise ValueError("new boom")' in raised.value.traceback


def test_moved_definition_gets_new_line_numbers(program):
    text = 'def fail():\n    raise ValueError("boom")\n'
    prog = program(app(text))
    result = prog.patch(app("\n\n\n" + text), ["fail"])
    assert result["fail"]["status"] == "patched"
    assert "line numbers updated" in result["fail"]["message"]
    assert prog.eval("fail.__code__.co_firstlineno") == 4


def test_syntax_error_elsewhere_does_not_block_intact_definition(program):
    prog = program(app("def good():\n    return 1\ndef bad():\n    return 2\n"))
    new_text = app("def good():\n    return 100\ndef bad():\n    return (2\n")
    good = {"qualname": "good", "source": "def good():\n    return 100\n"}
    broken = {"qualname": "bad", "source": "\n\ndef bad():\n    return (2\n"}
    prog.ready()
    result = prog.client.patch(prog.path(), [good, broken], new_text)
    statuses = {d["qualname"]: d for d in result["definitions"]}
    assert statuses["good"]["status"] == "patched"
    assert statuses["bad"]["status"] == "error"
    assert statuses["bad"]["message"].startswith("SyntaxError")
    assert statuses["bad"]["span"]["line"] == 4
    assert prog.eval("good()") == 100
    assert prog.eval("bad()") == 2


def test_file_not_loaded_changes_nothing(program, workdir):
    prog = program(app("def f():\n    return 1\n"))
    other = workdir / "other.py"
    other.write_text("def f():\n    return 2\n")
    result = prog.client.patch(str(other), definitions(other.read_text()))
    assert result["modules"] == []
    assert [d["status"] for d in result["definitions"]] == ["not-loaded"]
    assert prog.eval("f()") == 1


def test_revert_restores_code_and_defaults(program):
    version = "def f(x={n}):\n    return ('v{n}', x)\n"
    prog = program(app(version.format(n=1)))
    prog.patch(app(version.format(n=2)), ["f"])
    prog.patch(app(version.format(n=3)), ["f"])
    assert prog.eval("f()") == ["v3", 3]
    for expected in (["v2", 2], ["v1", 1]):
        reverted = prog.client.revert(prog.path(), ["f"])["definitions"][0]
        assert reverted["status"] == "reverted", reverted
        assert prog.eval("f()") == expected
    nothing = prog.client.revert(prog.path(), ["f"])["definitions"][0]
    assert nothing["status"] == "error"
    assert "nothing to revert" in nothing["message"]


def test_revert_removes_added_function(program):
    prog = program(app("def f():\n    return 1\n"))
    prog.patch(app("def f():\n    return 1\ndef g():\n    return 2\n"), ["g"])
    assert prog.eval("g()") == 2
    prog.client.revert(prog.path(), ["g"])
    assert prog.eval("'g' in globals()") is False


def test_threads_calling_during_patches_never_fail(program):
    prog = program(
        app(
            """
            import threading
            def value():
                return 1
            def check():
                return value() + 0
            errors = []
            calls = [0]
            stop = threading.Event()
            def hammer():
                while not stop.is_set():
                    try:
                        assert check() in (1, 2)
                        calls[0] += 1
                    except BaseException as err:
                        errors.append(repr(err))
            workers = [threading.Thread(target=hammer) for _ in range(4)]
            for w in workers:
                w.start()
            """
        )
    )
    prog.ready()
    one = "def value():\n    return 1\ndef check():\n    return value() + 0\n"
    two = "def value():\n    return 2\ndef check():\n    return value() * 1\n"
    for i in range(100):
        text = two if i % 2 == 0 else one
        result = prog.client.patch(prog.path(), definitions(text), text)
        assert {d["status"] for d in result["definitions"]} == {"patched"}
    prog.exec("stop.set()\nfor w in workers: w.join()")
    assert prog.eval("errors") == []
    assert prog.eval("calls[0]") > 0


def test_many_patches_keep_no_dead_closure_alive(program):
    prog = program(
        app(
            """
            import gc, weakref
            def make():
                def inner():
                    return 0
                return inner
            closure = make()
            closure_ref = weakref.ref(closure)
            """
        )
    )
    prog.ready()
    for i in range(1000):
        text = f"def make():\n    def inner():\n        return {1 - i % 2}\n    return inner\n"
        prog.client.patch(prog.path(), definitions(text, ["make"]), text)
    assert prog.eval("closure()") == 0
    prog.exec("del closure\ngc.collect()")
    assert prog.eval("closure_ref() is None") is True


def test_loaded_lists_modules_and_definitions(program):
    prog = program(app("class A:\n    def m(self):\n        return 1\ndef f():\n    return 1\n"))
    prog.ready()
    loaded = prog.client.loaded(prog.path())
    assert loaded["modules"] == ["__main__"]
    assert {"A", "A.m", "f"} <= set(loaded["definitions"])


def test_a_trampolined_method_takes_later_edits_and_reverts(program):
    version = """
    class Base:
        def m(self):
            return "base"
    class A(Base):
        def m(self):
            value = {body}
            def inner():
                return value
            return inner()
    kept = A().m
    """
    bodies = ['"a"', '"b:" + super().m()', '"c:" + super().m()', '"d"']
    prog = program(app(textwrap.dedent(version.format(body=bodies[0]))))
    for body, expected in zip(bodies[1:], ["b:base", "c:base", "d"]):
        result = prog.patch(app(textwrap.dedent(version.format(body=body))), ["A.m"])["A.m"]
        assert result["status"] == "patched", result
        assert prog.eval("[A().m(), kept()]") == [expected, expected]
    for expected in ("c:base", "b:base", "a"):
        reverted = prog.client.revert(prog.path(), ["A.m"])["definitions"][0]
        assert reverted["status"] == "reverted", reverted
        assert prog.eval("kept()") == expected


def test_a_trampolined_method_reports_where_its_new_body_raised(program):
    before = "class A:\n    def m(self):\n        return 1\n"
    after = "class A:\n    def m(self):\n        return super().missing()\n"
    prog = program(app(before))
    result = prog.patch(app(after), ["A.m"])["A.m"]
    assert "trampoline" in result["message"], result
    prog.exec(
        """
        import traceback
        try:
            A().m()
        except AttributeError:
            TRACE = traceback.format_exc()
        """
    )
    assert "return super().missing()" in prog.eval("TRACE")
