# check: `alloctrace check` on the ck_* pairs (tests/progs/ck_base.c documents the
# numbers). Every limit passes exactly at the value and fails one unit over it; each
# variant fails the check designed for it and names its function; baseline tolerances
# (absolute and relative) pass exactly at the limit and fail just over; budget files
# (INI and JSON, per-site patterns, flags over the file); the JUnit XML parses and has
# one testcase per check; bad budgets and traces are one-line errors with exit 2.
# Runs in the asan suite too: traces come from $ATR_NORMAL when it exists.
. "$TESTS/lib.sh"
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

cat >b.ini <<'INI'
# budgets for the ck programs
[limits]
max-peak = 41216      ; the base peak, exactly
  max-leaked = 0

[site "parse_*"]
max-allocations = 16

[under "main"]
max-leaked = 0

[site "load_table"]
max-peak = 8KiB

[site "no_such_*"]
max-leaked = 0
INI
cat >b.json <<'JSON'
{"limits": {"max-peak": "40.25KiB", "max-temporary": 16},
 "sites": [{"function": "remember", "max-leaked": 255},
           {"under": "build_*", "max-peak": 32768}],
 "baseline": "base.zst",
 "tolerance": {"default": 0, "rss": "100%"}}
JSON
mkdir sub && cp b.json base.zst sub/

# ---- run: the traces' numbers
for v in base leak more peak; do "$ATR" summary --json $v.zst >$v.sum; done
# ---- run: whole-process limits, exactly at the value and one unit over
ck at_limits 0 base.zst --max-peak 41216 --max-leaked 0 --max-allocations 27 \
  --max-allocated 42240 --max-temporary 16 --max-rss 1GiB
ck peak_over 1 base.zst --max-peak 41215
ck peak_size_units 0 base.zst --max-peak 40.25KiB
ck calls_over 1 base.zst --max-allocations 26
ck allocated_over 1 base.zst --max-allocated 42239
ck temporary_over 1 base.zst --max-temporary 15
ck rss_over 1 base.zst --max-rss 4096
# ---- run: each variant against the same limits
ck leak_limit 1 leak.zst --max-leaked 0 --max-peak 41216 --max-allocations 27
ck leak_at_limit 0 leak.zst --max-leaked 256
ck more_limit 1 more.zst --max-leaked 0 --max-peak 41216 --max-allocations 27
ck peak_limit 1 peak.zst --max-leaked 0 --max-peak 41216 --max-allocations 27
ck peak_at_limit 0 peak.zst --max-peak 73984
# ---- run: baselines, tolerances at the limit and just over
ck self 0 base.zst --baseline base.zst
ck leak_base 1 leak.zst --baseline base.zst --tolerance rss=100%
ck leak_base_tol 0 leak.zst --baseline base.zst --tolerance leaked=256 --tolerance rss=100%
ck leak_base_rel 1 leak.zst --baseline base.zst --tolerance 1000% --tolerance rss=100%
ck more_exact 0 more.zst --baseline base.zst --tolerance allocations=8,temporary=50%,allocated=512,rss=100%
ck more_calls 1 more.zst --baseline base.zst --tolerance allocations=7,temporary=50%,allocated=512,rss=100%
ck more_temp 1 more.zst --baseline base.zst --tolerance allocations=8,temporary=49.9%,allocated=512,rss=100%
ck more_rel_ok 0 more.zst --baseline base.zst --tolerance 50% --tolerance allocated=1.2122%,rss=100%
ck more_rel_over 1 more.zst --baseline base.zst --tolerance 50% --tolerance allocated=1.2121%,rss=100%
ck peak_base 1 peak.zst --baseline base.zst --tolerance 5% --tolerance rss=100%
# ---- run: budget files
ck ini_base 0 base.zst --budget b.ini
ck ini_more 1 more.zst --budget b.ini
ck ini_leak 1 leak.zst --budget b.ini
ck ini_flags 1 leak.zst --budget b.ini --max-leaked 256 --budget b.ini
ck json_base 0 base.zst --budget b.json
ck json_leak 1 leak.zst --budget b.json
ck json_peak 1 peak.zst --budget b.json
ck relative_paths 0 base.zst --budget sub/b.json
ck junit 1 leak.zst --budget b.ini --baseline base.zst --tolerance rss=100% --junit "$T/out.xml"
ck junit_pass 0 base.zst --max-peak 64MiB --junit "$T/pass.xml"
digest

# ---- 1. the traces hold the documented numbers
tot() { echo "$(jv $1 totals.allocations)/$(jv $1 totals.allocated_bytes)/$(jv $1 totals.temporary)/$(jv $1 totals.peak_bytes)/$(jv $1 totals.leaked_bytes)"; }
expect_eq "ck_base calls/allocated/temporary/peak/leaked" "$(tot base)" 27/42240/16/41216/0
expect_eq "ck_leak calls/allocated/temporary/peak/leaked" "$(tot leak)" 27/42240/16/41216/256
expect_eq "ck_more calls/allocated/temporary/peak/leaked" "$(tot more)" 35/42752/24/41216/0
expect_eq "ck_peak calls/allocated/temporary/peak/leaked" "$(tot peak)" 27/75008/16/73984/0

# ---- 2. whole-process limits: exactly at the value passes, one over fails
expect_eq "at the limits: checks run" "$(jv at_limits checks_run)" 6
expect_eq "at the limits: nothing failed" "$(failed at_limits)" ""
expect_eq "peak one byte over: the failure" "$(jv peak_over checks.0.message)" "peak: 41216 B > limit 41215 B (1 B over)"
expect_eq "peak one byte over: top 3 sites" "$(sites peak_over peak)" "build_index=32768,load_table=8192,remember=256"
expect_eq "allocations one over: top sites" "$(sites calls_over allocations)" "parse_input=16,load_table=8,build_index=2"
expect_eq "allocated one over" "$(failed allocated_over)" allocated
expect_eq "temporary one over: the only site" "$(sites temporary_over temporary)" "parse_input=16"
expect_eq "rss failure names heap-at-peak sites" "$(jv rss_over checks.0.sites_metric)" peak

# ---- 3. each variant fails its designed check at its function, and only that one
expect_eq "ck_leak: failed checks" "$(failed leak_limit)" leaked
expect_eq "ck_leak: names remember" "$(sites leak_limit leaked)" "remember=256"
expect_eq "ck_more: failed checks" "$(failed more_limit)" allocations
expect_eq "ck_more: names parse_input first" "$(sites more_limit allocations | cut -d, -f1)" "parse_input=24"
expect_eq "ck_peak: failed checks" "$(failed peak_limit)" peak
expect_eq "ck_peak: names build_index first" "$(sites peak_limit peak | cut -d, -f1)" "build_index=65536"
# text form: short, the metric, the value, the limit, the sites
rc=0
"$ATR" check peak.zst --max-peak 41216 --max-leaked 0 >peak.txt 2>&1 || rc=$?
expect_eq "text report exit" "$rc" 1
expect_eq "text report, first lines" "$(head -3 peak.txt | sed 1d)" "FAIL peak: 73984 B > limit 41216 B (32768 B over)
    65536 B in build_index (ck_base.c:51)"
expect_eq "text report: header + 1 failure + 3 sites + 1 pass" "$(wc -l <peak.txt | tr -d ' ')" 6

# ---- 4. baselines: tolerances, absolute and relative, at the limit and just over
expect_eq "a trace against itself: 6 checks, none failed" "$(jv self checks_run)/$(failed self)" 6/
expect_eq "ck_leak vs base: failed" "$(failed leak_base)" "leaked vs baseline"
expect_eq "ck_leak vs base: what grew" "$(sites leak_base 'leaked vs baseline')" "remember=256"
expect_eq "ck_leak vs base: with its stack" "$(jv leak_base checks.1.sites.0.stack.1.function)" main
expect_eq "relative tolerance of a zero baseline allows nothing" "$(failed leak_base_rel)" "leaked vs baseline"
expect_eq "at the tolerance: limit = 16 + 50%" "$(jv more_exact checks.4.limit)" 24
expect_eq "allocations one over the tolerance" "$(failed more_calls)" "allocations vs baseline"
expect_eq "what grew: parse_input by 8" "$(sites more_calls 'allocations vs baseline')" "parse_input=8"
expect_eq "temporary just over 49.9%" "$(failed more_temp)" "temporary vs baseline"
expect_eq "allocated: 1.2121% of 42240 is 511.99" "$(jv more_rel_over checks.2.limit)" 42751
expect_eq "ck_peak vs base: failed" "$(failed peak_base)" "peak vs baseline,allocated vs baseline"
expect_eq "ck_peak vs base: peak grew at" "$(sites peak_base 'peak vs baseline')" "build_index=32768"
expect_eq "ck_peak vs base: limit 41216 + 5%" "$(jv peak_base checks.0.limit)" 43276

# ---- 5. budget files: INI and JSON, per-site patterns, flags over the file
expect_eq "INI: checks" "$(jv ini_base checks_run)" 6
expect_eq "INI: unmatched pattern says so" "$(jv ini_base checks.5.matched_sites)" 0
expect_eq "INI on ck_more: failed" "$(failed ini_more)" "allocations in parse_*"
expect_eq "INI on ck_more: the matched site" "$(sites ini_more 'allocations in parse_*')" "parse_input=24"
expect_eq "INI on ck_leak: failed" "$(failed ini_leak)" "leaked,leaked under main"
expect_eq "INI on ck_leak: under main" "$(sites ini_leak 'leaked under main')" "remember=256"
expect_eq "flags override the file, not the site rules" "$(failed ini_flags)" "leaked under main"
expect_eq "flags only replace their own setting" "$(jv ini_flags checks_run)" 6
expect_eq "JSON: 4 limits + 6 baseline checks" "$(jv json_base checks_run)" 10
expect_eq "JSON on ck_leak: failed" "$(failed json_leak)" "leaked in remember,leaked vs baseline"
expect_eq "JSON on ck_peak: failed" "$(failed json_peak)" "peak,peak under build_*,peak vs baseline,allocated vs baseline"
expect_eq "baseline path is relative to the budget file" "$(jv relative_paths baseline)" sub/base.zst

# ---- 6. JUnit XML: parses, one testcase per check, failures carry the short message
JU=$("$PY" - "$T/out.xml" "$T/junit.json" "$T/pass.xml" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
rep = json.load(open(sys.argv[2]))
suites = root.findall('testsuite')
cases = root.findall('testsuite/testcase')
assert root.tag == 'testsuites', root.tag
assert len(suites) == 1, len(suites)
assert int(suites[0].get('tests')) == len(cases) == rep['checks_run'], (suites[0].get('tests'), len(cases))
fails = [c for c in cases if c.find('failure') is not None]
assert int(suites[0].get('failures')) == len(fails) == rep['failed']
assert all(c.get('classname') == 'alloctrace.ck_leak' for c in cases)
assert [c.get('name') for c in cases] == [c['name'] for c in rep['checks']]
f = {c.get('name'): c.find('failure') for c in fails}
assert sorted(f) == ['leaked', 'leaked under main', 'leaked vs baseline'], sorted(f)
assert f['leaked'].get('message') == 'leaked: 256 B > limit 0 B (256 B over)', f['leaked'].get('message')
assert 'remember (ck_base.c:' in f['leaked'].text, f['leaked'].text
assert 'at main (ck_base.c:' in f['leaked vs baseline'].text, f['leaked vs baseline'].text
p = ET.parse(sys.argv[3]).getroot()
print('%d cases, %d failures; passing: %s %s %s' % (len(cases), len(fails), p.get('tests'),
      p.get('failures'), p.find('testsuite/testcase').get('name')))
PYEOF
)
expect_eq "JUnit reports validate" "$JU" "12 cases, 3 failures; passing: 1 0 peak"

# ---- 7. errors: one line, exit 2
bad() {
  local desc=$1 want=$2; shift 2
  local rc=0
  "$ATR" check "$@" >/dev/null 2>"$T/bad.err" || rc=$?
  if [ "$rc" = 2 ] && [ "$(wc -l <"$T/bad.err" | tr -d ' ')" = 1 ] && grep -qF -- "$want" "$T/bad.err"; then
    ok "$desc: exit 2, one line with '$want'"
  else
    not_ok "$desc: exit $rc: $(head -c 400 "$T/bad.err")"
  fi
}
printf '[limits]\nmax-peak = 1\nmax-peek = 2\n' >typo.ini
bad "unknown INI key" "typo.ini:3: unknown key 'max-peek'" base.zst --budget typo.ini
printf '[limits]\nmax-peak = lots\n' >value.ini
bad "bad INI value" "value.ini:2: 'lots' is not a size" base.zst --budget value.ini
printf '[limits\n' >syntax.ini
bad "INI syntax" "syntax.ini:1: syntax error" base.zst --budget syntax.ini
printf '[site "x"]\nmax-rss = 1\n' >rss.ini
bad "rss per site" "rss.ini:2: max-rss is a whole-process limit" base.zst --budget rss.ini
printf '[limits]\nmax-peak = %0300d\n' 1 >long.ini
bad "overlong INI line" "long.ini:2: line longer than" base.zst --budget long.ini
printf '{"limits": {"max-peak": 1}, "sites": [{"function": "f", "max-leak": 0}]}' >key.json
bad "unknown JSON key" "key.json: sites[0].max-leak: unknown key" base.zst --budget key.json
printf '{"limits": [1]}' >type.json
bad "JSON type" "type.json: limits: expected an object" base.zst --budget type.json
printf '{"limits": {"max-peak": 1}' >trunc.json
bad "JSON syntax" "trunc.json:1:" base.zst --budget trunc.json
printf '# nothing\n' >empty.ini
bad "empty budget" "nothing to check" base.zst --budget empty.ini
bad "missing budget" "missing.ini: cannot read the budget file" base.zst --budget missing.ini
bad "missing trace" "nothere.zst" nothere.zst --max-peak 1
bad "missing baseline" "nothere.zst" base.zst --baseline nothere.zst
bad "budget given as the trace" "b.ini" b.ini --max-peak 1
bad "bad size flag" "--max-peak: '12 apples' is not a size" base.zst --max-peak "12 apples"
bad "bad tolerance metric" "unknown metric 'heap'" base.zst --baseline base.zst --tolerance heap=5%
bad "tolerance without a baseline" "--tolerance applies to a --baseline" base.zst --max-peak 1 --tolerance 5%
bad "nothing to check" "nothing to check" base.zst
bad "two traces" "exactly one trace" base.zst leak.zst --max-peak 1
bad "unwritable JUnit" "cannot write the JUnit report" base.zst --max-peak 1 --junit "$T/no/such/dir/x.xml"
finish
