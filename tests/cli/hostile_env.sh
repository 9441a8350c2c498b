# hostile_env: the traced program's behaviour does not change under any signal use,
# descriptor layout or fork pattern (issue 20), with tests/progs/hostile.c:
#  - a fork storm under --no-follow while a thread allocates, children dup2ing over low
#    numbers and over the tracer's socket: every child exits 0, exact counts;
#  - dup2 from a SIGALRM handler interrupting dup2: finishes, the trace is complete;
#  - fork children of a process whose other thread dlopens/dlcloses: none hangs;
#  - the tracer's diagnostics never land in the program's fd 2 when it is a file;
#  - a preloaded-by-hand program whose library chdirs before the tracer starts: the
#    default trace name is in the starting directory;
#  - an LD_PRELOAD longer than 8 KiB reaches the program exactly (run, --no-follow);
#  - nothing of the tracer writes a file from the program's threads at exit (seccomp).
# Every run is under `timeout`: a hang fails the test instead of stalling it.
. "$TESTS/lib.sh"
H=$PROGS/hostile
LIB=${ATR_LIB:?ATR_LIB must point to liballoctrace.so}

# count TRACE SIZE: allocation events of exactly SIZE bytes in the trace
count() {
  "$ATR" dump "$1" | grep -c "\"event\":\"alloc\".*\"size\":$2,"
}

# ---- fork storm, --no-follow, a concurrent allocating thread, dup2 in children
# First the program alone: a failure of its own is not the tracer's. Its main thread
# and allocator thread once shared one `sink` pointer, and main sometimes freed the
# thread's block: glibc's "double free or corruption (out)", exit 134, in about 1 run
# of 15 untraced and traced alike (hostile.c, churn()).
rc=0
timeout 50 "$H" forkstorm 2000 >"$T/storm0.out" 2>"$T/storm0.err" || rc=$?
expect_eq "fork storm untraced: exit status (134: glibc malloc abort)" "$rc" 0
expect_match "fork storm untraced: every child exited 0" "$(cat "$T/storm0.out")" \
  '^children 2000 ok 2000 thread [0-9]+$'
expect_no_match "fork storm untraced: no glibc malloc diagnostic" "$(cat "$T/storm0.err")" \
  'double free|corruption|malloc\(\)|free\(\)'
rc=0
timeout 50 "$ATR" run -q --no-follow -o "$T/storm.zst" -- "$H" forkstorm 2000 \
  >"$T/storm.out" 2>"$T/storm.err" || rc=$?
expect_eq "fork storm: run's exit status (134: glibc malloc abort)" "$rc" 0
expect_no_match "fork storm: no glibc malloc diagnostic (parent or child)" "$(cat "$T/storm.err")" \
  'double free|corruption|malloc\(\)|free\(\)'
read -r _ started _ okn _ thr <"$T/storm.out" || true
expect_eq "fork storm: children started" "${started:-}" 2000
expect_eq "fork storm: children that exited 0" "${okn:-}" 2000
if [ "$rc" = 0 ]; then
  expect_eq "fork storm: main's 4111-byte blocks in the trace" "$(count "$T/storm.zst" 4111)" 2000
  expect_eq "fork storm: the thread's 4099-byte blocks in the trace" "$(count "$T/storm.zst" 4099)" "$thr"
  expect_eq "fork storm: children (not followed) in the trace" "$(count "$T/storm.zst" 4127)" 0
  "$ATR" summary --json "$T/storm.zst" >"$T/storm.json"
  # summary lists processes only for a run of several
  expect_eq "fork storm: process images" "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("processes") or [0]))' "$T/storm.json")" 1
  expect_eq "fork storm: unknown frees" "$(jget "$T/storm.json" totals.unknown_frees)" 0
fi

# ---- dup2 in a SIGALRM handler that interrupts dup2 (and both over the tracer's socket)
rc=0
timeout 30 "$ATR" run -q -o "$T/sig.zst" -- "$H" sigdup 2000 >"$T/sig.out" 2>"$T/sig.err" || rc=$?
expect_eq "sigdup: run's exit status" "$rc" 0
expect_match "sigdup: the handler ran 2000 times" "$(cat "$T/sig.out")" '^handler 2000 main [0-9]+$'
[ "$rc" = 0 ] && expect_eq "sigdup: the 4133-byte blocks after it, all in the trace" \
  "$(count "$T/sig.zst" 4133)" 100

# ---- fork children of a process whose other thread dlopens and dlcloses (followed)
rc=0
timeout 50 "$ATR" run -q -o "$T/dl.zst" -- "$H" dlfork "$PROGS/libdlt.so" 100 \
  >"$T/dl.out" 2>"$T/dl.err" || rc=$?
expect_eq "dlfork: run's exit status (124: a child hung)" "$rc" 0
expect_eq "dlfork: children" "$(cat "$T/dl.out")" "children 100 ok 100"
if [ "$rc" = 0 ]; then
  "$ATR" summary --json "$T/dl.zst" >"$T/dl.json"
  "$PY" - "$T/dl.json" >"$T/dl.sum" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1]))['processes']
kids = p[1:]
print(len(kids), sum(1 for k in kids if k['allocations'] == 1 and k['peak_bytes'] == 4139))
PYEOF
  expect_eq "dlfork: children traced, each with its one 4139-byte block" "$(cat "$T/dl.sum")" "100 100"
fi

# ---- diagnostics with fd 2 a file: configurations that make the tracer log (a bad
# recorder address, an unreachable one, a trace directory that does not exist)
n=0
for cfg in ALLOCTRACE_SOCK=bogus ALLOCTRACE_SOCK=@alloctrace-nobody-listens \
           ALLOCTRACE_OUTPUT=$T/no/such/dir/t.zst; do
  n=$((n + 1))
  printf 'data file line\n' >"$T/data.$n"
  rc=0
  timeout 20 env "$cfg" LD_PRELOAD="$LIB" "$H" stderr "program line" 2>>"$T/data.$n" || rc=$?
  expect_eq "diagnostics ($cfg): program's exit status" "$rc" 0
  expect_eq "diagnostics ($cfg): fd 2's file holds the program's bytes only" \
    "$(od -c "$T/data.$n")" "$(printf 'data file line\nprogram line\n' | od -c)"
done

# ---- preloaded by hand, a library constructor chdirs before the tracer starts
mkdir -p "$T/start" "$T/elsewhere"
rc=0
(cd "$T/start" && timeout 20 env HOSTILE_CHDIR="$T/elsewhere" LD_PRELOAD="$LIB" "$PROGS/hostile_cd" preload \
  >"$T/cd.out" 2>"$T/cd.err") || rc=$?
expect_eq "chdir: exit status" "$rc" 0
expect_eq "chdir: the constructor moved" "$(tail -n 1 "$T/cd.out")" "moved 1"
found=$(cd "$T/start" && ls alloctrace.hostile_cd.*.zst 2>/dev/null | wc -l)
expect_eq "chdir: traces in the starting directory" "$found" 1
expect_eq "chdir: traces in the directory it moved to" "$(ls "$T/elsewhere" | wc -l)" 0
if [ "$found" = 1 ]; then
  expect_exit "chdir: the trace reads" 0 "$ATR" summary "$T"/start/alloctrace.hostile_cd.*.zst
fi

# ---- an LD_PRELOAD of more than 8 KiB: 400 copies of libc, then one more library
M=$(ldd "$H" | awk '/libc.so/ {print $3}')
[ -r "$M" ] || M=/lib/x86_64-linux-gnu/libc.so.6
OLD=$(for i in $(seq 400); do printf '%s:' "$M"; done)$PROGS/libdlt.so
expect_eq "preload: the user's LD_PRELOAD is over 8 KiB" "$([ ${#OLD} -gt 8192 ] && echo yes)" yes
got=$(LD_PRELOAD=$OLD timeout 20 "$ATR" run -q -o "$T/pre.zst" -- "$H" preload 2>"$T/pre.err")
expect_eq "preload (run): the tracer's library first" "$(printf '%s' "${got%%:*}" | grep -c 'liballoctrace.so$')" 1
first=${got%%:*}
expect_eq "preload (run): the user's LD_PRELOAD after it, length" "${#got}" "$(( ${#first} + 1 + ${#OLD} ))"
[ "${got#*:}" = "$OLD" ] && ok "preload (run): the user's LD_PRELOAD after it, exactly" ||
  not_ok "preload (run): the program saw ...${got: -60}"
got=$(LD_PRELOAD=$OLD timeout 20 "$ATR" run -q --no-follow -o "$T/pre2.zst" -- "$H" preload 2>"$T/pre2.err")
expect_eq "preload (--no-follow): the user's LD_PRELOAD, length" "${#got}" "${#OLD}"
[ "$got" = "$OLD" ] && ok "preload (--no-follow): the user's LD_PRELOAD exactly" ||
  not_ok "preload (--no-follow): the program saw ...${got: -60}"

# ---- nothing of the tracer writes a file at exit: every write to a file or device and
# every open for writing kills the program once its last atexit handler has sealed it
rc=0
timeout 30 "$ATR" run -q -o "$T/seal.zst" -- "$H" sealexit 50 >"$T/seal.out" 2>"$T/seal.err" || rc=$?
expect_eq "seal: run's exit status (159: SIGSYS, something wrote)" "$rc" 0
expect_eq "seal: the program sealed itself" "$(cat "$T/seal.out")" sealed
[ "$rc" = 0 ] && expect_eq "seal: the 50 blocks allocated after the seal are in the trace" \
  "$(count "$T/seal.zst" 4157)" 50
rc=0
timeout 30 "$ATR" run -q -o "$T/seal2.zst" -- "$H" sealexit 50 write >"$T/seal2.out" 2>"$T/seal2.err" || rc=$?
expect_eq "seal: its own check (a write after the seal) dies of SIGSYS" "$rc" 159

finish
