# check_budget: `alloctrace check` budget files (INI and JSON, per-site patterns, flags
# over the file, paths relative to the file), the JUnit XML (parsed: one testcase per
# check, failures carry the short message) and bad budgets and traces (one line, exit 2).
# Runs in the asan suite too (see check_lib.sh).
. "$TESTS/lib.sh"
. "$TESTS/cli/check_lib.sh"

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
