def test_patched_function_changes_behaviour(program):
    prog = program("""
        import probe
        def greet(name):
            return "hello " + name
        probe.serve(globals())
    """)
    assert prog.eval("greet('x')") == "hello x"
    result = prog.patch("""
        import probe
        def greet(name):
            return "bye " + name
        probe.serve(globals())
    """)
    assert result["greet"]["status"] == "patched"
    assert prog.eval("greet('x')") == "bye x"
