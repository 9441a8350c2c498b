#!/usr/bin/env bash
# setup.sh demo|test|build: installs the Debian packages alloctrace needs (as root or
# through sudo), builds with meson, then runs the demo or every test.
# Installs nothing but Debian packages; the speedscope test fetches that one npm package
# into build/npm itself (and skips its browser part without npm or the registry).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mode=${1:-demo}

core_pkgs=(gcc g++ make meson ninja-build pkg-config libunwind-dev libzstd-dev libdw-dev
           libelf-dev libiberty-dev libjansson-dev libinih-dev python3 python3-matplotlib zstd
           libprotobuf-c-dev protobuf-c-compiler zlib1g-dev)
test_pkgs=(heaptrack sqlite3 git perl chromium chromium-driver python3-selenium
           libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 librust-jemalloc-sys-dev
           ripgrep fd-find procps file golang-go)
# npm for the speedscope test, unless a Node.js install brought its own
command -v npm >/dev/null || test_pkgs+=(npm)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "setup.sh: need root or sudo to install: $*" >&2; exit 2; fi
}

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup.sh: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  # quiet when it works; the compiler's messages when it does not
  if ! ninja -C "$dir" >"$dir/build-output.txt" 2>&1; then
    grep -E "error|FAILED|undefined" "$dir/build-output.txt" | head -20 >&2
    echo "setup.sh: the build in $dir failed (all of it in $dir/build-output.txt)" >&2
    exit 1
  fi
}

case "$mode" in
  build)
    install_missing "${core_pkgs[@]}"
    build build
    ;;
  demo)
    install_missing "${core_pkgs[@]}"
    build build
    out=$(mktemp -d "${TMPDIR:-/tmp}/alloctrace-demo.XXXXXX")
    echo "== alloctrace run -- tests/progs/demo (trace in $out)"
    build/cli/alloctrace run -o "$out/demo.zst" -- build/tests/progs/demo
    echo "== alloctrace summary"
    build/cli/alloctrace summary "$out/demo.zst"
    if build/cli/alloctrace --help | grep -q flamegraph; then
      build/cli/alloctrace flamegraph "$out/demo.zst" -o "$out/demo.html"
      build/cli/alloctrace flamegraph --format svg "$out/demo.zst" -o "$out/demo.svg"
      echo "== flame graph: $out/demo.html (open it in a browser), $out/demo.svg"
    fi
    ;;
  test)
    install_missing "${core_pkgs[@]}" "${test_pkgs[@]}"
    build build
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    rc=0
    meson test -C build --no-rebuild --print-errorlogs --num-processes 2 >build/test-output.txt 2>&1 || rc=$?
    meson test -C build-asan --no-rebuild --suite asan --print-errorlogs --num-processes 2 \
      >build-asan/test-output.txt 2>&1 || rc=$?
    /usr/bin/python3 tests/summarize.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
    exit $rc
    ;;
  *)
    echo "usage: scripts/setup.sh demo|test|build" >&2
    exit 2
    ;;
esac
