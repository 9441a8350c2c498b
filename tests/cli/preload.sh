# preload: the library preloaded by hand (no `alloctrace run`) starts its own recorder
# (libtrace/spawn.c): one trace for the program and its children, at ALLOCTRACE_OUTPUT
# or alloctrace.<prog>.<pid>.zst, never over an existing file; the recorder is not the
# program's child (a shell's `wait` for all its children ends) and holds none of the
# program's descriptors (a pipeline ends with the program); a reader waits for the
# trace to be complete.
. "$TESTS/lib.sh"
P=$PROGS/procs
: "${ATR_LIB:?}"
pre() { LD_PRELOAD=$ATR_LIB "$@"; }
json() { "$ATR" summary --json "$1" 2>/dev/null | "$PY" -c "import json, sys
d = json.load(sys.stdin)
$2"; }

# ---- a forking program through a pipe: same output and status, one trace, exact ----
rc=0
out=$(cd "$T" && ALLOCTRACE_OUTPUT=h.zst timeout 60 env LD_PRELOAD="$ATR_LIB" "$P" inherit | cat) || rc=$?
expect_eq "inherit | cat: status and output" "$rc $out" "0 inherit bad 0"
expect_eq "one file in the directory" "$(cd "$T" && ls)" "h.zst"
expect_eq "the trace is private" "$(stat -c %a "$T/h.zst")" 600
# read at once: the reader waits for the detached recorder to finish the file
got=$(json "$T/h.zst" 'print(" ".join("%d/%d" % (p["allocations"] > 1000, p["inherited_frees"]) for p in d["processes"]), d["recorder"]["ended"])')
expect_eq "images (root busy / inherited frees), root ended" "$got" "1/0 0/12 0/14 exit"

# ---- the same name again: the next file is <stem>.<pid>.zst, the first one kept ----
before=$(md5sum <"$T/h.zst")
rc=0; (cd "$T" && ALLOCTRACE_OUTPUT=h.zst pre "$P" _exit >/dev/null) || rc=$?
expect_eq "_exit: status" "$rc" 0
expect_eq "existing trace untouched" "$(md5sum <"$T/h.zst")" "$before"
n=$(cd "$T" && ls h.*.zst 2>/dev/null | wc -l)
expect_eq "second run: h.<pid>.zst" "$n" 1
second=$(cd "$T" && ls h.*.zst | head -1)
got=$(json "$T/$second" 'import collections
print(d["totals"]["allocations"], d["totals"]["frees"], d["recorder"]["ended"])')
expect_eq "_exit: exit_work 8 made, 5 freed, ended by exit" "$got" "8 5 exit"

# ---- no ALLOCTRACE_OUTPUT: alloctrace.<prog>.<pid>.zst in the current directory ----
mkdir "$T/d"
rc=0; (cd "$T/d" && pre "$P" fork 2 >/dev/null) || rc=$?
expect_eq "fork 2: status" "$rc" 0
expect_match "default name" "$(cd "$T/d" && ls)" '^alloctrace\.procs\.[0-9]+\.zst$'
f=$(ls "$T"/d/alloctrace.procs.*.zst | head -1)
got=$(json "$f" 'print(len([p for p in d["processes"] if p["allocations"] > 0]))')
expect_eq "fork 2: three images with allocations" "$got" 3

# ---- the recorder is nobody's child: a shell waiting for all its children ends ----
rc=0; out=$(timeout 30 env LD_PRELOAD="$ATR_LIB" ALLOCTRACE_OUTPUT="$T/w.zst" \
  bash -c '/bin/true & wait; echo waited') || rc=$?
expect_eq "bash: true & wait" "$rc $out" "0 waited"

# ---- the recorder holds no descriptor of the program's ----
env LD_PRELOAD="$ATR_LIB" ALLOCTRACE_OUTPUT="$T/spin.zst" "$P" spin >"$T/spin.out" 2>"$T/spin.err" &
prog=$!
for _ in $(seq 200); do grep -q marker "$T/spin.out" 2>/dev/null && break; sleep 0.05; done
rec=$(pgrep -f -- "--output $T/spin.zst" | head -1)
expect_match "recorder found" "${rec:-none}" '^[0-9]+$'
if [ -n "$rec" ]; then
  expect_eq "recorder's parent is not the program" "$([ "$(ps -o ppid= -p "$rec" | tr -d ' ')" != "$prog" ] && echo yes)" yes
  fds=$(for l in /proc/"$rec"/fd/*; do readlink "$l"; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
  expect_no_match "recorder holds no pipe, no file of the program's" "$fds" "pipe:|spin\.out|spin\.err|pts|tty"
  expect_match "recorder's 0-2 are /dev/null" "$fds" " 3 /dev/null;"
fi
kill -9 "$prog" 2>/dev/null
wait "$prog" 2>/dev/null
got=$(json "$T/spin.zst" 'print(d["recorder"]["ended"], d["top"]["leaked"][0]["blocks"] if d["top"]["leaked"] else 0)')
expect_eq "killed program: trace says killed, 100 before_marker blocks" "$got" "killed 100"

finish
