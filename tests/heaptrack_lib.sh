# Shared by tests/cli/heaptrack_*.sh (sourced after lib.sh, never run alone): runs one
# command under alloctrace and under heaptrack 1.4 in the same controlled environment
# and reads both tools' numbers. Skips the test when heaptrack is missing.
[ -d "${T:-}" ] || { echo "${BASH_SOURCE[0]}: source lib.sh first" >&2; exit 1; }
command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null ||
  skip "heaptrack is not installed (Debian package heaptrack)"
mkdir -p "$T/home" "$T/work"
cd "$T/work" || exit 1

# Determinism: no inherited variables, fixed locale and time zone, no hash randomization
# (Python, Perl), no system git config, and no ASLR (setarch -R), so each tool sees the
# same allocations run after run. PWD is set because heaptrack's launcher (a bash script)
# exports it: both tools' programs must see the same environment -- Perl copies every
# variable into %ENV (5 allocations each).
BASE_ENV=(PATH=/usr/bin:/bin HOME="$T/home" PWD="$T/work" LC_ALL=C TZ=UTC PYTHONHASHSEED=0
          PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=A
          GIT_AUTHOR_EMAIL=a@example.org GIT_COMMITTER_NAME=A GIT_COMMITTER_EMAIL=a@example.org
          GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z)
NOASLR=(setarch "$(uname -m)" -R)
"${NOASLR[@]}" true 2>/dev/null || NOASLR=()

# The variables alloctrace's run adds for the traced program (LD_PRELOAD, ALLOCTRACE_*);
# heaptrack's launcher removes its own (LD_PRELOAD, DUMP_HEAPTRACK_OUTPUT) before main.
# For the heaptrack runs the same names with values of the same length are added (for
# LD_PRELOAD, which heaptrack would strip, a stand-in name of the same length), so both
# programs see environments of the same shape.
env -i "${BASE_ENV[@]}" "$ATR" run -q -o "$T/env.zst" -- /usr/bin/env >"$T/env.ours" 2>/dev/null ||
  skip "alloctrace cannot run /usr/bin/env: $(head -c 300 "$T/env.ours")"
HT_EXTRA=()
while IFS= read -r kv; do
  name=${kv%%=*}
  val=${kv#*=}
  case " ${BASE_ENV[*]} " in *" $name="*) continue ;; esac
  [ "$name" = LD_PRELOAD ] && name=LD_PRELOAX
  HT_EXTRA+=("$name=$(printf '%*s' "${#val}" '' | tr ' ' x)")
done <"$T/env.ours"

# run_pair NAME CMD...: CMD under each tool in the same environment: $T/NAME.zst and
# $T/NAME.json (alloctrace run and summary --json), $T/NAME.hp.zst (heaptrack)
run_pair() {
  local name=$1; shift
  env -i "${BASE_ENV[@]}" "${NOASLR[@]}" "$ATR" run -q -o "$T/$name.zst" -- "$@" \
    >"$T/$name.out" 2>"$T/$name.err" || not_ok "$name: alloctrace run: $(head -c 300 "$T/$name.err")"
  "$ATR" summary --json "$T/$name.zst" >"$T/$name.json" 2>>"$T/$name.err"
  env -i "${BASE_ENV[@]}" "${HT_EXTRA[@]}" "${NOASLR[@]}" heaptrack -o "$T/$name.hp" "$@" \
    >"$T/$name.hout" 2>"$T/$name.herr" || not_ok "$name: heaptrack run: $(tail -c 300 "$T/$name.herr")"
}

# both NAME CMD...: run_pair, then $T/NAME.view (heaptrack's view of our events,
# tests/heaptrack_view.py) and $T/NAME.ht (heaptrack_print's totals)
both() {
  local name=$1
  run_pair "$@"
  "$ATR" dump "$T/$name.zst" 2>>"$T/$name.err" | "$PY" "$TESTS/heaptrack_view.py" >"$T/$name.view"
  # builtin and embedded leak suppressions off: heaptrack must count every leak, as we do
  heaptrack_print -f "$T/$name.hp.zst" --disable-builtin-suppressions \
    --disable-embedded-suppressions -p 0 -a 0 -T 0 -l 0 2>/dev/null >"$T/$name.hprint"
  "$PY" - "$T/$name.hprint" >"$T/$name.ht" <<'PYEOF'
import json, re, sys
text = open(sys.argv[1]).read()
def num(label):
    m = re.search(label + r':\s*([0-9.]+)([KMGT]?)B?\b', text)
    if not m:
        sys.exit('heaptrack_print printed no "%s"' % label)
    # heaptrack prints bytes with 1000-based K/M/G and two decimals
    return float(m.group(1)) * {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}[m.group(2)]
print(json.dumps({'calls': int(num('calls to allocation functions')),
                  'temporary': int(num('temporary memory allocations')),
                  'peak': num('peak heap memory consumption'),
                  'leaked': num('total memory leaked')}))
PYEOF
}
