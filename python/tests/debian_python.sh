#!/usr/bin/env bash
# Provides CPython 3.MINOR from Debian unstable's binary packages in a private prefix, for
# CPythons that pyenv does not have here: `debian_python.sh 14` prints the interpreter's path.
#
# The packages (and the libc they need: unstable's glibc is newer than bookworm's) are
# downloaded with a private apt state and unpacked with `dpkg-deb -x` into
# .pythons/3.MINOR/root; the interpreter is pointed at that root's loader and libraries with
# patchelf, and the standard library is byte-compiled once. Nothing outside the prefix
# changes; downloads are kept in ~/.cache/splice-ci/debian between runs.
set -euo pipefail
minor=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
prefix="$repo/.pythons/3.$minor"
root="$prefix/root"
python="$root/usr/bin/python3.$minor"
if [ -x "$python" ] && [ -f "$prefix/.done" ]; then
  echo "$python"
  exit 0
fi
command -v patchelf >/dev/null || {
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get install -y -qq patchelf >/dev/null 2>&1 ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq patchelf >/dev/null; }
}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/splice-ci/debian"
mkdir -p "$cache/lists/partial" "$cache/archives/partial"
echo "deb http://deb.debian.org/debian sid main" >"$cache/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache" -o "Dir::Cache::archives=$cache/archives"
  -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root
)
# The package lists, fetched again after a day.
if [ -z "$(find "$cache/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt-get -qq "${apt_options[@]}" update >&2
fi
packages=(
  "python3.$minor-minimal" "libpython3.$minor-minimal" "libpython3.$minor-stdlib"
  libc6 libgcc-s1 libexpat1 zlib1g libffi8 libssl3t64 libbz2-1.0 liblzma5 libzstd1
  libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8t64 libmpdec4 libdb5.3t64
)
mkdir -p "$cache/debs"
(cd "$cache/debs" && for package in "${packages[@]}"; do
  ls "${package}"_*.deb >/dev/null 2>&1 || apt-get -qq "${apt_options[@]}" download "$package" >&2 || true
done)
rm -rf "$root"
mkdir -p "$root"
for package in "${packages[@]}"; do
  for deb in "$cache/debs/${package}"_*.deb; do
    [ -f "$deb" ] && dpkg-deb -x "$deb" "$root"
  done
done
libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
# DT_RPATH (not RUNPATH): it also applies to the libraries of extension modules loaded later.
patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libs" "$python"
"$python" -c 'import ssl, sqlite3, ctypes, venv' >&2
# Once here, instead of at every start of every test program.
"$python" -m compileall -q "$root/usr/lib/python3.$minor" >&2 || true
touch "$prefix/.done"
echo "$python"
