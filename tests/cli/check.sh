# check: `alloctrace check` on the ck_* pairs (tests/progs/ck_base.c documents the
# numbers). Every limit passes exactly at the value and fails one unit over it; each
# variant fails the check designed for it and names its function; baseline tolerances
# (absolute and relative) pass exactly at the limit and fail just over.
# Runs in the asan suite too (see check_lib.sh). Budget files, JUnit, errors: check_budget.sh.
. "$TESTS/lib.sh"
. "$TESTS/cli/check_lib.sh"

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

finish
