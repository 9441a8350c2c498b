# limits: the traced program behaves as untraced under tight resource limits (issue 20),
# and the tracer costs what libtrace/README.md states ("Memory and descriptors"):
# - ulimit -f 0: the program exits 0 with its own output (it is not killed by SIGXFSZ
#   for the tracer's shared region), and run says in one line that the trace could not
#   be written;
# - RLIMIT_NOFILE 4, 8 and 16 (soft = hard): the tracer's two descriptors (connection,
#   region) would take numbers the program could have had: tracing is off with one line,
#   and the program opens as many files as untraced; at 64:64 they take two of its
#   numbers (it opens 2 fewer) and the trace holds exactly its 101 allocations and 60
#   frees; with the hard limit above the soft one (8:16) the program opens exactly as
#   many as untraced, traced;
# - RLIMIT_AS 300 MiB: a program taking 64 KiB blocks until malloc fails gets at least
#   as many as untraced minus the stated footprint (82 MiB: 1312 blocks), is not killed,
#   and its trace has exactly the blocks it counted; under `ulimit -v` around the whole
#   run the recorder and the CLI work too.
# Traced and untraced runs are compared in the same test run: no machine's numbers.
. "$TESTS/lib.sh"
P=$PROGS/limits

# facts TRACE: the exec'd image's (PID.1) totals: allocations frees failed unknown
# leaked_blocks complete inconsistencies
facts() {
  local pid
  pid=$("$ATR" summary --json "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["processes"][-1]["pid"])')
  "$ATR" summary --json --pid "$pid.1" "$1" >"$1.json" || return 1
  "$PY" - "$1.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
t, r = j["totals"], j["recorder"]
print(t["allocations"], t["frees"], t["failed_allocations"], t["unknown_frees"], t["leaked_blocks"],
      "complete" if r["complete"] else "incomplete", r["inconsistencies"])
PYEOF
}

# ---- ulimit -f 0 ----
# stdout and stderr go to pipes (cat, outside the limit): a file would hit it natively
{ (ulimit -f 0; "$P" hello; echo "rc=$?") 2>&1 1>&3 | cat >"$T/fn.err"; } 3>&1 | cat >"$T/fn.out"
{ (ulimit -f 0; "$ATR" run -q -o "$T/f.zst" -- "$P" hello; echo "rc=$?") 2>&1 1>&3 | cat >"$T/f.err"; } 3>&1 | cat >"$T/f.out"
expect_eq "ulimit -f 0: untraced output and status" "$(tr '\n' ' ' <"$T/fn.out")" "hello rc=0 "
expect_eq "ulimit -f 0: traced output and status as untraced" "$(tr '\n' ' ' <"$T/f.out")" "hello rc=0 "
expect_eq "ulimit -f 0: run's lines" "$(grep -c '^alloctrace: ' "$T/f.err")" 1
expect_match "ulimit -f 0: run says the trace could not be written, naming the file" \
  "$(grep '^alloctrace: ' "$T/f.err")" "^alloctrace: $T/f.zst: the trace could not be written: the file size limit \(ulimit -f\) is 0 bytes$"
expect_no_match "ulimit -f 0: nothing killed" "$(cat "$T/f.err")" "File size limit|SIGXFSZ|signal"

# ---- RLIMIT_NOFILE ----
opened() { sed -n 's/^opened \([0-9]*\)$/\1/p'; }
for lim in "4 4" "8 8" "16 16" "8 16" "64 64"; do
  set -- $lim
  n0=$("$P" nofile "$1" "$2" | opened)
  rm -f "$T/n.zst"
  n1=$("$ATR" run -q -o "$T/n.zst" -- "$P" nofile "$1" "$2" 2>"$T/n.err" | opened)
  case $lim in
  "64 64") want=$((n0 - 2)) ;; # the two descriptors the README states
  *) want=$n0 ;;               # off below 64, or above the soft limit
  esac
  expect_eq "NOFILE $1:$2: files opened traced (untraced: $n0)" "$n1" "$want"
  case $lim in
  "4 4" | "8 8" | "16 16")
    # the probe's line goes only to the terminal run started from (rawio.c), never
    # into the program's descriptor 2 when that is a file
    expect_eq "NOFILE $1:$2: nothing in the program's stderr file" "$(wc -c <"$T/n.err" | tr -d ' ')" 0
    # script(1) needs a pseudo-terminal (a chroot may have no /dev/pts)
    if command -v script >/dev/null && script -qc tty /dev/null </dev/null 2>/dev/null | grep -q '^/dev/'; then
      script -qc "'$ATR' run -q -o '$T/nt.zst' -- '$P' nofile $1 $2 >/dev/null" /dev/null </dev/null |
        tr -d '\r' >"$T/nt.err"
      rm -f "$T/nt.zst"
      expect_eq "NOFILE $1:$2: on run's terminal, one line: tracing is off" \
        "$(wc -l <"$T/nt.err" | tr -d ' ') $(sed 's/^alloctrace\[[0-9]*\]/alloctrace[]/' "$T/nt.err")" \
        "1 alloctrace[]: the descriptor limit (ulimit -n $1) leaves no room for the tracer's 2 descriptors; tracing is off"
    fi
    continue ;;
  esac
  expect_eq "NOFILE $1:$2: the trace: allocations frees failed unknown leaked complete inconsistencies" \
    "$(facts "$T/n.zst")" "101 60 0 0 41 complete 0"
done

# ---- no lock, no wait: pieces mapped inside signal handlers and after closefrom ----
# totals TRACE: allocations frees stack_drops complete inconsistencies notes
totals() {
  "$ATR" summary --json "$1" | "$PY" -c 'import json,sys
j = json.load(sys.stdin); t, r = j["totals"], j["recorder"]
print(t["allocations"], t["frees"], r["stack_drops"], "complete" if r["complete"] else "incomplete", r["inconsistencies"], len(r["notes"]))'
}
# A thread's SIGALRM handler (every 300 us) makes 4 blocks with new stacks while the main
# thread makes 100000 with new stacks: about 9 arena segments, some mapped inside the
# handler. The baseline (no timer, no main blocks) gives what the program allocates
# besides: allocations = base + M + 4 H, frees likewise.
rm -f "$T/s0.zst" "$T/s.zst"
h0=$(timeout 60 "$ATR" run -q -o "$T/s0.zst" -- "$P" sigstacks 0 0 | sed -n 's/^main 0 handler //p')
read -r a0 f0 _ < <(totals "$T/s0.zst")
rc=0
out=$(timeout 150 "$ATR" run -q -o "$T/s.zst" -- "$P" sigstacks 100000 300 2>"$T/s.err") || rc=$?
expect_eq "sigstacks: finishes under timeout, exit status" "$rc" 0
h=$(echo "$out" | sed -n 's/^main 100000 handler //p')
if [ -n "$h" ] && [ -n "$h0" ] && [ "$h" -gt 100 ]; then
  expect_eq "sigstacks ($h handler runs): allocations frees drops complete inconsistencies notes" \
    "$(totals "$T/s.zst")" "$((a0 - 4 * h0 + 100000 + 4 * h)) $((f0 - 4 * h0 + 100000 + 4 * h)) 0 complete 0 0"
else
  not_ok "sigstacks: handler runs '$h' (baseline '$h0'): $(head -c 300 "$T/s.err")"
fi

# The program dup2s onto the numbers where the tracer's descriptors are (they move),
# close_range(3, ~0) and closefrom(3), then 4 threads make 20000 blocks each with new
# stacks: traced, exact counts; at soft = hard 256 (descriptors at 128, 129) and 256:512
# (above the soft limit).
for lim in "256 256" "256 512"; do
  set -- $lim
  rm -f "$T/c0.zst" "$T/c.zst"
  u=$( (ulimit -Hn "$2"; ulimit -Sn "$1"; "$P" closeall 4 20000) )
  t0=$( (ulimit -Hn "$2"; ulimit -Sn "$1"; timeout 60 "$ATR" run -q -o "$T/c0.zst" -- "$P" closeall 4 0) )
  t=$( (ulimit -Hn "$2"; ulimit -Sn "$1"; timeout 60 "$ATR" run -q -o "$T/c.zst" -- "$P" closeall 4 20000) 2>"$T/c.err")
  expect_eq "closeall NOFILE $1:$2: the program's descriptors as untraced" "$t" "$u"
  read -r a0 f0 _ < <(totals "$T/c0.zst")
  expect_eq "closeall NOFILE $1:$2: allocations frees drops complete inconsistencies notes" \
    "$(totals "$T/c.zst")" "$((a0 + 80000)) $((f0 + 80000)) 0 complete 0 0"
done

# ---- RLIMIT_AS ----
# footprint in 64 KiB blocks: 69 MiB fixed + 8 MiB arena segment + 2.2 MiB ring + 3 MiB of
# code and data (libtrace/README.md) = 82 MiB
FOOT=$((82 * 16))
k0=$("$P" as 300 | sed -n 's/^blocks //p')
rm -f "$T/a.zst"
rc=0
"$ATR" run -q -o "$T/a.zst" -- "$P" as 300 >"$T/a.out" 2>"$T/a.err" || rc=$?
k1=$(sed -n 's/^blocks //p' "$T/a.out")
expect_eq "AS 300 MiB: traced exit status" "$rc" 0
if [ -n "$k1" ] && [ -n "$k0" ] && [ "$k1" -ge $((k0 - FOOT)) ]; then
  ok "AS 300 MiB: $k1 blocks traced, untraced $k0, at least $((k0 - FOOT))"
else
  not_ok "AS 300 MiB: '$k1' blocks traced, untraced '$k0', want at least $((k0 - FOOT)): $(head -c 300 "$T/a.err")"
fi
read -r a f fl u l c i < <(facts "$T/a.zst")
# the blocks, and stdout's buffer unless its malloc failed too; 2 failures at most (the
# block that did not fit, stdout's buffer)
expect_eq "AS 300 MiB: allocations + failed = blocks + 2" "$((a + fl))" "$((k1 + 2))"
expect_eq "AS 300 MiB: every block freed, none unknown, complete" "$((a - f)) $u $c $i" "$((a - k1)) 0 complete 0"

# the whole run (CLI, recorder and program) under ulimit -v: 100 blocks, all traced
rm -f "$T/w.zst"
out=$( (ulimit -v 400000; "$ATR" run -q -o "$T/w.zst" -- "$P" count 100) 2>"$T/w.err") || not_ok "ulimit -v run: $(head -c 300 "$T/w.err")"
expect_eq "ulimit -v 400000 around run: output" "$out" "blocks 100"
expect_eq "ulimit -v 400000 around run: allocations frees" \
  "$("$ATR" summary --json "$T/w.zst" | "$PY" -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["allocations"], t["frees"], t["unknown_frees"])')" "101 100 0"
finish
