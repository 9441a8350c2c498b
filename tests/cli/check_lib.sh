# Shared by check.sh and check_budget.sh (sourced after lib.sh, never run alone): records
# the ck_* pair traces into $T and defines ck/digest/jv/failed/sites. Never records with
# a sanitizer-built alloctrace: traces come from $ATR_NORMAL when it exists.
# (the normal build's alloctrace finds the normal build's library next to it: the
# sanitizer build's one, named by ALLOCTRACE_LIB, cannot be preloaded into a plain program)
MAKE=("$ATR")
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=(env -u ALLOCTRACE_LIB "$ATR_NORMAL")
for v in base leak more peak; do
  "${MAKE[@]}" run -q -o "$T/$v.zst" -- "$PROGS/ck_$v" >/dev/null 2>"$T/$v.err" ||
    skip "cannot record ck_$v with ${MAKE[*]}: $(head -c 300 "$T/$v.err")"
done
cd "$T" || exit 1

# The commands run first; one python pass digests every JSON report afterwards (a python
# start per assertion costs more than the checks themselves on a loaded machine).
# ck CASE WANT_EXIT ARGS...: check --json into CASE.json; the exit status is judged now
ck() {
  local name=$1 want=$2; shift 2
  local rc=0
  "$ATR" check --json "$@" >"$T/$name.json" 2>"$T/$name.stderr" || rc=$?
  if [ "$rc" = "$want" ]; then ok "$name: exit $want"
  else not_ok "$name: exit $rc, want $want: $(head -c 400 "$T/$name.stderr") $(head -c 400 "$T/$name.json")"; fi
}
# after digest: jv CASE dotted.path; failed CASE: the failed checks' names; sites CASE
# CHECK: "function=value" of the call sites a check names (the growth for baselines)
digest() {
  "$PY" - "$T" <<'PYEOF'
import glob, json, os, sys
def flat(v, path, out):
    if isinstance(v, dict):
        for k, x in v.items():
            flat(x, path + [k], out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flat(x, path + [str(i)], out)
    else:
        out.append('%s\t%s' % ('.'.join(path), 'true' if v is True else 'false' if v is False else v))
for f in glob.glob(os.path.join(sys.argv[1], '*.json')) + glob.glob(os.path.join(sys.argv[1], '*.sum')):
    stem = f.rsplit('.', 1)[0]
    try:
        r = json.load(open(f))
    except ValueError:
        continue
    lines = []
    flat(r, [], lines)
    open(stem + '.flat', 'w').write('\n'.join(lines) + '\n')
    if isinstance(r, dict) and 'checks' in r:
        open(stem + '.failed', 'w').write(','.join(c['name'] for c in r['checks'] if not c['passed']) + '\n')
        open(stem + '.sites', 'w').write(''.join(
            '%s\t%s\n' % (c['name'], ','.join('%s=%s' % (s['function'], s.get('change', s['value']))
                                              for s in c.get('sites', []))) for c in r['checks']))
PYEOF
}
jv() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$T/$1.flat" 2>/dev/null; }
failed() { cat "$T/$1.failed" 2>/dev/null; }
sites() { awk -F'\t' -v n="$2" '$1 == n { print $2 }' "$T/$1.sites" 2>/dev/null; }

