# Shared helpers for the shell tests in tests/cli/*.sh (sourced, never run alone).
# Each test prints TAP-like lines, exits 0 on success, 1 on any failed expectation,
# 77 to skip (meson's convention). Never leaves files outside its temp directory.
set -u
: "${ATR:?ATR must point to the alloctrace binary}"
: "${PROGS:?PROGS must point to the built test programs}"
T=$(mktemp -d "${TMPDIR:-/tmp}/atr-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
PY=${PLOT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
_n=0
_failed=0

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
skip() { echo "1..0 # SKIP $*"; exit 77; }

# expect_eq DESCRIPTION GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then ok "$1 = $3"; else not_ok "$1: got '$2', want '$3'"; fi
}
# expect_match DESCRIPTION TEXT REGEX
expect_match() {
  if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else not_ok "$1: '$(printf '%s' "$2" | head -c 400)' does not match /$3/"; fi
}
expect_no_match() {
  if printf '%s' "$2" | grep -Eq -- "$3"; then not_ok "$1: matched /$3/"; else ok "$1"; fi
}
# expect_cmd DESCRIPTION WANT_EXIT COMMAND... (stdout+stderr in $OUT)
expect_exit() {
  local desc=$1 want=$2; shift 2
  local rc=0
  OUT=$("$@" 2>&1) || rc=$?
  if [ "$rc" = "$want" ]; then ok "$desc (exit $want)"; else not_ok "$desc: exit $rc, want $want: $(printf '%s' "$OUT" | head -c 600)"; fi
}

# jget FILE PATH: value at a dotted path (a.b.0.c) of a JSON file, printed plainly
jget() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
v = json.load(open(sys.argv[1]))
for part in sys.argv[2].split('.'):
    if part == '':
        continue
    v = v[int(part)] if isinstance(v, list) else v[part]
print(json.dumps(v) if isinstance(v, (dict, list)) else ('true' if v is True else 'false' if v is False else v))
PYEOF
}

# trace NAME PROG ARGS...: runs under alloctrace, writes $T/NAME.zst and $T/NAME.json
trace() {
  local name=$1; shift
  "$ATR" run -q -o "$T/$name.zst" -- "$@" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  "$ATR" summary --json "$T/$name.zst" >"$T/$name.json" 2>>"$T/$name.err"
  return $rc
}

finish() {
  echo "1..$_n"
  [ "$_failed" = 0 ] || exit 1
  exit 0
}
