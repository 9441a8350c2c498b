# heaptrack_crosscheck: alloctrace's totals equal heaptrack 1.4's on real, deterministic
# programs -- tests/progs/known, python3, git log, git status, the gcc driver, sqlite3 and
# perl -- once the documented heaptrack artifacts (heaptrack_artifact.sh) are accounted:
#   calls      heaptrack = ours - memalign/pvalloc calls (not hooked) + 1 (its libstdc++ pool)
#   temporary  heaptrack = ours on the events heaptrack sees (tests/heaptrack_view.py)
#              + 1 when the pool's free at exit follows a free (the index-0 artifact)
#   peak       heaptrack = ours on the events it sees + 72704 (the pool is live throughout),
#              within 1% (heaptrack_print prints three significant digits)
#   leaked     heaptrack = ours on the events it sees (+ realloc(p, 0) blocks), within 1%;
#              the pool is freed at exit (heaptrack_artifact.sh measures that)
# heaptrack does not follow child processes (its preload library unsets LD_PRELOAD), so
# for `gcc -c` the driver is compared and alloctrace's child traces (cc1, as) are checked.
. "$TESTS/lib.sh"
. "$TESTS/heaptrack_lib.sh"

# heaptrack's libstdc++ pool, as heaptrack_artifact.sh measures it on an empty program
POOL_CALLS=1
POOL_PEAK=72704
POOL_LEAK=0 # freed at exit

# compare NAME: our summary vs our events (sanity), then heaptrack vs our events plus the
# artifacts; every adjustment is spelled out in the check's description. (One Python for
# all checks of a program: interpreter starts dominate this test on a loaded machine.)
compare() {
  local n=$1 verdict desc
  [ -s "$T/$n.view" ] && [ -s "$T/$n.ht" ] && [ -s "$T/$n.json" ] ||
    { not_ok "$n: no numbers: $(cat "$T/$n.err" "$T/$n.herr" | head -c 300)"; return; }
  while IFS=$'\t' read -r verdict desc; do
    if [ "$verdict" = PASS ]; then ok "$desc"; elif [ "$verdict" = NOTE ]; then echo "# $desc"
    else not_ok "$desc"; fi
  done < <("$PY" - "$n" "$T/$n.json" "$T/$n.view" "$T/$n.ht" "$POOL_CALLS" "$POOL_PEAK" "$POOL_LEAK" <<'PYEOF'
import json, sys
n, J, V, H = sys.argv[1], *(json.load(open(f)) for f in sys.argv[2:5])
pool_calls, pool_peak, pool_leak = (int(x) for x in sys.argv[5:8])
t, a, v = J['totals'], V['all'], V['visible']
def check(desc, got, want, rel=0.0):
    good = abs(got - want) <= rel * want
    print('%s\t%s: %s: got %s, want %s%s' % ('PASS' if good else 'FAIL', n, desc, got, want,
                                           ' (within 1%%)' if rel else ''))
ours = {'calls': t['allocations'], 'temporary': t['temporary'], 'peak': t['peak_bytes'],
        'leaked': t['leaked_bytes']}
for k in ours:
    check('summary %s = our events replayed with heaptrack\'s definitions' % k, ours[k], a[k])
# 1. calls heaptrack cannot see (memalign, pvalloc), then its pool
check('calls: heaptrack = ours %d - %d memalign/pvalloc + %d pool'
      % (ours['calls'], V['unhooked_calls'], pool_calls), H['calls'], v['calls'] + pool_calls)
# 2. temporary on the events heaptrack sees; the pool's free at exit is temporary when
#    heaptrack's last event was a free (its "last allocation" is then 0 = the pool's index)
pool_temp = 0 if V['last_visible'] == 'alloc' else 1
check('temporary: heaptrack = ours %d (%d on the events it sees) + %d pool'
      % (ours['temporary'], v['temporary'], pool_temp), H['temporary'], v['temporary'] + pool_temp)
# 3. the pool is live at every peak; heaptrack prints three significant digits
check('peak: heaptrack = ours %d (%d on the events it sees) + %d pool'
      % (ours['peak'], v['peak'], pool_peak), H['peak'], v['peak'] + pool_peak, 0.01)
# 4. blocks freed by realloc(p, 0) stay live to heaptrack; the pool is freed at exit
check('leaked: heaptrack = ours %d (%d on the events it sees, %d realloc(p, 0)) + %d pool'
      % (ours['leaked'], v['leaked'], V['realloc_to_zero'], pool_leak), H['leaked'],
      v['leaked'] + pool_leak, 0.01)
print('NOTE\t%s: alloctrace calls=%d temporary=%d peak=%d leaked=%d; heaptrack calls=%d '
      'temporary=%d peak=%.0f leaked=%.0f (as printed)' % (n, ours['calls'], ours['temporary'], ours['peak'],
      ours['leaked'], H['calls'], H['temporary'], H['peak'], H['leaked']))
PYEOF
)
}

both known "$PROGS/known"
compare known
expect_eq "known: memalign is the one call heaptrack misses" "$(jget "$T/known.view" unhooked_calls)" 1

# a script file, not -c: heaptrack writes argv into its trace unescaped, and a newline in
# an argument breaks heaptrack_interpret ("failed to parse line"), leaving 0 allocations
cat >work.py <<'PYEOF'
import json
d = {}
for i in range(6000):
    d[str(i)] = [i] * (i % 50)
s = sorted(d, key=lambda k: (len(d[k]), k))
b = bytearray(100000)
t = json.dumps({k: len(v) for k, v in d.items() if len(v) > 40})
del d
PYEOF
both python /usr/bin/python3 work.py
compare python

if command -v git >/dev/null; then
  # a small repository with fixed dates, then one modified file; `git status` once
  # before measuring so the index's stat data is fresh (else the first run rewrites it)
  # (files dated in the past: with an mtime in the index's second, git treats entries as
  # "racily clean" and re-reads them on every run; no advice: git status prints a hint --
  # and allocates for it -- when listing untracked files took over 2 s, as it may on a
  # loaded machine under a tracer)
  env -i "${BASE_ENV[@]}" sh -c 'git init -q -b main repo && git -C repo config advice.statusUoption false &&
    for i in 1 2 3 4 5; do
      seq $i 200 >repo/f$i.txt && git -C repo add f$i.txt && git -C repo commit -q -m "commit $i"
    done && echo change >>repo/f1.txt && touch -d @1577836800 repo/f*.txt &&
    git -C repo status >/dev/null' || not_ok "git repository set-up"
  both gitlog git -C repo log --stat -p
  compare gitlog
  # --no-optional-locks: status otherwise rewrites the index when it refreshed stat data,
  # which it may or may not find necessary from one run to the next (racy-git timing)
  both gitstatus git --no-optional-locks -C repo status
  compare gitstatus
else
  ok "# SKIP git is not installed"
fi

if command -v gcc >/dev/null; then
  printf 'int twice(int x) { return 2 * x; }\n' >small.c
  both gcc gcc -c small.c -o small.o
  compare gcc
  # the run's one trace holds the children too (summary's "processes", the root first)
  kids=$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for p in d.get("processes", [])[1:]:
    print(p["command"].split(" ")[0].rsplit("/", 1)[-1], p["allocations"])' "$T/gcc.json" | sort)
  echo "# gcc's children traced by alloctrace:" $kids
  expect_match "gcc: alloctrace traced cc1 (a child) and saw its allocations" "$(echo $kids)" \
    '(^| )cc1 [1-9][0-9]*( |$)'
  expect_match "gcc: alloctrace traced the assembler (a child) and saw its allocations" \
    "$(echo $kids)" '(^| )[^ ]*as [1-9][0-9]*( |$)'
  [ -e "$T/gcc.hp.zst" ] && expect_eq "heaptrack wrote one trace (no children)" \
    "$(ls "$T"/gcc.hp*.zst | wc -l)" 1
else
  ok "# SKIP gcc is not installed"
fi

if command -v sqlite3 >/dev/null; then
  cat >work.sql <<'SQL'
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
  INSERT INTO t SELECT x, 'row ' || x FROM c;
SELECT count(*), sum(length(b)) FROM t;
CREATE INDEX i ON t(b);
SELECT b FROM t WHERE a % 1000 = 0 ORDER BY b;
DELETE FROM t WHERE a % 2 = 0;
SELECT count(*) FROM t;
SQL
  both sqlite sqlite3 -batch :memory: '.read work.sql'
  compare sqlite
  expect_eq "sqlite: the workload ran" "$(tail -1 "$T/sqlite.out")" 2500
else
  ok "# SKIP sqlite3 is not installed"
fi

if command -v perl >/dev/null; then
  cat >work.pl <<'PLEOF'
my %h;
$h{$_} = "v" x ($_ % 300) for 1 .. 6000;
my @k = sort { $a <=> $b } keys %h;
my $s = join(",", @k);
delete $h{$_} for 1 .. 1500;
print length($s), "\n";
PLEOF
  both perl perl work.pl
  compare perl
  expect_eq "perl: the script ran" "$(cat "$T/perl.out")" 28892
else
  ok "# SKIP perl is not installed"
fi
finish
