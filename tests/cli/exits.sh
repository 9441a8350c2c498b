# exits: how a traced program ends or misbehaves, and how `run` reports it
# (tests/progs/procs.c documents each mode): _exit/_Exit, exit() from a second thread
# while main keeps allocating, SIGKILL mid-run, descriptors closed under the recorder,
# exit statuses, and programs `run` must refuse.
. "$TESTS/lib.sh"
P=$PROGS/procs

facts() {
  "$PY" - "$ATR" "$1" <<'PYEOF'
import json, subprocess, sys
atr, path = sys.argv[1], sys.argv[2]
s = subprocess.run([atr, "summary", "--json", "--top", "50", path], capture_output=True, text=True)
print("summary_status", s.returncode)
j = json.loads(s.stdout)
for k in ("allocations", "frees", "leaked_bytes", "leaked_blocks", "unknown_frees"):
    print(k, j["totals"][k])
r = j["recorder"]
for k in ("complete", "truncated"):
    print(k, "true" if r[k] else "false")
print("events", r["events"])
print("events_at_end", r.get("events_at_end"))
print("ended", r.get("ended"))
print("inconsistencies", r["inconsistencies"])
for e in j["top"]["leaked"]:
    print("leaked:%s %s %s" % (e["function"], e["bytes"], e["blocks"]))
sizes = {}
dump = subprocess.run([atr, "dump", path], capture_output=True, text=True).stdout
for line in dump.splitlines():
    e = json.loads(line)
    k = {"alloc": "a%s" % e.get("size"), "free": "f%s" % e.get("old_size")}.get(e.get("event"))
    if k:
        sizes[k] = sizes.get(k, 0) + 1
for k, v in sorted(sizes.items()):
    print(k, v)
PYEOF
}
f() { local v; v=$(awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }' "$1"); echo "${v:-0}"; }

# ---- _exit and _Exit: everything recorded, END written ----
for m in _exit _Exit; do
  rc=0; timeout 30 "$ATR" run -q -o "$T/$m.zst" -- "$P" $m >"$T/$m.out" 2>&1 || rc=$?
  expect_eq "$m: exit status" "$rc" 0
  facts "$T/$m.zst" >"$T/$m.f"
  expect_eq "$m: allocations/frees exactly" \
    "$(f "$T/$m.f" allocations)/$(f "$T/$m.f" frees)/$(f "$T/$m.f" a8008)/$(f "$T/$m.f" f8008)" 8/5/8/5
  expect_eq "$m: leaked" "$(f "$T/$m.f" leaked_blocks)/$(f "$T/$m.f" leaked_bytes)" 3/24024
  expect_eq "$m: complete" "$(f "$T/$m.f" complete)" true
done

# ---- exit() from a second thread while main keeps allocating ----
# main counts each malloc and free that returned in a shared file; the process can die
# between a hook recording a call and the call returning, so the trace may hold one call
# more than the counters, never fewer, and never anything inconsistent.
rc=0; timeout 30 "$ATR" run -q -o "$T/et.zst" -- "$P" exit-thread "$T/et.shm" >"$T/et.out" 2>&1 || rc=$?
expect_eq "exit-thread: exit status" "$rc" 0
set -- $(od -An -tu8 -N16 "$T/et.shm")
nm=$1; nf=$2
facts "$T/et.zst" >"$T/et.f"
am=$(f "$T/et.f" a1717); af=$(f "$T/et.f" f1717)
expect_match "exit-thread: main's mallocs recorded ($am traced, $nm returned)" "$((am - nm))" '^[01]$'
expect_match "exit-thread: main's frees recorded ($af traced, $nf returned)" "$((af - nf))" '^[01]$'
expect_match "exit-thread: at least 20000 pairs" "$nf" '^[0-9]{5,}$'
expect_eq "exit-thread: unknown frees" "$(f "$T/et.f" unknown_frees)" 0
expect_eq "exit-thread: inconsistencies" "$(f "$T/et.f" inconsistencies)" 0
expect_eq "exit-thread: summary reads it" "$(f "$T/et.f" summary_status)" 0
ok "exit-thread: $nm pairs by main, $(( $(f "$T/et.f" events) - $(f "$T/et.f" events_at_end) )) events recorded after the END record"

# ---- a library destructor that runs after ours: its events are kept (the recorder writes
# END once the process is gone, so every event comes before it) ----
rc=0; timeout 30 "$ATR" run -q -o "$T/late.zst" -- "$PROGS/late_main" >"$T/late.out" 2>&1 || rc=$?
expect_eq "late destructor: exit status" "$rc" 0
facts "$T/late.zst" >"$T/late.f"
expect_eq "late destructor: every event" \
  "$(f "$T/late.f" allocations)/$(f "$T/late.f" frees)/$(f "$T/late.f" leaked_blocks)" 8/8/0
expect_eq "late destructor: its frees and pairs" \
  "$(f "$T/late.f" f5555) $(f "$T/late.f" a3333)/$(f "$T/late.f" f3333)" "5 3/3"
expect_eq "late destructor: all 16 events before END" \
  "$(f "$T/late.f" events_at_end)/$(f "$T/late.f" events)" 16/16
expect_eq "late destructor: complete" "$(f "$T/late.f" complete)" true

# ---- exec that fails: flushed (END), then the program goes on and is still traced ----
rc=0; timeout 30 "$ATR" run -q -o "$T/ef.zst" -- "$P" exec-fail >"$T/ef.out" 2>&1 || rc=$?
expect_eq "failed exec: exit status" "$rc" 0
expect_eq "failed exec: the program saw ENOENT" "$(cat "$T/ef.out")" "exec-fail -1 ENOENT"
facts "$T/ef.zst" >"$T/ef.f"
expect_eq "failed exec: before and after" \
  "$(f "$T/ef.f" a1212)/$(f "$T/ef.f" a1313)/$(f "$T/ef.f" f1313)/$(f "$T/ef.f" frees)" 2/4/2/2
expect_eq "failed exec: complete, every event before the final END" \
  "$(f "$T/ef.f" complete) $(f "$T/ef.f" events_at_end)" "true 8"

# ---- SIGKILL mid-run: the recorder outlives the program and closes its trace ----
: >"$T/kill.out"
"$ATR" run -q -o "$T/kill.zst" -- "$P" spin >"$T/kill.out" 2>"$T/kill.err" &
runpid=$!
pid=""
for _ in $(seq 1 200); do
  pid=$(sed -n 's/^marker //p' "$T/kill.out")
  [ -n "$pid" ] && break
  sleep 0.05
done
expect_match "spin: reached the marker" "$pid" '^[0-9]+$'
sleep 0.4 # the marker was reached >= 200 ms before the kill; the program ran > 300 ms
if [ -n "$pid" ]; then kill -KILL "$pid"; else kill -TERM "$runpid"; fi
rc=0; wait "$runpid" || rc=$?
expect_eq "spin: run reports the SIGKILL (128+9)" "$rc" 137
facts "$T/kill.zst" >"$T/kill.f"
expect_eq "spin: summary works on the killed trace" "$(f "$T/kill.f" summary_status)" 0
expect_eq "spin: closed by the recorder" "$(f "$T/kill.f" complete)" true
expect_eq "spin: ended as killed" "$(f "$T/kill.f" ended)" killed
expect_eq "spin: every allocation before the marker" "$(f "$T/kill.f" a4242)" 100
expect_eq "spin: ... all still live" "$(f "$T/kill.f" 'leaked:batch')" "424200 100"
expect_match "spin: allocations after the marker too" "$(f "$T/kill.f" a64)" '^[1-9][0-9]*$'
ok "spin: truncated last frame: $(f "$T/kill.f" truncated)"

# ---- a program closing every descriptor it did not open ----
rc0=0; want=$("$P" closefds "$T/plain.txt" 2>&1) || rc0=$?
rc=0; timeout 30 "$ATR" run -q -o "$T/cf.zst" -- "$P" closefds "$T/own.txt" >"$T/cf.out" 2>&1 || rc=$?
expect_eq "closefds: exit status as untraced" "$rc" "$rc0"
expect_eq "closefds: output as untraced (close() of our descriptors fails like untraced)" \
  "$(cat "$T/cf.out")" "$want"
expect_eq "closefds: the program's file is intact" "$(cat "$T/own.txt")" "$(printf 'one\ntwo\nthree')"
facts "$T/cf.zst" >"$T/cf.f"
expect_eq "closefds: batches exactly" \
  "$(f "$T/cf.f" a1001)/$(f "$T/cf.f" f1001) $(f "$T/cf.f" a1002)/$(f "$T/cf.f" f1002) $(f "$T/cf.f" a1003)/$(f "$T/cf.f" f1003)" \
  "10/4 10/4 10/4"
expect_eq "closefds: allocations (30 + opendir's)" "$(f "$T/cf.f" allocations)/$(f "$T/cf.f" frees)" 31/13
expect_eq "closefds: leaked" "$(f "$T/cf.f" leaked_blocks)/$(f "$T/cf.f" leaked_bytes)" 18/18036
expect_eq "closefds: complete" "$(f "$T/cf.f" complete)" true
# the recorder's own descriptors sit above the program's: its first open() gets 3
rc=0; fd=$("$ATR" run -q -o "$T/fd.zst" -- /bin/sh -c 'exec 3>&- 4>&- 5>&- 6>&-; exec ls -l /proc/self/fd/' 2>&1) || rc=$?
expect_eq "fds: exit status" "$rc" 0
expect_match "fds: the program's first descriptor is 3" "$fd" ' 3 -> /proc/[0-9]+/fd'
expect_no_match "fds: nothing of the tracer at 4..6" "$fd" ' [456] -> '

# ---- exit statuses ----
expect_exit "exit 3 gives 3" 3 "$ATR" run -q -o "$T/e3.zst" -- "$P" exit 3
expect_exit "SIGTERM gives 143" 143 "$ATR" run -q -o "$T/e15.zst" -- "$P" signal 15
expect_match "SIGTERM reported" "$OUT" 'killed by signal 15'

# ---- programs run must refuse, with one clear line and status 2 ----
expect_exit "missing program" 2 "$ATR" run -q -o "$T/m.zst" -- "$T/no-such-program"
expect_match "missing program: message" "$OUT" 'no-such-program.*(not found|No such file)'
expect_eq "missing program: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
if [ -x "$PROGS/known_static" ]; then
  expect_exit "static program" 2 "$ATR" run -q -o "$T/st.zst" -- "$PROGS/known_static"
  expect_match "static program: message" "$OUT" 'statically linked'
  expect_eq "static program: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
  expect_eq "static program: no trace" "$(ls "$T"/st*.zst 2>/dev/null | wc -l)" 0
else
  ok "static program: # SKIP no libc.a"
fi
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  cp "$PROGS/known" "$T/suid"
  chown nobody "$T/suid" && chmod 4755 "$T/suid"
  expect_exit "setuid program" 2 "$ATR" run -q -o "$T/su.zst" -- "$T/suid"
  expect_match "setuid program: message" "$OUT" 'setuid'
  expect_eq "setuid program: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
else
  ok "setuid program: # SKIP needs root and a nobody user"
fi
finish
