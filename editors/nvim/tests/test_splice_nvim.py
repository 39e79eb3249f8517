"""The Neovim plugin end to end: headless Neovim, splice-lsp, a program running the agent."""

import re
import shutil

from conftest import PLUGIN, PROBE_TAIL, SERVER, wait_until

APP = "def greet(name):\n    return 'hello ' + name\n\n\ndef other():\n    return 1\n"

REFUSED = "def make(n):\n    m = 1\n    def add(x):\n        return x + n\n    return add\n"


def app(body):
    return body + PROBE_TAIL


def statuses(result):
    """(qualname, status) of each definition sent, but those found unchanged."""
    return [
        (d["qualname"], d["status"])
        for agent in result["agents"]
        for d in agent.get("definitions", [])
        if d["status"] != "unchanged"
    ]


def messages_with(nvim, text):
    return [m["message"] for m in nvim.messages() if text in m["message"]]


def test_write_patches_the_running_program(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    assert program.eval("greet('a')") == "hello a"
    nvim = start_nvim()
    nvim.open(path)
    assert nvim.lua("return require('splice').status()") == ""

    seen = nvim.results()
    nvim.command("%s/'hello '/'bye '/")
    nvim.command("write")
    result = nvim.wait_result(after=seen)
    assert result["trigger"] == "save"
    assert statuses(result) == [("greet", "patched")], result
    assert program.eval("greet('a')") == "bye a"

    hint = wait_until("the success hint", lambda: [d for d in nvim.diagnostics() if d["code"] == "patched"])[0]
    assert hint["source"] == "splice"
    assert hint["lnum"] == 0
    assert hint["message"].startswith(f"patched in pid {program.pid} (app.py)"), hint

    # The statusline, through v:lua as a user would write it.
    assert nvim.lua("return require('splice').status()") == "splice: 1 patched"
    line = nvim.request("nvim_eval_statusline", "%{v:lua.require'splice'.status()}", {"maxwidth": 80})
    assert line["str"] == "splice: 1 patched"
    assert nvim.lua("return require('splice').status(0)") == "splice: 1 patched"

    # The next write sends only what changed since.
    seen = nvim.results()
    nvim.command("%s/return 1/return 2/")
    nvim.command("write")
    result = nvim.wait_result(after=seen)
    assert statuses(result) == [("other", "patched")], result
    assert program.eval("other()") == 2
    assert program.eval("greet('a')") == "bye a"


def test_splice_patch_patches_the_unsaved_buffer(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)

    seen = nvim.results()
    nvim.command("%s/'hello '/'howdy '/")
    nvim.request("nvim_win_set_cursor", 0, [2, 6])
    nvim.command("Splice patch")
    result = nvim.wait_result(after=seen)
    assert result["trigger"] == "patchFunction"
    assert statuses(result) == [("greet", "patched")], result
    assert program.eval("greet('a')") == "howdy a"
    # Nothing was written: the buffer stays modified, the file as it was.
    assert nvim.eval("&modified") == 1
    assert "'hello '" in path.read_text()
    assert wait_until("the command's message", lambda: messages_with(nvim, "greet patched"))
    # Outside any function: the server's answer becomes a message.
    nvim.request("nvim_win_set_cursor", 0, [4, 0])
    nvim.command("Splice patch")
    assert wait_until("a warning", lambda: messages_with(nvim, "no function at the cursor"))


def test_refused_edit_shows_a_diagnostic_on_its_def_line(ws, start_program, start_nvim):
    path = ws.write("app.py", app(REFUSED))
    program = start_program()
    program.eval("globals().__setitem__('made', make(1))")
    nvim = start_nvim()
    nvim.open(path)

    seen = nvim.results()
    nvim.command("%s/x + n/x + m/")
    nvim.command("write")
    result = nvim.wait_result(after=seen)
    assert ("make.<locals>.add", "refused") in statuses(result), result

    refused = wait_until(
        "the refusal diagnostic",
        lambda: [d for d in nvim.diagnostics() if d["code"] == "refused"],
    )[0]
    assert refused["lnum"] == 2  # `    def add(x):`, 0-based
    assert refused["col"] == 8 and refused["end_col"] == 11  # on the name `add`
    assert refused["severity"] == 1
    assert refused["source"] == "splice"
    assert "calls of make() from now on get the new one" in refused["message"]
    assert "refused" in nvim.lua("return require('splice').status()")
    # The live closure keeps its old body.
    assert program.eval("made(1)") == 2


def test_positions_follow_the_negotiated_encoding(ws, start_program, start_nvim):
    path = ws.write("app.py", app("def face():\n    return '😀 hi'\n"))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)
    encoding = nvim.lua("return require('splice').client(0).offset_encoding")
    # Neovim 0.7-0.10 speak UTF-16; 0.11 offers UTF-8, which the server prefers.
    assert encoding in ("utf-16", "utf-8")

    # An incremental change after the emoji: the server must apply it where Neovim meant it.
    nvim.command("%s/ hi'/ yo'/")
    # The cursor on `yo`: byte 17 of "    return '😀 yo'".
    nvim.request("nvim_win_set_cursor", 0, [2, 17])
    position = nvim.lua("return require('splice').position(0, ...)", encoding)
    expected = {"utf-16": 15, "utf-8": 17}[encoding]
    assert position == {"line": 1, "character": expected}
    assert nvim.lua("return require('splice').position(0, 'utf-16')")["character"] == 15
    assert nvim.lua("return require('splice').position(0, 'utf-8')")["character"] == 17

    # What :Splice patch sends, recorded on the way out.
    nvim.lua(
        "local client = require('splice').client(0)\n"
        "local original = client.request\n"
        "_G.sent = {}\n"
        "client.request = function(...)\n"
        "  for _, arg in ipairs({ ... }) do\n"
        "    if type(arg) == 'table' and arg.command then table.insert(_G.sent, arg) end\n"
        "  end\n"
        "  return original(...)\n"
        "end"
    )
    seen = nvim.results()
    nvim.command("Splice patch")
    result = nvim.wait_result(after=seen)
    assert statuses(result) == [("face", "patched")], result
    assert program.eval("face()") == "😀 yo"
    sent = nvim.lua("return _G.sent")
    assert [s["command"] for s in sent] == ["splice.patchFunction"]
    assert sent[0]["arguments"][0]["position"] == {"line": 1, "character": expected}
    # The server's ranges come back in the same encoding: the hint sits on `face`.
    hint = wait_until("the success hint", lambda: [d for d in nvim.diagnostics() if d["code"] == "patched"])[0]
    assert (hint["lnum"], hint["col"], hint["end_col"]) == (0, 4, 8)


def test_revert_and_patch_file(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)

    seen = nvim.results()
    nvim.command("%s/'hello '/'bye '/")
    nvim.command("write")
    nvim.wait_result(after=seen)
    assert program.eval("greet('a')") == "bye a"

    seen = nvim.results()
    nvim.request("nvim_win_set_cursor", 0, [2, 4])
    nvim.command("Splice revert")
    result = nvim.wait_result(after=seen)
    assert result["trigger"] == "revertFunction"
    assert statuses(result) == [("greet", "reverted")], result
    assert program.eval("greet('a')") == "hello a"

    seen = nvim.results()
    nvim.command("%s/return 1/return 3/")
    nvim.command("Splice patch-file")
    result = nvim.wait_result(after=seen)
    assert result["trigger"] == "patchFile"
    assert ("other", "patched") in statuses(result), result
    assert program.eval("other()") == 3


def test_agents_status_completion_and_health(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)

    assert nvim.eval("getcompletion('Splice ', 'cmdline')") == [
        "patch",
        "patch-file",
        "revert",
        "agents",
        "status",
    ]
    assert nvim.eval("getcompletion('Splice pa', 'cmdline')") == ["patch", "patch-file"]

    nvim.command("Splice agents")
    listing = wait_until("the agent list", lambda: messages_with(nvim, "running program"))[0]
    assert re.search(rf"app\.py \(pid {program.pid}\)\s+Python 3\.", listing), listing
    agents = nvim.lua(
        "local out = nil\n"
        "require('splice').agents(function(err, result) out = {err = err, result = result} end)\n"
        "vim.wait(10000, function() return out ~= nil end)\n"
        "return out"
    )
    assert [a["pid"] for a in agents["result"]] == [program.pid]

    nvim.command("Splice status")
    status = wait_until("the status message", lambda: messages_with(nvim, "splice-lsp attached"))
    assert "no patch yet" in status[0]
    nvim.command("Splice nonsense")
    assert wait_until("an error", lambda: messages_with(nvim, "unknown subcommand"))

    nvim.command("checkhealth splice")
    report = "\n".join(nvim.request("nvim_buf_get_lines", 0, 0, -1, False))
    assert re.search(r"OK:? .*splice-lsp \S+ \(protocol \d+\)", report), report
    assert str(SERVER) in report, report
    assert "Neovim" in report
    assert str(ws.runtime_dir) in report, report
    assert f"agent pid {program.pid}" in report, report
    assert "ERROR" not in report, report


def test_setup_overrides_and_not_loaded(ws, start_program, start_nvim):
    ws.write("app.py", app(APP))
    other = ws.write("other.py", "def f():\n    return 1\n")
    start_program()
    nvim = start_nvim(server_global=False)
    nvim.lua(
        "require('splice').setup({ server = ..., settings = { successHints = 'off' } })",
        str(SERVER),
    )
    assert nvim.lua("return require('splice').config().cmd") == [str(SERVER)]
    nvim.open(other)
    settings = nvim.lua("return require('splice').client(0).config.settings")
    assert settings == {"splice": {"patchOnSave": True, "successHints": "off"}}

    seen = nvim.results()
    # A save sends what differs from the text last saved.
    nvim.command("%s/return 1/return 2/")
    nvim.command("write")
    result = nvim.wait_result(after=seen)
    assert result["notLoaded"]["reason"] == "file-not-loaded", result
    assert "searched pid" in result["notLoaded"]["message"], result
    assert nvim.lua("return require('splice').status()") == "splice: not loaded"
    diagnostics = wait_until("the not-loaded note", nvim.diagnostics)
    assert [(d["code"], d["severity"]) for d in diagnostics] == [("not-loaded", 3)]


def test_success_hints_off_through_setup(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.lua("require('splice').setup({ settings = { successHints = 'off' }, notify = 'all' })")
    nvim.open(path)
    seen = nvim.results()
    nvim.command("%s/'hello '/'hey '/")
    nvim.command("write")
    result = nvim.wait_result(after=seen)
    assert statuses(result) == [("greet", "patched")], result
    assert program.eval("greet('a')") == "hey a"
    assert nvim.diagnostics() == []
    # notify = 'all': saves get a message too.
    assert wait_until("the save's message", lambda: messages_with(nvim, "greet patched"))


def test_help_file_has_valid_tags(ws, start_nvim):
    doc = ws.root / "doc"
    doc.mkdir()
    (doc / "splice.txt").write_bytes((PLUGIN / "doc/splice.txt").read_bytes())
    nvim = start_nvim()
    nvim.command(f"helptags {doc}")  # raises on duplicate tags
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    for tag in ("splice", ":Splice", ":Splice-patch", "splice.status()", "g:splice_server"):
        assert tag in tags, tags
    nvim.command(f"set runtimepath^={ws.root}")
    nvim.command("help :Splice-patch")
    assert nvim.eval("expand('%:t')") == "splice.txt"


def test_help_works_after_an_install_by_hand(ws, start_nvim):
    # The plugin's folder copied as a user would, without the tags file.
    copy = ws.root / "by-hand" / "splice"
    shutil.copytree(PLUGIN, copy, ignore=shutil.ignore_patterns("tags", "tests", "__pycache__"))
    assert not (copy / "doc/tags").exists()
    nvim = start_nvim(plugin=copy)

    nvim.command("help :Splice-patch")

    assert nvim.eval("expand('%:t')") == "splice.txt"
    assert (copy / "doc/tags").exists()


def test_setup_sends_new_settings_to_a_running_server(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)
    nvim.lua("require('splice').setup({ settings = { patchOnSave = false } })")
    seen = nvim.results()
    nvim.command("%s/'hello '/'later '/")
    nvim.command("write")
    nvim.command("%s/'later '/'after '/")
    nvim.request("nvim_win_set_cursor", 0, [2, 4])
    nvim.command("Splice patch")
    result = nvim.wait_result(after=seen)
    assert result["trigger"] == "patchFunction", result
    assert program.eval("greet('a')") == "after a"
    # A request answered after both: the write sent nothing to patch.
    nvim.lua(
        "local done = false\n"
        "require('splice').agents(function() done = true end)\n"
        "vim.wait(10000, function() return done end)"
    )
    assert nvim.results() == seen + 1


def lens_titles(nvim):
    """The titles of the Splice lenses Neovim holds for the current buffer, by line."""
    return nvim.lua(
        "local out = {} "
        "for _, l in ipairs(vim.lsp.codelens.get(0)) do "
        "  if l.command then out[#out + 1] = {l.range.start.line, l.command.title} end "
        "end "
        "table.sort(out, function(a, b) return a[1] < b[1] end) "
        "return out"
    )


def test_lenses_say_whether_the_program_runs_each_definition(ws, start_program, start_nvim):
    path = ws.write("app.py", app(APP))
    program = start_program()
    nvim = start_nvim()
    nvim.open(path)

    wait_until("live lenses", lambda: lens_titles(nvim) == [[0, "live in 1 process"], [4, "live in 1 process"]])

    nvim.command("%s/'hello '/'bye '/")
    nvim.command("doautocmd TextChanged")
    wait_until("an edited lens", lambda: lens_titles(nvim)[:1] == [[0, "edited · not in the program yet"]])

    nvim.command("write")
    wait_until(
        "the patched lens",
        lambda: lens_titles(nvim)[0][1].startswith("live in 1 process · patched "),
    )
    assert program.eval("greet('a')") == "bye a"
