# The run's processes as real programs make them (tests/progs/procs.c modes, sh): children
# killed 0, 1, 3 and 10 ms after their fork (50 each) keep every allocation they made; a
# shell pipeline loop gives one trace with the same output and status as untraced; a fork
# child's duration starts at its fork; bad output paths are refused before the program
# starts.
. "$TESTS/lib.sh"
P=$PROGS/procs

# procs of a run, from summary --json: "pid allocations leaked_bytes duration_us" lines
procs_of() {
  "$ATR" summary --json "$1" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
for p in d.get("processes", []):
    print(p["pid"], p["allocations"], p["leaked_bytes"], p["duration_us"], p["command"].split(" ")[0])'
}

# ---- killed children: 50 each at 0, 1, 3, 10 ms ----
for d in 0 1000 3000 10000; do
  rc=0; timeout 120 "$ATR" run -q -o "$T/kk$d.zst" -- "$P" killkids $d 50 >"$T/kk$d.out" 2>"$T/kk$d.err" || rc=$?
  expect_eq "killed at ${d}us: exit status" "$rc" 0
  procs_of "$T/kk$d.zst" >"$T/kk$d.procs" 2>"$T/kk$d.perr"
  expect_eq "killed at ${d}us: the run's trace decodes" "$(cat "$T/kk$d.perr")" ""
  bad=0; seen=0; made=0
  while read -r _ pid count; do
    row=$(awk -v p="$pid" '$1 == p' "$T/kk$d.procs")
    got=$(echo "$row" | awk '{print $2}')
    made=$((made + count))
    [ -n "$row" ] && seen=$((seen + 1))
    # a child killed before its first malloc returned may have no trace; any other has
    # every malloc that returned (one more may have been in flight)
    if [ "$count" -gt 0 ] && { [ -z "$got" ] || [ "$got" -lt "$count" ] || [ "$got" -gt $((count + 1)) ]; }; then
      bad=$((bad + 1)); echo "# kid $pid made $count, trace has '${got}'"
    fi
    if [ -n "$got" ] && [ "$(echo "$row" | awk '{print $3}')" != $((got * 1111)) ]; then
      bad=$((bad + 1)); echo "# kid $pid: leaked bytes differ from its allocations"
    fi
  done < <(grep '^kid ' "$T/kk$d.out")
  expect_eq "killed at ${d}us: every child's mallocs in its trace ($seen traced, $made mallocs)" "$bad" 0
  expect_eq "killed at ${d}us: 50 children ran" "$(grep -c '^kid ' "$T/kk$d.out")" 50
done
# at 10 ms most children have made their 100 mallocs (under load not all: they say so):
# the kill never loses them
full=$(awk '$1 == "kid" && $3 == 100' "$T/kk10000.out" | wc -l)
expect_eq "killed at 10 ms: a trace with 100 allocations for each of the $full kids that made 100" \
  "$(awk '$5 ~ /procs$/ && $2 == 100' "$T/kk10000.procs" | wc -l)" "$full"
expect_eq "killed at 10 ms: some kids made all 100" "$([ "$full" -gt 0 ] && echo yes)" yes

# ---- a shell pipeline loop: same output, same status, one file ----
mkdir "$T/pipe" && cd "$T/pipe"
loop='for i in 1 2 3 4 5 6 7 8 9 10; do ls / | sort | head -1; done; exit 3'
want=$(sh -c "$loop" 2>&1); wrc=$?
rc=0; got=$(timeout 60 "$ATR" run -q -o pipe.zst -- sh -c "$loop" 2>&1) || rc=$?
expect_eq "pipeline: output as untraced" "$got" "$want"
expect_eq "pipeline: status as untraced" "$rc" "$wrc"
expect_eq "pipeline: one file in the directory" "$(ls | tr '\n' ' ')" "pipe.zst "
procs_of pipe.zst >procs.txt
expect_eq "pipeline: 10 sort processes traced" "$(awk '$5 == "sort"' procs.txt | wc -l)" 10
expect_eq "pipeline: 10 ls processes traced" "$(awk '$5 == "ls"' procs.txt | wc -l)" 10
cd "$T"

# ---- a fork child's duration starts at its fork ----
rc=0; timeout 30 "$ATR" run -q -o "$T/lf.zst" -- "$P" latefork 700 >"$T/lf.out" 2>&1 || rc=$?
expect_eq "latefork: exit status" "$rc" 0
procs_of "$T/lf.zst" >"$T/lf.procs"
child_us=$(awk 'NR == 2 {print $4}' "$T/lf.procs")
child_calls=$(awk 'NR == 2 {print $2}' "$T/lf.procs")
expect_eq "latefork: the child's 10 allocations" "$child_calls" 10
if [ -n "$child_us" ] && [ "$child_us" -lt 300000 ]; then ok "latefork: child duration $child_us us < 0.3 s"
else not_ok "latefork: child duration '$child_us' us, want < 0.3 s (it lived 10 ms, forked at 0.7 s)"; fi

# ---- bad output paths: refused before the program runs ----
badpath() {
  local desc=$1 path=$2 why=$3
  rm -f "$T/ran"
  expect_exit "$desc: exit 2" 2 "$ATR" run -o "$path" -- sh -c ": >'$T/ran'"
  expect_eq "$desc: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
  expect_match "$desc: names the path and why" "$OUT" "$why"
  expect_eq "$desc: the program did not start" "$([ -e "$T/ran" ] && echo ran || echo no)" no
}
badpath "missing directory" "$T/missing-dir/t.zst" "missing-dir/t.zst.*no such directory"
mkdir "$T/adir"
badpath "existing directory" "$T/adir" "adir exists and is not a regular file"
mkfifo "$T/fifo"
badpath "existing fifo" "$T/fifo" "fifo exists and is not a regular file"
if [ "$(id -u)" != 0 ]; then
  mkdir "$T/ro" && chmod 555 "$T/ro"
  badpath "directory without write permission" "$T/ro/t.zst" "ro/t.zst.*ermission"
else
  ok "# SKIP write permission (root writes anywhere)"
fi
# the program's status when it ran
rc=0; "$ATR" run -q -o "$T/st.zst" -- sh -c 'exit 7' || rc=$?
expect_eq "status: run exits with the program's" "$rc" 7

finish
