# bench/real.sh, the real-program benchmark, in its --quick mode (tiny workloads, one
# round): one table row per workload and mode with a number in every measured column,
# one ratio row per workload with "X.XX ok|no" against each target, no results file;
# bad arguments get one line.
. "$TESTS/lib.sh"
REAL=$SRCDIR/bench/real.sh
[ -x "$BUILD_ROOT/bench/server" ] && [ -x "$BUILD_ROOT/bench/rusage_run" ] ||
  skip "bench programs not built in $BUILD_ROOT"
have_ht=0
command -v heaptrack >/dev/null 2>&1 && command -v heaptrack_print >/dev/null 2>&1 && have_ht=1
workloads=python,server
command -v clang++-14 >/dev/null 2>&1 && workloads=clang,$workloads
cd "$T"
expect_exit "quick run" 0 "$REAL" --quick --build "$BUILD_ROOT" --workloads "$workloads"
expect_match "header" "$OUT" "rounds: 1 \(medians\), interleaved"
expect_no_match "no results file" "$OUT" "^wrote "

rows=$(printf '%s\n' "$OUT" | grep -E '^(clang|python|server) +(untraced|alloctrace|heaptrack)')
for w in ${workloads//,/ }; do
  want=$((2 + have_ht))
  [ "$w" = server ] && want=$((want + 1))
  expect_eq "$w: one row per mode" "$(printf '%s\n' "$rows" | grep -c "^$w  ")" "$want"
  expect_match "$w untraced: wall, user, RSS" "$(printf '%s\n' "$rows" | grep "^$w  *untraced")" \
    "^$w +untraced +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2} +[0-9]+ +n/a +n/a +n/a +n/a +n/a$"
  expect_match "$w alloctrace: trace, summary, flamegraph" \
    "$(printf '%s\n' "$rows" | grep "^$w  *alloctrace  ")" \
    "^$w +alloctrace +([0-9]+\.[0-9]{2} +){2}[0-9]+ +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2} +[0-9]+ +[0-9]+\.[0-9]{2} +[0-9]+$"
  if [ "$have_ht" = 1 ]; then
    expect_match "$w heaptrack: trace, heaptrack_print" \
      "$(printf '%s\n' "$rows" | grep "^$w  *heaptrack")" \
      "^$w +heaptrack +([0-9]+\.[0-9]{2} +){2}[0-9]+ +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2} +[0-9]+ +n/a +n/a$"
    cell='[0-9]+\.[0-9]{2} (ok|no)'
  else
    cell='(n/a|[0-9]+\.[0-9]{2} (ok|no))'
  fi
  expect_match "$w: events and six ratios against the targets" \
    "$(printf '%s\n' "$OUT" | grep -E "^$w +[0-9]+\.[0-9]{2} ")" \
    "^$w +[0-9]+\.[0-9]{2}( +$cell){6}$"
done
expect_match "fp row for the server" "$rows" "^server +alloctrace fp +[0-9]"
expect_eq "nothing left behind" "$(ls "$T" | wc -l)" 0

expect_exit "unknown workload" 1 "$REAL" --quick --build "$BUILD_ROOT" --workloads nosuch
expect_match "unknown workload: named" "$OUT" "^real.sh: error: unknown workload 'nosuch'"
expect_exit "--runs 0" 1 "$REAL" --runs 0 --build "$BUILD_ROOT"
expect_match "--runs 0: named" "$OUT" "^real.sh: error: --runs must be a positive integer"
finish
