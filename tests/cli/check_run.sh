# check_run: `alloctrace run --check BUDGET -- CMD` traces and checks in one step. The
# exit status is the check's (0 pass, 1 fail) when the program succeeded and the
# program's otherwise; a bad budget stops before the run (exit 2, no trace); the budget
# file's [output] reports are written.
. "$TESTS/lib.sh"
cd "$T" || exit 1
cat >budget.ini <<'EOF'
[limits]
max-leaked = 0
max-peak = 40.25KiB

[site "parse_*"]
max-allocations = 16

[output]
junit = reports/alloctrace.xml
json = reports/alloctrace.json
EOF
mkdir reports

expect_exit "ck_base passes" 0 "$ATR" run -q --check budget.ini -o base.zst -- "$PROGS/ck_base"
expect_match "ck_base: report" "$OUT" "passed, 0 of 3 checks failed"
expect_eq "JSON report written" "$(jget reports/alloctrace.json passed)" true
expect_exit "ck_leak fails" 1 "$ATR" run -q --check budget.ini -o leak.zst -- "$PROGS/ck_leak"
expect_match "ck_leak: names the leak" "$OUT" "FAIL leaked: 256 B > limit 0 B \\(256 B over\\)"
expect_match "ck_leak: at remember" "$OUT" "256 B in remember \\(ck_base\\.c:[0-9]+\\)"
expect_eq "JUnit report written" "$("$PY" -c 'import sys,xml.etree.ElementTree as E; r=E.parse(sys.argv[1]).getroot(); print(r.get("tests"), r.get("failures"), r.find("testsuite").get("name"))' reports/alloctrace.xml)" "3 1 alloctrace.ck_leak"
expect_exit "ck_more fails the per-site budget" 1 "$ATR" run -q --check budget.ini -o more.zst -- "$PROGS/ck_more"
expect_match "ck_more: the site rule" "$OUT" "FAIL allocations in parse_\\*: 24 > limit 16"
expect_exit "ck_peak fails" 1 "$ATR" run -q --check budget.ini -o peak.zst -- "$PROGS/ck_peak"
expect_exit "a failing program's status wins" 7 "$ATR" run -q --check budget.ini -o sh.zst -- /bin/sh -c 'exit 7'
printf '[limits]\nmax-peek = 1\n' >typo.ini
expect_exit "a bad budget stops before the run" 2 "$ATR" run -q --check typo.ini -o typo.zst -- "$PROGS/ck_base"
expect_eq "a bad budget: one line" "$OUT" "alloctrace run: typo.ini:2: unknown key 'max-peek' in [limits] (max-peak, max-leaked, max-allocated, max-allocations, max-temporary, max-rss)"
expect_eq "a bad budget: no trace" "$(ls typo.zst 2>/dev/null)" ""
finish
