# check_bounds: budgets of 200k rules load and match in near-linear time (main's
# quadratic loader took 17 s for 40k rules, so minutes for 200k: the run is under
# `timeout 120`, no timing is asserted), named and glob rules give the same numbers, and
# limits are exact integers: 2^63-1 is kept as is, 2^63, 2^64-1 and 2^64 are rejected
# (exit 2, one line naming the file and the rule) in INI, JSON (as numbers and as
# strings) and flags, never clamped. Never writes outside its temporary directory.
. "$TESTS/lib.sh"
"$ATR" run -q -o "$T/base.zst" -- "$PROGS/ck_base" >/dev/null 2>"$T/run.err" ||
  skip "cannot record ck_base: $(head -c 300 "$T/run.err")"
cd "$T" || exit 1

# one_line DESC PATTERN ARGS...: check exits 2 with exactly one stderr line matching PATTERN
one_line() {
  local desc=$1 pat=$2 rc=0 n; shift 2
  "$ATR" check "$@" >/dev/null 2>err || rc=$?
  n=$(wc -l <err)
  if [ "$rc" = 2 ] && [ "$n" = 1 ] && grep -Eq -- "$pat" err; then ok "$desc (exit 2, one line)"
  else not_ok "$desc: exit $rc, $n lines, want exit 2 and one line /$pat/: $(head -c 500 err)"; fi
}
# value JSON NAME: the value/limit/passed of the check named NAME in a check --json report
value() {
  "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s/%s/%s" % (c["value"], c["limit"], c["passed"]) for c in d["checks"] if c["name"] == sys.argv[2]) or "none")' "$1" "$2"
}

# ---- 200k rules: the ck_base call sites among 200,000 names that match nothing
cat >named.ini <<'INI'
[site "build_index"]
max-peak = 32768
[site "load_table"]
max-peak = 8191
[under "build_index"]
max-allocations = 2
[under "main"]
max-peak = 41216
INI
cat >glob.ini <<'INI'
[site "build_inde?"]
max-peak = 32768
[site "load_?able"]
max-peak = 8191
[under "build_*"]
max-allocations = 2
[under "mai*"]
max-peak = 41216
INI
"$PY" - <<'PYEOF'
with open("big.ini", "w") as f:
    for i in range(100000):
        f.write('[site "fn_%d"]\nmax-peak = 1MiB\n[under "caller_%d"]\nmax-leaked = 0\n' % (i, i))
    f.write(open("named.ini").read())
PYEOF
rc=0
timeout 120 "$ATR" check --json base.zst --budget big.ini >big.json 2>big.err || rc=$?
expect_eq "200k-rule budget: check exits 1 (load_table over) within timeout 120" "$rc" 1
"$ATR" check --json base.zst --budget named.ini >named.json 2>/dev/null
"$ATR" check --json base.zst --budget glob.ini >glob.json 2>/dev/null
expect_eq "200k-rule budget: checks" "$("$PY" -c 'import json; print(len(json.load(open("big.json"))["checks"]))')" 200004
for pair in "peak in build_index:peak in build_inde?:32768/32768/True" \
            "peak in load_table:peak in load_?able:8192/8191/False" \
            "allocations under build_index:allocations under build_*:2/2/True" \
            "peak under main:peak under mai*:41216/41216/True"; do
  IFS=: read -r name gname want <<<"$pair"
  expect_eq "200k rules: $name" "$(value big.json "$name")" "$want"
  expect_eq "named rule alone: $name" "$(value named.json "$name")" "$want"
  expect_eq "glob rule: $gname" "$(value glob.json "$gname")" "$want"
done
expect_eq "200k rules: an unmatched name" "$(value big.json 'peak in fn_99999')" 0/1048576/True

# ---- limits at and past 2^63
MAX=9223372036854775807
printf '[limits]\nmax-peak = %s\n[site "build_index"]\nmax-allocated = %s\n' $MAX $MAX >max.ini
printf '{"limits": {"max-peak": %s}, "sites": [{"function": "build_index", "max-allocated": %s}]}\n' $MAX $MAX >max.json
for f in max.ini max.json; do
  rc=0; "$ATR" check --json base.zst --budget $f >$f.out 2>/dev/null || rc=$?
  expect_eq "$f: 2^63-1 passes" "$rc" 0
  expect_eq "$f: 2^63-1 kept exactly (whole process)" "$(value $f.out peak)" "41216/$MAX/True"
  expect_eq "$f: 2^63-1 kept exactly (rule)" "$(value $f.out 'allocated in build_index')" "32768/$MAX/True"
done
for v in 9223372036854775808 18446744073709551615 18446744073709551616; do
  printf '[limits]\nmax-peak = 1MiB\n[site "build_index"]\nmax-allocated = %s\n' $v >big_$v.ini
  one_line "INI limit $v" "big_$v\.ini:4: allocated limit '$v' is too large: limits go up to $MAX .* in \[site \"build_index\"\]$" \
    base.zst --budget big_$v.ini
  printf '[limits]\nmax-leaked = %s\n' $v >lim_$v.ini
  one_line "INI [limits] $v" "lim_$v\.ini:2: leaked limit '$v' is too large" base.zst --budget lim_$v.ini
  printf '{"sites": [{"function": "build_index", "max-allocated": %s}]}\n' $v >num_$v.json
  one_line "JSON number $v" "num_$v\.json: sites\[0\]\.max-allocated: allocated limit '$v' is too large: .* in the rule for function \"build_index\"$" \
    base.zst --budget num_$v.json
  printf '{"limits": {"max-peak": "%s"}}\n' $v >str_$v.json
  one_line "JSON string $v" "str_$v\.json: limits\.max-peak: peak limit '$v' is too large" base.zst --budget str_$v.json
  one_line "flag $v" "--max-allocations: allocations limit '$v' is too large" base.zst --max-allocations $v
done
# sizes with units past the limit, and an absolute tolerance
one_line "8388608TiB (2^63 B)" "peak limit '8388608TiB' is too large" base.zst --max-peak 8388608TiB
one_line "tolerance 2^64" "tolerance '18446744073709551616' is too large" base.zst --baseline base.zst --tolerance 18446744073709551616
# exact arithmetic below the limit: units, fractions (half up), exponents
for pair in 8388607TiB:9223370937343148032 1.5GiB:1610612736 0.5:1 0.49:0 1e18:1000000000000000000 \
            9223372036854775806:9223372036854775806; do
  rc=0; "$ATR" check --json base.zst --max-allocated "${pair%%:*}" >exact.json 2>/dev/null || rc=$?
  expect_eq "--max-allocated ${pair%%:*} is exactly ${pair#*:}" "$(value exact.json allocated | cut -d/ -f2)" "${pair#*:}"
done
finish
