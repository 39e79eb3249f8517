#!/usr/bin/env bash
# Runs the agent's pytest suite under every CPython 3.9-3.15, each in its own virtualenv with the
# one abi3 wheel from dist/, then the whole-file saves through splice-lsp (tests/whole_file.rs)
# against programs on that Python. 3.9-3.13 are taken from pyenv or PATH when present; 3.14 and
# 3.15, when absent there, from Debian unstable's binary packages (debian_python.sh).
# Fails when 3.11, 3.14 or 3.15 is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
wheel=$(ls dist/splice-*.whl | head -n 1)
pyenv_root=$(pyenv root 2>/dev/null || true)
found=()
failed=()
for minor in 9 10 11 12 13 14 15; do
  interpreter=""
  if [ -n "$pyenv_root" ]; then
    for dir in "$pyenv_root"/versions/3."$minor".*; do
      [ -x "$dir/bin/python3.$minor" ] && interpreter="$dir/bin/python3.$minor"
    done
  fi
  [ -n "$interpreter" ] || interpreter=$(command -v "python3.$minor" || true)
  if [ -z "$interpreter" ] && [ "$minor" -ge 14 ]; then
    interpreter=$(bash python/tests/debian_python.sh "$minor") || interpreter=""
  fi
  if [ -z "$interpreter" ]; then
    echo "== CPython 3.$minor: not found, skipped"
    continue
  fi
  found+=("3.$minor")
  venv=".venvs/3.$minor"
  # Debian's interpreters come without ensurepip: this project's pip installs into them.
  pip=("$venv/bin/python" -m pip)
  if ! "$interpreter" -c 'import ensurepip' 2>/dev/null; then
    pip=(.venv/bin/python -m pip --python "$venv/bin/python")
  fi
  if [ ! -x "$venv/bin/python" ]; then
    if [ "${pip[0]}" = .venv/bin/python ]; then
      "$interpreter" -m venv --without-pip "$venv"
    else
      "$interpreter" -m venv "$venv"
      "${pip[@]}" install -q --upgrade pip
    fi
  fi
  "${pip[@]}" install -q "pytest>=7" "gevent>=24"
  "${pip[@]}" install -q --force-reinstall --no-deps "$wheel"
  echo "== CPython 3.$minor ($interpreter)"
  if ! "$venv/bin/python" -m pytest -q python/tests "$@" ||
    ! SPLICE_TEST_PYTHON="$PWD/$venv/bin/python" cargo test -q -p splice-lsp --test whole_file; then
    failed+=("3.$minor")
  fi
done
echo "== tested on: ${found[*]:-none}"
for required in 3.11 3.14 3.15; do
  if [[ ! " ${found[*]:-} " == *" $required "* ]]; then
    echo "CPython $required is required but was not found" >&2
    exit 1
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed on: ${failed[*]}" >&2
  exit 1
fi
